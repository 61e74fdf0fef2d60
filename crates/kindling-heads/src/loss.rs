//! Losses as `transformers` computes them. Burn's cross-entropy has no ignore index, so the
//! `-100` masking is here.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{DType, FloatDType};

use crate::error::HeadError;

/// The label value cross-entropy skips (`torch.nn.CrossEntropyLoss`'s default `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Losses are computed in float32 whatever the logits' dtype, as PyTorch's autocast keeps
/// `log_softmax` and the reductions in float32: a half-precision sum over a batch loses digits.
fn to_f32<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    if tensor.dtype() == DType::F32 {
        tensor
    } else {
        tensor.cast(FloatDType::F32)
    }
}

/// Mean cross-entropy of `logits [n, classes]` against `labels [n]`, over the labels that are
/// not `ignore_index`. Like PyTorch, the mean of no labels is NaN. Computed in float32.
pub fn cross_entropy_with_ignore(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    ignore_index: i64,
) -> Result<Tensor<1>, HeadError> {
    let [n, classes] = logits.dims();
    let [m] = labels.dims();
    if n != m {
        return Err(HeadError::LabelShape {
            labels: vec![m],
            outputs: vec![n, classes],
            message: "one label per row".into(),
        });
    }
    let keep = labels.clone().not_equal_elem(ignore_index);
    // Ignored rows pick class 0; their term is zeroed below.
    let safe = labels.mask_fill(keep.clone().bool_not(), 0);
    let log_probs = log_softmax(to_f32(logits), 1);
    let picked = log_probs.gather(1, safe.reshape([n, 1])).reshape([n]);
    let keep = keep.float();
    let count = keep.clone().sum();
    Ok((picked * keep).sum().neg() / count)
}

/// Mean binary cross-entropy with logits (`BCEWithLogitsLoss`), numerically stable, in float32.
pub fn binary_cross_entropy_with_logits(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let (logits, targets) = (to_f32(logits), to_f32(targets));
    // t*log σ(x) + (1-t)*log σ(-x)
    let positive = log_sigmoid(logits.clone()) * targets.clone();
    let negative = log_sigmoid(logits.neg()) * (targets.neg() + 1.0);
    (positive + negative).mean().neg()
}

/// Mean squared error (`MSELoss`), in float32.
pub fn mean_squared_error<const D: usize>(predictions: Tensor<D>, targets: Tensor<D>) -> Tensor<1> {
    (to_f32(predictions) - to_f32(targets))
        .powi_scalar(2)
        .mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_labels_do_not_count() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]], &device);
        let labels = Tensor::<1, Int>::from_data([0, -100, 1], &device);
        let loss = cross_entropy_with_ignore(logits, labels, IGNORE_INDEX).unwrap();
        // -(log softmax([2,0])[0] + log softmax([5,-5])[1]) / 2
        let a = -(2.0f64 - (2.0f64.exp() + 1.0).ln());
        let b = -(-5.0f64 - (5.0f64.exp() + (-5.0f64).exp()).ln());
        let expected = (a + b) / 2.0;
        let got = loss.into_scalar::<f64>();
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn bce_matches_the_formula() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[0.5, -1.0]], &device);
        let targets = Tensor::<2>::from_data([[1.0, 0.0]], &device);
        let got = binary_cross_entropy_with_logits(logits, targets).into_scalar::<f64>();
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let expected = -((s(0.5)).ln() + (1.0 - s(-1.0)).ln()) / 2.0;
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }
}
