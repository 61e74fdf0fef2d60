//! `kindling_kernels::linear` in training: kindling's autodiff operation on Flex (with the
//! `flex` feature) against Burn's own `Linear` on NdArray, the output and the gradients of the
//! input, the weight and the bias. The shapes are large enough for the products to run on the
//! thread pool.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use kindling_kernels::linear;

mod common;

use common::{max_difference, ndarray, read, tensor, values};

const BATCH: usize = 4;
const SEQ: usize = 64;
const D_IN: usize = 72;
const D_OUT: usize = 100;

/// `Σ w ⊙ linear(x)` on `device`, and its output with the gradients of `x` (when it is
/// tracked), the weight and the bias (when the layer has one).
fn run(device: &Device, bias: bool, track_input: bool) -> Vec<Vec<f32>> {
    let layer = Linear {
        weight: Param::from_tensor(tensor(values(D_IN * D_OUT, 1), [D_IN, D_OUT], device)),
        bias: bias.then(|| Param::from_tensor(tensor(values(D_OUT, 2), [D_OUT], device))),
    };
    let mut x = tensor(values(BATCH * SEQ * D_IN, 3), [BATCH, SEQ, D_IN], device);
    if track_input {
        x = x.require_grad();
    }
    let out = linear(x.clone(), &layer);
    let w = tensor(values(BATCH * SEQ * D_OUT, 4), [BATCH, SEQ, D_OUT], device);
    let grads = (out.clone() * w).sum().backward();
    let mut found = vec![read(out)];
    if track_input {
        found.push(read(x.grad(&grads).expect("the input has a gradient")));
    } else {
        assert!(
            x.grad(&grads).is_none(),
            "an untracked input has no gradient"
        );
    }
    found.push(read(
        layer
            .weight
            .grad(&grads)
            .expect("the weight has a gradient"),
    ));
    if let Some(bias) = &layer.bias {
        found.push(read(bias.grad(&grads).expect("the bias has a gradient")));
    }
    found
}

#[test]
fn training_gradients_match_burns_linear() {
    let (flex, ndarray) = (Device::flex().autodiff(), ndarray().autodiff());
    for bias in [true, false] {
        for track_input in [true, false] {
            let kernel = run(&flex, bias, track_input);
            let burn = run(&ndarray, bias, track_input);
            assert_eq!(kernel.len(), burn.len());
            for (which, (a, b)) in kernel.iter().zip(&burn).enumerate() {
                let worst = max_difference(a, b);
                assert!(
                    worst < 1e-4,
                    "bias {bias}, input tracked {track_input}, output/grad {which}: max |Δ| {worst}"
                );
            }
        }
    }
}
