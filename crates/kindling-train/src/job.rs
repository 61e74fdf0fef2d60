//! A training job as the `train` command runs it, for any task: the steps every task shares
//! (open the checkpoint and its tokenizer, mount the task's head, train, export the best model,
//! write the report). Each task module reads and encodes its own data, then calls these.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use kindling_body::{AnyBody, HfConfig};
use kindling_data::Tokenizer;
use kindling_heads::{AnyHead, Model, Task};
use kindling_import::{
    Checkpoint, ModelLoadOptions, describe_model, load_model, save_model, write_atomically,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint::find_checkpoint;
use crate::error::TrainError;
use crate::trainer::{Evaluator, TrainOutcome, TrainingArguments, TrainingData, train};

/// Which columns of a table (CSV, TSV, JSON lines) hold the text, the optional second text and
/// the label, as `run_glue.py`'s `--text_column_name`-style options name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    /// The text column (`text`).
    pub text: String,
    /// The second text of a pair, when the task has pairs.
    pub text_pair: Option<String>,
    /// The label column (`label`).
    pub label: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            text: "text".into(),
            text_pair: None,
            label: "label".into(),
        }
    }
}

/// Task-specific data options, each read by the tasks it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOptions {
    /// Token classification: label every sub-word, not only the first of each word.
    pub label_all_subwords: bool,
    /// Question answering: tokens of overlap between the windows of a long context.
    pub doc_stride: usize,
    /// Question answering: the longest answer, in tokens.
    pub max_answer_length: usize,
    /// Question answering: SQuAD v2 (questions may have no answer).
    pub version_2_with_negative: bool,
    /// Fill-mask: the fraction of tokens masked.
    pub mlm_probability: f64,
    /// Fill-mask: mask whole words.
    pub whole_word_mask: bool,
    /// Fill-mask: one example per line instead of packing the text into blocks.
    pub line_by_line: bool,
}

impl Default for TaskOptions {
    /// The defaults of `transformers`' example scripts.
    fn default() -> Self {
        Self {
            label_all_subwords: false,
            doc_stride: 128,
            max_answer_length: 30,
            version_2_with_negative: false,
            mlm_probability: 0.15,
            whole_word_mask: false,
            line_by_line: false,
        }
    }
}

/// What `train` runs: a task, a pretrained body or checkpoint, data files and arguments.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The task to fine-tune for.
    pub task: Task,
    /// The checkpoint directory (a pretrained body or a task checkpoint).
    pub model_dir: PathBuf,
    /// How the model was named on the command line (for the report).
    pub model_name: String,
    /// Training files.
    pub train_files: Vec<PathBuf>,
    /// Validation files (model selection).
    pub validation_files: Vec<PathBuf>,
    /// Test files, scored with the best model at the end.
    pub test_files: Vec<PathBuf>,
    /// Hold out this fraction of the training examples for validation when there are no
    /// validation files.
    pub validation_split: Option<f64>,
    /// Whether to evaluate at all (`--eval-strategy no` turns it off: the last model is
    /// exported).
    pub evaluate: bool,
    /// Truncate sequences to this many tokens (the model's window when `None`).
    pub max_length: Option<usize>,
    /// Label names (the task infers them from the data when `None`).
    pub labels: Option<Vec<String>>,
    /// Table columns.
    pub columns: Columns,
    /// Task-specific options.
    pub options: TaskOptions,
    /// The trainer's arguments.
    pub training: TrainingArguments,
    /// The run directory.
    pub output: PathBuf,
    /// Continue the run in `output` from its last checkpoint.
    pub resume: bool,
    /// Where to train.
    pub device: Device,
    /// The device as named on the command line (for the report).
    pub device_name: String,
}

/// A finished job's report: `report.json`'s value and `report.md`'s text.
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// The JSON report.
    pub json: serde_json::Value,
    /// The Markdown report.
    pub markdown: String,
}

/// The checkpoint a job starts from, with its tokenizer.
pub struct JobContext {
    /// The opened checkpoint (config, weights, tokenizer path).
    pub checkpoint: Checkpoint,
    /// `tokenizer.json`'s path (copied into the run directory on export).
    pub tokenizer_path: PathBuf,
    /// The tokenizer, truncating to `max_length` and padding with the config's pad id.
    pub tokenizer: Tokenizer,
    /// The sequence length the job truncates to.
    pub max_length: usize,
}

