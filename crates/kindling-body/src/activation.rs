//! The feed-forward activations named by `hidden_act` in Hugging Face configs.

use burn::prelude::*;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

/// An activation as Hugging Face's `hidden_act` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HiddenAct {
    /// Exact GELU, `x * Φ(x)` with the error function (`"gelu"`).
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU with the tanh approximation (`"gelu_new"`, as in GPT-2 and BERT's TF port).
    #[serde(rename = "gelu_new")]
    GeluNew,
    /// PyTorch's tanh-approximated GELU (`"gelu_pytorch_tanh"`); the same formula as `gelu_new`.
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    /// Rectified linear unit (`"relu"`).
    #[serde(rename = "relu")]
    Relu,
    /// Sigmoid linear unit (`"silu"`, also spelled `"swish"`).
    #[serde(rename = "silu", alias = "swish")]
    Silu,
    /// Hyperbolic tangent (`"tanh"`, as in `summary_activation`).
    #[serde(rename = "tanh")]
    Tanh,
}

impl HiddenAct {
    /// Applies the activation element-wise.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            HiddenAct::Gelu => crate::kernels::gelu(x),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => activation::gelu_approximate(x),
            HiddenAct::Relu => activation::relu(x),
            HiddenAct::Silu => activation::silu(x),
            HiddenAct::Tanh => x.tanh(),
        }
    }

    /// The name Hugging Face writes in `config.json`.
    pub fn hf_name(&self) -> &'static str {
        match self {
            HiddenAct::Gelu => "gelu",
            HiddenAct::GeluNew => "gelu_new",
            HiddenAct::GeluPytorchTanh => "gelu_pytorch_tanh",
            HiddenAct::Relu => "relu",
            HiddenAct::Silu => "silu",
            HiddenAct::Tanh => "tanh",
        }
    }
}
