//! Hugging Face `config.json` for the BERT family, as typed serde structs.
//!
//! Two layers, as in the style guide: [`BertFamilyConfig`] mirrors the file (HF field names, HF
//! defaults per `model_type`), and converts into the Burn [`EncoderBodyConfig`] the module is
//! built from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::activation::HiddenAct;
use crate::encoder::EncoderBodyConfig;
use crate::error::ConfigError;

/// The `model_type` values kindling reads, as written in error messages.
pub const SUPPORTED_MODEL_TYPES: &str = "bert, roberta, xlm-roberta, camembert";

/// The architectures served by [`EncoderBody`](crate::EncoderBody).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelType {
    /// BERT (`"bert"`): absolute position ids from 0, two token types.
    #[serde(rename = "bert")]
    Bert,
    /// RoBERTa (`"roberta"`): position ids counted from `pad_token_id + 1`.
    #[serde(rename = "roberta")]
    Roberta,
    /// XLM-RoBERTa (`"xlm-roberta"`): RoBERTa with a multilingual vocabulary.
    #[serde(rename = "xlm-roberta")]
    XlmRoberta,
    /// CamemBERT (`"camembert"`): RoBERTa trained on French.
    #[serde(rename = "camembert")]
    Camembert,
}

impl ModelType {
    /// Parses a `model_type` string.
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "bert" => Some(Self::Bert),
            "roberta" => Some(Self::Roberta),
            "xlm-roberta" => Some(Self::XlmRoberta),
            "camembert" => Some(Self::Camembert),
            _ => None,
        }
    }

    /// The `model_type` string Hugging Face writes.
    pub fn hf_name(&self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::XlmRoberta => "xlm-roberta",
            Self::Camembert => "camembert",
        }
    }

    /// The prefix of the body's tensors in task checkpoints (`bert.`, `roberta.`); XLM-R and
    /// CamemBERT reuse RoBERTa's classes and so its prefix.
    pub fn state_dict_prefix(&self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta | Self::XlmRoberta | Self::Camembert => "roberta",
        }
    }

    /// The class-name stem `transformers` uses (`Bert`, `Roberta`, `XLMRoberta`, `Camembert`).
    pub fn class_stem(&self) -> &'static str {
        match self {
            Self::Bert => "Bert",
            Self::Roberta => "Roberta",
            Self::XlmRoberta => "XLMRoberta",
            Self::Camembert => "Camembert",
        }
    }

    /// How position ids are made for this architecture.
    pub fn position_ids(&self, pad_token_id: usize) -> PositionIds {
        match self {
            Self::Bert => PositionIds::Absolute,
            Self::Roberta | Self::XlmRoberta | Self::Camembert => PositionIds::FromPadding {
                padding_idx: pad_token_id,
            },
        }
    }
}

/// How the body numbers positions when the caller gives no position ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PositionIds {
    /// BERT: `0, 1, 2, ...` for every row.
    Absolute,
    /// RoBERTa: non-padding tokens are numbered `padding_idx + 1, padding_idx + 2, ...` and
    /// padding tokens get `padding_idx`, as `create_position_ids_from_input_ids` does.
    FromPadding {
        /// The padding token id, which is also the padding row of the position table.
        padding_idx: usize,
    },
}

impl PositionIds {
    /// How many rows of the position table are not usable by real tokens.
    pub fn offset(&self) -> usize {
        match self {
            PositionIds::Absolute => 0,
            PositionIds::FromPadding { padding_idx } => padding_idx + 1,
        }
    }
}

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

/// `problem_type` for sequence classification heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProblemType {
    /// One label per sequence, cross-entropy loss.
    #[serde(rename = "single_label_classification")]
    SingleLabelClassification,
    /// Any number of labels per sequence, binary cross-entropy loss.
    #[serde(rename = "multi_label_classification")]
    MultiLabelClassification,
    /// A real value per output, mean squared error.
    #[serde(rename = "regression")]
    Regression,
}