impl TrainJob {
    /// Checks the run directory and opens the checkpoint and its tokenizer.
    pub fn open(&self) -> Result<JobContext, TrainError> {
        if !self.resume && find_checkpoint(&self.output).is_some() {
            return Err(TrainError::Argument {
                field: "output",
                value: self.output.display().to_string(),
                message: "already holds a run; resume it or choose another output directory",
            });
        }
        let checkpoint = Checkpoint::open(&self.model_dir)?;
        let max_length = self
            .max_length
            .unwrap_or(checkpoint.config.max_sequence_length());
        let (tokenizer_path, tokenizer) =
            checkpoint_tokenizer(&checkpoint, Some(max_length), "training")?;
        Ok(JobContext {
            checkpoint,
            tokenizer_path,
            tokenizer,
            max_length,
        })
    }

    /// Loads the model with the task's head on the autodiff device (a fresh head when the
    /// checkpoint has none; `labels` sizes a classification head) and the config to export it
    /// with (architectures and labels set).
    pub fn mount(
        &self,
        labels: Option<Vec<String>>,
    ) -> Result<(Model<AnyBody, AnyHead>, HfConfig), TrainError> {
        let device = self.device.clone().autodiff();
        device.seed(self.training.seed);
        let (model, report, mut checkpoint) = load_model(
            &self.model_dir,
            &device,
            ModelLoadOptions {
                task: Some(self.task),
                labels: labels.clone(),
                int8: false,
            },
        )?;
        eprint!("{report}");
        describe_model(&mut checkpoint.config, self.task, labels.as_ref());
        Ok((model, checkpoint.config))
    }

    /// Trains `model` on `data`, evaluating with `evaluator` (none: the last model is the
    /// result); exports the best model (config, weights, tokenizer) into the run directory.
    pub fn fit<D, E>(
        &self,
        context: &JobContext,
        model: Model<AnyBody, AnyHead>,
        export_config: &HfConfig,
        data: &D,
        evaluator: Option<&E>,
    ) -> Result<TrainOutcome, TrainError>
    where
        D: TrainingData<Labels = kindling_heads::AnyLabels>,
        E: Evaluator<AnyHead>,
    {
        let run_dir = &self.output;
        std::fs::create_dir_all(run_dir).map_err(|source| TrainError::Io {
            path: run_dir.clone(),
            source,
        })?;
        let args_json =
            serde_json::to_vec_pretty(&self.training).map_err(|e| TrainError::Checkpoint {
                path: run_dir.join("training_args.json"),
                message: e.to_string(),
            })?;
        write_atomically(&run_dir.join("training_args.json"), &args_json)?;
        let evaluator = evaluator.filter(|_| self.evaluate);
        let device = self.device.clone().autodiff();
        let tokenizer = context.tokenizer_path.as_path();
        let (last, outcome) = train(
            model,
            data,
            evaluator,
            &self.training,
            run_dir,
            self.resume,
            &device,
            |best| {
                save_model(best, export_config, run_dir, Some(tokenizer))?;
                Ok(())
            },
        )?;
        if evaluator.is_none() {
            save_model(&last, export_config, run_dir, Some(tokenizer))?;
        }
        Ok(outcome)
    }

    /// Loads the exported model (the run directory) on the plain device, for testing.
    pub fn load_result(&self) -> Result<Model<AnyBody, AnyHead>, TrainError> {
        let (model, _, _) = load_model(&self.output, &self.device, ModelLoadOptions::default())?;
        Ok(model)
    }

    /// Writes `report.json` and `report.md` into the run directory: the job's settings and
    /// outcome, plus the task's `results` (test metrics) and its Markdown `table`.
    pub fn write_report(
        &self,
        outcome: &TrainOutcome,
        started: std::time::Instant,
        results: serde_json::Value,
        table: &str,
    ) -> Result<TaskReport, TrainError> {
        let seconds = started.elapsed().as_secs_f64();
        let metric = &self.training.metric_for_best_model;
        let mut json = serde_json::json!({
            "task": self.task.pipeline_name(),
            "model": self.model_name,
            "device": self.device_name,
            "train_files": self.train_files,
            "validation_files": self.validation_files,
            "test_files": self.test_files,
            "validation_split": self.validation_split,
            "labels": self.labels,
            "training_args": self.training,
            "steps": outcome.state.global_step,
            "stopped_early": outcome.stopped_early,
            "metric_for_best_model": metric,
            "best_metric": outcome.state.best_metric,
            "best_step": outcome.state.best_step,
            "train_seconds_this_process": outcome.seconds,
            "wall_seconds": seconds,
            "test": results,
        });
        json[format!("best_validation_{metric}")] = serde_json::json!(outcome.state.best_metric);
        let mut markdown = String::from("# Training report\n\n");
        markdown.push_str(&format!(
            "{} on `{}` from `{}`, {} steps, best validation {metric} {} (step {}), wall time {seconds:.0} s\n\n",
            self.task.pipeline_name(),
            self.device_name,
            self.model_name,
            outcome.state.global_step,
            outcome
                .state
                .best_metric
                .map_or("-".into(), |m| format!("{m:.4}")),
            outcome
                .state
                .best_step
                .map_or("-".into(), |s| s.to_string()),
        ));
        markdown.push_str(table);
        let text = serde_json::to_string_pretty(&json).map_err(|e| TrainError::Checkpoint {
            path: self.output.join("report.json"),
            message: e.to_string(),
        })?;
        write_atomically(&self.output.join("report.json"), text.as_bytes())?;
        write_atomically(&self.output.join("report.md"), markdown.as_bytes())?;
        Ok(TaskReport { json, markdown })
    }
}

