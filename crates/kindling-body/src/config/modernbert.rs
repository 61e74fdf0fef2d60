//! ModernBERT's `config.json` fields (`model_type: modernbert`), in both styles the files come
//! in: the Hub's legacy `global_attn_every_n_layers` / `global_rope_theta` / `local_rope_theta`,
//! and transformers 5's `layer_types` / `rope_parameters`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activation::HiddenAct;
use crate::config::{CommonConfig, FieldChecks};
use crate::error::ConfigError;
use crate::modernbert::ModernBertBodyConfig;

/// `ModernBertConfig.default_theta["global"]`: the RoPE base of global layers when the file
/// names none.
const DEFAULT_GLOBAL_ROPE_THETA: f64 = 160_000.0;
/// `ModernBertConfig.default_theta["local"]`: the RoPE base of sliding-window layers.
const DEFAULT_LOCAL_ROPE_THETA: f64 = 10_000.0;
/// A legacy file without `global_attn_every_n_layers` has a global layer every third.
const DEFAULT_GLOBAL_EVERY: usize = 3;

/// `classifier_pooling`: which vector of the sequence the classification heads read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassifierPooling {
    /// The first token's hidden state (`"cls"`).
    #[serde(rename = "cls")]
    Cls,
    /// The mean over the real (unmasked) tokens (`"mean"`).
    #[serde(rename = "mean")]
    Mean,
}

/// The fields of a ModernBERT `config.json` not shared with every architecture, as
/// `ModernBertConfig` writes them; absent fields take its defaults. The two config styles are
/// kept as the file wrote them (so an export writes the same style back) and resolved by
/// [`layer_is_global`](Self::layer_is_global) and [`rope_thetas`](Self::rope_thetas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModernBertConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the GeGLU feed-forward (`mlp.Wi` is twice as wide).
    pub intermediate_size: usize,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// The feed-forward activation (the GLU's non-linear half).
    pub hidden_activation: HiddenAct,
    /// The longest sequence (RoPE has no table; this is the trained length).
    pub max_position_embeddings: usize,
    /// Standard deviation of the initializer.
    pub initializer_range: f64,
    /// Truncation of the initializer, in standard deviations.
    pub initializer_cutoff_factor: f64,
    /// Epsilon of every layer norm.
    pub norm_eps: f64,
    /// Whether the layer norms have a bias.
    pub norm_bias: bool,
    /// Whether `attn.Wqkv` and `attn.Wo` have biases.
    pub attention_bias: bool,
    /// Dropout on the attention probabilities and after `attn.Wo`.
    pub attention_dropout: f64,
    /// `transformers` 5: `full_attention` or `sliding_attention` per layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    /// `transformers` 5: RoPE parameters per layer type (`{"full_attention": {"rope_theta":
    /// ...}, "sliding_attention": {...}}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<Value>,
    /// Legacy: one global layer every this many (layer 0 is global).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_attn_every_n_layers: Option<usize>,
    /// Legacy: the RoPE base of global layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_rope_theta: Option<f64>,
    /// Legacy: the RoPE base of sliding-window layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_rope_theta: Option<f64>,
    /// The whole sliding window of local layers: a query sees keys at most
    /// `local_attention / 2` positions away.
    pub local_attention: usize,
    /// Dropout after the embeddings' norm.
    pub embedding_dropout: f64,
    /// Whether `mlp.Wi` and `mlp.Wo` have biases.
    pub mlp_bias: bool,
    /// Dropout inside the feed-forward.
    pub mlp_dropout: f64,
    /// Whether the masked-LM decoder has a bias.
    pub decoder_bias: bool,
    /// Which vector the sequence-level heads read.
    pub classifier_pooling: ClassifierPooling,
    /// Dropout before the task classifiers.
    pub classifier_dropout: f64,
    /// Whether `head.dense` has a bias.
    pub classifier_bias: bool,
    /// The activation of `head` (between `head.dense` and `head.norm`).
    pub classifier_activation: HiddenAct,
    /// The classifier token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cls_token_id: Option<usize>,
    /// The separator token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sep_token_id: Option<usize>,
    /// Legacy RoPE scaling; only its absence (or `null`) is computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
}

