//! DistilBERT's `config.json` fields (`dim`, `n_layers`, `n_heads`, `hidden_dim`, ...).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::activation::HiddenAct;
use crate::config::{CommonConfig, FieldChecks};
use crate::distilbert::DistilBertBodyConfig;
use crate::error::ConfigError;

/// DistilBERT's layer norms all use this epsilon; its config has no field for it.
pub(crate) const LAYER_NORM_EPS: f64 = 1e-12;

/// The fields of a DistilBERT `config.json` not shared with every architecture, as
/// `DistilBertConfig` writes them; absent fields take its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistilBertConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Rows in the position table.
    pub max_position_embeddings: usize,
    /// Fixed sinusoidal position embeddings instead of learned ones.
    pub sinusoidal_pos_embds: bool,
    /// Number of transformer layers.
    pub n_layers: usize,
    /// Number of attention heads per layer.
    pub n_heads: usize,
    /// Width of the hidden states.
    pub dim: usize,
    /// Width of the feed-forward layer.
    pub hidden_dim: usize,
    /// Dropout on embeddings and the feed-forward output (and before token-classification
    /// heads).
    pub dropout: f64,
    /// Dropout on attention probabilities.
    pub attention_dropout: f64,
    /// Feed-forward activation.
    pub activation: HiddenAct,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
    /// Dropout before the question-answering head.
    pub qa_dropout: f64,
    /// Dropout in the sequence-classification and multiple-choice heads.
    pub seq_classif_dropout: f64,
}

impl Default for DistilBertConfig {
    /// `DistilBertConfig()`'s defaults.
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            max_position_embeddings: 512,
            sinusoidal_pos_embds: false,
            n_layers: 6,
            n_heads: 12,
            dim: 768,
            hidden_dim: 4 * 768,
            dropout: 0.1,
            attention_dropout: 0.1,
            activation: HiddenAct::Gelu,
            initializer_range: 0.02,
            qa_dropout: 0.1,
            seq_classif_dropout: 0.2,
        }
    }
}

impl DistilBertConfig {
    /// Checks the values `transformers` would also refuse.
    pub(crate) fn validate(&self, common: &CommonConfig, path: &Path) -> Result<(), ConfigError> {
        let checks = FieldChecks { path };
        checks.positive(&[
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("n_heads", self.n_heads),
            ("hidden_dim", self.hidden_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ])?;
        checks.divisible(("dim", self.dim), ("n_heads", self.n_heads))?;
        checks.probabilities(&[
            ("dropout", Some(self.dropout)),
            ("attention_dropout", Some(self.attention_dropout)),
            ("qa_dropout", Some(self.qa_dropout)),
            ("seq_classif_dropout", Some(self.seq_classif_dropout)),
        ])?;
        checks.pad_in_vocabulary(common.pad_token_id, self.vocab_size)?;
        Ok(())
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self, common: &CommonConfig) -> DistilBertBodyConfig {
        DistilBertBodyConfig::new(
            self.vocab_size,
            self.dim,
            self.n_layers,
            self.n_heads,
            self.hidden_dim,
        )
        .with_activation(self.activation)
        .with_dropout(self.dropout)
        .with_attention_dropout(self.attention_dropout)
        .with_max_position_embeddings(self.max_position_embeddings)
        .with_sinusoidal_pos_embds(self.sinusoidal_pos_embds)
        .with_initializer_range(self.initializer_range)
        .with_pad_token_id(common.pad_token_id)
    }
}
