//! `forward`: run any checkpoint on token ids or text and write every output under its `transformers` name.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kindling::burn::prelude::Device;
use kindling::device::{DEVICE_HELP, DTYPE_HELP, on_compute_threads, parse_device, with_dtype};
use kindling::forward::{ForwardInput, ForwardOptions, IdsInput, run_forward_with};
use kindling::outputs::save_outputs;

/// Arguments of `forward`: run any checkpoint on token ids or text and write every output under its `transformers` name.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["input", "text"]))]
pub struct ForwardArgs {
    /// Checkpoint directory (config.json, weights, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// JSON object with `input_ids`, `attention_mask`, optional `token_type_ids` (lists of rows).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Text file, one input per line, tokenized with the checkpoint's tokenizer.json.
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Where to write the outputs (safetensors).
    #[arg(long)]
    pub output: PathBuf,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    pub device: String,
    /// Float precision to compute in (weights are cast on load; outputs are written as f32).
    #[arg(long, default_value = "f32", help = format!("Precision: {DTYPE_HELP}"))]
    pub dtype: String,
    /// Also write `hidden_states.{i}` for the embeddings and every layer.
    #[arg(long)]
    pub output_hidden_states: bool,
    /// Also write `attentions.{i}` for every layer.
    #[arg(long)]
    pub output_attentions: bool,
    /// The head to run, for checkpoints whose config.json has no `architectures`: a
    /// transformers pipeline task (token-classification, text-classification,
    /// question-answering, fill-mask, multiple-choice, feature-extraction).
    #[arg(long)]
    pub task: Option<String>,
}

/// Runs the command.
pub fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let (device, int8) = with_dtype(parse_device(&args.device)?, &args.dtype)?;
    on_compute_threads(&device.clone(), move || run_on(args, device, int8))
}

/// The command on `device` (`int8`: its linear layers quantized).
fn run_on(args: ForwardArgs, device: Device, int8: bool) -> anyhow::Result<()> {
    let task = args
        .task
        .as_deref()
        .map(kindling::heads::Task::from_pipeline_name)
        .transpose()?;
    let input = match (&args.input, &args.text) {
        (Some(path), _) => ForwardInput::Ids(IdsInput::from_file(path)?),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let lines: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect();
            anyhow::ensure!(!lines.is_empty(), "{}: no non-empty lines", path.display());
            ForwardInput::Texts(lines)
        }
        (None, None) => unreachable!("clap requires --input or --text"),
    };
    let outputs = run_forward_with(
        &args.model,
        input,
        &device,
        ForwardOptions {
            hidden_states: args.output_hidden_states,
            attentions: args.output_attentions,
            task,
            int8,
        },
    )?;
    eprint!("{}", outputs.report);
    save_outputs(&args.output, &outputs.tensors)?;
    let names: Vec<String> = outputs
        .tensors
        .iter()
        .map(|(name, data)| format!("{name} {:?}", data.shape().as_slice()))
        .collect();
    eprintln!("wrote {}: {}", args.output.display(), names.join(", "));
    Ok(())
}
