//! `kindling_kernels::attention` with every combination of bias parts: kindling's kernel on Flex
//! (with the `flex` feature) against Burn's own operations on NdArray, which take the bias
//! materialized, in inference and in training (the gradients of query, key and value).

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use burn::tensor::DType;
use kindling_kernels::{AttentionBias, attention, mask_value};

const BATCH: usize = 2;
const SEQ: usize = 12;
const HEADS: usize = 3;
const HEAD_DIM: usize = 4;
const HIDDEN: usize = HEADS * HEAD_DIM;

mod common;

use common::{max_difference, ndarray, read, tensor, values};

/// One combination of bias parts: sequence 0 has 9 real tokens, sequence 1 none at all (its
/// rows see only padding); the additive bias is `[batches, heads, SEQ, SEQ]`.
#[derive(Debug, Clone, Copy)]
struct Case {
    padding: bool,
    additive: Option<(usize, usize)>,
    window: Option<usize>,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut cases = Vec::new();
        for padding in [false, true] {
            for additive in [
                None,
                Some((BATCH, HEADS)),
                Some((1, HEADS)),
                Some((BATCH, 1)),
            ] {
                for window in [None, Some(4)] {
                    cases.push(Case {
                        padding,
                        additive,
                        window,
                    });
                }
            }
        }
        cases
    }

    fn bias(&self, device: &Device) -> Option<AttentionBias> {
        let mut bias = AttentionBias::new();
        if self.padding {
            let mask: Vec<i64> = (0..BATCH * SEQ)
                .map(|i| i64::from(i / SEQ == 0 && i % SEQ < 9))
                .collect();
            let mask = Tensor::<2, Int>::from_data(TensorData::new(mask, [BATCH, SEQ]), device);
            bias = AttentionBias::from_attention_mask(mask);
        }
        if let Some((batches, heads)) = self.additive {
            let n = batches * heads * SEQ * SEQ;
            let additive = values(n, 9).into_iter().map(|x| 2.0 * x).collect();
            bias = bias.with_additive(tensor(additive, [batches, heads, SEQ, SEQ], device));
        }
        if let Some(window) = self.window {
            bias = bias.with_sliding_window(window);
        }
        (!bias.is_empty()).then_some(bias)
    }
}

fn inputs(device: &Device) -> [Tensor<3>; 3] {
    [1, 2, 3].map(|seed| {
        tensor(
            values(BATCH * SEQ * HIDDEN, seed),
            [BATCH, SEQ, HIDDEN],
            device,
        )
    })
}

fn no_dropout() -> Dropout {
    DropoutConfig::new(0.0).init()
}

#[test]
fn the_kernel_matches_burns_operations_for_every_bias() {
    let (flex, ndarray) = (Device::flex(), ndarray());
    for case in Case::all() {
        let run = |device: &Device| {
            let [q, k, v] = inputs(device);
            let bias = case.bias(device);
            read(attention(q, k, v, bias.as_ref(), HEADS, &no_dropout()))
        };
        let worst = max_difference(&run(&flex), &run(&ndarray));
        assert!(worst < 1e-5, "{case:?}: max |Δ| {worst}");
    }
}

#[test]
fn a_materialized_bias_gives_the_same_attention() {
    let device = Device::flex();
    for case in Case::all() {
        let Some(bias) = case.bias(&device) else {
            continue;
        };
        let [q, k, v] = inputs(&device);
        let parts = read(attention(
            q.clone(),
            k.clone(),
            v.clone(),
            Some(&bias),
            HEADS,
            &no_dropout(),
        ));
        let dense = bias
            .materialize(BATCH, SEQ, SEQ, DType::F32, &device)
            .expect("a bias");
        let dense = AttentionBias::from_additive(dense);
        let dense = read(attention(q, k, v, Some(&dense), HEADS, &no_dropout()));
        let worst = max_difference(&parts, &dense);
        assert!(worst < 1e-5, "{case:?}: max |Δ| {worst}");
    }
}

