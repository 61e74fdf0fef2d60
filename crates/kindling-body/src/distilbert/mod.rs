//! The DistilBERT body: BERT's computation (post-LN layers, exact key masking) under
//! DistilBERT's own module tree, so its Hugging Face names (`transformer.layer.N.attention.q_lin`,
//! `sa_layer_norm`, `ffn.lin1`, ...) are the module paths; no token types, no pooler.

mod embeddings;
mod layer;

use burn::config::Config;
use burn::prelude::*;

pub use embeddings::{DistilBertEmbeddings, sinusoidal_table};
pub use layer::{BlockShape, DistilBertAttention, FeedForward, TransformerBlock};

use crate::activation::HiddenAct;
use crate::attention::AttentionMask;
use crate::body::{Body, BodyInput, BodyOutput, OutputOptions};
use crate::kernels;
use crate::names;

/// The Burn config a [`DistilBertBody`] is built from; usually made from a Hugging Face config
/// with [`HfConfig::body_config`](crate::HfConfig::body_config).
#[derive(Config, Debug)]
pub struct DistilBertBodyConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub dim: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Number of attention heads (must divide `dim`).
    pub n_heads: usize,
    /// Width of the feed-forward layer.
    pub hidden_dim: usize,
    /// Feed-forward activation.
    #[config(default = "HiddenAct::Gelu")]
    pub activation: HiddenAct,
    /// Dropout on embeddings and the feed-forward output.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout on attention probabilities.
    #[config(default = 0.1)]
    pub attention_dropout: f64,
    /// Rows in the position table.
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Fixed sinusoidal positions instead of learned ones.
    #[config(default = false)]
    pub sinusoidal_pos_embds: bool,
    /// Standard deviation of the normal initializer.
    #[config(default = 0.02)]
    pub initializer_range: f64,
    /// Padding token id (its embedding row starts at zero).
    #[config(default = "Some(0)")]
    pub pad_token_id: Option<usize>,
}

/// The stack of transformer blocks (`transformer.*`).
#[derive(Module, Debug)]
pub struct Transformer {
    /// `transformer.layer.N`.
    pub layer: Vec<TransformerBlock>,
}

/// The DistilBERT encoder body.
#[derive(Module, Debug)]
pub struct DistilBertBody {
    /// Token and position embeddings.
    pub embeddings: DistilBertEmbeddings,
    /// The block stack.
    pub transformer: Transformer,
    /// Width of the hidden states.
    pub dim: usize,
    /// Longest accepted sequence.
    pub max_sequence_length: usize,
}

/// DistilBERT's layer norms all use this epsilon.
const LAYER_NORM_EPS: f64 = 1e-12;

impl DistilBertBodyConfig {
    /// Builds a freshly initialized body (normal(0, `initializer_range`) weights, zero biases,
    /// the sinusoidal table where asked).
    pub fn init(&self, device: &Device) -> DistilBertBody {
        let shape = BlockShape {
            dim: self.dim,
            n_heads: self.n_heads,
            hidden_dim: self.hidden_dim,
            activation: self.activation,
            dropout: self.dropout,
            attention_dropout: self.attention_dropout,
            layer_norm_eps: LAYER_NORM_EPS,
            initializer_range: self.initializer_range,
        };
        DistilBertBody {
            embeddings: DistilBertEmbeddings::new(
                self.vocab_size,
                self.dim,
                self.max_position_embeddings,
                self.sinusoidal_pos_embds,
                self.pad_token_id,
                LAYER_NORM_EPS,
                self.dropout,
                self.initializer_range,
                device,
            ),
            transformer: Transformer {
                layer: (0..self.n_layers)
                    .map(|_| TransformerBlock::new(&shape, device))
                    .collect(),
            },
            dim: self.dim,
            max_sequence_length: self.max_position_embeddings,
        }
    }
}

impl DistilBertBody {
    /// Number of transformer blocks.
    pub fn num_layers(&self) -> usize {
        self.transformer.layer.len()
    }
}

impl Body for DistilBertBody {
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput {
        let device = input.device();
        let fused = !options.output_attentions
            && (!device.is_autodiff() || kernels::has_fast_attention(&device));
        let mask = AttentionMask::new(input.attention_mask.clone(), fused);
        // DistilBERT has no token types: any given are ignored, as its forward takes none.
        let hidden = self.embeddings.forward(input.input_ids, input.position_ids);
        BodyOutput::from_layers(&self.transformer.layer, hidden, options, |block, h| {
            block.forward(h, &mask)
        })
    }

    fn hidden_size(&self) -> usize {
        self.dim
    }

    fn has_pooler(&self) -> bool {
        false
    }

    fn max_sequence_length(&self) -> usize {
        self.max_sequence_length
    }

    fn input_embeddings(&self) -> Tensor<2> {
        self.embeddings.word_embeddings.weight.val()
    }

    fn state_dict_prefix(&self) -> &'static str {
        "distilbert"
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        ["embeddings.", "transformer."]
            .iter()
            .any(|top| hf_name.starts_with(top))
            .then(|| names::hf_to_kindling(hf_name))
    }

    fn hf_name(&self, module_path: &str) -> String {
        names::kindling_to_hf(module_path)
    }
}
