//! What [`crate::attention`] adds to its scores: key padding, an additive bias and a sliding
//! window, in any combination.

use burn::prelude::*;
use burn::tensor::DType;

/// The most negative value of a dtype, used to mask keys as `transformers` does
/// (`torch.finfo(dtype).min`).
pub fn mask_value(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -65504.0,
        DType::BF16 => -3.3895e38,
        DType::F64 => f64::MIN,
        _ => f32::MIN as f64,
    }
}

/// The bias of one attention call: which keys each query sees, and what is added to its
/// scores. Built once per forward pass and shared by every layer (cloning shares the tensors).
///
/// Three parts, each optional, in any combination:
/// - **key padding** `[batch, seq_k]`: 0 at real keys, the dtype's lowest value
///   ([`mask_value`]) at padding, `transformers`' additive mask. A query that sees no real key
///   then averages all values, as `transformers` does with its `finfo.min` mask.
/// - **additive** `[batch or 1, heads or 1, seq_q, seq_k]`: added to the scaled scores
///   (DeBERTa's relative-position scores, ALiBi); size-1 batch and head dimensions broadcast.
///   It may hold the lowest value too, to mask. Kindling's kernel computes no gradient for it
///   (see [`crate::attention`]).
/// - **sliding window**: key `j` is visible from query `i` iff `|i - j| <= window / 2`
///   (ModernBERT's local attention; `window` is Hugging Face's `local_attention`, the whole
///   window, half on each side). Kindling's kernel skips the keys outside, so its cost is
///   `O(seq · window)`; elsewhere they are masked with the lowest value, as `transformers`
///   does.
///
/// ```
/// use burn::prelude::*;
/// use kindling_kernels::AttentionBias;
///
/// let device = Device::flex();
/// let mask = Tensor::<2, Int>::from_data([[1, 1, 1, 0]], &device);
/// let bias = AttentionBias::from_attention_mask(mask).with_sliding_window(2);
/// assert_eq!(bias.half_window(), Some(1));
/// assert!(bias.key_padding().is_some() && bias.additive().is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct AttentionBias {
    key_padding: Option<Tensor<2>>,
    additive: Option<Tensor<4>>,
    half_window: Option<usize>,
}

impl AttentionBias {
    /// No bias: every query sees every key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Key padding `[batch, seq_k]`: 0 at real keys, the dtype's lowest value at padding.
    pub fn from_key_padding(bias: Tensor<2>) -> Self {
        Self::new().with_key_padding(bias)
    }

    /// The key padding of `attention_mask` (`[batch, seq]`, 1 at real tokens, 0 at padding),
    /// in the device's default float dtype. Builds the bias on the device: nothing is read
    /// back.
    pub fn from_attention_mask(attention_mask: Tensor<2, Int>) -> Self {
        let padding = attention_mask.equal_elem(0);
        let zeros = Tensor::<2>::zeros(padding.shape(), &padding.device());
        let fill = mask_value(zeros.dtype());
        Self::from_key_padding(zeros.mask_fill(padding, fill))
    }

    /// An additive bias `[batch or 1, heads or 1, seq_q, seq_k]` on the scaled scores.
    pub fn from_additive(bias: Tensor<4>) -> Self {
        Self::new().with_additive(bias)
    }

    /// A symmetric sliding window of `window` keys in all (Hugging Face's `local_attention`):
    /// key `j` is visible from query `i` iff `|i - j| <= window / 2`.
    pub fn from_sliding_window(window: usize) -> Self {
        Self::new().with_sliding_window(window)
    }

    /// This bias with `bias` as its key padding (replacing any).
    pub fn with_key_padding(mut self, bias: Tensor<2>) -> Self {
        self.key_padding = Some(bias);
        self
    }

    /// This bias with `bias` added to its additive part (`[batch or 1, heads or 1, seq_q,
    /// seq_k]`, broadcast against the one already there; sums stop at the dtype's lowest
    /// value, so a masked score stays masked and never overflows to -∞).
    pub fn with_additive(mut self, bias: Tensor<4>) -> Self {
        self.additive = Some(match self.additive.take() {
            None => bias,
            Some(old) => {
                let dtype = old.dtype();
                (old + bias.cast(dtype)).clamp_min(mask_value(dtype))
            }
        });
        self
    }

    /// This bias with a sliding window of `window` keys in all (see
    /// [`from_sliding_window`](Self::from_sliding_window)); with a window already set, the
    /// narrower one.
    pub fn with_sliding_window(mut self, window: usize) -> Self {
        let half = window / 2;
        self.half_window = Some(self.half_window.map_or(half, |old| old.min(half)));
        self
    }

    /// The key padding, `[batch, seq_k]`.
    pub fn key_padding(&self) -> Option<&Tensor<2>> {
        self.key_padding.as_ref()
    }

    /// The additive bias, `[batch or 1, heads or 1, seq_q, seq_k]`.
    pub fn additive(&self) -> Option<&Tensor<4>> {
        self.additive.as_ref()
    }

