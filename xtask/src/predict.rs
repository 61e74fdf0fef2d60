//! `cargo xtask predict`: named entities in raw text, like the `transformers` NER pipeline
//! with `aggregation_strategy="simple"`.

use std::path::PathBuf;

use clap::Args;
use kindling::device::{DEVICE_HELP, parse_device};
use kindling::ner::NerPipeline;

/// Arguments of `cargo xtask predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Token-classification checkpoint directory (with tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Print JSON: one array of entities per text.
    #[arg(long)]
    json: bool,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    device: String,
    /// Texts to tag.
    #[arg(required = true)]
    texts: Vec<String>,
}

/// Runs the command.
pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let device = parse_device(&args.device)?;
    let pipeline = NerPipeline::load(&args.model, &device)?;
    let entities = pipeline.predict(&args.texts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entities)?);
        return Ok(());
    }
    for (text, found) in args.texts.iter().zip(&entities) {
        println!("{text}");
        if found.is_empty() {
            println!("  (no entities)");
        }
        for e in found {
            println!(
                "  {:<4} {:<30} {:>4}..{:<4} {:.3}",
                e.entity_group,
                format!("{:?}", e.word),
                e.start,
                e.end,
                e.score
            );
        }
    }
    Ok(())
}