/// A BERT / RoBERTa / XLM-R / CamemBERT `config.json`, field for field as `transformers` writes
/// it. Absent fields take `transformers`' defaults for the file's `model_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertFamilyConfig {
    /// The architecture.
    pub model_type: ModelType,
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
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
    /// Padding token id.
    pub pad_token_id: Option<usize>,
    /// Beginning-of-sequence token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<usize>,
    /// End-of-sequence token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<usize>,
    /// Position embedding kind.
    pub position_embedding_type: PositionEmbeddingType,
    /// Dropout before classification heads; `hidden_dropout_prob` when absent.
    pub classifier_dropout: Option<f64>,
    /// Model classes that wrote the checkpoint (`BertForTokenClassification`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Label names by class index (keys are decimal strings, as in JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Class index by label name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    /// Loss family for sequence classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<ProblemType>,
    /// Every other field of the file (`transformers_version`, `dtype`, ...), kept for export.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl BertFamilyConfig {
    /// `transformers`' defaults for a `model_type` (those of `BertConfig`, `RobertaConfig`,
    /// `XLMRobertaConfig`, `CamembertConfig`).
    pub fn defaults(model_type: ModelType) -> Self {
        let bert = Self {
            model_type,
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
            pad_token_id: Some(0),
            bos_token_id: None,
            eos_token_id: None,
            position_embedding_type: PositionEmbeddingType::Absolute,
            classifier_dropout: None,
            architectures: None,
            id2label: None,
            label2id: None,
            problem_type: None,
            extra: serde_json::Map::new(),
        };
        match model_type {
            ModelType::Bert => bert,
            ModelType::Roberta => Self {
                vocab_size: 50265,
                pad_token_id: Some(1),
                bos_token_id: Some(0),
                eos_token_id: Some(2),
                ..bert
            },
            ModelType::XlmRoberta | ModelType::Camembert => Self {
                pad_token_id: Some(1),
                bos_token_id: Some(0),
                eos_token_id: Some(2),
                ..bert
            },
        }
    }

    /// Reads a `config.json` file.
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
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ConfigError::Json {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        Self::from_json_value(value, path)
    }

    /// Builds the config from parsed JSON, filling absent fields with the family's defaults.
    pub fn from_json_value(value: serde_json::Value, path: &Path) -> Result<Self, ConfigError> {
        let serde_json::Value::Object(fields) = value else {
            return Err(ConfigError::Json {
                path: path.to_path_buf(),
                message: "the top level is not an object".into(),
            });
        };
        let model_type = match fields.get("model_type") {
            None | Some(serde_json::Value::Null) => {
                return Err(ConfigError::MissingModelType {
                    path: path.to_path_buf(),
                    supported: SUPPORTED_MODEL_TYPES,
                });
            }
            Some(serde_json::Value::String(name)) => {
                ModelType::from_hf(name).ok_or_else(|| ConfigError::UnknownModelType {
                    path: path.to_path_buf(),
                    found: name.clone(),
                    supported: SUPPORTED_MODEL_TYPES,
                })?
            }
            Some(other) => {
                return Err(ConfigError::UnknownModelType {
                    path: path.to_path_buf(),
                    found: other.to_string(),
                    supported: SUPPORTED_MODEL_TYPES,
                });
            }
        };
        // Overlay the file on the family's defaults, then read the merged object.
        let defaults =
            serde_json::to_value(Self::defaults(model_type)).map_err(|e| ConfigError::Json {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let serde_json::Value::Object(mut merged) = defaults else {
            unreachable!("a struct serializes to an object")
        };
        for (key, value) in fields {
            merged.insert(key, value);
        }
        let config: Self = serde_path_to_error::deserialize(serde_json::Value::Object(merged))
            .map_err(|e| ConfigError::InvalidField {
                path: path.to_path_buf(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the values `transformers` would also refuse.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::InvalidField {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be positive".into()));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(invalid(
                "hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads ({})",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if self.position_embedding_type != PositionEmbeddingType::Absolute {
            return Err(invalid(
                "position_embedding_type",
                "only \"absolute\" position embeddings are supported".into(),
            ));
        }
        for (field, p) in [
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            (
                "attention_probs_dropout_prob",
                Some(self.attention_probs_dropout_prob),
            ),
            ("classifier_dropout", self.classifier_dropout),
        ] {
            if let Some(p) = p
                && !(0.0..1.0).contains(&p)
            {
                return Err(invalid(
                    field,
                    format!("{p} is not a probability in [0, 1)"),
                ));
            }
        }
        if let Some(pad) = self.pad_token_id {
            if pad >= self.vocab_size {
                return Err(invalid(
                    "pad_token_id",
                    format!("{pad} is outside the vocabulary of {}", self.vocab_size),
                ));
            }
            let offset = self.model_type.position_ids(pad).offset();
            if offset >= self.max_position_embeddings {
                return Err(invalid(
                    "max_position_embeddings",
                    format!(
                        "{} leaves no positions after the padding offset {offset}",
                        self.max_position_embeddings
                    ),
                ));
            }
        } else if self.model_type != ModelType::Bert {
            return Err(invalid(
                "pad_token_id",
                format!(
                    "required for {}: position ids are counted from it",
                    self.model_type.hf_name()
                ),
            ));
        }
        if let Some(labels) = &self.id2label {
            for key in labels.keys() {
                if key.parse::<usize>().is_err() {
                    return Err(invalid(
                        "id2label",
                        format!("key `{key}` is not a class index"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// How position ids are numbered for this config.
    pub fn position_ids(&self) -> PositionIds {
        self.model_type
            .position_ids(self.pad_token_id.unwrap_or_default())
    }

    /// The longest sequence the body accepts: the position table less the padding offset.
    pub fn max_sequence_length(&self) -> usize {
        self.max_position_embeddings - self.position_ids().offset()
    }

    /// Labels in class order from `id2label`, when the file has them.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        let mut pairs: Vec<(usize, &String)> = map
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|i| (i, v)))
            .collect();
        pairs.sort();
        Some(pairs.into_iter().map(|(_, v)| v.clone()).collect())
    }

    /// Dropout probability for classification heads, as `transformers` picks it.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// The Burn config of the body this file describes.
    pub fn body_config(&self) -> EncoderBodyConfig {
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
        .with_pad_token_id(self.pad_token_id)
        .with_position_ids(self.position_ids())
    }

    /// Serializes back to `config.json` text.
    pub fn to_json_string(&self) -> String {
        // Serializing plain data into a JSON string cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A parsed `config.json` for any architecture kindling supports, dispatched on `model_type`.
///
/// Today every supported body is BERT-family; bodies whose computation differs will add
/// variants here.
#[derive(Debug, Clone, PartialEq)]
pub enum HfConfig {
    /// BERT, RoBERTa, XLM-RoBERTa, CamemBERT.
    BertFamily(BertFamilyConfig),
}

impl HfConfig {
    /// Reads a `config.json` file and picks the architecture from `model_type`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        BertFamilyConfig::from_file(path).map(HfConfig::BertFamily)
    }

    /// The BERT-family view of the config.
    pub fn bert_family(&self) -> &BertFamilyConfig {
        match self {
            HfConfig::BertFamily(c) => c,
        }
    }

    /// The path kindling would read for a checkpoint directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("config.json")
    }
}
