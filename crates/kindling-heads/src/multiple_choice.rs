//! Multiple choice (`*ForMultipleChoice`): one score per choice from the pooler output.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use kindling_body::kernels;
use kindling_body::{BodyOutput, hf_linear};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::{IGNORE_INDEX, cross_entropy_with_ignore};

/// Scores each (example, choice) sequence: dropout + `classifier` (`hidden -> 1`) on the
/// pooler output of the flattened `[batch * choices, seq]` batch.
#[derive(Module, Debug)]
pub struct MultipleChoiceHead {
    /// Dropout on the pooled output.
    pub dropout: Dropout,
    /// `hidden -> 1`.
    pub classifier: Linear,
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
    pub fn new(hidden_size: usize, dropout: f64, initializer_range: f64, device: &Device) -> Self {
        Self {
            dropout: DropoutConfig::new(dropout).init(),
            classifier: hf_linear(hidden_size, 1, initializer_range, device),
            hidden_size,
        }
    }
}

impl Head for MultipleChoiceHead {
    type Output = MultipleChoiceOutput;
    /// The right choice per example, `[batch]`.
    type Labels = Tensor<1, Int>;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let pooled = body
            .pooler_output
            .expect("the mount checks that the body has a pooler");
        let [rows, _] = pooled.dims();
        let choices = context.num_choices.unwrap_or(rows).max(1);
        let scores = self
            .classifier
            .forward(kernels::dropout(pooled, &self.dropout));
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
        true
    }
}
