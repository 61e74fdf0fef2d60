//! The DeBERTa-v2/v3 body (`model_type: deberta-v2`, also DeBERTa-v3 and mDeBERTa-v3):
//! disentangled attention over relative positions, under `transformers`' module tree
//! (`embeddings.*`, `encoder.layer.N.attention.self.query_proj`, `encoder.rel_embeddings`,
//! `encoder.LayerNorm`, `encoder.conv.*`), prefix `deberta`, no pooler (the task heads' context
//! pooler is theirs).
//!
//! Its own body type, not a flag on [`EncoderBody`](crate::EncoderBody): each layer adds
//! content-to-position and position-to-content scores computed from the layer's projections
//! of the shared relative-embedding table ([`disentangled_attention`]), over distances that
//! may be log-bucketed ([`relative_position`]); the embeddings are masked at padding, and an
//! optional convolution joins the first layer's output.

pub mod disentangled_attention;
mod embeddings;
mod encoder;
pub mod relative_position;

use burn::config::Config;
use burn::prelude::*;

pub use disentangled_attention::{DisentangledSelfAttention, PosAttention, RelativeContext};
pub use embeddings::{DebertaV2Embeddings, EmbeddingShape};
pub use encoder::{ConvLayer, DebertaV2Attention, DebertaV2Encoder, DebertaV2Layer, LayerShape};
pub use relative_position::RelativePositions;

use crate::activation::HiddenAct;
use crate::attention::AttentionMask;
use crate::body::{Body, BodyInput, BodyOutput, OutputOptions};
use crate::kernels;
use crate::names;

/// The Burn config a [`DebertaV2Body`] is built from; usually made from a Hugging Face config
/// with [`HfConfig::body_config`](crate::HfConfig::body_config).
#[derive(Config, Debug)]
pub struct DebertaV2BodyConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads (must divide `hidden_size`).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Width of the token embeddings (`embed_proj` to the hidden size when it differs);
    /// `None` is the hidden size.
    #[config(default = "None")]
    pub embedding_size: Option<usize>,
    /// Feed-forward activation.
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings, sub-layer outputs and relative embeddings.
    #[config(default = 0.1)]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[config(default = 0.1)]
    pub attention_probs_dropout_prob: f64,
    /// Rows in the absolute position table (and the nominal longest sequence).
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Rows in the token-type table; 0 means none.
    #[config(default = 0)]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[config(default = 1e-7)]
    pub layer_norm_eps: f64,
    /// Standard deviation of the normal initializer.
    #[config(default = 0.02)]
    pub initializer_range: f64,
    /// Padding token id (its embedding row starts at zero).
    #[config(default = "Some(0)")]
    pub pad_token_id: Option<usize>,
    /// Absolute position embeddings added to the tokens.
    #[config(default = true)]
    pub position_biased_input: bool,
    /// Relative-position terms in the attention.
    #[config(default = false)]
    pub relative_attention: bool,
    /// The relative span (`max_relative_positions`, resolved).
    #[config(default = 512)]
    pub relative_span: usize,
    /// Log buckets per side, when bucketed.
    #[config(default = "None")]
    pub position_buckets: Option<usize>,
    /// Content-to-position scores.
    #[config(default = false)]
    pub c2p: bool,
    /// Position-to-content scores.
    #[config(default = false)]
    pub p2c: bool,
    /// Position projections shared with the content ones.
    #[config(default = false)]
    pub share_att_key: bool,
    /// `encoder.LayerNorm` on the relative embeddings.
    #[config(default = false)]
    pub norm_rel_ebd: bool,
    /// Width of the convolution after the first layer; 0 means none.
    #[config(default = 0)]
    pub conv_kernel_size: usize,
    /// Groups of that convolution.
    #[config(default = 1)]
    pub conv_groups: usize,
    /// Activation of that convolution.
    #[config(default = "HiddenAct::Tanh")]
    pub conv_act: HiddenAct,
}

/// The DeBERTa-v2/v3 encoder body.
#[derive(Module, Debug)]
pub struct DebertaV2Body {
    /// Token, position and token-type embeddings.
    pub embeddings: DebertaV2Embeddings,
    /// The layer stack and the relative-position table.
    pub encoder: DebertaV2Encoder,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Longest accepted sequence.
    pub max_sequence_length: usize,
}

