#![warn(missing_docs)]
//! Transformer encoder bodies for kindling.
//!
//! Every body implements [`Body`]; [`AnyBody`] is the one chosen at run time from a
//! `config.json`'s `model_type` ([`HfConfig`]). One encoder, [`EncoderBody`], serves BERT,
//! RoBERTa, XLM-RoBERTa, CamemBERT and ELECTRA: what differs between them (position ids counted
//! from the padding index, the token-type vocabulary, the activation, the layer-norm epsilon,
//! ELECTRA's narrower embeddings) is data in [`EncoderBodyConfig`]. [`DistilBertBody`] computes
//! the same layers under DistilBERT's own module tree. [`DebertaV2Body`] (DeBERTa-v2/v3)
//! computes attention differently (disentangled relative positions), so it is a body type of
//! its own, as is [`ModernBertBody`] (rotary positions, alternating global and sliding-window
//! layers, pre-norm GeGLU layers).
//!
//! Module and field names follow the Hugging Face state dict (`embeddings.word_embeddings`,
//! `encoder.layer.N.attention.self_attention.query`, `transformer.layer.N.ffn.lin1`, ...), so
//! loading needs only the short rename table in [`names`]; each body knows its own prefix
//! ([`Body::state_dict_prefix`]) and names ([`Body::module_path`]).
//!
//! ```
//! use burn::prelude::*;
//! use kindling_body::{Body, BodyInput, EncoderBodyConfig, OutputOptions};
//!
//! let device = Device::flex();
//! let config = EncoderBodyConfig::new(100, 16, 2, 4, 32);
//! let body = config.init(&device);
//! let ids = Tensor::<2, Int>::from_data([[2, 5, 7, 0]], &device);
//! let mask = Tensor::<2, Int>::from_data([[1, 1, 1, 0]], &device);
//! let out = body.forward(BodyInput::new(ids, mask), OutputOptions::default());
//! assert_eq!(out.last_hidden_state.dims(), [1, 4, 16]);
//! ```

mod activation;
mod any;
mod attention;
mod body;
mod config;
pub mod deberta;
pub mod distilbert;
mod embeddings;
mod encoder;
mod error;
mod init;
mod layer;
pub mod modernbert;
pub mod names;
mod pooler;

pub use activation::HiddenAct;
pub use any::{AnyBody, AnyBodyConfig};
pub use attention::{
    AttentionMask, AttentionOutput, SelfAttention, SelfAttentionBlock, multi_head_attention,
};
pub use body::{Body, BodyInput, BodyOutput, OutputOptions};
/// The Burn these crates are built on, for projects that do not depend on it directly (the
/// backend features of this crate choose its devices).
pub use burn;
pub use config::{
    BertFamilyConfig, ClassifierPooling, CommonConfig, DebertaV2Config, DistilBertConfig,
    FamilyConfig, HfConfig, ModelType, ModernBertConfig, PosAttTypes, PositionEmbeddingType,
    PositionIds, ProblemType, SUPPORTED_MODEL_TYPES, SizeProbe,
};
pub use deberta::{DebertaV2Body, DebertaV2BodyConfig};
pub use distilbert::{DistilBertBody, DistilBertBodyConfig};
pub use embeddings::Embeddings;
pub use encoder::{EncoderBody, EncoderBodyConfig, EncoderStack};
pub use error::ConfigError;
pub use init::{hf_embedding, hf_layer_norm, hf_linear};
/// kindling's CPU kernels (the `kindling-kernels` crate), as `kindling_body::kernels`.
pub use kindling_kernels as kernels;
pub use layer::{EncoderLayer, Intermediate, LayerOutput};
pub use modernbert::{ModernBertBody, ModernBertBodyConfig};
pub use pooler::Pooler;

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
