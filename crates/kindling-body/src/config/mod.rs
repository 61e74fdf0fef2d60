//! Hugging Face `config.json`, as typed serde structs dispatched on `model_type`.
//!
//! Two layers, as in the style guide: [`HfConfig`] mirrors the file: the fields every
//! architecture shares ([`CommonConfig`]: labels, `architectures`, `problem_type`, special
//! token ids) plus one struct per family ([`FamilyConfig`]: HF field names, HF defaults per
//! `model_type`). [`HfConfig::body_config`] converts it into the Burn config the body module is
//! built from.

mod bert;
mod common;
mod deberta;
mod distilbert;
mod model_type;
mod modernbert;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use bert::{BertFamilyConfig, PositionEmbeddingType};
pub use common::{CommonConfig, ProblemType};
pub use deberta::{DebertaV2Config, PosAttTypes};
pub use distilbert::DistilBertConfig;
pub use model_type::{ModelType, PositionIds, SUPPORTED_MODEL_TYPES};
pub use modernbert::{ClassifierPooling, ModernBertConfig};

use crate::activation::HiddenAct;
use crate::any::AnyBodyConfig;
use crate::error::ConfigError;

/// The architecture-specific part of a `config.json`, one variant per field-name family.
#[derive(Debug, Clone, PartialEq)]
pub enum FamilyConfig {
    /// BERT's field names: BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA.
    Bert(BertFamilyConfig),
    /// DistilBERT's own names (`dim`, `n_layers`, `n_heads`, `hidden_dim`, ...).
    DistilBert(DistilBertConfig),
    /// DeBERTa-v2's: BERT's sizes plus the disentangled-attention options.
    DebertaV2(DebertaV2Config),
    /// ModernBERT's: sizes, biases, the layer pattern and the RoPE bases.
    ModernBert(ModernBertConfig),
}

/// A parsed `config.json` for any architecture kindling supports.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// The architecture, from `model_type`.
    pub model_type: ModelType,
    /// Fields every architecture shares.
    pub common: CommonConfig,
    /// The architecture's own fields.
    pub family: FamilyConfig,
    /// Every other field of the file (`transformers_version`, `dtype`, ...), kept for export.
    pub extra: Map<String, Value>,
}

