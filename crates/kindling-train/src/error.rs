//! Errors of the training crate.

use std::path::PathBuf;

/// Why training or evaluation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file of the run could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint could not be written or read back.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// `--resume` without a checkpoint to resume from.
    #[error("nothing to resume in {path}: it holds no complete checkpoint")]
    NoCheckpoint {
        /// The run directory.
        path: PathBuf,
    },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "the loss became {loss} at step {step}; training stopped and the last good checkpoint is kept (try a lower learning rate)"
    )]
    NonFiniteLoss {
        /// The optimizer step.
        step: usize,
        /// The loss value.
        loss: f64,
    },
    /// A training argument is out of its range.
    #[error("training argument `{field}` = {value}: {message}")]
    Argument {
        /// The field of `TrainingArguments` (`adam_*` for the AdamW settings, as `transformers`).
        field: &'static str,
        /// The value given.
        value: String,
        /// The range it must be in.
        message: &'static str,
    },
    /// An update made weights NaN or infinite; the last good checkpoint is kept.
    #[error(
        "after step {step}, {tensors} weight tensor(s) hold NaN or infinite values; training stopped and the last good checkpoint is kept (try a lower learning rate or --max-grad-norm)"
    )]
    NonFiniteWeights {
        /// The optimizer step whose update overflowed.
        step: usize,
        /// How many parameter tensors are affected.
        tensors: usize,
    },
    /// Mixed-precision training cannot run on this device.
    #[error("{0}")]
    Precision(String),
    /// Training data that cannot be used.
    #[error("training data: {0}")]
    Data(String),
    /// The model's head refused the labels.
    #[error(transparent)]
    Head(#[from] kindling_heads::HeadError),
    /// Exporting the model failed.
    #[error(transparent)]
    Import(#[from] kindling_import::ImportError),
    /// Reading or tokenizing data failed.
    #[error(transparent)]
    Input(#[from] kindling_data::DataError),
    /// Gold and predicted tags hold different numbers of sentences.
    #[error("metrics: {gold} gold sentences but {pred} predicted ones")]
    SentenceCount {
        /// Number of gold sentences.
        gold: usize,
        /// Number of predicted sentences.
        pred: usize,
    },
    /// One sentence has a different number of gold and predicted tags.
    #[error("metrics: sentence {index} has {gold} gold tags but {pred} predicted ones")]
    SentenceLength {
        /// Which sentence (0-based).
        index: usize,
        /// Its number of gold tags.
        gold: usize,
        /// Its number of predicted tags.
        pred: usize,
    },
}
