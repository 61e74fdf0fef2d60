#![warn(missing_docs)]
//! Hugging Face checkpoints in and out of kindling.
//!
//! A checkpoint directory is the `transformers` layout: `config.json`, weights as
//! `model.safetensors`, `model.safetensors.index.json` + shards, or `pytorch_model.bin`, and
//! usually `tokenizer.json`. [`Checkpoint::open`] finds the files, [`Checkpoint::read_tensors`]
//! reads the weights (with burn-store; a `.bin` is read as data, never executed, and refused
//! if its pickle names anything but tensors and storages: [`pickle_guard`]), and
//! [`load_module`] puts them into any Burn module through a name mapping, reporting missing and
//! unused tensors as `transformers` does. [`load_body`] is that for the encoder body, and
//! [`save_body`] writes a body back in the same layout.

mod adapter;
mod checkpoint;
mod error;
mod export;
mod load;
mod model;
pub mod pickle_guard;
pub mod quantized;
mod report;
mod tensors;
mod weight_files;

/// The Burn these crates are built on, for projects that do not depend on it directly.
pub use burn;
pub use checkpoint::Checkpoint;
pub use error::{ImportError, SizeMismatch};
pub use export::{save_body, save_module, write_atomically};
pub use load::{
    BodyLoadOptions, PoolerChoice, body_module_path, body_prefix, load_body, load_body_from,
    load_module, target_float_dtype,
};
pub use model::{ModelLoadOptions, describe_model, load_model, load_model_with_head, save_model};
pub use report::LoadReport;
pub use tensors::{HfTensor, TensorMap};
pub use weight_files::WeightFiles;

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
