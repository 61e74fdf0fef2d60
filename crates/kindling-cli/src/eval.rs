//! `eval`: a checkpoint's task metrics on a data set (seqeval for token classification,
//! accuracy/F1 for text classification, EM/F1 for question answering, perplexity for
//! fill-mask, accuracy for multiple choice).

use std::path::PathBuf;

use clap::Args;
use kindling::burn::prelude::Device;
use kindling::device::{DEVICE_HELP, DTYPE_HELP, on_compute_threads, parse_device, with_dtype};
use kindling::heads::Task;
use kindling::train::tasks::{EvalOptions, evaluate};
use kindling::train::{Columns, TaskOptions};

/// Arguments of `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint directory (with tokenizer.json; id2label for classification).
    #[arg(long)]
    pub model: PathBuf,
    /// Data set, in a format of the task.
    #[arg(long)]
    pub data: PathBuf,
    /// The task [default: the head in config.json's architectures].
    #[arg(long)]
    pub task: Option<String>,
    /// Print one JSON object with the task's metrics instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Token classification: write CoNLL lines `token gold predicted`, a blank line between
    /// sentences.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Text classification: the column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Text classification: the column with the second text of a pair.
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Text classification: the column with the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Question answering: tokens of overlap between windows of a long context.
    #[arg(long, default_value_t = 128)]
    pub doc_stride: usize,
    /// Question answering: the longest answer, in tokens.
    #[arg(long, default_value_t = 30)]
    pub max_answer_length: usize,
    /// Question answering: SQuAD v2 data (questions may have no answer).
    #[arg(long)]
    pub version_2_with_negative: bool,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    pub device: String,
    /// Precision: f32, or int8 (linear layers quantized per channel, activations per row;
    /// flex only); f16 and bf16 where the backend has them.
    #[arg(long, default_value = "f32", help = format!("Precision: {DTYPE_HELP}"))]
    pub dtype: String,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

/// Runs the command.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (device, int8) = with_dtype(parse_device(&args.device)?, &args.dtype)?;
    on_compute_threads(&device.clone(), move || run_on(args, device, int8))
}

/// The command on `device` (`int8`: its linear layers quantized).
fn run_on(args: EvalArgs, device: Device, int8: bool) -> anyhow::Result<()> {
    let task = args
        .task
        .as_deref()
        .map(Task::from_pipeline_name)
        .transpose()?;
    let options = EvalOptions {
        task,
        columns: Columns {
            text: args.text_column.clone(),
            text_pair: args.text_pair_column.clone(),
            label: args.label_column.clone(),
        },
        options: TaskOptions {
            doc_stride: args.doc_stride,
            max_answer_length: args.max_answer_length,
            version_2_with_negative: args.version_2_with_negative,
            ..TaskOptions::default()
        },
        batch_size: args.batch_size,
        predictions: args.predictions.clone(),
        int8,
    };
    let out = evaluate(&args.model, &args.data, &options, &device)?;
    if args.json {
        println!("{}", serde_json::to_string(&out.json)?);
    } else {
        println!("{}", out.text);
    }
    Ok(())
}
