//! Sequence classification (`*ForSequenceClassification`) in each of `transformers`' styles,
//! with single-label, multi-label and regression losses.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use kindling_body::kernels;
use kindling_body::{BodyOutput, ClassifierPooling, HiddenAct, ProblemType, hf_linear};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::{
    IGNORE_INDEX, binary_cross_entropy_with_logits, cross_entropy_with_ignore, mean_squared_error,
};
use crate::prediction_head::{PredictionHead, PredictionHeadRecipe};

/// RoBERTa's (and ELECTRA's) classification block on the first token: dropout, dense,
/// activation (tanh; GELU for ELECTRA), dropout, out_proj (`classifier.dense.*`,
/// `classifier.out_proj.*`).
#[derive(Module, Debug)]
pub struct FirstTokenClassifier {
    /// `hidden -> hidden`.
    pub dense: Linear,
    /// `hidden -> num_labels`.
    pub out_proj: Linear,
    /// Dropout before each projection.
    pub dropout: Dropout,
    /// The activation after `dense`.
    #[module(skip)]
    pub activation: HiddenAct,
}

/// DistilBERT's classifier on the first token: `pre_classifier`, ReLU, dropout, `classifier`
/// (both at the top of the head in its checkpoints).
#[derive(Module, Debug)]
pub struct PreClassifier {
    /// `hidden -> hidden`.
    pub pre_classifier: Linear,
    /// `hidden -> num_labels`.
    pub classifier: Linear,
    /// Dropout between them (`seq_classif_dropout`).
    pub dropout: Dropout,
}

/// DeBERTa's `ContextPooler` (`pooler.*`): dropout (`pooler_dropout`), dense and
/// `pooler_hidden_act` on the first token.
#[derive(Module, Debug)]
pub struct ContextPooler {
    /// `hidden -> hidden`.
    pub dense: Linear,
    /// Dropout before `dense`.
    pub dropout: Dropout,
    /// The activation after `dense`.
    #[module(skip)]
    pub activation: HiddenAct,
}

impl ContextPooler {
    /// `activation(dense(dropout(hidden[:, 0])))`: `[batch, seq, width]` to `[batch, width]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let first = first_token(hidden);
        self.activation.forward(kernels::linear_rowwise(
            kernels::dropout(first, &self.dropout),
            &self.dense,
        ))
    }
}

/// DeBERTa's classifier: the [`ContextPooler`], then the head's dropout (`cls_dropout`) and
/// `classifier` (both at the top of the head in its checkpoints: `pooler.dense.*`,
/// `classifier.*`).
#[derive(Module, Debug)]
pub struct ContextPooledClassifier {
    /// `pooler`.
    pub pooler: ContextPooler,
    /// `hidden -> num_labels`.
    pub classifier: Linear,
}

/// ModernBERT's classifier: the first token or the mean of the real tokens
/// (`classifier_pooling`), its [`PredictionHead`] (`head.*`), then the head's dropout
/// (`classifier_dropout`) and `classifier` (all at the top of the head in its checkpoints).
#[derive(Module, Debug)]
pub struct PredictedClassifier {
    /// `head`.
    pub head: PredictionHead,
    /// `hidden -> num_labels`.
    pub classifier: Linear,
    /// Which vector is classified.
    #[module(skip)]
    pub pooling: ClassifierPooling,
}

/// The ways `transformers` classifies a sequence.
// One per model, and the Module derive wants the variants unboxed.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SequenceClassifier {
    /// BERT: dropout + linear on the body's pooler output (`classifier.*`).
    Pooled(Linear),
    /// RoBERTa / XLM-R / CamemBERT / ELECTRA: [`FirstTokenClassifier`] on the first token.
    FirstToken(FirstTokenClassifier),
    /// DistilBERT: [`PreClassifier`] on the first token.
    PreClassifier(PreClassifier),
    /// DeBERTa: [`ContextPooledClassifier`] on the first token.
    ContextPooled(ContextPooledClassifier),
    /// ModernBERT: [`PredictedClassifier`] on the first token or the mean.
    Predicted(PredictedClassifier),
}

