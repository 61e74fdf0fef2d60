//! Multiple choice (`*ForMultipleChoice`): one score per choice, from the pooler output (BERT,
//! RoBERTa), or from a summary of the sequence (DistilBERT's `pre_classifier`, ELECTRA's
//! `sequence_summary`, DeBERTa's `pooler`, ModernBERT's `head`).

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use kindling_body::kernels;
use kindling_body::{BodyOutput, HiddenAct, hf_linear, names};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::{IGNORE_INDEX, cross_entropy_with_ignore};
use crate::prediction_head::{PredictionHead, PredictionHeadRecipe};

/// Which vector of a sequence the choice score is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceVector {
    /// The body's pooler output (BERT, RoBERTa).
    Pooler,
    /// The first token's hidden state (DistilBERT; ELECTRA's `summary_type: first`).
    First,
    /// The last position's hidden state (`summary_type: last`).
    Last,
    /// The mean over every position, padding included, as `SequenceSummary` takes it
    /// (`summary_type: mean`).
    Mean,
    /// The first real token's hidden state (ModernBERT's `cls` pooling reads the position of
    /// `attention_mask.argmax`).
    FirstReal,
    /// The mean over the real tokens (ModernBERT's `mean` pooling).
    MaskedMean,
}

/// Whose tensor names the summary projection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceLayout {
    /// No projection: `dropout` + `classifier` (BERT, RoBERTa, XLM-R, CamemBERT).
    Plain,
    /// `pre_classifier` + ReLU + dropout + `classifier` (DistilBERT).
    PreClassifier,
    /// `sequence_summary.summary` + activation + dropout + `classifier` (ELECTRA).
    SequenceSummary,
    /// `pooler.dense` + `pooler_hidden_act` + dropout + `classifier` (DeBERTa's context
    /// pooler).
    ContextPooler,
    /// ModernBERT's `head` (dense, activation, norm) + dropout + `classifier`.
    PredictionHead,
}

/// The recipe of a fresh [`MultipleChoiceHead`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChoiceRecipe {
    /// Where the vector comes from.
    pub vector: ChoiceVector,
    /// Tensor names, and whether there is a projection.
    pub layout: ChoiceLayout,
    /// The projection's activation (`None`: identity).
    pub activation: Option<HiddenAct>,
    /// Dropout before the projection (ELECTRA's `summary_first_dropout`).
    pub first_dropout: f64,
    /// Dropout before `classifier`.
    pub dropout: f64,
    /// ModernBERT's prediction head, for [`ChoiceLayout::PredictionHead`].
    pub head: Option<PredictionHeadRecipe>,
}

impl ChoiceRecipe {
    /// BERT's: dropout + classifier on the pooler output.
    pub fn pooled(dropout: f64) -> Self {
        Self {
            vector: ChoiceVector::Pooler,
            layout: ChoiceLayout::Plain,
            activation: None,
            first_dropout: 0.0,
            dropout,
            head: None,
        }
    }
}

/// Scores each (example, choice) sequence of the flattened `[batch * choices, seq]` batch:
/// the chosen vector, an optional projection with its activation, dropout, then `classifier`
/// (`hidden -> 1`).
#[derive(Module, Debug)]
pub struct MultipleChoiceHead {
    /// Dropout before the projection.
    pub first_dropout: Dropout,
    /// The projection (`pre_classifier`, `sequence_summary.summary`), when the recipe has one.
    pub projection: Option<Linear>,
    /// ModernBERT's `head`, when the recipe has one.
    pub head: Option<PredictionHead>,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// `hidden -> 1`.
    pub classifier: Linear,
    /// The projection's activation.
    #[module(skip)]
    pub activation: Option<HiddenAct>,
    /// Where the vector comes from.
    #[module(skip)]
    pub vector: ChoiceVector,
    /// Tensor names.
    #[module(skip)]
    pub layout: ChoiceLayout,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`MultipleChoiceHead`].
#[derive(Debug, Clone)]
pub struct MultipleChoiceOutput {
    /// `[batch, choices]`.
    pub logits: Tensor<2>,
}

