//! Extractive question answering (`*ForQuestionAnswering`): start and end logits per token.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use kindling_body::{BodyOutput, hf_linear, kernels};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::cross_entropy_with_ignore;
use crate::prediction_head::PredictionHead;

/// Span start/end scores: `qa_outputs.weight`, `qa_outputs.bias` (`hidden -> 2`).
#[derive(Module, Debug)]
pub struct QuestionAnsweringHead {
    /// ModernBERT's `head` (dense, activation, norm) before the dropout; `None` elsewhere. A
    /// head that has one names its output layer `classifier`, as ModernBERT does.
    pub head: Option<PredictionHead>,
    /// `hidden -> 2` (start, end).
    pub qa_outputs: Linear,
    /// Dropout on the hidden states (DistilBERT's `qa_dropout`; none elsewhere).
    pub dropout: Dropout,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`QuestionAnsweringHead`].
#[derive(Debug, Clone)]
pub struct QuestionAnsweringOutput {
    /// `[batch, seq]`.
    pub start_logits: Tensor<2>,
    /// `[batch, seq]`.
    pub end_logits: Tensor<2>,
}

/// Gold span positions, `[batch]` each.
#[derive(Debug, Clone)]
pub struct SpanLabels {
    /// Start token index per example.
    pub start_positions: Tensor<1, Int>,
    /// End token index per example.
    pub end_positions: Tensor<1, Int>,
}

impl QuestionAnsweringHead {
    /// A fresh head with `transformers`' initialization, without dropout.
    pub fn new(hidden_size: usize, initializer_range: f64, device: &Device) -> Self {
        Self {
            head: None,
            qa_outputs: hf_linear(hidden_size, 2, initializer_range, device),
            dropout: DropoutConfig::new(0.0).init(),
            hidden_size,
        }
    }

    /// Sets the prediction head run before the dropout (ModernBERT's `head`).
    pub fn with_prediction_head(mut self, head: Option<PredictionHead>) -> Self {
        self.head = head;
        self
    }

    /// Sets the dropout on the hidden states before `qa_outputs`.
    pub fn with_dropout(mut self, prob: f64) -> Self {
        self.dropout = DropoutConfig::new(prob).init();
        self
    }
}

impl Head for QuestionAnsweringHead {
    type Output = QuestionAnsweringOutput;
    type Labels = SpanLabels;

    fn forward(&self, body: BodyOutput, _context: &HeadContext) -> Self::Output {
        let [batch, seq, _] = body.last_hidden_state.dims();
        let hidden = match &self.head {
            Some(head) => head.forward(body.last_hidden_state),
            None => body.last_hidden_state,
        };
        let hidden = kernels::dropout(hidden, &self.dropout);
        let logits = kernels::linear_rowwise(hidden, &self.qa_outputs);
        QuestionAnsweringOutput {
            start_logits: logits
                .clone()
                .slice([0..batch, 0..seq, 0..1])
                .reshape([batch, seq]),
            end_logits: logits.slice([0..batch, 0..seq, 1..2]).reshape([batch, seq]),
        }
    }

    /// `transformers`' loss: positions are clamped to `[0, seq]`, a position equal to `seq`
    /// (outside the text) is ignored, and the start and end cross-entropies are averaged.
    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, seq] = output.start_logits.dims();
        for positions in [&labels.start_positions, &labels.end_positions] {
            if positions.dims() != [batch] {
                return Err(HeadError::LabelShape {
                    labels: positions.dims().to_vec(),
                    outputs: vec![batch, seq],
                    message: "one start and one end position per example".into(),
                });
            }
        }
        let ignored = seq as i64;
        let start = cross_entropy_with_ignore(
            output.start_logits.clone(),
            labels.start_positions.clamp(0, ignored),
            ignored,
        )?;
        let end = cross_entropy_with_ignore(
            output.end_logits.clone(),
            labels.end_positions.clamp(0, ignored),
            ignored,
        )?;
        Ok((start + end) / 2.0)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn hf_name(&self, module_path: &str) -> String {
        match (&self.head, module_path.strip_prefix("qa_outputs.")) {
            (Some(_), Some(rest)) => format!("classifier.{rest}"),
            _ => kindling_body::names::kindling_to_hf(module_path),
        }
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        match (&self.head, hf_name.strip_prefix("classifier.")) {
            (Some(_), Some(rest)) => Some(format!("qa_outputs.{rest}")),
            (Some(_), None) if hf_name.starts_with("qa_outputs.") => None,
            _ => Some(kindling_body::names::hf_to_kindling(hf_name)),
        }
    }
}
