//! The BERT family's `config.json` fields: BERT, RoBERTa, XLM-RoBERTa, CamemBERT and ELECTRA
//! share these names and differ in defaults (and ELECTRA's `embedding_size`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::activation::HiddenAct;
use crate::config::{CommonConfig, FieldChecks, ModelType, PositionIds};
use crate::encoder::EncoderBodyConfig;
use crate::error::ConfigError;

/// `position_embedding_type` in BERT-family configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PositionEmbeddingType {
    /// Learned absolute position embeddings (the only kind kindling implements).
    #[serde(rename = "absolute")]
    Absolute,
    /// Shaw et al. relative positions on keys (not supported).
    #[serde(rename = "relative_key")]
    RelativeKey,
    /// Huang et al. relative positions on keys and queries (not supported).
    #[serde(rename = "relative_key_query")]
    RelativeKeyQuery,
}

/// The fields of a BERT / RoBERTa / XLM-R / CamemBERT / ELECTRA `config.json` that are not
/// shared with every architecture, as `transformers` writes them. Absent fields take
/// `transformers`' defaults for the file's `model_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertFamilyConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// ELECTRA: width of the embeddings, projected to `hidden_size` when different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and sub-layer outputs.
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Rows in the position table.
    pub max_position_embeddings: usize,
    /// Rows in the token-type table (1 for RoBERTa and XLM-R, 2 for BERT).
    pub type_vocab_size: usize,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Position embedding kind.
    pub position_embedding_type: PositionEmbeddingType,
    /// Dropout before classification heads; `hidden_dropout_prob` when absent.
    pub classifier_dropout: Option<f64>,
}

impl BertFamilyConfig {
    /// Fields skipped in serialization when absent.
    pub(crate) const OPTIONAL_FIELDS: [&'static str; 1] = ["embedding_size"];

    /// `transformers`' defaults for a `model_type` (those of `BertConfig`, `RobertaConfig`,
    /// `XLMRobertaConfig`, `CamembertConfig`, `ElectraConfig`).
    pub fn defaults(model_type: ModelType) -> Self {
        let bert = Self {
            embedding_size: None,
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            position_embedding_type: PositionEmbeddingType::Absolute,
            classifier_dropout: None,
        };
        match model_type {
            ModelType::Roberta => Self {
                vocab_size: 50265,
                ..bert
            },
            ModelType::Electra => Self {
                embedding_size: Some(128),
                hidden_size: 256,
                num_attention_heads: 4,
                intermediate_size: 1024,
                ..bert
            },
            _ => bert,
        }
    }

    /// Checks the values `transformers` would also refuse.
    pub(crate) fn validate(
        &self,
        model_type: ModelType,
        common: &CommonConfig,
        path: &Path,
    ) -> Result<(), ConfigError> {
        let checks = FieldChecks { path };
        checks.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
            ("embedding_size", self.embedding_width()),
        ])?;
        checks.divisible(
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
        )?;
        if self.position_embedding_type != PositionEmbeddingType::Absolute {
            return Err(checks.invalid(
                "position_embedding_type",
                "only \"absolute\" position embeddings are supported".into(),
            ));
        }
        checks.probabilities(&[
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            (
                "attention_probs_dropout_prob",
                Some(self.attention_probs_dropout_prob),
            ),
            ("classifier_dropout", self.classifier_dropout),
        ])?;
        checks.pad_in_vocabulary(common.pad_token_id, self.vocab_size)?;
        if let Some(pad) = common.pad_token_id {
            let offset = model_type.position_ids(pad).offset();
            if offset >= self.max_position_embeddings {
                return Err(checks.invalid(
                    "max_position_embeddings",
                    format!(
                        "{} leaves no positions after the padding offset {offset}",
                        self.max_position_embeddings
                    ),
                ));
            }
        } else if model_type.position_ids(0) != PositionIds::Absolute {
            return Err(checks.invalid(
                "pad_token_id",
                format!(
                    "required for {}: position ids are counted from it",
                    model_type.hf_name()
                ),
            ));
        }
        Ok(())
    }

    /// The longest sequence the body accepts: the position table less the padding offset.
    pub fn max_sequence_length(&self, position_ids: PositionIds) -> usize {
        self.max_position_embeddings - position_ids.offset()
    }

    /// Width of the embeddings: `embedding_size` where the file sets one (ELECTRA), else the
    /// hidden size.
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// Dropout probability for classification heads, as `transformers` picks it.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self, model_type: ModelType, common: &CommonConfig) -> EncoderBodyConfig {
        let position_ids = model_type.position_ids(common.pad_token_id.unwrap_or_default());
        EncoderBodyConfig::new(
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
        )
        .with_hidden_act(self.hidden_act)
        .with_hidden_dropout_prob(self.hidden_dropout_prob)
        .with_attention_probs_dropout_prob(self.attention_probs_dropout_prob)
        .with_max_position_embeddings(self.max_position_embeddings)
        .with_type_vocab_size(self.type_vocab_size)
        .with_layer_norm_eps(self.layer_norm_eps)
        .with_initializer_range(self.initializer_range)
        .with_pad_token_id(common.pad_token_id)
        .with_position_ids(position_ids)
        .with_embedding_size(self.embedding_size)
        .with_model_type(model_type)
        // BERT-family checkpoints have a pooler unless the architecture has none; the loader
        // decides from the file.
        .with_add_pooling_layer(!matches!(model_type, ModelType::Electra))
    }
}
