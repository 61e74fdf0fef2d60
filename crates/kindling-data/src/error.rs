//! Errors of the data crate.

use std::path::PathBuf;

/// Why data could not be read or tokenized.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// `tokenizer.json` could not be loaded.
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// Encoding a text failed.
    #[error("cannot tokenize input {index}: {message}")]
    Encode {
        /// Which input (0-based) failed.
        index: usize,
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// No pad id could be found for batching.
    #[error(
        "{path}: no padding token: the tokenizer has no padding settings and no `[PAD]` or `<pad>` token, and none was given"
    )]
    NoPadToken {
        /// The tokenizer file.
        path: PathBuf,
    },
}
