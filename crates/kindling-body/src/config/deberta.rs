//! DeBERTa-v2's `config.json` fields (`model_type: deberta-v2`, which also covers DeBERTa-v3
//! and mDeBERTa-v3): BERT's sizes plus the disentangled-attention options.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::activation::HiddenAct;
use crate::config::{CommonConfig, FieldChecks};
use crate::deberta::DebertaV2BodyConfig;
use crate::error::ConfigError;

/// `pos_att_type`: which relative-position terms the attention adds, written as a list
/// (`["p2c", "c2p"]`) or, in older files, as one string (`"p2c|c2p"`). Entries other than
/// `c2p` and `p2c` are kept but, as in `transformers`, have no effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PosAttTypes(pub Vec<String>);

impl PosAttTypes {
    /// Content-to-position scores (queries against relative-position keys).
    pub fn c2p(&self) -> bool {
        self.0.iter().any(|t| t == "c2p")
    }

    /// Position-to-content scores (relative-position queries against keys).
    pub fn p2c(&self) -> bool {
        self.0.iter().any(|t| t == "p2c")
    }
}

impl Serialize for PosAttTypes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PosAttTypes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Joined(String),
            List(Vec<String>),
        }
        // As `DebertaV2Config.__post_init__`: a string is lower-cased and split on `|`.
        Ok(Self(match Form::deserialize(deserializer)? {
            Form::Joined(s) => s
                .to_lowercase()
                .split('|')
                .map(|t| t.trim().to_string())
                .collect(),
            Form::List(list) => list,
        }))
    }
}

/// The fields of a DeBERTa-v2 `config.json` not shared with every architecture, as
/// `DebertaV2Config` writes them (and the options its model reads with `getattr`); absent
/// fields take `transformers`' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebertaV2Config {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the token embeddings, projected to `hidden_size` by `embed_proj` when it
    /// differs; the hidden size when absent.
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
    /// Dropout on embeddings, sub-layer outputs and relative embeddings (and before the
    /// token-classification head).
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Rows in the absolute position table; the relative span when `max_relative_positions`
    /// is below 1.
    pub max_position_embeddings: usize,
    /// Rows in the token-type table; 0 means no token types.
    pub type_vocab_size: usize,
    /// Standard deviation of the normal initializer.
    pub initializer_range: f64,
    /// Layer-norm epsilon (every norm of the body and the MLM head).
    pub layer_norm_eps: f64,
    /// Whether attention adds relative-position scores (and the body has `rel_embeddings`).
    pub relative_attention: bool,
    /// The relative span; below 1 means `max_position_embeddings`.
    pub max_relative_positions: i64,
    /// Log-bucketed relative positions with this many buckets per side when above 0.
    pub position_buckets: i64,
    /// Whether absolute position embeddings are added to the token embeddings.
    pub position_biased_input: bool,
    /// The relative-position terms (`c2p`, `p2c`); they also set the score scale.
    pub pos_att_type: Option<PosAttTypes>,
    /// Whether the relative-position projections reuse the content query and key
    /// projections (DeBERTa-v3) instead of `pos_key_proj` / `pos_query_proj`.
    pub share_att_key: bool,
    /// `layer_norm` (possibly among other `|`-separated words): the relative embeddings go
    /// through `encoder.LayerNorm`.
    pub norm_rel_ebd: String,
    /// Width of the convolution after the first layer; 0 means none.
    pub conv_kernel_size: usize,
    /// Groups of that convolution.
    pub conv_groups: usize,
    /// Activation of that convolution.
    pub conv_act: HiddenAct,
    /// Dropout before the context pooler's dense layer.
    pub pooler_dropout: f64,
    /// Activation of the context pooler.
    pub pooler_hidden_act: HiddenAct,
    /// Width of the context pooler; the hidden size when absent (it must equal it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooler_hidden_size: Option<usize>,
    /// Dropout before the sequence-classification and multiple-choice classifiers;
    /// `hidden_dropout_prob` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cls_dropout: Option<f64>,
    /// The masked-LM head's layout: `cls.predictions.*` (true, `transformers`' default) or
    /// `lm_predictions.lm_head.*` (false).
    pub legacy: bool,
}

impl Default for DebertaV2Config {
    /// `DebertaV2Config()`'s defaults, and those of the options its model reads with
    /// `getattr` (`share_att_key` false, `position_buckets` -1, `norm_rel_ebd` none, no
    /// convolution).
    fn default() -> Self {
        Self {
            vocab_size: 128100,
            hidden_size: 1536,
            embedding_size: None,
            num_hidden_layers: 24,
            num_attention_heads: 24,
            intermediate_size: 6144,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 0,
            initializer_range: 0.02,
            layer_norm_eps: 1e-7,
            relative_attention: false,
            max_relative_positions: -1,
            position_buckets: -1,
            position_biased_input: true,
            pos_att_type: None,
            share_att_key: false,
            norm_rel_ebd: "none".into(),
            conv_kernel_size: 0,
            conv_groups: 1,
            conv_act: HiddenAct::Tanh,
            pooler_dropout: 0.0,
            pooler_hidden_act: HiddenAct::Gelu,
            pooler_hidden_size: None,
            cls_dropout: None,
            legacy: true,
        }
    }
}