impl Default for ModernBertConfig {
    /// `ModernBertConfig()`'s defaults (ModernBERT-base).
    fn default() -> Self {
        Self {
            vocab_size: 50368,
            hidden_size: 768,
            intermediate_size: 1152,
            num_hidden_layers: 22,
            num_attention_heads: 12,
            hidden_activation: HiddenAct::Gelu,
            max_position_embeddings: 8192,
            initializer_range: 0.02,
            initializer_cutoff_factor: 2.0,
            norm_eps: 1e-5,
            norm_bias: false,
            attention_bias: false,
            attention_dropout: 0.0,
            layer_types: None,
            rope_parameters: None,
            global_attn_every_n_layers: None,
            global_rope_theta: None,
            local_rope_theta: None,
            local_attention: 128,
            embedding_dropout: 0.0,
            mlp_bias: false,
            mlp_dropout: 0.0,
            decoder_bias: true,
            classifier_pooling: ClassifierPooling::Cls,
            classifier_dropout: 0.0,
            classifier_bias: false,
            classifier_activation: HiddenAct::Gelu,
            cls_token_id: Some(50281),
            sep_token_id: Some(50282),
            rope_scaling: None,
        }
    }
}

/// The two kinds of layer, as `layer_types` names them.
const FULL: &str = "full_attention";
const SLIDING: &str = "sliding_attention";

impl ModernBertConfig {
    /// Fields skipped in serialization when absent (so they are still known as ModernBERT's).
    pub(crate) const OPTIONAL_FIELDS: [&'static str; 8] = [
        "layer_types",
        "rope_parameters",
        "global_attn_every_n_layers",
        "global_rope_theta",
        "local_rope_theta",
        "cls_token_id",
        "sep_token_id",
        "rope_scaling",
    ];

    /// Whether each layer attends globally (`full_attention`) rather than in a sliding window:
    /// `layer_types` when the file has it, else every `global_attn_every_n_layers`-th layer
    /// from layer 0, as `ModernBertConfig.__post_init__` derives it.
    pub fn layer_is_global(&self) -> Vec<bool> {
        match &self.layer_types {
            Some(types) => types.iter().map(|t| t == FULL).collect(),
            None => {
                let every = self
                    .global_attn_every_n_layers
                    .unwrap_or(DEFAULT_GLOBAL_EVERY)
                    .max(1);
                (0..self.num_hidden_layers)
                    .map(|i| i.is_multiple_of(every))
                    .collect()
            }
        }
    }

    /// The RoPE bases `(global, local)`: `rope_parameters[type].rope_theta` when given, else the
    /// legacy `global_rope_theta` / `local_rope_theta`, else ModernBERT's defaults.
    pub fn rope_thetas(&self) -> (f64, f64) {
        let from_parameters = |kind: &str| {
            let params = self.rope_parameters.as_ref()?;
            // per layer type, or one flat set for both
            let entry = params.get(kind).filter(|v| v.is_object()).unwrap_or(params);
            entry.get("rope_theta")?.as_f64()
        };
        (
            from_parameters(FULL)
                .or(self.global_rope_theta)
                .unwrap_or(DEFAULT_GLOBAL_ROPE_THETA),
            from_parameters(SLIDING)
                .or(self.local_rope_theta)
                .unwrap_or(DEFAULT_LOCAL_ROPE_THETA),
        )
    }

