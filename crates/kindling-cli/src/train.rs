//! `train`: fine-tune a body for a task and write a run directory (the best model as a
//! Hugging Face checkpoint, `metrics.jsonl`, `curves.svg`, `report.json`, `report.md`, the
//! resume checkpoint). With no arguments: the book's chapter-4 job, token classification on the
//! bundled multilingual NER sample from all-MiniLM-L6-v2.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use kindling::device::{DEVICE_HELP, on_compute_threads, parse_device};
use kindling::heads::Task;
use kindling::train::optimizer::AdamWSettings;
use kindling::train::tasks::default_metric;
use kindling::train::{Columns, TaskOptions, TrainJob, TrainingArguments, tasks};

use crate::Defaults;
use crate::model_source::{DEFAULT_MODEL, resolve_model};

/// When to evaluate (`transformers`' `eval_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalStrategy {
    /// At the end of every epoch.
    Epoch,
    /// Every `--eval-steps` steps.
    Steps,
    /// Never: the last model is the result.
    No,
}

/// Arguments of `train` (defaults: the book's hyper-parameters; for token classification the
/// bundled multilingual NER sample and all-MiniLM-L6-v2).
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The task, a transformers pipeline task name: token-classification, text-classification,
    /// question-answering, fill-mask, multiple-choice.
    #[arg(long, default_value = "token-classification")]
    pub task: String,
    /// Pretrained body or checkpoint: a directory or a Hugging Face id in the local cache
    /// [default: sentence-transformers/all-MiniLM-L6-v2].
    #[arg(long)]
    pub model: Option<String>,
    /// Training files [default for token classification: the bundled sample, 4 languages].
    #[arg(long, num_args = 1..)]
    pub train: Vec<PathBuf>,
    /// Validation files, used for model selection.
    #[arg(long, num_args = 1..)]
    pub validation: Vec<PathBuf>,
    /// Test files, scored with the best model at the end.
    #[arg(long, num_args = 1..)]
    pub test: Vec<PathBuf>,
    /// Without validation files: hold out this fraction of the training data for validation.
    #[arg(long)]
    pub validation_split: Option<f64>,
    /// When to evaluate: epoch, steps (every --eval-steps) or no.
    #[arg(long, value_enum)]
    pub eval_strategy: Option<EvalStrategy>,
    /// Label set: comma-separated, or a file with one label per line [default: inferred
    /// from the data (PAN-X's tags when they fit)].
    #[arg(long)]
    pub labels: Option<String>,
    /// Text classification: the column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Text classification: the column with the second text of a pair.
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Text classification: the column with the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 24)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Fraction of steps for linear warm-up.
    #[arg(long, default_value_t = 0.0)]
    pub warmup_ratio: f64,
    /// Decoupled weight decay (not on biases and layer norms).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Truncate sequences to this many tokens [default: the model's window].
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Seed for shuffling, dropout, masking and the fresh head.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Device to train on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    pub device: String,
    /// Run directory [default: runs/ner for token classification, runs/TASK (the task name) otherwise].
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Continue the run in --output from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Evaluate (and checkpoint) every N steps instead of every epoch.
    #[arg(long)]
    pub eval_steps: Option<usize>,
    /// Write the resume checkpoint every N steps.
    #[arg(long)]
    pub save_steps: Option<usize>,
    /// Log a line (loss, learning rate, throughput, ETA) every N steps.
    #[arg(long, default_value_t = 50)]
    pub logging_steps: usize,
    /// The metric that selects the best model [default: the task's: f1, accuracy or loss].
    #[arg(long)]
    pub metric_for_best_model: Option<String>,
    /// Early stopping: evaluations without improvement before stopping.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Global gradient-norm bound (0 disables clipping).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Token classification: label every sub-word, not just the first of each word.
    #[arg(long)]
    pub label_all_subwords: bool,
    /// Question answering: tokens of overlap between windows of a long context.
    #[arg(long, default_value_t = 128)]
    pub doc_stride: usize,
    /// Question answering: the longest answer, in tokens.
    #[arg(long, default_value_t = 30)]
    pub max_answer_length: usize,
    /// Question answering: SQuAD v2 data (questions may have no answer).
    #[arg(long)]
    pub version_2_with_negative: bool,
    /// Fill-mask: the fraction of tokens to mask.
    #[arg(long, default_value_t = 0.15)]
    pub mlm_probability: f64,
    /// Fill-mask: mask whole words.
    #[arg(long)]
    pub whole_word_mask: bool,
    /// Fill-mask: one example per line instead of packed blocks.
    #[arg(long)]
    pub line_by_line: bool,
    /// Batch sequences of similar length together.
    #[arg(long)]
    pub group_by_length: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Train in bfloat16 with float32 master weights (forward and backward in bf16).
    #[arg(long)]
    pub bf16: bool,
}

/// The label list of `--labels`: a file with one label per line, or a comma-separated list.
fn parse_labels(spec: &str) -> anyhow::Result<Vec<String>> {
    let path = Path::new(spec);
    let list: Vec<String> = if path.is_file() {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    } else {
        spec.split(',').map(|s| s.trim().to_string()).collect()
    };
    Ok(list)
}