/// A JSON error with the file it came from.
fn json_error(path: &Path, message: impl ToString) -> ConfigError {
    ConfigError::Json {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The value checks every family's `validate` shares, each error naming the field.
pub(crate) struct FieldChecks<'a> {
    /// The config file, for the messages.
    pub path: &'a Path,
}

impl FieldChecks<'_> {
    /// An invalid-field error for `field`.
    pub fn invalid(&self, field: &str, message: String) -> ConfigError {
        ConfigError::InvalidField {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            message,
        }
    }

    /// Every size is at least 1.
    pub fn positive(&self, sizes: &[(&str, usize)]) -> Result<(), ConfigError> {
        match sizes.iter().find(|(_, value)| *value == 0) {
            Some((field, _)) => Err(self.invalid(field, "must be positive".into())),
            None => Ok(()),
        }
    }

    /// `width` (the field `field`) splits evenly into `heads` (the field `heads_field`).
    pub fn divisible(
        &self,
        (field, width): (&str, usize),
        (heads_field, heads): (&str, usize),
    ) -> Result<(), ConfigError> {
        if width.is_multiple_of(heads) {
            return Ok(());
        }
        Err(self.invalid(
            field,
            format!("{width} is not a multiple of {heads_field} ({heads})"),
        ))
    }

    /// Every given dropout rate is a probability in `[0, 1)`.
    pub fn probabilities(&self, rates: &[(&str, Option<f64>)]) -> Result<(), ConfigError> {
        for (field, p) in rates {
            if let Some(p) = p
                && !(0.0..1.0).contains(p)
            {
                return Err(self.invalid(field, format!("{p} is not a probability in [0, 1)")));
            }
        }
        Ok(())
    }

    /// The padding token, when there is one, is inside the vocabulary.
    pub fn pad_in_vocabulary(
        &self,
        pad: Option<usize>,
        vocab_size: usize,
    ) -> Result<(), ConfigError> {
        match pad {
            Some(pad) if pad >= vocab_size => Err(self.invalid(
                "pad_token_id",
                format!("{pad} is outside the vocabulary of {vocab_size}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Deserializes `T` from `fields` laid over `defaults`, naming the offending field on error.
pub(crate) fn overlay<T: serde::de::DeserializeOwned + serde::Serialize>(
    defaults: &T,
    fields: &Map<String, Value>,
    path: &Path,
) -> Result<T, ConfigError> {
    let Value::Object(mut merged) =
        serde_json::to_value(defaults).map_err(|e| json_error(path, e))?
    else {
        return Err(json_error(path, "defaults are not an object"));
    };
    for (key, value) in fields {
        merged.insert(key.clone(), value.clone());
    }
    serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| ConfigError::InvalidField {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// The keys a struct serializes to (fields skipped when `None` are listed by each struct's
/// `OPTIONAL_FIELDS`).
fn keys_of<T: serde::Serialize>(value: &T) -> Vec<String> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

impl HfConfig {
    /// Reads a `config.json` file and picks the architecture from `model_type`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses the text of a `config.json`; `path` is used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| json_error(path, e))?;
        Self::from_json_value(value, path)
    }

    /// Builds the config from parsed JSON, filling absent fields with the family's defaults.
    pub fn from_json_value(value: Value, path: &Path) -> Result<Self, ConfigError> {
        let Value::Object(fields) = value else {
            return Err(json_error(path, "the top level is not an object"));
        };
        let model_type = ModelType::from_field(fields.get("model_type"), path)?;
        let common = overlay(&CommonConfig::defaults(model_type), &fields, path)?;
        let family = match model_type {
            ModelType::DistilBert => {
                FamilyConfig::DistilBert(overlay(&DistilBertConfig::default(), &fields, path)?)
            }
            ModelType::DebertaV2 => {
                FamilyConfig::DebertaV2(overlay(&DebertaV2Config::default(), &fields, path)?)
            }
            ModelType::ModernBert => {
                FamilyConfig::ModernBert(overlay(&ModernBertConfig::default(), &fields, path)?)
            }
            _ => FamilyConfig::Bert(overlay(
                &BertFamilyConfig::defaults(model_type),
                &fields,
                path,
            )?),
        };
        let mut known = keys_of(&common);
        known.extend(CommonConfig::OPTIONAL_FIELDS.iter().map(|s| s.to_string()));
        known.extend(match &family {
            FamilyConfig::Bert(c) => keys_of(c),
            FamilyConfig::DistilBert(c) => keys_of(c),
            FamilyConfig::DebertaV2(c) => keys_of(c),
            FamilyConfig::ModernBert(c) => keys_of(c),
        });
        known.extend(
            BertFamilyConfig::OPTIONAL_FIELDS
                .iter()
                .chain(DebertaV2Config::OPTIONAL_FIELDS.iter())
                .chain(ModernBertConfig::OPTIONAL_FIELDS.iter())
                .map(|s| s.to_string()),
        );
        known.push("model_type".into());
        let extra = fields
            .into_iter()
            .filter(|(key, _)| !known.contains(key))
            .collect();
        let config = Self {
            model_type,
            common,
            family,
            extra,
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the values `transformers` would also refuse.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.common.validate(path)?;
        match &self.family {
            FamilyConfig::Bert(c) => c.validate(self.model_type, &self.common, path),
            FamilyConfig::DistilBert(c) => c.validate(&self.common, path),
            FamilyConfig::DebertaV2(c) => c.validate(&self.common, path),
            FamilyConfig::ModernBert(c) => c.validate(&self.common, path),
        }
    }

    /// Serializes back to `config.json` text: the shared fields, the family's, and every other
    /// field the file had.
    pub fn to_json_string(&self) -> String {
        let mut out = Map::new();
        out.insert(
            "model_type".into(),
            Value::String(self.model_type.hf_name().into()),
        );
        let family = match &self.family {
            FamilyConfig::Bert(c) => serde_json::to_value(c),
            FamilyConfig::DistilBert(c) => serde_json::to_value(c),
            FamilyConfig::DebertaV2(c) => serde_json::to_value(c),
            FamilyConfig::ModernBert(c) => serde_json::to_value(c),
        };
        for part in [serde_json::to_value(&self.common), family] {
            if let Ok(Value::Object(map)) = part {
                out.extend(map);
            }
        }
        for (key, value) in &self.extra {
            out.entry(key.clone()).or_insert_with(|| value.clone());
        }
        // Serializing plain data into a JSON string cannot fail.
        serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
    }

    /// The path kindling reads for a checkpoint directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("config.json")
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        match &self.family {
            FamilyConfig::Bert(c) => c.hidden_size,
            FamilyConfig::DistilBert(c) => c.dim,
            FamilyConfig::DebertaV2(c) => c.hidden_size,
            FamilyConfig::ModernBert(c) => c.hidden_size,
        }
    }

    /// Width of the token embeddings (ELECTRA's `embedding_size`; the hidden size elsewhere).
    pub fn embedding_size(&self) -> usize {
        match &self.family {
            FamilyConfig::Bert(c) => c.embedding_width(),
            FamilyConfig::DistilBert(c) => c.dim,
            FamilyConfig::DebertaV2(c) => c.embedding_width(),
            FamilyConfig::ModernBert(c) => c.hidden_size,
        }
    }

    /// Size of the token vocabulary.
    pub fn vocab_size(&self) -> usize {
        match &self.family {
            FamilyConfig::Bert(c) => c.vocab_size,
            FamilyConfig::DistilBert(c) => c.vocab_size,
            FamilyConfig::DebertaV2(c) => c.vocab_size,
            FamilyConfig::ModernBert(c) => c.vocab_size,
        }
    }

    /// Number of encoder layers.
    pub fn num_hidden_layers(&self) -> usize {
        match &self.family {
            FamilyConfig::Bert(c) => c.num_hidden_layers,
            FamilyConfig::DistilBert(c) => c.n_layers,
            FamilyConfig::DebertaV2(c) => c.num_hidden_layers,
            FamilyConfig::ModernBert(c) => c.num_hidden_layers,
        }
    }

    /// Standard deviation of the normal initializer.
    pub fn initializer_range(&self) -> f64 {
        match &self.family {
            FamilyConfig::Bert(c) => c.initializer_range,
            FamilyConfig::DistilBert(c) => c.initializer_range,
            FamilyConfig::DebertaV2(c) => c.initializer_range,
            FamilyConfig::ModernBert(c) => c.initializer_range,
        }
    }

    /// The feed-forward activation (`hidden_act`, DistilBERT's `activation`).
    pub fn hidden_act(&self) -> HiddenAct {
        match &self.family {
            FamilyConfig::Bert(c) => c.hidden_act,
            FamilyConfig::DistilBert(c) => c.activation,
            FamilyConfig::DebertaV2(c) => c.hidden_act,
            FamilyConfig::ModernBert(c) => c.hidden_activation,
        }
    }

    /// The body's layer-norm epsilon (DistilBERT's is fixed at 1e-12).
    pub fn layer_norm_eps(&self) -> f64 {
        match &self.family {
            FamilyConfig::Bert(c) => c.layer_norm_eps,
            FamilyConfig::DistilBert(_) => distilbert::LAYER_NORM_EPS,
            FamilyConfig::DebertaV2(c) => c.layer_norm_eps,
            FamilyConfig::ModernBert(c) => c.norm_eps,
        }
    }

    /// Dropout on the body's hidden states.
    pub fn hidden_dropout_prob(&self) -> f64 {
        match &self.family {
            FamilyConfig::Bert(c) => c.hidden_dropout_prob,
            FamilyConfig::DistilBert(c) => c.dropout,
            FamilyConfig::DebertaV2(c) => c.hidden_dropout_prob,
            FamilyConfig::ModernBert(c) => c.embedding_dropout,
        }
    }

    /// The longest sequence the body accepts (the position table less any padding offset).
    pub fn max_sequence_length(&self) -> usize {
        match &self.family {
            FamilyConfig::Bert(c) => c.max_sequence_length(self.position_ids()),
            FamilyConfig::DistilBert(c) => c.max_position_embeddings,
            FamilyConfig::DebertaV2(c) => c.max_position_embeddings,
            FamilyConfig::ModernBert(c) => c.max_position_embeddings,
        }
    }

    /// How position ids are numbered when the caller gives none.
    pub fn position_ids(&self) -> PositionIds {
        self.model_type
            .position_ids(self.common.pad_token_id.unwrap_or_default())
    }

    /// Labels in class order from `id2label`, when the file has them.
    pub fn labels(&self) -> Option<Vec<String>> {
        self.common.labels()
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self) -> AnyBodyConfig {
        match &self.family {
            FamilyConfig::Bert(c) => {
                AnyBodyConfig::Encoder(c.body_config(self.model_type, &self.common))
            }
            FamilyConfig::DistilBert(c) => AnyBodyConfig::DistilBert(c.body_config(&self.common)),
            FamilyConfig::DebertaV2(c) => AnyBodyConfig::DebertaV2(c.body_config(&self.common)),
            FamilyConfig::ModernBert(c) => AnyBodyConfig::ModernBert(c.body_config(&self.common)),
        }
    }

    /// The BERT-family fields, when the file is one (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA).
    pub fn bert_family(&self) -> Option<&BertFamilyConfig> {
        match &self.family {
            FamilyConfig::Bert(c) => Some(c),
            FamilyConfig::DistilBert(_)
            | FamilyConfig::DebertaV2(_)
            | FamilyConfig::ModernBert(_) => None,
        }
    }

    /// The DistilBERT fields, when the file is one.
    pub fn distilbert(&self) -> Option<&DistilBertConfig> {
        match &self.family {
            FamilyConfig::DistilBert(c) => Some(c),
            FamilyConfig::Bert(_) | FamilyConfig::DebertaV2(_) | FamilyConfig::ModernBert(_) => {
                None
            }
        }
    }

    /// The DeBERTa-v2 fields, when the file is one.
    pub fn deberta(&self) -> Option<&DebertaV2Config> {
        match &self.family {
            FamilyConfig::DebertaV2(c) => Some(c),
            FamilyConfig::Bert(_) | FamilyConfig::DistilBert(_) | FamilyConfig::ModernBert(_) => {
                None
            }
        }
    }

    /// The ModernBERT fields, when the file is one.
    pub fn modernbert(&self) -> Option<&ModernBertConfig> {
        match &self.family {
            FamilyConfig::ModernBert(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the output embeddings are tied to the input embeddings (`tie_word_embeddings`,
    /// true unless the file says otherwise).
    pub fn tie_word_embeddings(&self) -> bool {
        self.extra
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    /// A field of the file that kindling keeps as data only (`summary_type`, ...).
    pub fn extra_field(&self, key: &str) -> Option<&Value> {
        self.extra.get(key)
    }

    /// Rows of the token-type table; `None` for bodies without token types (DistilBERT,
    /// DeBERTa with `type_vocab_size` 0).
    pub fn type_vocab_size(&self) -> Option<usize> {
        match &self.family {
            FamilyConfig::Bert(c) => Some(c.type_vocab_size),
            FamilyConfig::DistilBert(_) => None,
            FamilyConfig::DebertaV2(c) => (c.type_vocab_size > 0).then_some(c.type_vocab_size),
            FamilyConfig::ModernBert(_) => None,
        }
    }

    /// Dropout before a token-classification head, as `transformers` picks it:
    /// `classifier_dropout`, else `hidden_dropout_prob` (DistilBERT's `dropout`; DeBERTa's
    /// `hidden_dropout_prob` always).
    pub fn classifier_dropout_prob(&self) -> f64 {
        match &self.family {
            FamilyConfig::Bert(c) => c.classifier_dropout_prob(),
            FamilyConfig::DistilBert(c) => c.dropout,
            FamilyConfig::DebertaV2(c) => c.hidden_dropout_prob,
            FamilyConfig::ModernBert(c) => c.classifier_dropout,
        }
    }
}

/// One tensor shape a config implies, checked against a weights file's header before a body is
/// built from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeProbe {
    /// The config field the shape is derived from (named in the error).
    pub field: &'static str,
    /// The field's value.
    pub value: usize,
    /// The body tensor (Hugging Face name, without prefix).
    pub tensor: String,
    /// Its shape as `transformers` stores it (linear weights `[out, in]`).
    pub shape: Vec<usize>,
    /// The axis of `shape` the field sets (only that axis is compared, so the error names the
    /// field that is wrong).
    pub axis: usize,
}

impl HfConfig {
    /// Shapes of the body's first tensors that follow from the config's sizes: the embedding
    /// tables and the first layer's projections.
    pub fn size_probes(&self) -> Vec<SizeProbe> {
        let probe = |field, value, tensor: &str, shape: Vec<usize>| SizeProbe {
            field,
            value,
            tensor: tensor.to_string(),
            axis: shape.iter().position(|&d| d == value).unwrap_or(0),
            shape,
        };
        match &self.family {
            FamilyConfig::Bert(c) => {
                let e = c.embedding_width();
                let h = c.hidden_size;
                let embedding_field = if c.embedding_size.is_some() {
                    "embedding_size"
                } else {
                    "hidden_size"
                };
                vec![
                    probe(
                        "vocab_size",
                        c.vocab_size,
                        "embeddings.word_embeddings.weight",
                        vec![c.vocab_size, e],
                    ),
                    probe(
                        embedding_field,
                        e,
                        "embeddings.word_embeddings.weight",
                        vec![c.vocab_size, e],
                    ),
                    probe(
                        "max_position_embeddings",
                        c.max_position_embeddings,
                        "embeddings.position_embeddings.weight",
                        vec![c.max_position_embeddings, e],
                    ),
                    probe(
                        "type_vocab_size",
                        c.type_vocab_size,
                        "embeddings.token_type_embeddings.weight",
                        vec![c.type_vocab_size, e],
                    ),
                    probe(
                        "hidden_size",
                        h,
                        "encoder.layer.0.attention.self.query.weight",
                        vec![h, h],
                    ),
                    probe(
                        "intermediate_size",
                        c.intermediate_size,
                        "encoder.layer.0.intermediate.dense.weight",
                        vec![c.intermediate_size, h],
                    ),
                ]
            }
            FamilyConfig::DistilBert(c) => vec![
                probe(
                    "vocab_size",
                    c.vocab_size,
                    "embeddings.word_embeddings.weight",
                    vec![c.vocab_size, c.dim],
                ),
                probe(
                    "dim",
                    c.dim,
                    "embeddings.word_embeddings.weight",
                    vec![c.vocab_size, c.dim],
                ),
                probe(
                    "max_position_embeddings",
                    c.max_position_embeddings,
                    "embeddings.position_embeddings.weight",
                    vec![c.max_position_embeddings, c.dim],
                ),
                probe(
                    "dim",
                    c.dim,
                    "transformer.layer.0.attention.q_lin.weight",
                    vec![c.dim, c.dim],
                ),
                probe(
                    "hidden_dim",
                    c.hidden_dim,
                    "transformer.layer.0.ffn.lin1.weight",
                    vec![c.hidden_dim, c.dim],
                ),
            ],
            FamilyConfig::DebertaV2(c) => {
                let e = c.embedding_width();
                let h = c.hidden_size;
                let embedding_field = if c.embedding_size.is_some() {
                    "embedding_size"
                } else {
                    "hidden_size"
                };
                let mut probes = vec![
                    probe(
                        "vocab_size",
                        c.vocab_size,
                        "embeddings.word_embeddings.weight",
                        vec![c.vocab_size, e],
                    ),
                    probe(
                        embedding_field,
                        e,
                        "embeddings.word_embeddings.weight",
                        vec![c.vocab_size, e],
                    ),
                    probe(
                        "max_position_embeddings",
                        c.max_position_embeddings,
                        "embeddings.position_embeddings.weight",
                        vec![c.max_position_embeddings, e],
                    ),
                    probe(
                        "type_vocab_size",
                        c.type_vocab_size,
                        "embeddings.token_type_embeddings.weight",
                        vec![c.type_vocab_size, e],
                    ),
                    probe(
                        "hidden_size",
                        h,
                        "encoder.layer.0.attention.self.query_proj.weight",
                        vec![h, h],
                    ),
                    probe(
                        "intermediate_size",
                        c.intermediate_size,
                        "encoder.layer.0.intermediate.dense.weight",
                        vec![c.intermediate_size, h],
                    ),
                ];
                let rows = 2 * c.buckets().unwrap_or(c.relative_span());
                let rows_field = if c.buckets().is_some() {
                    "position_buckets"
                } else if c.max_relative_positions >= 1 {
                    "max_relative_positions"
                } else {
                    "max_position_embeddings"
                };
                probes.push(SizeProbe {
                    field: rows_field,
                    value: rows / 2,
                    tensor: "encoder.rel_embeddings.weight".into(),
                    shape: vec![rows, h],
                    axis: 0,
                });
                probes
            }
            FamilyConfig::ModernBert(c) => {
                let h = c.hidden_size;
                vec![
                    probe(
                        "vocab_size",
                        c.vocab_size,
                        "embeddings.tok_embeddings.weight",
                        vec![c.vocab_size, h],
                    ),
                    SizeProbe {
                        field: "hidden_size",
                        value: h,
                        tensor: "embeddings.tok_embeddings.weight".into(),
                        shape: vec![c.vocab_size, h],
                        axis: 1,
                    },
                    SizeProbe {
                        field: "hidden_size",
                        value: h,
                        tensor: "layers.0.attn.Wqkv.weight".into(),
                        shape: vec![3 * h, h],
                        axis: 1,
                    },
                    SizeProbe {
                        field: "intermediate_size",
                        value: c.intermediate_size,
                        tensor: "layers.0.mlp.Wi.weight".into(),
                        shape: vec![2 * c.intermediate_size, h],
                        axis: 0,
                    },
                ]
            }
        }
    }

    /// The prefix of the layer stack's tensor names (`encoder.layer.`, `transformer.layer.`).
    pub fn layer_stack_name(&self) -> &'static str {
        match &self.family {
            FamilyConfig::Bert(_) | FamilyConfig::DebertaV2(_) => "encoder.layer.",
            FamilyConfig::DistilBert(_) => "transformer.layer.",
            FamilyConfig::ModernBert(_) => "layers.",
        }
    }

    /// The name of the layer-count field in this family's files.
    pub fn num_hidden_layers_field(&self) -> &'static str {
        match &self.family {
            FamilyConfig::Bert(_) | FamilyConfig::DebertaV2(_) => "num_hidden_layers",
            FamilyConfig::DistilBert(_) => "n_layers",
            FamilyConfig::ModernBert(_) => "num_hidden_layers",
        }
    }
}

#[cfg(test)]
mod tests;