/// Which style a fresh head takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SequenceClassifierStyle {
    /// BERT's pooler + linear.
    Pooled,
    /// RoBERTa's dense + activation + out_proj on the first token (tanh for RoBERTa, GELU for
    /// ELECTRA).
    FirstToken(HiddenAct),
    /// DistilBERT's pre_classifier + ReLU + classifier on the first token.
    PreClassifier,
    /// DeBERTa's context pooler (`pooler_hidden_act`, `pooler_dropout`) + classifier on the
    /// first token.
    ContextPooled {
        /// `pooler_hidden_act`.
        activation: HiddenAct,
        /// `pooler_dropout`.
        pooler_dropout: f64,
    },
    /// ModernBERT's pooling (`classifier_pooling`), prediction head and classifier.
    Predicted {
        /// `classifier_pooling`.
        pooling: ClassifierPooling,
        /// The prediction head.
        head: PredictionHeadRecipe,
    },
}

/// One prediction per sequence.
#[derive(Module, Debug)]
pub struct SequenceClassificationHead {
    /// Dropout before the pooled classifier (BERT style).
    pub dropout: Dropout,
    /// The classifier, named `classifier` as in `transformers`.
    pub classifier: SequenceClassifier,
    /// The loss family; `None` infers it as `transformers` does from the labels.
    #[module(skip)]
    pub problem_type: Option<ProblemType>,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`SequenceClassificationHead`].
#[derive(Debug, Clone)]
pub struct SequenceClassificationOutput {
    /// `[batch, num_labels]`.
    pub logits: Tensor<2>,
}

/// Sequence labels; their kind picks the loss when the problem type is not set.
#[derive(Debug, Clone)]
pub enum SequenceLabels {
    /// One class id per sequence (cross-entropy).
    Classes(Tensor<1, Int>),
    /// `[batch, num_labels]` of 0/1 (binary cross-entropy), or regression targets
    /// `[batch, num_labels]` (mean squared error).
    Values(Tensor<2>),
}

impl SequenceClassificationHead {
    /// A fresh head with `transformers`' initialization.
    pub fn new(
        style: SequenceClassifierStyle,
        hidden_size: usize,
        num_labels: usize,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let classifier = match style {
            SequenceClassifierStyle::Pooled => SequenceClassifier::Pooled(hf_linear(
                hidden_size,
                num_labels,
                initializer_range,
                device,
            )),
            SequenceClassifierStyle::FirstToken(activation) => {
                SequenceClassifier::FirstToken(FirstTokenClassifier {
                    dense: hf_linear(hidden_size, hidden_size, initializer_range, device),
                    out_proj: hf_linear(hidden_size, num_labels, initializer_range, device),
                    dropout: DropoutConfig::new(dropout).init(),
                    activation,
                })
            }
            SequenceClassifierStyle::PreClassifier => {
                SequenceClassifier::PreClassifier(PreClassifier {
                    pre_classifier: hf_linear(hidden_size, hidden_size, initializer_range, device),
                    classifier: hf_linear(hidden_size, num_labels, initializer_range, device),
                    dropout: DropoutConfig::new(dropout).init(),
                })
            }
            SequenceClassifierStyle::ContextPooled {
                activation,
                pooler_dropout,
            } => SequenceClassifier::ContextPooled(ContextPooledClassifier {
                pooler: ContextPooler {
                    dense: hf_linear(hidden_size, hidden_size, initializer_range, device),
                    dropout: DropoutConfig::new(pooler_dropout).init(),
                    activation,
                },
                classifier: hf_linear(hidden_size, num_labels, initializer_range, device),
            }),
            SequenceClassifierStyle::Predicted { pooling, head } => {
                SequenceClassifier::Predicted(PredictedClassifier {
                    head: head.init(hidden_size, initializer_range, device),
                    classifier: hf_linear(hidden_size, num_labels, initializer_range, device),
                    pooling,
                })
            }
        };
        Self {
            dropout: DropoutConfig::new(dropout).init(),
            classifier,
            problem_type: None,
            hidden_size,
        }
    }