    /// How far each query sees to either side (`window / 2`), with a sliding window.
    pub fn half_window(&self) -> Option<usize> {
        self.half_window
    }

    /// Whether the bias has no part at all.
    pub fn is_empty(&self) -> bool {
        self.key_padding.is_none() && self.additive.is_none() && self.half_window.is_none()
    }

    /// Panics with a readable message when a part's shape does not fit the call.
    pub(crate) fn check(&self, batch: usize, heads: usize, seq_q: usize, seq_k: usize) {
        if let Some(padding) = &self.key_padding {
            assert_eq!(
                padding.dims(),
                [batch, seq_k],
                "attention: the key padding must be [batch, seq_k]"
            );
        }
        if let Some(additive) = &self.additive {
            let [b, h, q, k] = additive.dims();
            assert!(
                (b == 1 || b == batch) && (h == 1 || h == heads) && q == seq_q && k == seq_k,
                "attention: the additive bias is {:?}, not [{batch} or 1, {heads} or 1, {seq_q}, \
                 {seq_k}]",
                additive.dims()
            );
        }
    }

    /// The masks of the padding (`[batch, 1, 1, seq_k]`) and of the window (`[1, 1, seq_q,
    /// seq_k]`), `true` where a key is hidden.
    fn masks(&self, seq_q: usize, seq_k: usize, device: &Device) -> Vec<Tensor<4, Bool>> {
        let mut masks = Vec::with_capacity(2);
        if let Some(padding) = &self.key_padding {
            let [batch, seq_k] = padding.dims();
            let hidden = padding
                .clone()
                .lower_equal_elem(mask_value(padding.dtype()) / 2.0);
            masks.push(hidden.reshape([batch, 1, 1, seq_k]));
        }
        if let Some(half) = self.half_window {
            let rows = Tensor::<1, Int>::arange(0..seq_q as i64, device)
                .reshape([seq_q, 1])
                .expand([seq_q, seq_k]);
            let cols = Tensor::<1, Int>::arange(0..seq_k as i64, device)
                .reshape([1, seq_k])
                .expand([seq_q, seq_k]);
            let outside = (rows - cols).abs().greater_elem(half as i64);
            masks.push(outside.reshape([1, 1, seq_q, seq_k]));
        }
        masks
    }

    /// `scores` (`[batch, heads, seq_q, seq_k]`) with the bias applied as Burn operations: the
    /// additive part added, then padded keys and keys outside the window set to the scores'
    /// lowest value, as `transformers`' eager attention does. For the decomposed attention,
    /// whose probabilities are returned.
    pub fn apply_to_scores(&self, scores: Tensor<4>) -> Tensor<4> {
        let [_, _, seq_q, seq_k] = scores.dims();
        let dtype = scores.dtype();
        let scores = match &self.additive {
            Some(additive) => scores + in_dtype(additive.clone(), dtype),
            None => scores,
        };
        let dims = scores.dims();
        let lowest = mask_value(dtype);
        self.masks(seq_q, seq_k, &scores.device())
            .into_iter()
            .fold(scores, |scores, mask| {
                scores.mask_fill(mask.expand(dims), lowest)
            })
    }

    /// The whole bias as one additive tensor `[batch, heads or 1, seq_q, seq_k]` in `dtype`
    /// (`None` when the bias is empty), padding and window as the lowest value: what Burn's
    /// fused attention takes. Materialize once per forward pass where kindling's kernel does
    /// not run, and pass the result as [`from_additive`](Self::from_additive).
    pub fn materialize(
        &self,
        batch: usize,
        seq_q: usize,
        seq_k: usize,
        dtype: DType,
        device: &Device,
    ) -> Option<Tensor<4>> {
        if self.is_empty() {
            return None;
        }
        let masks = self.masks(seq_q, seq_k, device);
        let base = match &self.additive {
            Some(additive) => {
                let additive = in_dtype(additive.clone(), dtype);
                let [b, heads, _, _] = additive.dims();
                if masks.is_empty() && b == batch {
                    return Some(additive);
                }
                // A fresh tensor of the full shape (masks are filled into it, never into a
                // broadcast view).
                additive + Tensor::<4>::zeros([batch, heads, seq_q, seq_k], device).cast(dtype)
            }
            None => Tensor::<4>::zeros([batch, 1, seq_q, seq_k], device).cast(dtype),
        };
        let dims = base.dims();
        let lowest = mask_value(dtype);
        Some(
            masks
                .into_iter()
                .fold(base, |bias, mask| bias.mask_fill(mask.expand(dims), lowest)),
        )
    }
}

/// `bias` in `dtype`, values at or below half of its dtype's lowest re-made as `dtype`'s lowest:
/// a plain cast would turn float32's lowest into f16's -inf (bf16 training keeps a float32
/// default).
pub(crate) fn in_dtype(bias: Tensor<4>, dtype: DType) -> Tensor<4> {
    let from = bias.dtype();
    if from == dtype {
        return bias;
    }
    let masked = bias.clone().lower_equal_elem(mask_value(from) / 2.0);
    bias.cast(dtype).mask_fill(masked, mask_value(dtype))
}
