//! Errors of the body crate.

use std::path::PathBuf;

/// A `config.json` that cannot describe a supported body.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not a JSON object.
    #[error("{path}: not a valid JSON object: {message}")]
    Json {
        /// The config file.
        path: PathBuf,
        /// What the JSON parser said.
        message: String,
    },
    /// `model_type` is absent.
    #[error("{path}: missing required field `model_type` (supported: {supported})")]
    MissingModelType {
        /// The config file.
        path: PathBuf,
        /// The supported values.
        supported: &'static str,
    },
    /// `model_type` names an architecture kindling has no body for.
    #[error("{path}: unknown model_type `{found}` (supported: {supported})")]
    UnknownModelType {
        /// The config file.
        path: PathBuf,
        /// The value found.
        found: String,
        /// The supported values.
        supported: &'static str,
    },
    /// A field has a wrong type or an unsupported value.
    #[error("{path}: field `{field}`: {message}")]
    InvalidField {
        /// The config file.
        path: PathBuf,
        /// The field's JSON path.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}
