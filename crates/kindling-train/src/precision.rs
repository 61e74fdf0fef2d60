//! bf16 training with float32 master weights. Burn has no automatic mixed precision, so this is
//! the part of it kindling needs.
//!
//! The model the optimizer updates keeps float32 parameters (the master weights). Each forward
//! pass runs on a view whose parameters are bf16 casts of them, made inside the autodiff graph:
//! every matmul, activation and layer norm runs in bf16, the backward pass flows back through
//! the casts, and the gradients arrive in float32 on the master parameters, where AdamW updates
//! them. Losses are computed in float32 (see `kindling_heads::loss`). bf16 has float32's
//! exponent range, so unlike f16 it needs no loss scaling; f16 training is not offered.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

use crate::error::TrainError;

/// Casts every float parameter, keeping its id (so gradients and optimizer state still match).
struct CastParameters(FloatDType);

impl ModuleMapper for CastParameters {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// `model` with bf16 parameters, differentiable back to its float32 ones.
pub fn bf16_view<M: Module>(model: &M) -> M {
    model.clone().map(&mut CastParameters(FloatDType::BF16))
}

/// Checks that `device` can compute in bf16 and keeps float32 as its default (master weights).
pub fn check_bf16_device(device: &Device) -> Result<(), TrainError> {
    if !device.supports_dtype(FloatDType::BF16) {
        return Err(TrainError::Precision(format!(
            "--bf16: the device {device:?} cannot compute in bfloat16"
        )));
    }
    let default = DType::from(device.settings().float_dtype);
    if default != DType::F32 {
        return Err(TrainError::Precision(format!(
            "--bf16 keeps float32 master weights, but the device computes in {default:?} by default"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;

    use super::*;

    #[test]
    fn gradients_flow_through_the_casts_to_float32_master_weights() {
        let device = Device::flex().autodiff();
        check_bf16_device(&device).unwrap();
        let model: Linear = LinearConfig::new(4, 3).init(&device);
        let view = bf16_view(&model);
        assert_eq!(view.weight.val().dtype(), DType::BF16);
        assert_eq!(view.weight.id, model.weight.id);
        let x = Tensor::<2>::ones([2, 4], &device).cast(FloatDType::BF16);
        let loss = view.forward(x).cast(FloatDType::F32).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let grad = grads
            .get::<2>(model.weight.id)
            .expect("the float32 master weight has a gradient");
        assert_eq!(grad.dtype(), DType::F32);
        // d(sum(xW + b))/dW is 2 (two rows of ones) everywhere.
        let values: Vec<f32> = grad.into_data().try_to_vec().unwrap();
        assert!(values.iter().all(|v| (v - 2.0).abs() < 1e-6), "{values:?}");
    }
}
