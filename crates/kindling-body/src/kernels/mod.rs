//! Fast paths for the encoder's hot operations, with Burn's own operations as the fallback.
//!
//! On Burn's Flex CPU backend, in float32 and outside autodiff (inference), the functions here
//! run kindling's kernels: GELU with a vectorized `erf` fused with the bias add, and attention
//! that reads heads in place with a vectorized softmax ([`attention`] module docs). Everywhere
//! else (training, other backends, other dtypes) they compute the same thing with Burn's tensor
//! operations, so callers never branch on the backend.

#[cfg(feature = "flex")]
mod attention;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod math;

use burn::nn::{Dropout, Linear};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::attention as fused_attention;
use burn::tensor::ops::AttentionModuleOptions;

/// `layer.forward(x)`: on Flex one matrix product over all rows onto the bias.
pub fn linear<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::linear(x, layer, false) {
        Ok(out) => return out,
        Err(x) => x,
    };
    linear_rows(x, layer)
}

/// `layer.forward(x)` with every leading dimension folded into the rows first (a view): one
/// `[rows, d_in] · [d_in, d_out]` product, and in training one weight-gradient product over all
/// rows, where Burn's batched form multiplies and then sums per sequence.
fn linear_rows<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    if D == 2 {
        return layer.forward(x);
    }
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let out = layer.forward(x.reshape([rows, d_in]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

/// Exact GELU of `layer.forward(x)`, the activation applied as the product's epilogue on Flex.
pub fn linear_gelu<const D: usize>(x: Tensor<D>, layer: &Linear) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::linear(x, layer, true) {
        Ok(out) => return out,
        Err(x) => x,
    };
    activation::gelu(linear_rows(x, layer))
}

/// `layer.forward(x)` (dropout, active only in training on an autodiff device). On Flex the
/// mask comes from a counter-based hash, in parallel, seeded by one draw from the device's
/// generator (so `Device::seed` still makes runs repeatable); Flex's own Bernoulli sampling
/// draws every element through a locked generator, about a tenth of a training step.
pub fn dropout<const D: usize>(x: Tensor<D>, layer: &Dropout) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    #[cfg(feature = "flex")]
    if flex::is_flex_device(&x.device()) {
        return flex::dropout(x, layer.prob);
    }
    layer.forward(x)
}

/// Exact GELU (`transformers`' `"gelu"`), element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match flex::gelu(x) {
        Ok(out) => return out,
        Err(x) => x,
    };
    activation::gelu(x)
}

/// Whether [`attention`] runs kindling's kernel for tensors like `probe` (Flex, float32, no
/// autodiff); the caller then passes the key padding as a `[batch, seq]` bias instead of a
/// `[batch, 1, seq, seq]` one.
pub fn has_fast_attention(probe: &Tensor<2, Int>) -> bool {
    #[cfg(feature = "flex")]
    {
        flex::is_flex(probe)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = probe;
        false
    }
}

/// Key padding for [`attention`], built once per forward pass and shared by every layer.
#[derive(Debug, Clone)]
pub enum KeyBias {
    /// `[batch, seq_k]`: 0 at real keys, the dtype's lowest value at padding (kindling's
    /// kernel broadcasts it over heads and queries itself).
    PerKey(Tensor<2>),
    /// `[batch, 1, seq_q, seq_k]`, the same values materialized over queries for Burn's fused
    /// attention, so no backend expands it per layer.
    PerQuery(Tensor<4>),
}

/// Multi-head scaled dot-product attention (scale `1/√head_dim`) with the heads packed in the
/// last dimension: `query` `[batch, seq_q, heads · head_dim]`, `key` and `value`
/// `[batch, seq_k, heads · head_dim]`, result `[batch, seq_q, heads · head_dim]`. No dropout:
/// this is the inference path.
pub fn attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    key_bias: Option<&KeyBias>,
    heads: usize,
) -> Tensor<3> {
    #[cfg(feature = "flex")]
    let (query, key, value) = match flex::attention(query, key, value, key_bias, heads) {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    let [batch, seq_q, hidden] = query.dims();
    let split = |x: Tensor<3>| {
        let [batch, seq, _] = x.dims();
        x.reshape([batch, seq, heads, hidden / heads])
            .swap_dims(1, 2)
    };
    let bias = key_bias.map(|bias| match bias {
        KeyBias::PerQuery(bias) => bias.clone(),
        KeyBias::PerKey(bias) => {
            let [batch, seq_k] = bias.dims();
            bias.clone()
                .reshape([batch, 1, 1, seq_k])
                .expand([batch, 1, seq_q, seq_k])
        }
    });
    // scale: None is 1/sqrt(head_dim), and lets GPU backends pick their flash kernel.
    fused_attention(
        split(query),
        split(key),
        split(value),
        None,
        bias,
        AttentionModuleOptions::default(),
    )
    .swap_dims(1, 2)
    .reshape([batch, seq_q, hidden])
}