/// The checkpoint's `tokenizer.json`: its path, and the tokenizer padding with the config's
/// `pad_token_id` and truncating to `max_length`; missing, an error naming the file and what
/// (`purpose`) needs it.
pub fn checkpoint_tokenizer(
    checkpoint: &Checkpoint,
    max_length: Option<usize>,
    purpose: &str,
) -> Result<(PathBuf, Tokenizer), TrainError> {
    let path = checkpoint
        .tokenizer
        .clone()
        .ok_or_else(|| TrainError::Checkpoint {
            path: checkpoint.dir.join("tokenizer.json"),
            message: format!("missing; {purpose} needs the checkpoint's tokenizer"),
        })?;
    let tokenizer = Tokenizer::from_file(
        &path,
        checkpoint.config.common.pad_token_id.map(|p| p as u32),
        max_length,
    )?;
    Ok((path, tokenizer))
}

/// Splits off the last `fraction` of `examples` (after a seeded shuffle) as the validation
/// set, as `datasets`' `train_test_split(test_size=fraction, seed=seed)` does in spirit.
pub fn split_validation<T>(
    examples: Vec<T>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<T>, Vec<T>), TrainError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(TrainError::Argument {
            field: "validation_split",
            value: format!("{fraction}"),
            message: "must be between 0 and 1 (exclusive)",
        });
    }
    let n = examples.len();
    let held = ((n as f64) * fraction).round().max(1.0) as usize;
    if held >= n {
        return Err(TrainError::Data(format!(
            "a validation split of {fraction} leaves no training examples out of {n}"
        )));
    }
    let order = kindling_data::batch_order(n, 1, Some(seed), None)?;
    let mut slots: Vec<Option<T>> = examples.into_iter().map(Some).collect();
    let mut train = Vec::with_capacity(n - held);
    let mut validation = Vec::with_capacity(held);
    for (rank, index) in order.into_iter().flatten().enumerate() {
        if let Some(example) = slots[index].take() {
            if rank < n - held {
                train.push(example);
            } else {
                validation.push(example);
            }
        }
    }
    Ok((train, validation))
}

/// Every example of `files`, read with `read` (which names the file in its errors).
pub fn read_files<T>(
    files: &[PathBuf],
    mut read: impl FnMut(&Path) -> Result<Vec<T>, TrainError>,
) -> Result<Vec<T>, TrainError> {
    let mut all = Vec::new();
    for file in files {
        all.extend(read(file)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_split_is_seeded_disjoint_and_sized() {
        let (train, validation) = split_validation((0..50).collect(), 0.1, 7).unwrap();
        assert_eq!((train.len(), validation.len()), (45, 5));
        let mut all: Vec<i32> = train.iter().chain(&validation).copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let (_, again) = split_validation((0..50).collect(), 0.1, 7).unwrap();
        assert_eq!(again, validation, "the same seed gives the same split");
        let (_, other) = split_validation((0..50).collect::<Vec<i32>>(), 0.1, 8).unwrap();
        assert_ne!(other, validation, "another seed gives another split");
    }

    #[test]
    fn a_split_outside_zero_to_one_is_an_error_naming_the_field() {
        for bad in [0.0, 1.0, -0.5, f64::NAN] {
            let err = split_validation(vec![1, 2, 3], bad, 0).unwrap_err();
            assert!(err.to_string().contains("validation_split"), "{err}");
        }
        assert!(
            split_validation(vec![1], 0.5, 0).is_err(),
            "nothing left to train on"
        );
    }
}
