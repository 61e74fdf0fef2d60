//! The body contract: what every encoder takes and gives, whatever its architecture.

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;

/// A batch as a body reads it: `[batch, seq]` integer tensors.
#[derive(Debug, Clone)]
pub struct BodyInput {
    /// Token ids.
    pub input_ids: Tensor<2, Int>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
    /// Segment ids; zeros when absent.
    pub token_type_ids: Option<Tensor<2, Int>>,
    /// Explicit position ids; computed from the architecture's rule when absent.
    pub position_ids: Option<Tensor<2, Int>>,
}

impl BodyInput {
    /// Ids and mask, with default token types and positions.
    pub fn new(input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Self {
        Self {
            input_ids,
            attention_mask,
            token_type_ids: None,
            position_ids: None,
        }
    }

    /// Sets the token-type ids.
    pub fn with_token_type_ids(mut self, token_type_ids: Tensor<2, Int>) -> Self {
        self.token_type_ids = Some(token_type_ids);
        self
    }

    /// Sets explicit position ids.
    pub fn with_position_ids(mut self, position_ids: Tensor<2, Int>) -> Self {
        self.position_ids = Some(position_ids);
        self
    }

    /// `[batch, seq]`.
    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }

    /// The device the batch lives on.
    pub fn device(&self) -> Device {
        self.input_ids.device()
    }
}

/// Which optional outputs to compute (both cost memory, so they are off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// Return the embeddings output and every layer's output.
    pub output_hidden_states: bool,
    /// Return every layer's attention probabilities.
    pub output_attentions: bool,
}

impl OutputOptions {
    /// Everything: all hidden states and all attention weights.
    pub fn all() -> Self {
        Self {
            output_hidden_states: true,
            output_attentions: true,
        }
    }
}

/// What a body gives back.
#[derive(Debug, Clone)]
pub struct BodyOutput {
    /// The last layer's hidden states, `[batch, seq, hidden]`.
    pub last_hidden_state: Tensor<3>,
    /// The pooler's output `[batch, hidden]`, for bodies that have a pooler.
    pub pooler_output: Option<Tensor<2>>,
    /// With `output_hidden_states`: the embeddings output, then each layer's output
    /// (`num_layers + 1` tensors, as in `transformers`).
    pub hidden_states: Option<Vec<Tensor<3>>>,
    /// With `output_attentions`: each layer's attention probabilities `[batch, heads, seq, seq]`.
    pub attentions: Option<Vec<Tensor<4>>>,
}

impl BodyOutput {
    /// Runs a stack of layers over `hidden` (the embeddings output), collecting the optional
    /// outputs `options` asks for as `transformers` orders them; `pooler_output` is left for the
    /// caller. `layer` runs one layer and gives its attention probabilities when it computed
    /// them. Every body's stack loop is this one.
    pub fn from_layers<L>(
        layers: &[L],
        mut hidden: Tensor<3>,
        options: OutputOptions,
        mut layer: impl FnMut(&L, Tensor<3>) -> (Tensor<3>, Option<Tensor<4>>),
    ) -> Self {
        let mut hidden_states = options.output_hidden_states.then(Vec::new);
        let mut attentions = options.output_attentions.then(Vec::new);
        for one in layers {
            if let Some(states) = hidden_states.as_mut() {
                states.push(hidden.clone());
            }
            let (next, probs) = layer(one, hidden);
            hidden = next;
            if let (Some(all), Some(probs)) = (attentions.as_mut(), probs) {
                all.push(probs);
            }
        }
        if let Some(states) = hidden_states.as_mut() {
            states.push(hidden.clone());
        }
        Self {
            last_hidden_state: hidden,
            pooler_output: None,
            hidden_states,
            attentions,
        }
    }
}

/// The contract between bodies and heads: ids and mask in, hidden states out.
///
/// Heads depend only on this trait and on [`Body::hidden_size`], so any head mounts on any body.
/// Each body owns its Hugging Face tensor names: the prefix its tensors carry in task
/// checkpoints and the map between those names and its module paths, the way each head owns
/// its own.
pub trait Body: Module + ModuleDisplay {
    /// Runs the encoder.
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput;

    /// Width of the hidden states the body produces.
    fn hidden_size(&self) -> usize;

    /// Whether [`BodyOutput::pooler_output`] is produced.
    fn has_pooler(&self) -> bool;

    /// The longest sequence the body accepts.
    fn max_sequence_length(&self) -> usize;

    /// The token embedding table `[vocab, embedding width]`, for heads whose decoder is tied
    /// to it.
    fn input_embeddings(&self) -> Tensor<2>;

    /// The prefix of the body's tensors in task checkpoints (`bert`, `roberta`, `distilbert`,
    /// `electra`), without the dot.
    fn state_dict_prefix(&self) -> &'static str;

    /// The module path of a Hugging Face body tensor name (prefix already removed), or `None`
    /// when the name is not one of this body's.
    fn module_path(&self, hf_name: &str) -> Option<String>;

    /// The Hugging Face name (without prefix) of a body parameter given its module path (in
    /// PyTorch naming).
    fn hf_name(&self, module_path: &str) -> String;
}
