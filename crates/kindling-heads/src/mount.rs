//! The mount: a body plus a head is a model, and itself a Burn `Module`.

use burn::prelude::*;
use kindling_body::{Body, BodyInput, BodyOutput, OutputOptions};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};

/// A batch for a mounted model: the body's input, plus the number of choices when a
/// multiple-choice batch `[batch, choices, seq]` was flattened to `[batch * choices, seq]`.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// The (flattened) body input.
    pub body: BodyInput,
    /// Choices per example, for multiple choice.
    pub num_choices: Option<usize>,
}

impl From<BodyInput> for ModelInput {
    fn from(body: BodyInput) -> Self {
        Self {
            body,
            num_choices: None,
        }
    }
}

impl ModelInput {
    /// A multiple-choice batch from `[batch, choices, seq]` tensors.
    pub fn multiple_choice(
        input_ids: Tensor<3, Int>,
        attention_mask: Tensor<3, Int>,
        token_type_ids: Option<Tensor<3, Int>>,
    ) -> Self {
        let [batch, choices, seq] = input_ids.dims();
        let flat = |t: Tensor<3, Int>| t.reshape([batch * choices, seq]);
        let mut body = BodyInput::new(flat(input_ids), flat(attention_mask));
        if let Some(types) = token_type_ids {
            body = body.with_token_type_ids(flat(types));
        }
        Self {
            body,
            num_choices: Some(choices),
        }
    }
}

/// A body with a head on it. Saving, loading, optimizers and device moves work on the whole.
#[derive(Module, Debug)]
pub struct Model<B, H> {
    /// The encoder.
    pub body: B,
    /// The task head.
    pub head: H,
}

impl<B: Body, H: Head> Model<B, H> {
    /// Mounts `head` on `body`; the head must expect the body's hidden size, and a head that
    /// reads the pooler needs a body with one.
    pub fn new(body: B, head: H) -> Result<Self, HeadError> {
        if head.hidden_size() != body.hidden_size() {
            return Err(HeadError::HiddenSize {
                head: head.hidden_size(),
                body: body.hidden_size(),
            });
        }
        if head.needs_pooler() && !body.has_pooler() {
            return Err(HeadError::NoPooler);
        }
        Ok(Self { body, head })
    }

    fn context(&self, input: &ModelInput) -> HeadContext {
        HeadContext {
            attention_mask: input.body.attention_mask.clone(),
            num_choices: input.num_choices,
            input_embeddings: self
                .head
                .needs_input_embeddings()
                .then(|| self.body.input_embeddings()),
        }
    }

    /// Runs body and head.
    pub fn forward(&self, input: impl Into<ModelInput>) -> H::Output {
        self.forward_with_body(input, OutputOptions::default()).1
    }

    /// Runs body and head, also returning the body's output (with the optional outputs
    /// `options` asks for).
    pub fn forward_with_body(
        &self,
        input: impl Into<ModelInput>,
        options: OutputOptions,
    ) -> (BodyOutput, H::Output) {
        let input = input.into();
        let context = self.context(&input);
        let body = self.body.forward(input.body, options);
        let output = self.head.forward(body.clone(), &context);
        (body, output)
    }

    /// Runs body and head and computes the loss against `labels`.
    pub fn forward_with_labels(
        &self,
        input: impl Into<ModelInput>,
        labels: H::Labels,
    ) -> Result<(H::Output, Tensor<1>), HeadError> {
        let output = self.forward(input);
        let loss = self.head.loss(&output, labels)?;
        Ok((output, loss))
    }
}
