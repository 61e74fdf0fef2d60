//! Per-architecture head recipes: which classifier style, dropout, activation and tensor
//! layout a `transformers` `<Family>For<Task>` class uses, read from the config's
//! `model_type`, never from a comparison with one family.

use kindling_body::{
    ClassifierPooling, DebertaV2Config, HfConfig, HiddenAct, ModelType, ModernBertConfig,
};

use crate::error::HeadError;
use crate::masked_lm::MaskedLmLayout;
use crate::multiple_choice::{ChoiceLayout, ChoiceRecipe, ChoiceVector};
use crate::prediction_head::PredictionHeadRecipe;
use crate::sequence_classification::SequenceClassifierStyle;

/// How a fresh head is built for one architecture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadRecipe {
    /// Dropout before the token classifier.
    pub token_dropout: f64,
    /// The sequence classifier's style.
    pub sequence_style: SequenceClassifierStyle,
    /// Dropout in the sequence classifier.
    pub sequence_dropout: f64,
    /// Dropout before `qa_outputs`.
    pub qa_dropout: f64,
    /// The multiple-choice head.
    pub choice: ChoiceRecipe,
    /// The masked-LM layout.
    pub masked_lm: MaskedLmLayout,
    /// The prediction head every task head runs first (ModernBERT's `head`); `None` elsewhere.
    pub prediction_head: Option<PredictionHeadRecipe>,
}

impl HeadRecipe {
    /// The recipe of `config`'s architecture, as its `transformers` classes build their heads.
    pub fn for_config(config: &HfConfig) -> Result<Self, HeadError> {
        if let Some(distil) = config.distilbert() {
            return Ok(Self {
                token_dropout: config.classifier_dropout_prob(),
                sequence_style: SequenceClassifierStyle::PreClassifier,
                sequence_dropout: distil.seq_classif_dropout,
                qa_dropout: distil.qa_dropout,
                choice: ChoiceRecipe {
                    vector: ChoiceVector::First,
                    layout: ChoiceLayout::PreClassifier,
                    activation: Some(HiddenAct::Relu),
                    first_dropout: 0.0,
                    dropout: distil.seq_classif_dropout,
                    head: None,
                },
                masked_lm: MaskedLmLayout::DistilBert,
                prediction_head: None,
            });
        }
        if let Some(deberta) = config.deberta() {
            return deberta_recipe(config, deberta);
        }
        if let Some(modernbert) = config.modernbert() {
            return Ok(modernbert_recipe(modernbert));
        }
        let classifier_dropout = config.classifier_dropout_prob();
        let recipe = Self {
            token_dropout: classifier_dropout,
            sequence_style: SequenceClassifierStyle::Pooled,
            sequence_dropout: classifier_dropout,
            qa_dropout: 0.0,
            choice: ChoiceRecipe::pooled(classifier_dropout),
            masked_lm: MaskedLmLayout::Bert,
            prediction_head: None,
        };
        Ok(match config.model_type {
            ModelType::Bert => recipe,
            ModelType::Roberta | ModelType::XlmRoberta | ModelType::Camembert => Self {
                sequence_style: SequenceClassifierStyle::FirstToken(HiddenAct::Tanh),
                masked_lm: MaskedLmLayout::Roberta,
                ..recipe
            },
            ModelType::Electra => Self {
                sequence_style: SequenceClassifierStyle::FirstToken(HiddenAct::Gelu),
                choice: electra_summary(config)?,
                masked_lm: MaskedLmLayout::Electra,
                ..recipe
            },
            ModelType::DistilBert | ModelType::DebertaV2 | ModelType::ModernBert => {
                unreachable!("handled above")
            }
        })
    }
}

