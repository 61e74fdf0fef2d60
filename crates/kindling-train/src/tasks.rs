//! The task registry: which module trains and evaluates each pipeline task. Adding a task is
//! its own module and one arm in each function here.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use kindling_heads::Task;
use kindling_import::Checkpoint;

use crate::error::TrainError;
use crate::job::{Columns, TaskOptions, TaskReport, TrainJob};

/// The selection metric of each task and whether larger is better, as `transformers`' example
/// scripts report them (`run_ner.py`: F1, `run_qa.py`: F1, `run_glue.py`: accuracy,
/// `run_mlm.py`: loss, `run_swag.py`: accuracy).
pub fn default_metric(task: Task) -> (&'static str, bool) {
    match task {
        Task::TokenClassification | Task::QuestionAnswering => ("f1", true),
        Task::SequenceClassification | Task::MultipleChoice => ("accuracy", true),
        _ => ("loss", false),
    }
}

/// Runs a training job with its task's module.
pub fn train(job: &TrainJob) -> Result<TaskReport, TrainError> {
    match job.task {
        Task::TokenClassification => crate::token_classification::train_job(job),
        Task::MaskedLm => crate::fill_mask::train_job(job),
        Task::MultipleChoice => crate::multiple_choice::train_job(job),
        Task::SequenceClassification => crate::text_classification::train_job(job),
        Task::QuestionAnswering => crate::question_answering::train_job(job),
        other => Err(unsupported(other, "training")),
    }
}

/// What `eval` needs beyond the checkpoint and the data file.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// The task; the checkpoint's head when `None`.
    pub task: Option<Task>,
    /// Table columns (text classification).
    pub columns: Columns,
    /// Task-specific options.
    pub options: TaskOptions,
    /// Examples per batch (64 when 0).
    pub batch_size: usize,
    /// Token classification: write CoNLL predictions here.
    pub predictions: Option<PathBuf>,
    /// Run the linear layers in int8 (`--dtype int8`; the flex device only).
    pub int8: bool,
}

/// An evaluation's result: the metrics as JSON (what `eval --json` prints) and as text.
#[derive(Debug, Clone)]
pub struct EvalOutput {
    /// The task evaluated.
    pub task: Task,
    /// The metrics.
    pub json: serde_json::Value,
    /// The metrics as a table.
    pub text: String,
}

/// Scores the checkpoint in `model_dir` on the data set `data` with its task's metrics.
pub fn evaluate(
    model_dir: &Path,
    data: &Path,
    options: &EvalOptions,
    device: &Device,
) -> Result<EvalOutput, TrainError> {
    let task = match options.task {
        Some(task) => task,
        None => {
            let checkpoint = Checkpoint::open(model_dir)?;
            Task::from_architectures(checkpoint.config.common.architectures.as_deref())?
        }
    };
    let batch_size = if options.batch_size == 0 {
        64
    } else {
        options.batch_size
    };
    match task {
        Task::TokenClassification => {
            let out = crate::token_classification::eval_job(
                model_dir,
                data,
                options.predictions.as_deref(),
                batch_size,
                options.int8,
                device,
            )?;
            Ok(EvalOutput {
                task,
                json: out.json,
                text: out.text,
            })
        }
        Task::MaskedLm => {
            let (json, text) = crate::fill_mask::eval_job(
                model_dir,
                data,
                &options.options,
                batch_size,
                options.int8,
                device,
            )?;
            Ok(EvalOutput { task, json, text })
        }
        Task::MultipleChoice => {
            let (json, text) = crate::multiple_choice::eval_job(
                model_dir,
                data,
                batch_size,
                options.int8,
                device,
            )?;
            Ok(EvalOutput { task, json, text })
        }
        Task::QuestionAnswering => {
            let (json, text) = crate::question_answering::eval_job(
                model_dir,
                data,
                &options.options,
                batch_size,
                options.int8,
                device,
            )?;
            Ok(EvalOutput { task, json, text })
        }
        Task::SequenceClassification => {
            let out = crate::text_classification::eval_job(
                model_dir,
                data,
                &options.columns,
                batch_size,
                options.int8,
                device,
            )?;
            Ok(EvalOutput {
                task,
                json: out.json,
                text: out.text,
            })
        }
        other => Err(unsupported(other, "evaluation")),
    }
}

fn unsupported(task: Task, what: &str) -> TrainError {
    TrainError::Data(format!(
        "{what} for `{}` (head {task:?}) is not available; tasks: token-classification, text-classification, question-answering, fill-mask, multiple-choice",
        task.pipeline_name()
    ))
}
