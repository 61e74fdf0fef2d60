#![warn(missing_docs)]
//! Training and evaluation for kindling.
//!
//! - [`train`]: the loop — AdamW with decoupled weight decay that skips biases and layer norms
//!   ([`optimizer`]), `transformers`' linear warm-up and decay ([`LinearSchedule`]), global-norm
//!   clipping, gradient accumulation, evaluation every epoch or every N steps, best-model
//!   selection on F1, early stopping, atomic checkpoints and exact resume ([`checkpoint`]),
//!   a progress bar, `metrics.jsonl` and `curves.svg` ([`log`]);
//! - entity-level precision, recall and F1 equal to Python `seqeval`'s default mode
//!   ([`metrics::evaluate`]), the entity chunker behind them ([`metrics::entities`]) and token
//!   accuracy ([`metrics::token_accuracy`]);
//! - one module per task: [`token_classification`], [`fill_mask`] (masked-LM domain adaptation:
//!   blocks, dynamic masking, perplexity) and [`multiple_choice`] (SWAG-style, accuracy).

pub mod checkpoint;
mod error;
pub mod fill_mask;
pub mod job;
pub mod log;
pub mod metrics;
pub mod multiple_choice;
pub mod optimizer;
pub mod precision;
pub mod question_answering;
mod schedule;
pub mod tasks;
pub mod text_classification;
pub mod token_classification;
mod trainer;

pub use checkpoint::TrainerState;
pub use error::TrainError;
pub use job::{Columns, JobContext, TaskOptions, TaskReport, TrainJob};
pub use log::LogEntry;
pub use metrics::{Entity, EntityReport, Scores, entities, evaluate, token_accuracy};
pub use optimizer::AdamWSettings;
pub use schedule::LinearSchedule;
pub use trainer::{
    Evaluation, Evaluator, TrainOutcome, TrainingArguments, TrainingData, planned_steps, train,
};

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
