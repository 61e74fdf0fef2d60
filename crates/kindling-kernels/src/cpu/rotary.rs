//! Rotary position embeddings on slices, `rotate_half` convention: the halves `(x₁, x₂)` of a
//! head become `(x₁ cos - x₂ sin, x₂ cos + x₁ sin)`, with the angles repeated over both halves.

#[inline(always)]
fn rotate_heads_body(out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32]) {
    let head_dim = cos.len();
    let half = head_dim / 2;
    for (out, x) in out.chunks_exact_mut(head_dim).zip(x.chunks_exact(head_dim)) {
        let (x1, x2) = x.split_at(half);
        let (o1, o2) = out.split_at_mut(half);
        let (c1, c2) = cos.split_at(half);
        let (s1, s2) = sin.split_at(half);
        for j in 0..half {
            o1[j] = x1[j] * c1[j] + -x2[j] * s1[j];
            o2[j] = x2[j] * c2[j] + x1[j] * s2[j];
        }
    }
}

dispatch!(
    /// Rotates every head of one row: `x` and `out` are `heads · head_dim` wide, `cos` and
    /// `sin` `head_dim` (the row's position).
    rotate_heads(out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32]) {
    rotate_heads_body(out, x, cos, sin)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_each_pair_of_halves_by_its_angle() {
        // Two heads of width 4; angles a (first frequency) and b (second), repeated.
        let (a, b) = (0.3f32, 1.1f32);
        let cos = [a.cos(), b.cos(), a.cos(), b.cos()];
        let sin = [a.sin(), b.sin(), a.sin(), b.sin()];
        let x = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.0];
        let mut out = [0.0; 8];
        rotate_heads(&mut out, &x, &cos, &sin);
        for head in 0..2 {
            let x = &x[head * 4..head * 4 + 4];
            let o = &out[head * 4..head * 4 + 4];
            for (j, angle) in [a, b].into_iter().enumerate() {
                let (c, s) = (angle.cos(), angle.sin());
                assert!((o[j] - (x[j] * c - x[j + 2] * s)).abs() < 1e-6);
                assert!((o[j + 2] - (x[j + 2] * c + x[j] * s)).abs() < 1e-6);
            }
        }
    }
}