    /// Checks the values `transformers` would also refuse, and the RoPE variants kindling does
    /// not compute.
    pub(crate) fn validate(&self, common: &CommonConfig, path: &Path) -> Result<(), ConfigError> {
        let checks = FieldChecks { path };
        checks.positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ])?;
        checks.divisible(
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
        )?;
        let head_dim = self.hidden_size / self.num_attention_heads;
        if !head_dim.is_multiple_of(2) {
            return Err(checks.invalid(
                "hidden_size",
                format!(
                    "the head width {head_dim} (hidden_size / num_attention_heads) is odd; \
                     rotary embeddings need an even one"
                ),
            ));
        }
        if self.global_attn_every_n_layers == Some(0) {
            return Err(checks.invalid("global_attn_every_n_layers", "must be positive".into()));
        }
        if let Some(types) = &self.layer_types {
            if types.len() != self.num_hidden_layers {
                return Err(checks.invalid(
                    "layer_types",
                    format!(
                        "{} entries for num_hidden_layers {}",
                        types.len(),
                        self.num_hidden_layers
                    ),
                ));
            }
            if let Some(other) = types.iter().find(|t| *t != FULL && *t != SLIDING) {
                return Err(checks.invalid(
                    "layer_types",
                    format!("`{other}` is neither `{FULL}` nor `{SLIDING}`"),
                ));
            }
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(checks.invalid(
                "rope_scaling",
                "scaled RoPE is not supported (only the default RoPE)".into(),
            ));
        }
        if let Some(params) = &self.rope_parameters {
            self.check_rope_parameters(params, &checks)?;
        }
        for (field, theta) in [
            ("global_rope_theta", self.global_rope_theta),
            ("local_rope_theta", self.local_rope_theta),
        ] {
            if theta.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
                return Err(checks.invalid(field, "must be a positive number".into()));
            }
        }
        checks.probabilities(&[
            ("attention_dropout", Some(self.attention_dropout)),
            ("embedding_dropout", Some(self.embedding_dropout)),
            ("mlp_dropout", Some(self.mlp_dropout)),
            ("classifier_dropout", Some(self.classifier_dropout)),
        ])?;
        checks.pad_in_vocabulary(common.pad_token_id, self.vocab_size)?;
        Ok(())
    }

    /// `rope_parameters` holds objects with the default RoPE and a positive `rope_theta`.
    fn check_rope_parameters(
        &self,
        params: &Value,
        checks: &FieldChecks,
    ) -> Result<(), ConfigError> {
        let Some(map) = params.as_object() else {
            return Err(checks.invalid("rope_parameters", "is not an object".into()));
        };
        let nested = map.values().any(Value::is_object);
        let entries: Vec<(String, &Value)> = if nested {
            map.iter()
                .map(|(k, v)| (format!("rope_parameters.{k}"), v))
                .collect()
        } else {
            vec![("rope_parameters".to_string(), params)]
        };
        for (field, entry) in entries {
            if entry.is_null() {
                continue;
            }
            let rope_type = entry.get("rope_type").and_then(Value::as_str);
            if !matches!(rope_type, None | Some("default")) {
                return Err(checks.invalid(
                    &format!("{field}.rope_type"),
                    format!(
                        "`{}` is not supported (only the default RoPE)",
                        rope_type.unwrap_or_default()
                    ),
                ));
            }
            match entry.get("rope_theta") {
                None | Some(Value::Null) => {}
                Some(theta) if theta.as_f64().is_some_and(|t| t.is_finite() && t > 0.0) => {}
                Some(other) => {
                    return Err(checks.invalid(
                        &format!("{field}.rope_theta"),
                        format!("{other} is not a positive number"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self, common: &CommonConfig) -> ModernBertBodyConfig {
        let (global_rope_theta, local_rope_theta) = self.rope_thetas();
        ModernBertBodyConfig::new(
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
        )
        .with_hidden_activation(self.hidden_activation)
        .with_max_position_embeddings(self.max_position_embeddings)
        .with_initializer_range(self.initializer_range)
        .with_norm_eps(self.norm_eps)
        .with_norm_bias(self.norm_bias)
        .with_attention_bias(self.attention_bias)
        .with_mlp_bias(self.mlp_bias)
        .with_attention_dropout(self.attention_dropout)
        .with_embedding_dropout(self.embedding_dropout)
        .with_mlp_dropout(self.mlp_dropout)
        .with_local_attention(self.local_attention)
        .with_global_layers(self.layer_is_global())
        .with_global_rope_theta(global_rope_theta)
        .with_local_rope_theta(local_rope_theta)
        .with_pad_token_id(common.pad_token_id)
    }
}
