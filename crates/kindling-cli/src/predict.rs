//! `predict`: what the `transformers` pipeline of the checkpoint's task returns for
//! each input (entities, `{label, score}`, answers, fill-mask candidates).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use kindling::burn::prelude::Device;
use kindling::device::{DEVICE_HELP, DTYPE_HELP, on_compute_threads, parse_device, with_dtype};
use kindling::heads::Task;
use kindling::pipelines::{PipelineInput, PipelineOptions, load_pipeline};

/// Arguments of `predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Checkpoint directory (with tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Pipeline task (token-classification, text-classification, question-answering,
    /// fill-mask, feature-extraction) [default: the head in config.json's architectures].
    #[arg(long)]
    pub task: Option<String>,
    /// Print one JSON array: per input, what the transformers pipeline returns for it.
    #[arg(long)]
    pub json: bool,
    /// Text classification: the k best labels (all with a large k); fill-mask: candidates.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Question answering: a question (with --context; repeat both for several, or give one
    /// context for all the questions).
    #[arg(long, requires = "context")]
    pub question: Vec<String>,
    /// Question answering: the context the answer is taken from.
    #[arg(long, requires = "question")]
    pub context: Vec<String>,
    /// Question answering: allow the empty answer (SQuAD v2 models).
    #[arg(long)]
    pub handle_impossible_answer: bool,
    /// Question answering: tokens per window, special tokens included [default:
    /// min(model_max_length, 384)].
    #[arg(long)]
    pub max_seq_len: Option<usize>,
    /// Question answering: tokens of overlap between windows [default: min(max_seq_len / 2,
    /// 128)].
    #[arg(long)]
    pub doc_stride: Option<usize>,
    /// Question answering: the longest answer, in tokens.
    #[arg(long, default_value_t = 15)]
    pub max_answer_len: usize,
    /// Question answering: keep answers to the model's tokens instead of whole words.
    #[arg(long)]
    pub no_align_to_words: bool,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    pub device: String,
    /// Precision: f32, or int8 (linear layers quantized per channel, activations per row;
    /// flex only); f16 and bf16 where the backend has them.
    #[arg(long, default_value = "f32", help = format!("Precision: {DTYPE_HELP}"))]
    pub dtype: String,
    /// Texts to run (for fill-mask each holds the tokenizer's mask token).
    pub texts: Vec<String>,
}

/// Runs the command.
pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let (device, int8) = with_dtype(parse_device(&args.device)?, &args.dtype)?;
    on_compute_threads(&device.clone(), move || run_on(args, device, int8))
}

/// The command on `device` (`int8`: its linear layers quantized).
fn run_on(args: PredictArgs, device: Device, int8: bool) -> anyhow::Result<()> {
    let task = args
        .task
        .as_deref()
        .map(Task::from_pipeline_name)
        .transpose()?;
    let mut inputs: Vec<PipelineInput> = args
        .texts
        .iter()
        .cloned()
        .map(PipelineInput::Text)
        .collect();
    let contexts: Vec<&String> = match args.context.len() {
        1 => vec![&args.context[0]; args.question.len()],
        n if n == args.question.len() => args.context.iter().collect(),
        n => bail!(
            "{} --question but {n} --context: give one context per question, or one for all",
            args.question.len()
        ),
    };
    for (question, context) in args.question.iter().zip(contexts) {
        inputs.push(PipelineInput::Question {
            question: question.clone(),
            context: context.clone(),
        });
    }
    if inputs.is_empty() {
        bail!("nothing to predict: give texts, or --question and --context");
    }
    let options = PipelineOptions {
        task,
        top_k: args.top_k,
        handle_impossible_answer: args.handle_impossible_answer,
        max_seq_len: args.max_seq_len,
        doc_stride: args.doc_stride,
        max_answer_len: args.max_answer_len,
        align_to_words: !args.no_align_to_words,
        int8,
        ..PipelineOptions::default()
    };
    let pipeline = load_pipeline(&args.model, &device, &options)?;
    let outputs = pipeline.run_json(&inputs)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
        return Ok(());
    }
    for (input, output) in inputs.iter().zip(&outputs) {
        match input {
            PipelineInput::Text(text) => println!("{text}"),
            PipelineInput::TextPair { text, text_pair } => println!("{text} / {text_pair}"),
            PipelineInput::Question { question, .. } => println!("{question}"),
        }
        println!("  {}", serde_json::to_string(output)?);
    }
    Ok(())
}
