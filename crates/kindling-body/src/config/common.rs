//! The `config.json` fields every architecture shares: labels, classes, special tokens.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::ModelType;
use crate::error::ConfigError;

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

/// Fields of `PretrainedConfig` that mean the same for every architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonConfig {
    /// Padding token id.
    pub pad_token_id: Option<usize>,
    /// Beginning-of-sequence token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<usize>,
    /// End-of-sequence token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<usize>,
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
}

impl CommonConfig {
    /// Fields skipped in serialization when absent (so they are still known as shared fields).
    pub(crate) const OPTIONAL_FIELDS: [&'static str; 6] = [
        "bos_token_id",
        "eos_token_id",
        "architectures",
        "id2label",
        "label2id",
        "problem_type",
    ];

    /// `transformers`' defaults for `model_type`.
    pub fn defaults(model_type: ModelType) -> Self {
        let roberta_like = matches!(
            model_type,
            ModelType::Roberta | ModelType::XlmRoberta | ModelType::Camembert
        );
        let modernbert = model_type == ModelType::ModernBert;
        Self {
            pad_token_id: Some(model_type.default_pad_token_id()),
            bos_token_id: roberta_like.then_some(0).or(modernbert.then_some(50281)),
            eos_token_id: roberta_like.then_some(2).or(modernbert.then_some(50282)),
            architectures: None,
            id2label: None,
            label2id: None,
            problem_type: None,
        }
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

    /// Sets `id2label` and `label2id` from label names in class order.
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
        );
        self.label2id = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
        );
    }

    pub(crate) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if let Some(labels) = &self.id2label {
            for key in labels.keys() {
                if key.parse::<usize>().is_err() {
                    return Err(ConfigError::InvalidField {
                        path: path.to_path_buf(),
                        field: "id2label".into(),
                        message: format!("key `{key}` is not a class index"),
                    });
                }
            }
        }
        Ok(())
    }
}
