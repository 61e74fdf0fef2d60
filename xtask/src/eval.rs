//! `cargo xtask eval`: seqeval report of a token-classification checkpoint on a data set.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kindling::data::{LabelSet, TokenClassificationEncoder, Tokenizer, read_dataset};
use kindling::device::{DEVICE_HELP, parse_device};
use kindling::import::{ModelLoadOptions, load_model};
use kindling::train::token_classification::predict_tags;

/// Arguments of `cargo xtask eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Token-classification checkpoint directory (with tokenizer.json and id2label).
    #[arg(long)]
    model: PathBuf,
    /// Data set (CoNLL, JSON lines or PAN-X).
    #[arg(long)]
    data: PathBuf,
    /// Print one JSON object (precision, recall, f1, per-type scores) instead of the table.
    #[arg(long)]
    json: bool,
    /// Write CoNLL lines `token gold predicted`, a blank line between sentences.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    device: String,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

/// Runs the command.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let device = parse_device(&args.device)?;
    let (model, _, checkpoint) = load_model(&args.model, &device, ModelLoadOptions::default())?;
    let config = &checkpoint.config;
    let labels = LabelSet::from_list(
        config
            .labels()
            .with_context(|| format!("{}: config.json has no id2label", args.model.display()))?,
    )?;
    let tokenizer_path = checkpoint
        .tokenizer
        .clone()
        .with_context(|| format!("{} has no tokenizer.json", args.model.display()))?;
    let max_length = config.max_sequence_length();
    let tokenizer = Tokenizer::from_file(
        &tokenizer_path,
        config.common.pad_token_id.map(|p| p as u32),
        Some(max_length),
    )?;
    let examples = read_dataset(&args.data, Some(&labels))?;
    let encoder =
        TokenClassificationEncoder::new(tokenizer, labels.clone(), Some(max_length), false)?;
    let data = encoder.encode(&examples)?;
    let truncation = data.truncation();
    if !truncation.is_clean() {
        eprintln!("{}: {truncation}", args.data.display());
    }
    let predictions = predict_tags(&model, &data, &labels, args.batch_size, &device)?;
    let report = predictions.report()?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    if let Some(path) = &args.predictions {
        let mut out = String::new();
        for (example, words) in examples.iter().zip(&predictions.words) {
            for (i, (token, gold)) in example.tokens.iter().zip(&example.tags).enumerate() {
                let predicted = words
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "O".into());
                writeln!(out, "{token} {gold} {predicted}")?;
            }
            out.push('\n');
        }
        kindling::import::write_atomically(path, out.as_bytes())?;
    }
    Ok(())
}
