#![warn(missing_docs)]
//! Task heads and the mount for kindling.
//!
//! A [`Head`] takes a body's output and gives task outputs, and given labels, the loss. A
//! [`Model`] is a body plus a head, and is itself a Burn `Module`. Ready heads, one per file,
//! with `transformers`' parameter names and initialization: token classification, sequence
//! classification (BERT's pooler style, RoBERTa's and ELECTRA's first-token style,
//! DistilBERT's pre-classifier; single-label, multi-label, regression), question answering,
//! multiple choice, masked LM (decoder tied to the word embeddings) and sentence embedding.
//! [`AnyHead`] picks one from a checkpoint's `architectures`, with the recipe of its
//! architecture ([`HeadRecipe`]).
//!
//! ```
//! use burn::prelude::*;
//! use kindling_body::{BodyInput, EncoderBodyConfig};
//! use kindling_heads::{Model, TokenClassificationHead};
//!
//! let device = Device::flex();
//! let body = EncoderBodyConfig::new(100, 16, 1, 2, 32).init(&device);
//! let head = TokenClassificationHead::new(16, 7, 0.1, 0.02, &device);
//! let model = Model::new(body, head)?;
//! let ids = Tensor::<2, Int>::from_data([[2, 5, 7]], &device);
//! let mask = Tensor::<2, Int>::ones([1, 3], &device);
//! let out = model.forward(BodyInput::new(ids, mask));
//! assert_eq!(out.logits.dims(), [1, 3, 7]);
//! # Ok::<(), kindling_heads::HeadError>(())
//! ```

mod any;
mod error;
mod head;
pub mod loss;
mod masked_lm;
mod mount;
mod multiple_choice;
mod prediction_head;
pub mod prelude;
mod question_answering;
mod recipe;
mod sentence_embedding;
mod sequence_classification;
mod task;
mod token_classification;

pub use any::{AnyHead, AnyLabels, AnyOutput, HeadSpec};
/// The Burn these crates are built on, for projects that do not depend on it directly.
pub use burn;
pub use error::HeadError;
pub use head::{Head, HeadContext, NoLabels};
pub use masked_lm::{MaskedLmHead, MaskedLmLayout, MaskedLmOutput};
pub use mount::{Model, ModelInput};
pub use multiple_choice::{
    ChoiceLayout, ChoiceRecipe, ChoiceVector, MultipleChoiceHead, MultipleChoiceOutput,
};
pub use prediction_head::{PredictionHead, PredictionHeadRecipe};
pub use question_answering::{QuestionAnsweringHead, QuestionAnsweringOutput, SpanLabels};
pub use recipe::HeadRecipe;
pub use sentence_embedding::{Pooling, SentenceEmbeddingHead, SentenceEmbeddingOutput};
pub use sequence_classification::{
    ContextPooledClassifier, ContextPooler, FirstTokenClassifier, PreClassifier,
    PredictedClassifier, SequenceClassificationHead, SequenceClassificationOutput,
    SequenceClassifier, SequenceClassifierStyle, SequenceLabels,
};
pub use task::Task;
pub use token_classification::{TokenClassificationHead, TokenClassificationOutput};

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