/// DeBERTa-v2's heads: token classification after `hidden_dropout_prob`, QA without dropout,
/// sequence classification and multiple choice through the `ContextPooler` (`pooler.dense`,
/// `pooler_hidden_act`, `pooler_dropout`) then `cls_dropout` (else `hidden_dropout_prob`),
/// and the masked LM in the `legacy` layout the config names.
fn deberta_recipe(config: &HfConfig, deberta: &DebertaV2Config) -> Result<HeadRecipe, HeadError> {
    if !deberta.legacy && config.embedding_size() != config.hidden_size() {
        return Err(HeadError::Invalid(format!(
            "legacy: false: the lm_predictions head multiplies hidden states ({}) by the word \
             embeddings ({} wide); they must be as wide",
            config.hidden_size(),
            config.embedding_size()
        )));
    }
    let cls_dropout = deberta.cls_dropout_prob();
    Ok(HeadRecipe {
        token_dropout: deberta.hidden_dropout_prob,
        sequence_style: SequenceClassifierStyle::ContextPooled {
            activation: deberta.pooler_hidden_act,
            pooler_dropout: deberta.pooler_dropout,
        },
        sequence_dropout: cls_dropout,
        qa_dropout: 0.0,
        choice: ChoiceRecipe {
            vector: ChoiceVector::First,
            layout: ChoiceLayout::ContextPooler,
            activation: Some(deberta.pooler_hidden_act),
            first_dropout: deberta.pooler_dropout,
            dropout: cls_dropout,
            head: None,
        },
        masked_lm: if deberta.legacy {
            MaskedLmLayout::Bert
        } else {
            MaskedLmLayout::DebertaV2
        },
        prediction_head: None,
    })
}

/// ModernBERT's heads: every task runs its `head` (`head.dense` with `classifier_bias`,
/// `classifier_activation`, `head.norm` with `norm_bias`), then `classifier_dropout` and a
/// `classifier` (QA's too); sequence classification and multiple choice pool the first (real)
/// token or the mean of the real tokens (`classifier_pooling`); the masked LM decodes through
/// the tied `decoder` (with `decoder_bias`).
fn modernbert_recipe(config: &ModernBertConfig) -> HeadRecipe {
    let head = PredictionHeadRecipe {
        dense_bias: config.classifier_bias,
        norm_bias: config.norm_bias,
        activation: config.classifier_activation,
        norm_eps: config.norm_eps,
        decoder_bias: config.decoder_bias,
    };
    let dropout = config.classifier_dropout;
    HeadRecipe {
        token_dropout: dropout,
        sequence_style: SequenceClassifierStyle::Predicted {
            pooling: config.classifier_pooling,
            head,
        },
        sequence_dropout: dropout,
        qa_dropout: dropout,
        choice: ChoiceRecipe {
            vector: match config.classifier_pooling {
                ClassifierPooling::Cls => ChoiceVector::FirstReal,
                ClassifierPooling::Mean => ChoiceVector::MaskedMean,
            },
            layout: ChoiceLayout::PredictionHead,
            activation: None,
            first_dropout: 0.0,
            dropout,
            head: Some(head),
        },
        masked_lm: MaskedLmLayout::ModernBert,
        prediction_head: Some(head),
    }
}

/// ELECTRA's multiple-choice `SequenceSummary`, from the config's `summary_*` fields (with
/// `ElectraConfig`'s defaults: first token, a projection, GELU, last dropout 0.1).
fn electra_summary(config: &HfConfig) -> Result<ChoiceRecipe, HeadError> {
    let field = |key: &str| config.extra_field(key);
    let invalid = |key: &str, message: String| HeadError::Invalid(format!("{key}: {message}"));
    let vector = match field("summary_type")
        .and_then(|v| v.as_str())
        .unwrap_or("first")
    {
        "first" => ChoiceVector::First,
        "last" => ChoiceVector::Last,
        "mean" => ChoiceVector::Mean,
        other => {
            return Err(invalid(
                "summary_type",
                format!("`{other}` is not supported (first, last, mean)"),
            ));
        }
    };
    let use_proj = field("summary_use_proj")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    if field("summary_proj_to_labels").and_then(|v| v.as_bool()) == Some(true) {
        return Err(invalid(
            "summary_proj_to_labels",
            "a projection to the labels is not supported for multiple choice".into(),
        ));
    }
    let activation = match field("summary_activation") {
        None => Some(HiddenAct::Gelu),
        Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<HiddenAct>(value.clone())
                .map_err(|e| invalid("summary_activation", e.to_string()))?,
        ),
    };
    let prob = |key: &str, default: f64| field(key).and_then(|v| v.as_f64()).unwrap_or(default);
    Ok(ChoiceRecipe {
        vector,
        layout: if use_proj {
            ChoiceLayout::SequenceSummary
        } else {
            ChoiceLayout::Plain
        },
        activation,
        first_dropout: prob("summary_first_dropout", 0.0),
        dropout: prob("summary_last_dropout", 0.1),
        head: None,
    })
}