impl MultipleChoiceHead {
    /// A fresh head with `transformers`' initialization.
    pub fn new(
        recipe: ChoiceRecipe,
        hidden_size: usize,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            first_dropout: DropoutConfig::new(recipe.first_dropout).init(),
            projection: (!matches!(
                recipe.layout,
                ChoiceLayout::Plain | ChoiceLayout::PredictionHead
            ))
            .then(|| hf_linear(hidden_size, hidden_size, initializer_range, device)),
            head: match recipe.layout {
                ChoiceLayout::PredictionHead => recipe
                    .head
                    .map(|head| head.init(hidden_size, initializer_range, device)),
                _ => None,
            },
            dropout: DropoutConfig::new(recipe.dropout).init(),
            classifier: hf_linear(hidden_size, 1, initializer_range, device),
            activation: recipe.activation,
            vector: recipe.vector,
            layout: recipe.layout,
            hidden_size,
        }
    }

    fn projection_name(&self) -> Option<&'static str> {
        match self.layout {
            ChoiceLayout::Plain | ChoiceLayout::PredictionHead => None,
            ChoiceLayout::PreClassifier => Some("pre_classifier"),
            ChoiceLayout::SequenceSummary => Some("sequence_summary.summary"),
            ChoiceLayout::ContextPooler => Some("pooler.dense"),
        }
    }
}

impl Head for MultipleChoiceHead {
    type Output = MultipleChoiceOutput;
    /// The right choice per example, `[batch]`.
    type Labels = Tensor<1, Int>;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let hidden = body.last_hidden_state;
        let [rows, seq, width] = hidden.dims();
        let mut x = match self.vector {
            ChoiceVector::Pooler => body
                .pooler_output
                .expect("the mount checks that the body has a pooler"),
            ChoiceVector::First => crate::sequence_classification::first_token(hidden),
            ChoiceVector::Last => hidden
                .slice([0..rows, seq - 1..seq, 0..width])
                .reshape([rows, width]),
            ChoiceVector::Mean => hidden.mean_dim(1).reshape([rows, width]),
            ChoiceVector::FirstReal => first_real_token(hidden, context.attention_mask.clone()),
            ChoiceVector::MaskedMean => crate::sequence_classification::masked_mean(
                hidden,
                context.attention_mask.clone(),
                0.0,
            ),
        };
        if let Some(projection) = &self.projection {
            x = kernels::linear_rowwise(kernels::dropout(x, &self.first_dropout), projection);
        }
        if let Some(activation) = self.activation {
            x = activation.forward(x);
        }
        if let Some(head) = &self.head {
            x = head.forward(x);
        }
        let choices = context.num_choices.unwrap_or(rows).max(1);
        let scores = kernels::linear_rowwise(kernels::dropout(x, &self.dropout), &self.classifier);
        MultipleChoiceOutput {
            logits: scores.reshape([rows / choices, choices]),
        }
    }

    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, choices] = output.logits.dims();
        if labels.dims() != [batch] {
            return Err(HeadError::LabelShape {
                labels: labels.dims().to_vec(),
                outputs: vec![batch, choices],
                message: "one choice index per example".into(),
            });
        }
        cross_entropy_with_ignore(output.logits.clone(), labels, IGNORE_INDEX)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn needs_pooler(&self) -> bool {
        self.vector == ChoiceVector::Pooler
    }

    fn hf_name(&self, module_path: &str) -> String {
        match (
            self.projection_name(),
            module_path.strip_prefix("projection."),
        ) {
            (Some(name), Some(rest)) => format!("{name}.{rest}"),
            _ => names::kindling_to_hf(module_path),
        }
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        if let Some(rest) = self
            .projection_name()
            .and_then(|name| hf_name.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('.'))
        {
            return Some(format!("projection.{rest}"));
        }
        Some(names::hf_to_kindling(hf_name))
    }
}

/// The hidden state at each row's first real token (`attention_mask.argmax(-1)`, which is
/// position 0 for a row without one): `[rows, seq, width]` to `[rows, width]`.
fn first_real_token(hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
    let [rows, seq, width] = hidden.dims();
    let device = hidden.device();
    // every real token outranks every pad, and earlier positions outrank later ones, so the
    // maximum is unique whatever a backend does with ties
    let earlier = Tensor::<1, Int>::arange(0..seq as i64, &device)
        .neg()
        .add_scalar(seq as i64)
        .reshape([1, seq])
        .expand([rows, seq]);
    let rank = mask.mul_scalar(2 * seq as i64) + earlier;
    let index = rank
        .argmax(1)
        .reshape([rows, 1, 1])
        .expand([rows, 1, width]);
    hidden.gather(1, index).reshape([rows, width])
}
