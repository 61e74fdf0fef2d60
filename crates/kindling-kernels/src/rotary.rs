//! Rotary position embeddings (RoPE) on a fused query/key/value projection.

use burn::prelude::*;

/// The query, key and value of a fused projection `qkv` (`[batch, seq, 3 · heads · head_dim]`,
/// the three side by side), query and key rotated by `cos` and `sin`
/// (`[batch or 1, seq, 1, head_dim]`, the angles repeated over both halves of a head) in the
/// `rotate_half` convention: `x · cos + rotate_half(x) · sin`, where `rotate_half` maps the
/// halves `(x₁, x₂)` of each head to `(-x₂, x₁)`.
///
/// On Flex in float32 without autodiff, one pass per row writes the three contiguous
/// outputs; elsewhere Burn's operations (slices, a concatenation and four element-wise
/// passes).
///
/// # Panics
/// When the last dimension of `qkv` is not three times a multiple of `head_dim`.
pub fn split_rotary_qkv(
    qkv: Tensor<3>,
    cos: &Tensor<4>,
    sin: &Tensor<4>,
) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
    #[cfg(feature = "flex")]
    let qkv = match crate::flex::split_rotary_qkv(qkv, cos, sin) {
        Ok(parts) => return parts,
        Err(qkv) => qkv,
    };
    let [batch, seq, three] = qkv.dims();
    let head_dim = cos.dims()[3];
    let hidden = three / 3;
    assert!(
        three.is_multiple_of(3) && hidden.is_multiple_of(head_dim),
        "split_rotary_qkv: width {three} is not 3 · heads · {head_dim}"
    );
    let part = |k: usize| {
        qkv.clone()
            .slice([0..batch, 0..seq, k * hidden..(k + 1) * hidden])
    };
    let rotate = |x: Tensor<3>| {
        let heads = hidden / head_dim;
        let half = head_dim / 2;
        let dims = [batch, seq, heads, head_dim];
        let x = x.reshape(dims);
        let first = x.clone().slice([0..batch, 0..seq, 0..heads, 0..half]);
        let second = x
            .clone()
            .slice([0..batch, 0..seq, 0..heads, half..head_dim]);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        (x * cos.clone().expand(dims) + rotated * sin.clone().expand(dims))
            .reshape([batch, seq, hidden])
    };
    (rotate(part(0)), rotate(part(1)), part(2))
}
