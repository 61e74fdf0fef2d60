//! Multi-head self-attention as BERT computes it (`attention.self` and `attention.output`).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::init::{hf_layer_norm, hf_linear};
use crate::kernels::{self, AttentionBias};

/// Query, key and value projections and the scaled dot-product (`attention.self.*`; the field
/// is `self_attention` because `self` is a Rust keyword; [`crate::names`] maps it).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

/// Projection back to the hidden size, residual and layer norm (`attention.output.*`).
#[derive(Module, Debug)]
pub struct AttentionOutput {
    /// Output projection.
    pub dense: Linear,
    /// `attention.output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout before the residual.
    pub dropout: Dropout,
    /// The norm's epsilon, for kindling's fused kernel (Burn's `LayerNorm` keeps it private).
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// The whole attention sub-layer of an encoder layer (`attention.*`).
#[derive(Module, Debug)]
pub struct SelfAttentionBlock {
    /// `attention.self`.
    pub self_attention: SelfAttention,
    /// `attention.output`.
    pub output: AttentionOutput,
}

impl SelfAttention {
    /// Builds the projections with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        num_heads: usize,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            query: hf_linear(hidden_size, hidden_size, initializer_range, device),
            key: hf_linear(hidden_size, hidden_size, initializer_range, device),
            value: hf_linear(hidden_size, hidden_size, initializer_range, device),
            dropout: DropoutConfig::new(dropout).init(),
            num_heads,
            head_dim: hidden_size / num_heads,
        }
    }

    /// `hidden [batch, seq, hidden]` to the context `[batch, seq, hidden]`, and the attention
    /// probabilities when the mask asks for the decomposed path.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let [query, key, value] = kernels::linears(hidden, [&self.query, &self.key, &self.value]);
        multi_head_attention(query, key, value, mask, self.num_heads, &self.dropout)
    }
}

/// Scaled dot-product attention (scale `1/√head_dim`) over projected queries, keys and values
/// `[batch, seq, heads · head_dim]`, with the heads packed in the last dimension: the context
/// `[batch, seq, heads · head_dim]`, and the probabilities `[batch, heads, seq, seq]` on the
/// decomposed path. Every body's self-attention ends here, whatever its projections are called.
pub fn multi_head_attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    mask: &AttentionMask,
    num_heads: usize,
    dropout: &Dropout,
) -> (Tensor<3>, Option<Tensor<4>>) {
    match mask {
        AttentionMask::Fused(bias) => {
            let context = kernels::attention(query, key, value, bias.as_ref(), num_heads, dropout);
            (context, None)
        }
        AttentionMask::Decomposed(bias) => {
            let [batch, seq, hidden_size] = query.dims();
            let head_dim = hidden_size / num_heads;
            let split_heads = |x: Tensor<3>| {
                let [batch, seq, _] = x.dims();
                x.reshape([batch, seq, num_heads, head_dim]).swap_dims(1, 2)
            };
            let query = split_heads(query);
            let key = split_heads(key);
            let value = split_heads(value);
            let scale = (head_dim as f64).powf(-0.5);
            let scores = query.matmul(key.swap_dims(2, 3)) * scale;
            let probs = softmax(bias.apply_to_scores(scores), 3);
            let context = kernels::dropout(probs.clone(), dropout)
                .matmul(value)
                .swap_dims(1, 2)
                .reshape([batch, seq, hidden_size]);
            (context, Some(probs))
        }
    }
}

/// What a body's self-attention adds to its scores (the key padding, and optionally an additive
/// bias and a sliding window), in the form the chosen attention path takes, built once per
/// forward pass and shared by every layer.
///
/// [`new`](Self::new) builds it from the attention mask without reading anything back from the
/// device; [`with_additive`](Self::with_additive) and
/// [`with_sliding_window`](Self::with_sliding_window) add the other parts.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// Attention as one operation ([`kernels::attention`]: inference without attention
    /// outputs, and training where kindling has a kernel with its backward). The key padding
    /// is an additive bias, 0 at real keys and the dtype's lowest value at padding, which is
    /// `transformers`' own mask, so a row of padding only still averages its values as there.
    /// Where kindling's kernel does not run, the bias is materialized once here, so no backend
    /// expands it per layer.
    Fused(Option<AttentionBias>),
    /// Scores, bias, softmax and dropout as separate ops, for training on backends without
    /// kindling's attention kernel and when the probabilities are returned.
    Decomposed(AttentionBias),
}

