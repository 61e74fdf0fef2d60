#![warn(missing_docs)]
//! kindling: transformer encoders with the body and the head kept apart, on Burn.
//!
//! This facade re-exports the crates ([`body`], [`import`], [`data`]), chooses devices
//! ([`device::parse_device`]), and offers the pipelines: [`forward`] runs any checkpoint on
//! token ids or text and returns its outputs under their `transformers` names.
//!
//! ```no_run
//! use kindling::forward::{ForwardInput, run_forward};
//!
//! let device = kindling::device::parse_device("flex")?;
//! let input = ForwardInput::Texts(vec!["Hallo Welt".into()]);
//! let outputs = run_forward("path/to/checkpoint".as_ref(), input, &device)?;
//! println!("{:?}", outputs.tensors.keys().collect::<Vec<_>>());
//! # Ok::<(), kindling::KindlingError>(())
//! ```

pub mod device;
mod error;
pub mod forward;
pub mod outputs;
pub mod pipelines;
pub mod prelude;

/// The token-classification pipeline under its first name.
pub use pipelines::token_classification as ner;

pub use burn;
pub use error::KindlingError;
pub use kindling_body as body;
pub use kindling_data as data;
pub use kindling_heads as heads;
pub use kindling_import as import;
pub use kindling_train as train;

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
