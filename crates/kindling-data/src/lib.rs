#![warn(missing_docs)]
//! Datasets and batching for kindling.
//!
//! Today: tokenization through a checkpoint's `tokenizer.json` (the `tokenizers` crate, so ids
//! equal `transformers`' fast tokenizers), batches padded to the longest row with the
//! tokenizer's pad id, truncation to the model's window, and word ids kept for aligning
//! word-level labels to sub-words.

mod error;
mod tokenizer;

pub use error::DataError;
pub use tokenizer::{EncodedBatch, Tokenizer};