impl AttentionMask {
    /// The mask for `attention_mask` (`[batch, seq]`, 1 at real tokens, 0 at padding). `fused`
    /// picks attention as one operation (no dropout, no probabilities) over the decomposed
    /// path. The padding bias is built whether or not the batch has padding (kindling's kernel
    /// skips a sequence without any, and asking would read the mask back from the device).
    pub fn new(attention_mask: Tensor<2, Int>, fused: bool) -> Self {
        let bias = AttentionBias::from_attention_mask(attention_mask);
        match fused {
            true => Self::Fused(Some(bias)).prepared(),
            false => Self::Decomposed(bias),
        }
    }

    /// This mask with `bias` (`[batch or 1, heads or 1, seq, seq]`) added to the scores, on
    /// top of what is there (DeBERTa's relative-position scores).
    pub fn with_additive(self, bias: Tensor<4>) -> Self {
        self.map(|b| b.with_additive(bias))
    }

    /// This mask with a sliding window of `window` keys in all (Hugging Face's
    /// `local_attention`): key `j` is visible from query `i` iff `|i - j| <= window / 2`.
    pub fn with_sliding_window(self, window: usize) -> Self {
        self.map(|b| b.with_sliding_window(window))
    }

    /// The bias of either path (`None` only for a fused mask built without one).
    pub fn bias(&self) -> Option<&AttentionBias> {
        match self {
            Self::Fused(bias) => bias.as_ref(),
            Self::Decomposed(bias) => Some(bias),
        }
    }

    fn map(self, change: impl FnOnce(AttentionBias) -> AttentionBias) -> Self {
        match self {
            Self::Fused(bias) => Self::Fused(Some(change(bias.unwrap_or_default()))).prepared(),
            Self::Decomposed(bias) => Self::Decomposed(change(bias)),
        }
    }

    /// A fused bias materialized once (`[batch, heads or 1, seq, seq]`, in the bias's float
    /// dtype) where kindling's kernel does not run; as it is where it does.
    fn prepared(self) -> Self {
        let Self::Fused(Some(bias)) = self else {
            return self;
        };
        let Some(device) = bias_device(&bias) else {
            return Self::Fused(Some(bias));
        };
        if kernels::has_fast_attention(&device) {
            return Self::Fused(Some(bias));
        }
        let (batch, seq, dtype) = match (bias.key_padding(), bias.additive()) {
            (_, Some(additive)) => {
                let [batch, _, seq, _] = additive.dims();
                let batch = bias.key_padding().map_or(batch, |p| p.dims()[0]);
                (batch, seq, additive.dtype())
            }
            (Some(padding), None) => {
                let [batch, seq] = padding.dims();
                (batch, seq, padding.dtype())
            }
            // A window alone has no shape of its own: it is materialized per call.
            (None, None) => return Self::Fused(Some(bias)),
        };
        let dense = bias.materialize(batch, seq, seq, dtype, &device);
        Self::Fused(dense.map(AttentionBias::from_additive))
    }
}

/// The device of a bias's tensors.
fn bias_device(bias: &AttentionBias) -> Option<Device> {
    bias.key_padding()
        .map(|p| p.device())
        .or_else(|| bias.additive().map(|a| a.device()))
}

impl AttentionOutput {
    /// Builds the projection and norm with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        layer_norm_eps: f64,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        Self {
            dense: hf_linear(hidden_size, hidden_size, initializer_range, device),
            layer_norm: hf_layer_norm(hidden_size, layer_norm_eps, device),
            dropout: DropoutConfig::new(dropout).init(),
            layer_norm_eps,
        }
    }

    /// `LayerNorm(dropout(dense(context)) + residual)`.
    pub fn forward(&self, context: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let projected = kernels::dropout(kernels::linear(context, &self.dense), &self.dropout);
        kernels::add_layer_norm(
            projected,
            Some(residual),
            &self.layer_norm,
            self.layer_norm_eps,
        )
    }
}

