//! Dropout masks from a counter-based hash: any chunk of a mask can be made (or remade, in the
//! backward pass) on its own, in parallel, from the mask's key and the chunk's first index.

/// A 32-bit hash of `index` under `key` (a multiply to spread the counter, then MurmurHash3's
/// finalizer): independent-looking bits for each element, computed in any order.
#[inline(always)]
fn hash32(index: u32, key: u64) -> u32 {
    let mut x = (index ^ key as u32).wrapping_mul(0x9e37_79b1) ^ (key >> 32) as u32;
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^ (x >> 16)
}

/// Calls `combine(value, m)` for each element `first_index + i` of `values`, with `m` its mask
/// value: `scale` where `hash(index, key) < threshold` (kept), else 0.
#[inline(always)]
fn with_mask(
    values: &mut [f32],
    first_index: u64,
    key: u64,
    threshold: u32,
    scale: f32,
    combine: impl Fn(&mut f32, f32),
) {
    let first = first_index as u32;
    for (i, value) in values.iter_mut().enumerate() {
        let kept = hash32(first.wrapping_add(i as u32), key) < threshold;
        combine(value, if kept { scale } else { 0.0 });
    }
}

dispatch!(
    /// Fills `mask` with the dropout mask of elements `first_index..`: `scale` where
    /// `hash(index, key) < threshold` (kept), else 0.
    dropout_mask(mask: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    with_mask(mask, first_index, key, threshold, scale, |v, m| *v = m)
});

dispatch!(
    /// Multiplies `values` (elements `first_index..`) by the dropout mask of [`dropout_mask`].
    apply_dropout(values: &mut [f32], first_index: u64, key: u64, threshold: u32, scale: f32) {
    with_mask(values, first_index, key, threshold, scale, |v, m| *v *= m)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_masks_keep_the_asked_share_and_depend_on_the_key() {
        let keep = 0.9f64;
        let threshold = (keep * 4_294_967_296.0) as u32;
        let mut mask = vec![0.0f32; 1 << 20];
        dropout_mask(&mut mask, 0, 42, threshold, 2.0);
        let kept = mask.iter().filter(|&&v| v == 2.0).count();
        assert_eq!(
            kept + mask.iter().filter(|&&v| v == 0.0).count(),
            mask.len()
        );
        let share = kept as f64 / mask.len() as f64;
        assert!((share - keep).abs() < 2e-3, "kept {share}");
        // Neighbours are not correlated: pairs of drops occur at the independent rate.
        let both = mask
            .windows(2)
            .filter(|w| w[0] == 0.0 && w[1] == 0.0)
            .count();
        let rate = both as f64 / (mask.len() - 1) as f64;
        assert!((rate - 0.01).abs() < 1e-3, "adjacent drops {rate}");
        // A chunk computed on its own equals the same range of the whole.
        let mut part = vec![0.0f32; 1000];
        dropout_mask(&mut part, 5000, 42, threshold, 2.0);
        assert_eq!(part, mask[5000..6000]);
        let mut other = vec![0.0f32; 1 << 20];
        dropout_mask(&mut other, 0, 43, threshold, 2.0);
        assert_ne!(other, mask);
    }
}