#[test]
fn scores_with_the_bias_applied_equal_the_materialized_bias() {
    let device = ndarray();
    for case in Case::all() {
        let Some(bias) = case.bias(&device) else {
            continue;
        };
        let scores = Tensor::<4>::zeros([BATCH, HEADS, SEQ, SEQ], &device);
        let applied = read(bias.apply_to_scores(scores.clone()));
        let dense = bias
            .materialize(BATCH, SEQ, SEQ, DType::F32, &device)
            .expect("a bias");
        let dense = read(scores + dense);
        assert_eq!(applied, dense, "{case:?}");
    }
}

#[test]
fn a_row_that_sees_no_real_key_averages_the_values() {
    let device = Device::flex();
    let mask = Tensor::<2, Int>::zeros([BATCH, SEQ], &device);
    let bias = AttentionBias::from_attention_mask(mask).with_sliding_window(4);
    let [q, k, v] = inputs(&device);
    let out = attention(q, k, v.clone(), Some(&bias), HEADS, &no_dropout());
    let mean = v.mean_dim(1).expand([BATCH, SEQ, HIDDEN]);
    let worst = max_difference(&read(out), &read(mean));
    assert!(worst < 1e-6, "max |Δ| {worst}");
}

#[test]
fn lowest_values_survive_a_change_of_dtype() {
    let device = Device::flex();
    let mask = Tensor::<2, Int>::from_data([[1, 1, 0]], &device);
    let bias = AttentionBias::from_attention_mask(mask);
    let dense = bias
        .materialize(1, 2, 3, DType::F16, &device)
        .expect("a bias")
        .cast(DType::F32);
    let dense = read(dense);
    assert_eq!(dense, [0.0, 0.0, -65504.0, 0.0, 0.0, -65504.0]);
    assert_eq!(mask_value(DType::F16), -65504.0);
}

/// `Σ w ⊙ attention(q, k, v)` and the gradients of `q`, `k`, `v` on an autodiff device.
fn gradients(case: &Case, device: &Device) -> [Vec<f32>; 4] {
    let [q, k, v] = inputs(device).map(Tensor::require_grad);
    let w = tensor(
        values(BATCH * SEQ * HIDDEN, 4),
        [BATCH, SEQ, HIDDEN],
        device,
    );
    let bias = case.bias(device);
    let out = attention(
        q.clone(),
        k.clone(),
        v.clone(),
        bias.as_ref(),
        HEADS,
        &no_dropout(),
    );
    let grads = (out.clone() * w).sum().backward();
    let grad = |x: &Tensor<3>| read(x.grad(&grads).expect("a gradient"));
    [read(out), grad(&q), grad(&k), grad(&v)]
}

#[test]
fn training_gradients_match_burns_autodiff_for_every_bias() {
    let (flex, ndarray) = (Device::flex().autodiff(), ndarray().autodiff());
    for case in Case::all() {
        let kernel = gradients(&case, &flex);
        let burn = gradients(&case, &ndarray);
        for (which, (a, b)) in kernel.iter().zip(&burn).enumerate() {
            let worst = max_difference(a, b);
            assert!(
                worst < 2e-5,
                "{case:?} output/grad {which}: max |Δ| {worst}"
            );
        }
    }
}

#[test]
fn a_tracked_additive_bias_gets_its_gradient() {
    let run = |device: &Device| {
        let [q, k, v] = inputs(device);
        let additive = tensor(values(HEADS * SEQ * SEQ, 9), [1, HEADS, SEQ, SEQ], device);
        let additive = additive.require_grad();
        let bias = AttentionBias::from_additive(additive.clone()).with_sliding_window(6);
        let out = attention(q, k, v, Some(&bias), HEADS, &no_dropout());
        let w = tensor(
            values(BATCH * SEQ * HIDDEN, 4),
            [BATCH, SEQ, HIDDEN],
            device,
        );
        let grads = (out * w).sum().backward();
        read(
            additive
                .grad(&grads)
                .expect("the additive bias has a gradient"),
        )
    };
    let kernel = run(&Device::flex().autodiff());
    let burn = run(&ndarray().autodiff());
    let worst = max_difference(&kernel, &burn);
    assert!(worst < 1e-5, "max |Δ| {worst}");
    assert!(kernel.iter().any(|&g| g != 0.0));
}
