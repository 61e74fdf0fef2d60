//! Choosing a Burn device from a string (`--device` on every command).
//!
//! Strings: `flex`, `ndarray`, `wgpu`, `vulkan`, `tch` (LibTorch CPU), `tch:cuda:N`,
//! `cuda:N`, and `default` (Burn's choice, overridable with `BURN_DEVICE`). A backend whose
//! Cargo feature was not built is a clear error naming the feature.

use burn::prelude::Device;
use burn::tensor::FloatDType;

use crate::error::KindlingError;

/// The device strings [`parse_device`] accepts.
pub const DEVICE_HELP: &str = "flex, ndarray, wgpu, vulkan, tch, tch:cuda:N, cuda:N, default";

fn not_built(spec: &str, feature: &str) -> KindlingError {
    KindlingError::Device {
        spec: spec.to_string(),
        message: format!(
            "this build has no `{feature}` backend; rebuild with `--features {feature}`"
        ),
    }
}

fn index(spec: &str, text: &str) -> Result<usize, KindlingError> {
    text.parse().map_err(|_| KindlingError::Device {
        spec: spec.to_string(),
        message: format!("`{text}` is not a device index"),
    })
}

/// Runs `f` where `device` computes best: on a worker of the flex kernels' thread pool for the
/// flex device, so that their parallel passes do not wake the calling thread at each end (5%
/// of a MiniLM int8 forward on two cores); on the calling thread for any other device. Every
/// command runs its model through it.
pub use kindling_body::kernels::on_compute_threads;

/// The precisions `--dtype` accepts: the float ones of [`with_float_dtype`], and `int8`
/// ([`with_dtype`]).
pub const DTYPE_HELP: &str = "f32, f16, bf16, int8";

/// Whether `spec` names int8 (`int8`, `i8`, `qint8`).
pub fn is_int8(spec: &str) -> bool {
    matches!(
        spec.trim().to_ascii_lowercase().as_str(),
        "int8" | "i8" | "qint8"
    )
}

/// `--dtype` applied to `device`: a float precision sets the device's ([`with_float_dtype`]);
/// `int8` keeps it in float32 and returns `true`: load the model with its linear layers
/// quantized (per-channel int8 weights, per-row dynamic int8 activations, int32 sums), which
/// only the flex device runs.
pub fn with_dtype(device: Device, spec: &str) -> Result<(Device, bool), KindlingError> {
    if !is_int8(spec) {
        return Ok((with_float_dtype(device, spec)?, false));
    }
    if !kindling_body::kernels::is_flex_device(&device) {
        return Err(KindlingError::Device {
            spec: format!("{device:?}"),
            message: "int8 runs on the flex device only (--device flex)".into(),
        });
    }
    Ok((device, true))
}

/// `device` computing in the float precision `spec` (`f32`, `f16`, `bf16`): every float tensor
/// made on it afterwards, checkpoint weights included (they are cast on load), takes that dtype.
///
/// Must come before anything runs on the device, and once per device and process (Burn fixes a
/// device's dtypes at first use); a backend without that dtype is an error naming it.
pub fn with_float_dtype(device: Device, spec: &str) -> Result<Device, KindlingError> {
    let dtype = match spec.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" | "fp32" => return Ok(device),
        "f16" | "float16" | "fp16" | "half" => FloatDType::F16,
        "bf16" | "bfloat16" => FloatDType::BF16,
        _ => {
            return Err(KindlingError::Device {
                spec: spec.to_string(),
                message: format!("unknown dtype; expected one of {DTYPE_HELP}"),
            });
        }
    };
    let mut device = device;
    device.configure(dtype).map_err(|e| KindlingError::Device {
        spec: format!("{device:?}"),
        message: format!("cannot compute in {spec}: {e}"),
    })?;
    Ok(device)
}

/// The backends compiled into this build.
pub fn built_backends() -> Vec<&'static str> {
    let mut built = Vec::new();
    if cfg!(feature = "flex") {
        built.push("flex");
    }
    if cfg!(feature = "ndarray") {
        built.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        built.push("wgpu");
    }
    if cfg!(feature = "vulkan") {
        built.push("vulkan");
    }
    if cfg!(feature = "tch") {
        built.push("tch");
    }
    if cfg!(feature = "cuda") {
        built.push("cuda");
    }
    built
}

/// Parses a device string.
// ndarray and LibTorch are deprecated upstream but are backends this project serves; the
// deprecation is acknowledged here, where devices are chosen, and nowhere else.
#[allow(deprecated, unreachable_code)]
pub fn parse_device(spec: &str) -> Result<Device, KindlingError> {
    let lower = spec.trim().to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(':').collect();
    match parts.as_slice() {
        ["default"] => Ok(Device::default()),
        ["flex"] => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            Err(not_built(spec, "flex"))
        }
        ["ndarray"] => {
            #[cfg(feature = "ndarray")]
            return Ok(Device::ndarray());
            Err(not_built(spec, "ndarray"))
        }
        ["wgpu"] => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(Default::default()));
            Err(not_built(spec, "wgpu"))
        }
        ["vulkan"] => {
            #[cfg(feature = "vulkan")]
            return Ok(Device::vulkan(Default::default()));
            Err(not_built(spec, "vulkan"))
        }
        ["tch"] | ["tch", "cpu"] => {
            #[cfg(feature = "tch")]
            return Ok(Device::libtorch());
            Err(not_built(spec, "tch"))
        }
        ["tch", "cuda", n] => {
            let _n = index(spec, n)?;
            #[cfg(feature = "tch")]
            return Ok(Device::libtorch_cuda(_n));
            Err(not_built(spec, "tch"))
        }
        ["cuda", n] => {
            let _n = index(spec, n)?;
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(_n));
            Err(not_built(spec, "cuda"))
        }
        ["cuda"] => parse_device("cuda:0"),
        _ => Err(KindlingError::Device {
            spec: spec.to_string(),
            message: format!("unknown device; expected one of {DEVICE_HELP}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_device_names_the_choices() {
        let err = parse_device("tpu").unwrap_err().to_string();
        assert!(err.contains("tpu") && err.contains("flex"), "{err}");
    }

    #[test]
    fn bad_index_is_an_error() {
        let err = parse_device("cuda:x").unwrap_err().to_string();
        assert!(err.contains("`x` is not a device index"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn unbuilt_backend_names_the_feature() {
        let err = parse_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_parses() {
        assert!(parse_device("flex").is_ok());
    }
}
