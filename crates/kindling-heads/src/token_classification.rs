//! Token classification (`*ForTokenClassification`): dropout + linear on every token (after
//! ModernBERT's prediction head, for its checkpoints).

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use kindling_body::kernels;
use kindling_body::{BodyOutput, hf_linear};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::{IGNORE_INDEX, cross_entropy_with_ignore};
use crate::prediction_head::PredictionHead;

/// Per-token logits for tagging (NER, POS): `classifier.weight`, `classifier.bias`.
#[derive(Module, Debug)]
pub struct TokenClassificationHead {
    /// ModernBERT's `head` (dense, activation, norm) before the dropout; `None` elsewhere.
    pub head: Option<PredictionHead>,
    /// Dropout on the hidden states (`classifier_dropout`, else `hidden_dropout_prob`).
    pub dropout: Dropout,
    /// `hidden -> num_labels`.
    pub classifier: Linear,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`TokenClassificationHead`].
#[derive(Debug, Clone)]
pub struct TokenClassificationOutput {
    /// `[batch, seq, num_labels]`.
    pub logits: Tensor<3>,
}

impl TokenClassificationHead {
    /// A fresh head with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        num_labels: usize,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            head: None,
            dropout: DropoutConfig::new(dropout).init(),
            classifier: hf_linear(hidden_size, num_labels, initializer_range, device),
            hidden_size,
        }
    }

    /// Sets the prediction head run before the dropout (ModernBERT's `head`).
    pub fn with_prediction_head(mut self, head: Option<PredictionHead>) -> Self {
        self.head = head;
        self
    }

    /// Number of labels.
    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Head for TokenClassificationHead {
    type Output = TokenClassificationOutput;
    /// `[batch, seq]` label ids, `-100` where no label applies (padding, special tokens,
    /// later sub-words).
    type Labels = Tensor<2, Int>;

    fn forward(&self, body: BodyOutput, _context: &HeadContext) -> Self::Output {
        let hidden = match &self.head {
            Some(head) => head.forward(body.last_hidden_state),
            None => body.last_hidden_state,
        };
        let hidden = kernels::dropout(hidden, &self.dropout);
        TokenClassificationOutput {
            logits: kernels::linear_rowwise(hidden, &self.classifier),
        }
    }

    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, seq, classes] = output.logits.dims();
        if labels.dims() != [batch, seq] {
            return Err(HeadError::LabelShape {
                labels: labels.dims().to_vec(),
                outputs: vec![batch, seq, classes],
                message: "token labels are [batch, seq]".into(),
            });
        }
        cross_entropy_with_ignore(
            output.logits.clone().reshape([batch * seq, classes]),
            labels.reshape([batch * seq]),
            IGNORE_INDEX,
        )
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}