impl SelfAttentionBlock {
    /// Self-attention, then projection, residual and norm; also returns the probabilities when
    /// the decomposed path computed them.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let (context, probs) = self.self_attention.forward(hidden.clone(), mask);
        (self.output.forward(context, hidden), probs)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;

    use super::*;

    const HEADS: usize = 2;

    /// Burn's NdArray backend, where kindling has no kernel (deprecated upstream; the warning
    /// is silenced here, where the device is chosen).
    #[allow(deprecated)]
    fn ndarray() -> Device {
        Device::ndarray()
    }

    fn values(shape: &[usize], seed: u32, device: &Device) -> Tensor<3> {
        let n = shape.iter().product();
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
    }

    fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    /// Every way a body builds its mask: padding only, with an additive bias, with a window,
    /// with both.
    fn masks(fused: bool, device: &Device) -> Vec<AttentionMask> {
        let mask =
            Tensor::<2, Int>::from_data([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], device);
        let additive = || values(&[2, 7, 7], 9, device).reshape([2, 1, 7, 7]);
        let padding = || AttentionMask::new(mask.clone(), fused);
        vec![
            padding(),
            padding().with_additive(additive()),
            padding().with_sliding_window(4),
            padding().with_sliding_window(4).with_additive(additive()),
        ]
    }

    #[test]
    fn fused_and_decomposed_paths_agree_for_every_mask() {
        let dropout = DropoutConfig::new(0.0).init();
        for device in [Device::flex(), ndarray()] {
            let [q, k, v] = [1, 2, 3].map(|seed| values(&[2, 7, 8], seed, &device));
            let run = |mask: &AttentionMask| {
                multi_head_attention(q.clone(), k.clone(), v.clone(), mask, HEADS, &dropout)
            };
            for (which, (fused, decomposed)) in masks(true, &device)
                .iter()
                .zip(&masks(false, &device))
                .enumerate()
            {
                let (a, no_probs) = run(fused);
                let (b, probs) = run(decomposed);
                assert!(no_probs.is_none());
                assert_eq!(probs.expect("probabilities").dims(), [2, HEADS, 7, 7]);
                let worst = read(a)
                    .iter()
                    .zip(read(b))
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{device:?} mask {which}: max |Δ| {worst}");
            }
        }
    }

    // kindling's kernel (the `flex` feature) takes the mask's parts; without it every
    // backend gets one materialized bias
    #[test]
    #[cfg(feature = "flex")]
    fn the_kernel_takes_the_parts_and_other_backends_one_materialized_bias() {
        let flex = masks(true, &Device::flex());
        let bias = flex[3].bias().expect("a bias");
        assert!(bias.key_padding().is_some() && bias.additive().is_some());
        assert_eq!(bias.half_window(), Some(2));
        for mask in masks(true, &ndarray()) {
            let bias = mask.bias().expect("a bias");
            assert!(bias.key_padding().is_none() && bias.half_window().is_none());
            assert_eq!(bias.additive().expect("materialized").dims()[0], 2);
        }
        let decomposed = masks(false, &Device::flex());
        assert_eq!(decomposed[2].bias().and_then(|b| b.half_window()), Some(2));
    }

    // kindling's kernel (the `flex` feature) takes the mask's parts; without it every
    // backend gets one materialized bias
    #[test]
    #[cfg(feature = "flex")]
    fn a_batch_without_padding_attends_as_without_a_mask() {
        let device = Device::flex();
        let dropout = DropoutConfig::new(0.0).init();
        let [q, k, v] = [1, 2, 3].map(|seed| values(&[2, 5, 8], seed, &device));
        let mask = AttentionMask::new(Tensor::<2, Int>::ones([2, 5], &device), true);
        assert!(mask.bias().is_some_and(|b| b.key_padding().is_some()));
        let (with_mask, _) =
            multi_head_attention(q.clone(), k.clone(), v.clone(), &mask, HEADS, &dropout);
        let (without, _) =
            multi_head_attention(q, k, v, &AttentionMask::Fused(None), HEADS, &dropout);
        assert_eq!(read(with_mask), read(without));
    }
}