impl DebertaV2Config {
    /// Fields skipped in serialization when absent.
    pub(crate) const OPTIONAL_FIELDS: [&'static str; 3] =
        ["embedding_size", "pooler_hidden_size", "cls_dropout"];

    /// Width of the token embeddings.
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// The relative span as the model uses it (`max_relative_positions`, or
    /// `max_position_embeddings` when that is below 1).
    pub fn relative_span(&self) -> usize {
        match usize::try_from(self.max_relative_positions) {
            Ok(span) if span >= 1 => span,
            _ => self.max_position_embeddings,
        }
    }

    /// Buckets per side of the log-bucketed relative positions, when they are used.
    pub fn buckets(&self) -> Option<usize> {
        usize::try_from(self.position_buckets)
            .ok()
            .filter(|&b| b > 0)
    }

    /// The relative-position terms.
    pub fn pos_att(&self) -> PosAttTypes {
        self.pos_att_type.clone().unwrap_or_default()
    }

    /// Whether `encoder.LayerNorm` normalizes the relative embeddings.
    pub fn norm_rel_embeddings(&self) -> bool {
        self.norm_rel_ebd
            .to_lowercase()
            .split('|')
            .any(|w| w.trim() == "layer_norm")
    }

    /// Dropout before the pooled classifiers (`cls_dropout`, else `hidden_dropout_prob`).
    pub fn cls_dropout_prob(&self) -> f64 {
        self.cls_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// Checks the values `transformers` would also refuse (at construction or at its first
    /// forward pass).
    pub(crate) fn validate(&self, common: &CommonConfig, path: &Path) -> Result<(), ConfigError> {
        let checks = FieldChecks { path };
        checks.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("embedding_size", self.embedding_width()),
            ("conv_groups", self.conv_groups),
        ])?;
        checks.divisible(
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
        )?;
        checks.probabilities(&[
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            (
                "attention_probs_dropout_prob",
                Some(self.attention_probs_dropout_prob),
            ),
            ("pooler_dropout", Some(self.pooler_dropout)),
            ("cls_dropout", self.cls_dropout),
        ])?;
        checks.pad_in_vocabulary(common.pad_token_id, self.vocab_size)?;
        if self.conv_kernel_size > 0 {
            if self.conv_kernel_size.is_multiple_of(2) {
                return Err(checks.invalid(
                    "conv_kernel_size",
                    format!(
                        "{} is even: the convolution's padding keeps the sequence length only \
                         for odd widths",
                        self.conv_kernel_size
                    ),
                ));
            }
            checks.divisible(
                ("hidden_size", self.hidden_size),
                ("conv_groups", self.conv_groups),
            )?;
        }
        if let Some(width) = self.pooler_hidden_size
            && width != self.hidden_size
        {
            return Err(checks.invalid(
                "pooler_hidden_size",
                format!(
                    "{width} differs from hidden_size ({}): the context pooler reads the \
                     hidden states",
                    self.hidden_size
                ),
            ));
        }
        Ok(())
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self, common: &CommonConfig) -> DebertaV2BodyConfig {
        let pos_att = self.pos_att();
        DebertaV2BodyConfig::new(
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
        )
        .with_embedding_size(self.embedding_size)
        .with_hidden_act(self.hidden_act)
        .with_hidden_dropout_prob(self.hidden_dropout_prob)
        .with_attention_probs_dropout_prob(self.attention_probs_dropout_prob)
        .with_max_position_embeddings(self.max_position_embeddings)
        .with_type_vocab_size(self.type_vocab_size)
        .with_layer_norm_eps(self.layer_norm_eps)
        .with_initializer_range(self.initializer_range)
        .with_pad_token_id(common.pad_token_id)
        .with_position_biased_input(self.position_biased_input)
        .with_relative_attention(self.relative_attention)
        .with_relative_span(self.relative_span())
        .with_position_buckets(self.buckets())
        .with_c2p(pos_att.c2p())
        .with_p2c(pos_att.p2c())
        .with_share_att_key(self.share_att_key)
        .with_norm_rel_ebd(self.norm_rel_embeddings())
        .with_conv_kernel_size(self.conv_kernel_size)
        .with_conv_groups(self.conv_groups)
        .with_conv_act(self.conv_act)
    }
}
