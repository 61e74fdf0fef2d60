//! Errors of the importer.

use std::path::PathBuf;

use kindling_body::ConfigError;

/// Why a checkpoint could not be read, loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The model could not be quantized to int8 (`ModelLoadOptions::int8`).
    #[error(transparent)]
    Quantize(#[from] kindling_body::kernels::QuantizeError),
    /// The directory does not exist or is not a directory.
    #[error("checkpoint directory {path} does not exist or is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory has no weight file kindling reads.
    #[error(
        "no weights in {dir}: expected model.safetensors, model.safetensors.index.json + shards, or pytorch_model.bin"
    )]
    NoWeights {
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// `config.json` is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The head cannot be built or mounted, or the labels disagree with the checkpoint.
    #[error(transparent)]
    Head(#[from] kindling_heads::HeadError),
    /// A quantized checkpoint's `quantization_config` that kindling cannot run.
    #[error("{path}: {message}")]
    Quantization {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// `config.json` is absent.
    #[error("no config.json in {dir}")]
    NoConfig {
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// A weight file could not be parsed (truncated, corrupt, not the claimed format).
    #[error("cannot read weights from {path}: {message}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// What the reader said.
        message: String,
    },
    /// A `torch.save` file whose pickle names globals beyond tensors and storages: unpickled by
    /// Python it would import and call them (code execution), so it is not loaded.
    #[error(
        "refusing {path}: its pickle names {}, which a torch.save state dict never holds; unpickling it in Python would run that code, and kindling never runs code from a checkpoint (a checkpoint you trust can be re-saved as model.safetensors)",
        globals.join(", ")
    )]
    UnsafePickle {
        /// The weight file.
        path: PathBuf,
        /// The offending globals, as `module.name`.
        globals: Vec<String>,
    },
    /// The shard index is malformed or points at something missing.
    #[error("shard index {path}: {message}")]
    ShardIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor's shape does not fit the module built from the config.
    #[error(
        "tensor `{tensor}` in {path} has shape {found:?}, but the model built from config.json expects {expected:?}"
    )]
    ShapeMismatch {
        /// The tensor's name in the file.
        tensor: String,
        /// The weight file.
        path: PathBuf,
        /// The shape the module needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A size in `config.json` does not fit the weights file, found from the file's header
    /// before anything is allocated.
    #[error("{0}")]
    ConfigMismatch(Box<SizeMismatch>),
    /// A tensor has a dtype that cannot become a parameter (an integer tensor for a float weight).
    #[error("tensor `{tensor}` in {path}: {message}")]
    BadTensor {
        /// The tensor's name in the file.
        tensor: String,
        /// The weight file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The same parameter appears twice (for instance under two prefixes).
    #[error("tensor `{tensor}` appears twice: in {first} and {second}")]
    Duplicate {
        /// The mapped parameter name.
        tensor: String,
        /// Where it was first seen.
        first: String,
        /// Where it was seen again.
        second: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing weights failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// A `config.json` size that contradicts a tensor of the weights file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "config.json field `{field}` = {value} does not fit the weights: tensor `{tensor}` in {path} has shape {found:?}, the config implies {expected:?}"
)]
pub struct SizeMismatch {
    /// The config field.
    pub field: String,
    /// Its value.
    pub value: usize,
    /// The tensor that contradicts it.
    pub tensor: String,
    /// The weight file.
    pub path: PathBuf,
    /// The shape the config implies.
    pub expected: Vec<usize>,
    /// The shape in the file.
    pub found: Vec<usize>,
}
