//! The ModernBERT body (`model_type: modernbert`), under `transformers`' module tree
//! (`embeddings.tok_embeddings`, `embeddings.norm`, `layers.N.attn.Wqkv`, `layers.N.mlp.Wi`,
//! `final_norm`), prefix `model`, no pooler (the task heads' `head` is theirs).
//!
//! Its own body type: positions are rotations of queries and keys (RoPE, [`rotary`]) with one
//! base for global layers and another for sliding-window layers; layers are pre-norm with a
//! GeGLU feed-forward; and the local layers see keys at most `local_attention / 2` positions
//! away, a window kindling's attention kernel skips outside of, so those layers cost
//! `O(seq · window)`.

mod embeddings;
mod layer;
pub mod rotary;

use burn::config::Config;
use burn::nn::LayerNorm;
use burn::prelude::*;

pub use embeddings::ModernBertEmbeddings;
pub use layer::{LayerShape, ModernBertAttention, ModernBertLayer, ModernBertMlp};
pub use rotary::Rotation;

use crate::activation::HiddenAct;
use crate::attention::AttentionMask;
use crate::body::{Body, BodyInput, BodyOutput, OutputOptions};
use crate::kernels;

/// The Burn config a [`ModernBertBody`] is built from; usually made from a Hugging Face config
/// with [`HfConfig::body_config`](crate::HfConfig::body_config).
#[derive(Config, Debug)]
pub struct ModernBertBodyConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads (must divide `hidden_size`, into an even head width).
    pub num_attention_heads: usize,
    /// Width of the GeGLU (`mlp.Wi` is twice as wide).
    pub intermediate_size: usize,
    /// The GLU's activation.
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_activation: HiddenAct,
    /// The longest sequence.
    #[config(default = 8192)]
    pub max_position_embeddings: usize,
    /// Standard deviation of the initializer.
    #[config(default = 0.02)]
    pub initializer_range: f64,
    /// Layer-norm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Layer norms with a bias.
    #[config(default = false)]
    pub norm_bias: bool,
    /// `attn.Wqkv` / `attn.Wo` with biases.
    #[config(default = false)]
    pub attention_bias: bool,
    /// `mlp.Wi` / `mlp.Wo` with biases.
    #[config(default = false)]
    pub mlp_bias: bool,
    /// Dropout on attention probabilities and after `attn.Wo`.
    #[config(default = 0.0)]
    pub attention_dropout: f64,
    /// Dropout after the embeddings' norm.
    #[config(default = 0.0)]
    pub embedding_dropout: f64,
    /// Dropout inside the feed-forward.
    #[config(default = 0.0)]
    pub mlp_dropout: f64,
    /// The whole sliding window of local layers (`local_attention`).
    #[config(default = 128)]
    pub local_attention: usize,
    /// Per layer, whether it attends globally; empty means a global layer every third, from
    /// layer 0.
    #[config(default = "Vec::new()")]
    pub global_layers: Vec<bool>,
    /// RoPE base of global layers.
    #[config(default = 160_000.0)]
    pub global_rope_theta: f64,
    /// RoPE base of sliding-window layers.
    #[config(default = 10_000.0)]
    pub local_rope_theta: f64,
    /// Padding token id (its embedding row gets no gradient).
    #[config(default = "None")]
    pub pad_token_id: Option<usize>,
}

/// The ModernBERT encoder body.
#[derive(Module, Debug)]
pub struct ModernBertBody {
    /// Token embeddings and their norm.
    pub embeddings: ModernBertEmbeddings,
    /// The layer stack.
    pub layers: Vec<ModernBertLayer>,
    /// `final_norm`, after the last layer.
    pub final_norm: LayerNorm,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Longest accepted sequence.
    pub max_sequence_length: usize,
    /// The whole sliding window of local layers.
    pub local_attention: usize,
    /// RoPE base of global layers.
    #[module(skip)]
    pub global_rope_theta: f64,
    /// RoPE base of sliding-window layers.
    #[module(skip)]
    pub local_rope_theta: f64,
    /// The norms' epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub norm_eps: f64,
}

impl ModernBertBodyConfig {
    /// Whether each layer attends globally.
    pub fn layer_is_global(&self) -> Vec<bool> {
        if self.global_layers.len() == self.num_hidden_layers {
            return self.global_layers.clone();
        }
        (0..self.num_hidden_layers)
            .map(|i| i.is_multiple_of(3))
            .collect()
    }

