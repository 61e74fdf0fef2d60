//! `kindling_kernels::relative_scores` (DeBERTa's gathered relative terms) and a layer norm
//! without beta (ModernBERT's): kindling's kernels on Flex (with the `flex` feature) against
//! Burn's own operations on NdArray.

use burn::nn::LayerNormConfig;
use burn::prelude::*;
use kindling_kernels::{RelativeIndex, RelativeTerm, add_layer_norm, relative_scores};

mod common;

use common::{max_difference, ndarray, read, tensor, values};

/// Both terms, either alone, with a clamped, non-square index as DeBERTa's buckets give.
#[test]
fn relative_scores_agree_across_backends() {
    let (batch, seq, heads, head_dim, rows) = (2, 9, 3, 4, 6);
    let hidden = heads * head_dim;
    let c2p: Vec<u32> = (0..seq * seq)
        .map(|e| ((e / seq) as i64 - (e % seq) as i64 + 3).clamp(0, rows as i64 - 1) as u32)
        .collect();
    let p2c: Vec<u32> = (0..seq * seq)
        .map(|e| ((e * 7 + 1) % rows) as u32)
        .collect();
    let c2p = RelativeIndex::new(seq, rows, c2p).unwrap();
    let p2c = RelativeIndex::new(seq, rows, p2c).unwrap();
    let run = |device: &Device, which: (bool, bool)| {
        let content = |seed| {
            tensor(
                values(batch * seq * hidden, seed),
                [batch, seq, hidden],
                device,
            )
        };
        let positions = |seed| tensor(values(rows * hidden, seed), [rows, hidden], device);
        let (query, key) = (content(1), content(2));
        let mut terms = Vec::new();
        if which.0 {
            terms.push(RelativeTerm {
                content: &query,
                positions: positions(3),
                index: &c2p,
                by_key: false,
            });
        }
        if which.1 {
            terms.push(RelativeTerm {
                content: &key,
                positions: positions(4),
                index: &p2c,
                by_key: true,
            });
        }
        read(relative_scores(&terms, heads, 0.25).unwrap())
    };
    for which in [(true, true), (true, false), (false, true)] {
        let fast = run(&Device::flex(), which);
        let reference = run(&ndarray(), which);
        let difference = max_difference(&fast, &reference);
        assert!(difference < 1e-5, "{which:?}: max |Δ| {difference}");
    }
}

#[test]
fn no_terms_give_no_scores() {
    assert!(relative_scores(&[], 2, 1.0).is_none());
}

#[test]
fn layer_norm_without_beta_agrees_across_backends() {
    let (rows, width) = (5, 24);
    let run = |device: &Device| {
        let mut layer = LayerNormConfig::new(width)
            .with_bias(false)
            .with_epsilon(1e-5)
            .init(device);
        layer.gamma = burn::module::Param::from_tensor(tensor(values(width, 7), [width], device));
        let x = tensor(values(rows * width, 8), [rows, width], device);
        let residual = tensor(values(rows * width, 9), [rows, width], device);
        read(add_layer_norm(x, Some(residual), &layer, 1e-5))
    };
    let difference = max_difference(&run(&Device::flex()), &run(&ndarray()));
    assert!(difference < 1e-5, "max |Δ| {difference}");
}
