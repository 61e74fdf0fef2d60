//! ModernBERT's `head` (`ModernBertPredictionHead`): `norm(act(dense(x)))`, which every one of
//! its task classes runs before its classifier (and its masked-LM decoder).

use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use kindling_body::{HiddenAct, hf_linear, kernels};

/// How a fresh [`PredictionHead`] is built: from `classifier_bias`, `norm_bias`,
/// `classifier_activation` and `norm_eps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionHeadRecipe {
    /// `head.dense` has a bias (`classifier_bias`).
    pub dense_bias: bool,
    /// `head.norm` has a bias (`norm_bias`).
    pub norm_bias: bool,
    /// The activation between them (`classifier_activation`).
    pub activation: HiddenAct,
    /// The norm's epsilon (`norm_eps`).
    pub norm_eps: f64,
    /// The masked-LM decoder has a bias (`decoder_bias`).
    pub decoder_bias: bool,
}

impl PredictionHeadRecipe {
    /// A fresh head over `hidden_size` features with normal(0, `std`) weights.
    pub fn init(&self, hidden_size: usize, std: f64, device: &Device) -> PredictionHead {
        let mut dense = hf_linear(hidden_size, hidden_size, std, device);
        if !self.dense_bias {
            dense.bias = None;
        }
        PredictionHead {
            dense,
            norm: LayerNormConfig::new(hidden_size)
                .with_epsilon(self.norm_eps)
                .with_bias(self.norm_bias)
                .init(device),
            activation: self.activation,
            norm_eps: self.norm_eps,
        }
    }
}

/// `head.dense`, the activation, then `head.norm`.
#[derive(Module, Debug)]
pub struct PredictionHead {
    /// `hidden -> hidden`.
    pub dense: Linear,
    /// The norm after the activation.
    pub norm: LayerNorm,
    /// The activation after `dense`.
    #[module(skip)]
    pub activation: HiddenAct,
    /// The norm's epsilon, for kindling's fused kernel.
    #[module(skip)]
    pub norm_eps: f64,
}

impl PredictionHead {
    /// `norm(act(dense(x)))` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = self.activation.forward(kernels::linear(x, &self.dense));
        kernels::add_layer_norm(x, None, &self.norm, self.norm_eps)
    }
}
