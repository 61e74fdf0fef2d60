//! `model_type`: which architecture a `config.json` describes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ConfigError;

/// The `model_type` values kindling reads, as written in error messages.
pub const SUPPORTED_MODEL_TYPES: &str =
    "bert, roberta, xlm-roberta, camembert, distilbert, electra, deberta-v2, modernbert";

/// The architectures kindling has a body for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// DistilBERT (`"distilbert"`): BERT's computation under its own names, no token types,
    /// learned or sinusoidal positions, no pooler.
    #[serde(rename = "distilbert")]
    DistilBert,
    /// ELECTRA (`"electra"`): BERT's encoder over embeddings of `embedding_size`, projected to
    /// the hidden size when the two differ; no pooler.
    #[serde(rename = "electra")]
    Electra,
    /// DeBERTa-v2 (`"deberta-v2"`, also DeBERTa-v3 and mDeBERTa-v3): disentangled attention
    /// over relative positions, absolute positions optional, no pooler in the body.
    #[serde(rename = "deberta-v2")]
    DebertaV2,
    /// ModernBERT (`"modernbert"`): rotary positions, alternating global and sliding-window
    /// layers, pre-norm GeGLU layers, no pooler.
    #[serde(rename = "modernbert")]
    ModernBert,
}

impl ModelType {
    /// Every architecture, in the order class names are matched (longer stems first, so
    /// `XLMRoberta` is not read as `Roberta`... and `DistilBert` not as `Bert`).
    pub const ALL: [ModelType; 8] = [
        ModelType::ModernBert,
        ModelType::DebertaV2,
        ModelType::XlmRoberta,
        ModelType::Camembert,
        ModelType::Roberta,
        ModelType::DistilBert,
        ModelType::Electra,
        ModelType::Bert,
    ];

    /// Parses a `model_type` string.
    pub fn from_hf(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.hf_name() == name)
    }

    /// Reads the `model_type` field of a config file.
    pub(crate) fn from_field(value: Option<&Value>, path: &Path) -> Result<Self, ConfigError> {
        match value {
            None | Some(Value::Null) => Err(ConfigError::MissingModelType {
                path: path.to_path_buf(),
                supported: SUPPORTED_MODEL_TYPES,
            }),
            Some(Value::String(name)) => {
                Self::from_hf(name).ok_or_else(|| ConfigError::UnknownModelType {
                    path: path.to_path_buf(),
                    found: name.clone(),
                    supported: SUPPORTED_MODEL_TYPES,
                })
            }
            Some(other) => Err(ConfigError::UnknownModelType {
                path: path.to_path_buf(),
                found: other.to_string(),
                supported: SUPPORTED_MODEL_TYPES,
            }),
        }
    }

    /// The `model_type` string Hugging Face writes.
    pub fn hf_name(&self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::XlmRoberta => "xlm-roberta",
            Self::Camembert => "camembert",
            Self::DistilBert => "distilbert",
            Self::Electra => "electra",
            Self::DebertaV2 => "deberta-v2",
            Self::ModernBert => "modernbert",
        }
    }

    /// The prefix of the body's tensors in task checkpoints (`bert`, `roberta`, `distilbert`,
    /// `electra`, `deberta`, ModernBERT's `model`); XLM-R and CamemBERT reuse RoBERTa's classes and so its prefix.
    pub fn state_dict_prefix(&self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta | Self::XlmRoberta | Self::Camembert => "roberta",
            Self::DistilBert => "distilbert",
            Self::Electra => "electra",
            Self::DebertaV2 => "deberta",
            Self::ModernBert => "model",
        }
    }

    /// The class-name stem `transformers` uses (`Bert`, `XLMRoberta`, `DistilBert`, ...).
    pub fn class_stem(&self) -> &'static str {
        match self {
            Self::Bert => "Bert",
            Self::Roberta => "Roberta",
            Self::XlmRoberta => "XLMRoberta",
            Self::Camembert => "Camembert",
            Self::DistilBert => "DistilBert",
            Self::Electra => "Electra",
            Self::DebertaV2 => "DebertaV2",
            Self::ModernBert => "ModernBert",
        }
    }

    /// How position ids are made for this architecture.
    pub fn position_ids(&self, pad_token_id: usize) -> PositionIds {
        match self {
            Self::Bert | Self::DistilBert | Self::Electra | Self::DebertaV2 | Self::ModernBert => {
                PositionIds::Absolute
            }
            Self::Roberta | Self::XlmRoberta | Self::Camembert => PositionIds::FromPadding {
                padding_idx: pad_token_id,
            },
        }
    }

    /// The pad token id `transformers` assumes when the file gives none.
    pub fn default_pad_token_id(&self) -> usize {
        match self {
            Self::Bert | Self::DistilBert | Self::Electra | Self::DebertaV2 => 0,
            Self::Roberta | Self::XlmRoberta | Self::Camembert => 1,
            Self::ModernBert => 50283,
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