impl DebertaV2BodyConfig {
    /// How distances become rows of the relative table: `position_buckets` rows per side when
    /// bucketed, else the relative span.
    pub fn relative_positions(&self) -> RelativePositions {
        RelativePositions {
            span: self.position_buckets.unwrap_or(self.relative_span),
            buckets: self.position_buckets,
            max_position: self.relative_span,
        }
    }

    /// Builds a freshly initialized body (normal(0, `initializer_range`) weights, zero biases).
    pub fn init(&self, device: &Device) -> DebertaV2Body {
        let std = self.initializer_range;
        let pos = PosAttention {
            c2p: self.c2p,
            p2c: self.p2c,
            relative: self.relative_attention,
            share_att_key: self.share_att_key,
        };
        let shape = LayerShape {
            hidden_size: self.hidden_size,
            num_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            activation: self.hidden_act,
            pos,
            layer_norm_eps: self.layer_norm_eps,
            hidden_dropout: self.hidden_dropout_prob,
            attention_dropout: self.attention_probs_dropout_prob,
            initializer_range: std,
        };
        let positions = self.relative_positions();
        let h = self.hidden_size;
        let encoder = DebertaV2Encoder {
            layer: (0..self.num_hidden_layers)
                .map(|_| DebertaV2Layer::new(&shape, device))
                .collect(),
            rel_embeddings: self
                .relative_attention
                .then(|| DebertaV2Encoder::rel_table(2 * positions.span, h, std, device)),
            layer_norm: self
                .norm_rel_ebd
                .then(|| crate::init::hf_layer_norm(h, self.layer_norm_eps, device)),
            conv: (self.conv_kernel_size > 0).then(|| {
                ConvLayer::new(
                    h,
                    self.conv_kernel_size,
                    self.conv_groups,
                    self.conv_act,
                    self.layer_norm_eps,
                    self.hidden_dropout_prob,
                    std,
                    device,
                )
            }),
            positions,
            layer_norm_eps: self.layer_norm_eps,
        };
        let embeddings = DebertaV2Embeddings::new(
            &EmbeddingShape {
                vocab_size: self.vocab_size,
                embedding_size: self.embedding_size.unwrap_or(h),
                hidden_size: h,
                positions: self
                    .position_biased_input
                    .then_some(self.max_position_embeddings),
                type_vocab_size: self.type_vocab_size,
                pad_token_id: self.pad_token_id,
                layer_norm_eps: self.layer_norm_eps,
                dropout: self.hidden_dropout_prob,
                initializer_range: std,
            },
            device,
        );
        DebertaV2Body {
            embeddings,
            encoder,
            hidden_size: h,
            max_sequence_length: self.max_position_embeddings,
        }
    }
}

impl DebertaV2Body {
    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }
}

impl Body for DebertaV2Body {
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput {
        let device = input.device();
        let [batch, seq] = input.dims();
        let fused = !options.output_attentions
            && (!device.is_autodiff() || kernels::has_fast_attention(&device));
        let mask = AttentionMask::new(input.attention_mask.clone(), fused);
        // In the body's compute dtype (bf16 training casts the weights, not the inputs).
        let dtype = self.embeddings.word_embeddings.weight.val().dtype();
        let float_mask = input
            .attention_mask
            .clone()
            .float()
            .cast(dtype)
            .reshape([batch, seq, 1]);
        let embedded = self.embeddings.forward(
            input.input_ids,
            input.token_type_ids,
            input.position_ids,
            float_mask.clone(),
        );
        let relative = self.encoder.relative_context(seq);
        let layers: Vec<(usize, &DebertaV2Layer)> = self.encoder.layer.iter().enumerate().collect();
        BodyOutput::from_layers(&layers, embedded.clone(), options, |(i, layer), h| {
            let (out, probs) = layer.forward(h, &mask, relative.as_ref(), &float_mask);
            match (&self.encoder.conv, *i) {
                (Some(conv), 0) => (
                    conv.forward(embedded.clone(), out, float_mask.clone()),
                    probs,
                ),
                _ => (out, probs),
            }
        })
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
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
        "deberta"
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        ["embeddings.", "encoder."]
            .iter()
            .any(|top| hf_name.starts_with(top))
            .then(|| names::hf_to_kindling(hf_name))
    }

    fn hf_name(&self, module_path: &str) -> String {
        names::kindling_to_hf(module_path)
    }
}