    /// Builds a freshly initialized body (normal(0, `initializer_range`) weights, zero biases,
    /// unit norms).
    pub fn init(&self, device: &Device) -> ModernBertBody {
        let shape = LayerShape {
            hidden_size: self.hidden_size,
            num_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            activation: self.hidden_activation,
            norm_eps: self.norm_eps,
            norm_bias: self.norm_bias,
            attention_bias: self.attention_bias,
            mlp_bias: self.mlp_bias,
            attention_dropout: self.attention_dropout,
            mlp_dropout: self.mlp_dropout,
            initializer_range: self.initializer_range,
        };
        ModernBertBody {
            embeddings: ModernBertEmbeddings::new(
                self.vocab_size,
                self.hidden_size,
                &shape,
                self.embedding_dropout,
                self.pad_token_id,
                device,
            ),
            layers: self
                .layer_is_global()
                .into_iter()
                .enumerate()
                .map(|(i, global)| ModernBertLayer::new(&shape, i, global, device))
                .collect(),
            final_norm: shape.norm(device),
            hidden_size: self.hidden_size,
            num_heads: self.num_attention_heads,
            max_sequence_length: self.max_position_embeddings,
            local_attention: self.local_attention,
            global_rope_theta: self.global_rope_theta,
            local_rope_theta: self.local_rope_theta,
            norm_eps: self.norm_eps,
        }
    }
}

impl ModernBertBody {
    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}

/// Hugging Face's parameter names that are not snake case, and the module fields they are.
const RENAMES: [(&str, &str); 3] = [("Wqkv", "wqkv"), ("Wi", "wi"), ("Wo", "wo")];

fn rename(name: &str, to_module: bool) -> String {
    name.split('.')
        .map(|part| {
            RENAMES
                .iter()
                .find(|(hf, ours)| part == if to_module { *hf } else { *ours })
                .map_or(part, |(hf, ours)| if to_module { ours } else { hf })
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl Body for ModernBertBody {
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput {
        let device = input.device();
        let [_, seq] = input.dims();
        let fused = !options.output_attentions
            && (!device.is_autodiff() || kernels::has_fast_attention(&device));
        let global_mask = AttentionMask::new(input.attention_mask, fused);
        let local_mask = self.layers.iter().any(|l| !l.global).then(|| {
            global_mask
                .clone()
                .with_sliding_window(self.local_attention)
        });
        let hidden = self.embeddings.forward(input.input_ids);
        let dtype = hidden.dtype();
        // transformers numbers positions 0..seq whatever the padding
        let positions = input
            .position_ids
            .unwrap_or_else(|| Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]));
        let head_dim = self.hidden_size / self.num_heads;
        let global_rotation =
            Rotation::new(positions.clone(), self.global_rope_theta, head_dim, dtype);
        let local_rotation = local_mask
            .as_ref()
            .map(|_| Rotation::new(positions, self.local_rope_theta, head_dim, dtype));
        let mut out = BodyOutput::from_layers(&self.layers, hidden, options, |layer, h| {
            match (layer.global, &local_mask, &local_rotation) {
                (false, Some(mask), Some(rotation)) => layer.forward(h, mask, rotation),
                _ => layer.forward(h, &global_mask, &global_rotation),
            }
        });
        let last =
            kernels::add_layer_norm(out.last_hidden_state, None, &self.final_norm, self.norm_eps);
        // as transformers, the last of the hidden states is the normalized output
        if let Some(last_state) = out.hidden_states.as_mut().and_then(|all| all.last_mut()) {
            *last_state = last.clone();
        }
        out.last_hidden_state = last;
        out
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
        self.embeddings.tok_embeddings.weight.val()
    }

    fn state_dict_prefix(&self) -> &'static str {
        "model"
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        ["embeddings.", "layers.", "final_norm."]
            .iter()
            .any(|top| hf_name.starts_with(top))
            .then(|| rename(hf_name, true))
    }

    fn hf_name(&self, module_path: &str) -> String {
        rename(module_path, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_camel_case_projections_map_both_ways() {
        let body = ModernBertBodyConfig::new(20, 8, 2, 2, 12).init(&Device::flex());
        let hf = "layers.1.attn.Wqkv.weight";
        let ours = body.module_path(hf).expect("a body tensor");
        assert_eq!(ours, "layers.1.attn.wqkv.weight");
        assert_eq!(body.hf_name(&ours), hf);
        assert_eq!(body.hf_name("layers.0.mlp.wo.bias"), "layers.0.mlp.Wo.bias");
        assert!(body.module_path("head.dense.weight").is_none());
        assert!(body.layers[0].attn_norm.is_none() && body.layers[1].attn_norm.is_some());
    }
}
