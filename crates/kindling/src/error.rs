//! The facade's error type.

/// Anything that can go wrong in a kindling pipeline.
#[derive(Debug, thiserror::Error)]
pub enum KindlingError {
    /// Reading or writing a checkpoint.
    #[error(transparent)]
    Import(#[from] kindling_import::ImportError),
    /// Tokenization or data.
    #[error(transparent)]
    Data(#[from] kindling_data::DataError),
    /// A device string that names no device, or a backend that was not built.
    #[error("device `{spec}`: {message}")]
    Device {
        /// The device string given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// Model inputs that do not fit the model.
    #[error("{source_name}: field `{field}`: {message}")]
    Input {
        /// Where the input came from (a file name).
        source_name: String,
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A forward pass failed on inputs that were valid (reported to every input it held).
    #[error("{task}: the forward pass failed: {message}")]
    Forward {
        /// The pipeline task.
        task: String,
        /// What failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
}
