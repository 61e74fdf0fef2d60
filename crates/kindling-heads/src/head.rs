//! The head contract.

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;
use kindling_body::{BodyOutput, names};

use crate::error::HeadError;

/// What a head may read besides the body's output: the batch's mask, the number of choices
/// (multiple choice flattens `[batch, choices, seq]` into `[batch * choices, seq]`), and the
/// body's input embeddings for heads that tie their decoder to them (masked LM).
#[derive(Debug, Clone)]
pub struct HeadContext {
    /// 1 for tokens, 0 for padding, `[batch, seq]`.
    pub attention_mask: Tensor<2, Int>,
    /// Choices per example, when the batch is a flattened multiple-choice batch.
    pub num_choices: Option<usize>,
    /// The body's token embedding table `[vocab, hidden]`, when the head asked for it.
    pub input_embeddings: Option<Tensor<2>>,
}

/// A task head: takes the body's output and gives task outputs; given labels, also the loss.
///
/// Heads know nothing of the body they sit on except its hidden size, so every head mounts on
/// every body. Parameter names follow `transformers` (`classifier.weight`, `qa_outputs.bias`,
/// ...); a head whose module tree differs from its Hugging Face names overrides
/// [`Head::hf_name`] and [`Head::module_path`].
pub trait Head: Module + ModuleDisplay {
    /// The task outputs (logits, embeddings, ...).
    type Output: Clone + core::fmt::Debug;
    /// The labels the loss takes.
    type Labels;

    /// Computes the outputs from the body's output.
    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output;

    /// The loss of `output` against `labels`, as `transformers` computes it.
    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError>;

    /// The hidden size the head expects from its body.
    fn hidden_size(&self) -> usize;

    /// Whether the head reads the body's pooler output.
    fn needs_pooler(&self) -> bool {
        false
    }

    /// Whether the head needs [`HeadContext::input_embeddings`] (tied decoders).
    fn needs_input_embeddings(&self) -> bool {
        false
    }

    /// The Hugging Face name of a head parameter given its module path (in PyTorch naming).
    fn hf_name(&self, module_path: &str) -> String {
        names::kindling_to_hf(module_path)
    }

    /// The module path of a Hugging Face head tensor name, or `None` when it is no head tensor.
    fn module_path(&self, hf_name: &str) -> Option<String> {
        Some(names::hf_to_kindling(hf_name))
    }
}

/// Labels of heads that have no loss (sentence embedding). It has no values, so such a loss can
/// never be asked for.
#[derive(Debug, Clone, Copy)]
pub enum NoLabels {}