/// The bundled NER sample's files of `split`, from `dir`.
fn ner_sample_files(dir: &Path, split: &str) -> Vec<PathBuf> {
    ["de", "fr", "it", "en"]
        .iter()
        .map(|lang| dir.join(lang).join(format!("{split}.txt")))
        .collect()
}

/// Where the bundled NER sample is: the embedding program's copy, or one generated (it is
/// synthetic and seeded, so identical) into `<run>/sample`.
fn ner_sample_dir(defaults: &Defaults, run_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &defaults.ner_sample_dir {
        return Ok(dir.clone());
    }
    let dir = run_dir.join("sample");
    kindling::data::write_ner_sample(&dir)
        .with_context(|| format!("writing the NER sample into {}", dir.display()))?;
    Ok(dir)
}

/// Runs the command.
pub fn run(args: TrainArgs, defaults: &Defaults) -> anyhow::Result<()> {
    let task = Task::from_pipeline_name(&args.task)?;
    if matches!(task, Task::Base | Task::SentenceEmbedding) {
        bail!(
            "--task {}: nothing to fine-tune (tasks: token-classification, text-classification, question-answering, fill-mask, multiple-choice)",
            args.task
        );
    }
    let model_dir = resolve_model(args.model.as_deref(), defaults.provision_default_model)?;
    let run_dir = args.output.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(match task {
            Task::TokenClassification => "ner",
            other => other.pipeline_name(),
        })
    });
    if !args.resume && kindling::train::checkpoint::find_checkpoint(&run_dir).is_some() {
        bail!(
            "{} already holds a run; pass --resume to continue it or --output for a new one",
            run_dir.display()
        );
    }
    let (mut train, mut validation, mut test) = (
        args.train.clone(),
        args.validation.clone(),
        args.test.clone(),
    );
    if train.is_empty() {
        if task != Task::TokenClassification {
            bail!("--train is required for --task {}", args.task);
        }
        let dir = ner_sample_dir(defaults, &run_dir)?;
        train = ner_sample_files(&dir, "train");
        if validation.is_empty() && args.validation_split.is_none() {
            validation = ner_sample_files(&dir, "validation");
        }
        if test.is_empty() {
            test = ner_sample_files(&dir, "test");
        }
    }
    let eval_strategy = args.eval_strategy.unwrap_or(if args.eval_steps.is_some() {
        EvalStrategy::Steps
    } else {
        EvalStrategy::Epoch
    });
    if eval_strategy == EvalStrategy::Steps && args.eval_steps.is_none() {
        bail!("--eval-strategy steps needs --eval-steps N");
    }
    let (default_name, default_greater) = default_metric(task);
    let metric = args
        .metric_for_best_model
        .clone()
        .unwrap_or_else(|| default_name.to_string());
    let greater_is_better = if args.metric_for_best_model.is_some() {
        !matches!(metric.as_str(), "loss" | "perplexity" | "mse")
    } else {
        default_greater
    };
    let training = TrainingArguments {
        num_train_epochs: args.epochs,
        max_steps: args.max_steps,
        batch_size: args.batch_size,
        eval_batch_size: 64,
        learning_rate: args.lr,
        warmup_ratio: args.warmup_ratio,
        adamw: AdamWSettings {
            weight_decay: args.weight_decay,
            ..AdamWSettings::default()
        },
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        gradient_accumulation_steps: args.grad_accum,
        seed: args.seed,
        eval_steps: (eval_strategy == EvalStrategy::Steps)
            .then_some(args.eval_steps)
            .flatten(),
        save_steps: args.save_steps,
        early_stopping_patience: args.patience,
        group_by_length: args.group_by_length,
        shuffle: true,
        progress: !args.no_progress,
        bf16: args.bf16,
        metric_for_best_model: metric,
        greater_is_better,
        logging_steps: args.logging_steps.max(1),
    };
    let job = TrainJob {
        task,
        model_dir,
        model_name: args.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
        train_files: train,
        validation_files: validation,
        test_files: test,
        validation_split: args.validation_split,
        evaluate: eval_strategy != EvalStrategy::No,
        max_length: args.max_length,
        labels: args.labels.as_deref().map(parse_labels).transpose()?,
        columns: Columns {
            text: args.text_column.clone(),
            text_pair: args.text_pair_column.clone(),
            label: args.label_column.clone(),
        },
        options: TaskOptions {
            label_all_subwords: args.label_all_subwords,
            doc_stride: args.doc_stride,
            max_answer_length: args.max_answer_length,
            version_2_with_negative: args.version_2_with_negative,
            mlm_probability: args.mlm_probability,
            whole_word_mask: args.whole_word_mask,
            line_by_line: args.line_by_line,
        },
        training,
        output: run_dir,
        resume: args.resume,
        device: parse_device(&args.device)?,
        device_name: args.device.clone(),
    };
    let report = on_compute_threads(&job.device, || tasks::train(&job))?;
    println!("{}", report.markdown);
    Ok(())
}