    /// Sets the problem type.
    pub fn with_problem_type(mut self, problem_type: Option<ProblemType>) -> Self {
        self.problem_type = problem_type;
        self
    }

    /// Number of labels.
    pub fn num_labels(&self) -> usize {
        match &self.classifier {
            SequenceClassifier::Pooled(linear) => linear.weight.dims()[1],
            SequenceClassifier::FirstToken(c) => c.out_proj.weight.dims()[1],
            SequenceClassifier::PreClassifier(c) => c.classifier.weight.dims()[1],
            SequenceClassifier::ContextPooled(c) => c.classifier.weight.dims()[1],
            SequenceClassifier::Predicted(c) => c.classifier.weight.dims()[1],
        }
    }

    /// The loss family for `labels`, as `transformers` infers it when `problem_type` is unset.
    pub fn resolve_problem_type(&self, labels: &SequenceLabels) -> ProblemType {
        self.problem_type.unwrap_or(if self.num_labels() == 1 {
            ProblemType::Regression
        } else {
            match labels {
                SequenceLabels::Classes(_) => ProblemType::SingleLabelClassification,
                SequenceLabels::Values(_) => ProblemType::MultiLabelClassification,
            }
        })
    }
}

impl Head for SequenceClassificationHead {
    type Output = SequenceClassificationOutput;
    type Labels = SequenceLabels;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let logits = match &self.classifier {
            SequenceClassifier::Pooled(linear) => {
                let pooled = body
                    .pooler_output
                    .expect("the mount checks that the body has a pooler");
                kernels::linear_rowwise(kernels::dropout(pooled, &self.dropout), linear)
            }
            SequenceClassifier::FirstToken(c) => {
                let first = first_token(body.last_hidden_state);
                let x = c.activation.forward(kernels::linear_rowwise(
                    kernels::dropout(first, &c.dropout),
                    &c.dense,
                ));
                kernels::linear_rowwise(kernels::dropout(x, &c.dropout), &c.out_proj)
            }
            SequenceClassifier::PreClassifier(c) => {
                let first = first_token(body.last_hidden_state);
                let x = burn::tensor::activation::relu(kernels::linear_rowwise(
                    first,
                    &c.pre_classifier,
                ));
                kernels::linear_rowwise(kernels::dropout(x, &c.dropout), &c.classifier)
            }
            SequenceClassifier::ContextPooled(c) => {
                let pooled = c.pooler.forward(body.last_hidden_state);
                kernels::linear_rowwise(kernels::dropout(pooled, &self.dropout), &c.classifier)
            }
            SequenceClassifier::Predicted(c) => {
                let pooled = match c.pooling {
                    ClassifierPooling::Cls => first_token(body.last_hidden_state),
                    ClassifierPooling::Mean => {
                        masked_mean(body.last_hidden_state, context.attention_mask.clone(), 0.0)
                    }
                };
                c.classifier
                    .forward(kernels::dropout(c.head.forward(pooled), &self.dropout))
            }
        };
        SequenceClassificationOutput { logits }
    }

    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, num_labels] = output.logits.dims();
        let shape_error = |labels: Vec<usize>, message: &str| HeadError::LabelShape {
            labels,
            outputs: vec![batch, num_labels],
            message: message.into(),
        };
        match (self.resolve_problem_type(&labels), labels) {
            (ProblemType::SingleLabelClassification, SequenceLabels::Classes(classes)) => {
                if classes.dims() != [batch] {
                    return Err(shape_error(
                        classes.dims().to_vec(),
                        "one class per sequence",
                    ));
                }
                cross_entropy_with_ignore(output.logits.clone(), classes, IGNORE_INDEX)
            }
            (ProblemType::MultiLabelClassification, SequenceLabels::Values(targets)) => {
                if targets.dims() != [batch, num_labels] {
                    return Err(shape_error(
                        targets.dims().to_vec(),
                        "[batch, num_labels] of 0/1",
                    ));
                }
                Ok(binary_cross_entropy_with_logits(
                    output.logits.clone(),
                    targets,
                ))
            }
            (ProblemType::Regression, SequenceLabels::Values(targets)) => {
                // transformers squeezes a single output: [batch, 1] against [batch] or [batch, 1].
                let [rows, cols] = targets.dims();
                if rows != batch || cols != num_labels {
                    return Err(shape_error(vec![rows, cols], "[batch, num_labels] targets"));
                }
                Ok(mean_squared_error(output.logits.clone(), targets))
            }
            (ProblemType::Regression, SequenceLabels::Classes(classes)) => {
                // Integer regression targets are read as floats, as torch would cast them.
                if num_labels != 1 || classes.dims() != [batch] {
                    return Err(shape_error(classes.dims().to_vec(), "[batch] targets"));
                }
                Ok(mean_squared_error(
                    output.logits.clone(),
                    classes.float().reshape([batch, 1]),
                ))
            }
            (problem, _) => Err(HeadError::LabelKind(format!(
                "{problem:?} needs {} labels",
                match problem {
                    ProblemType::SingleLabelClassification => "integer class",
                    _ => "float",
                }
            ))),
        }
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn needs_pooler(&self) -> bool {
        matches!(self.classifier, SequenceClassifier::Pooled(_))
    }

    fn hf_name(&self, module_path: &str) -> String {
        // DistilBERT's and DeBERTa's two layers sit at the top of the head, not under
        // `classifier`.
        match (&self.classifier, module_path.strip_prefix("classifier.")) {
            (
                SequenceClassifier::PreClassifier(_)
                | SequenceClassifier::ContextPooled(_)
                | SequenceClassifier::Predicted(_),
                Some(rest),
            ) => rest.to_string(),
            _ => kindling_body::names::kindling_to_hf(module_path),
        }
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        let top = |tops: [&str; 2]| {
            tops.iter()
                .any(|p| hf_name.starts_with(p))
                .then(|| format!("classifier.{hf_name}"))
        };
        match &self.classifier {
            SequenceClassifier::PreClassifier(_) => top(["pre_classifier.", "classifier."]),
            SequenceClassifier::ContextPooled(_) => top(["pooler.", "classifier."]),
            SequenceClassifier::Predicted(_) => top(["head.", "classifier."]),
            _ => Some(kindling_body::names::hf_to_kindling(hf_name)),
        }
    }
}

/// The mean of `hidden` (`[batch, seq, width]`) over the positions where `mask` (`[batch,
/// seq]`) is 1: `[batch, width]`. The count is floored at `min_count` (sentence-transformers
/// floors it at 1e-9; ModernBERT's pooling, with 0, divides by the count as it is).
pub(crate) fn masked_mean(hidden: Tensor<3>, mask: Tensor<2, Int>, min_count: f64) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let weights = mask.float().cast(hidden.dtype()).reshape([batch, seq, 1]);
    let counts = weights
        .clone()
        .sum_dim(1)
        .reshape([batch, 1])
        .clamp_min(min_count);
    let sums = (hidden * weights.expand([batch, seq, width]))
        .sum_dim(1)
        .reshape([batch, width]);
    sums / counts.expand([batch, width])
}

/// `hidden[:, 0]`: `[batch, seq, width]` to `[batch, width]`.
pub(crate) fn first_token(hidden: Tensor<3>) -> Tensor<2> {
    let [batch, _, width] = hidden.dims();
    hidden
        .slice([0..batch, 0..1, 0..width])
        .reshape([batch, width])
}
