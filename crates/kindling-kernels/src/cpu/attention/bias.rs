//! The bias of one attention call on slices, and the score rows it fills.

use super::AttentionShape;
use crate::cpu::softmax::fill_bias;

/// What one attention call adds to its scores, on slices (the kernel form of
/// `AttentionBias`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreBias<'a> {
    /// `[batch, seq_k]`: 0 at real keys, `f32::MIN` at padding.
    pub key_padding: Option<&'a [f32]>,
    /// Added to every score.
    pub additive: Option<Additive<'a>>,
    /// Key `j` is visible from query `i` iff `|i - j| <= half_window`.
    pub half_window: Option<usize>,
}

/// An additive bias `[batches, heads, seq_q, seq_k]`, row-major, where `batches` is 1 or the
/// batch and `heads` 1 or the heads (a size-1 dimension broadcasts).
#[derive(Debug, Clone, Copy)]
pub struct Additive<'a> {
    /// The values.
    pub values: &'a [f32],
    /// 1 or the batch.
    pub batches: usize,
    /// 1 or the number of heads.
    pub heads: usize,
}

impl<'a> ScoreBias<'a> {
    /// Sequence `b`'s key padding, `None` when it has none (no key of `b` is padded, so
    /// adding it would change nothing).
    pub(super) fn padding_of(&self, b: usize, seq_k: usize) -> Option<&'a [f32]> {
        let padding = &self.key_padding?[b * seq_k..(b + 1) * seq_k];
        padding.iter().any(|&x| x != 0.0).then_some(padding)
    }

    /// Row `i` of the additive bias of sequence `b` and head `h`, all `seq_k` keys.
    fn additive_row(
        &self,
        shape: AttentionShape,
        b: usize,
        h: usize,
        i: usize,
    ) -> Option<&'a [f32]> {
        let additive = self.additive?;
        let b = if additive.batches == 1 { 0 } else { b };
        let h = if additive.heads == 1 { 0 } else { h };
        let row = ((b * additive.heads + h) * shape.seq_q + i) * shape.seq_k;
        Some(&additive.values[row..row + shape.seq_k])
    }

    /// Writes the bias of rows `first_row..` of task `(b, h)` over keys
    /// `first_key..first_key + width` into `scores` (`width` a row), or returns `false`
    /// when there is none to add.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill(
        &self,
        shape: AttentionShape,
        b: usize,
        h: usize,
        first_row: usize,
        first_key: usize,
        width: usize,
        scores: &mut [f32],
    ) -> bool {
        let padding = self.padding_of(b, shape.seq_k);
        if padding.is_none() && self.additive.is_none() {
            return false;
        }
        let keys = first_key..first_key + width;
        let padding = padding.map(|p| &p[keys.clone()]);
        for (r, row) in scores.chunks_exact_mut(width).enumerate() {
            let additive = self
                .additive_row(shape, b, h, first_row + r)
                .map(|a| &a[keys.clone()]);
            fill_bias(row, additive, padding);
        }
        true
    }
}
