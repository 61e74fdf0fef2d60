//! Quantized checkpoints: compressed-tensors' `int-quantized` format, the int8 layout
//! `transformers` loads (`quantization_config.quant_method: "compressed-tensors"`).
//!
//! A quantized linear layer stores `weight` as int8 `[d_out, d_in]` and `weight_scale` as a
//! float `[d_out, 1]` (one symmetric scale per output channel); config.json says how the
//! activations are quantized at run time. kindling reads and writes the `W8A8` scheme its
//! `--dtype int8` computes (int8 activations per token, dynamic) and the weight-only `W8A16`
//! one (float activations): any other scheme is refused with the field that differs.
//!
//! Reading dequantizes each int8 weight into the tensor map (so every loader, name mapping and
//! report works as for a float checkpoint) and keeps its exact int8 values beside it
//! ([`HfTensor::int8`](crate::HfTensor::int8)): on the flex device the layers get those values as they are, elsewhere
//! they run in float on the dequantized weights.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::DType;
use kindling_body::HfConfig;
use kindling_body::kernels::{Int8Values, LinearInt8};
use serde_json::{Value, json};

use crate::error::ImportError;
use crate::tensors::TensorMap;

/// The `quantization_config.quant_method` of a compressed-tensors checkpoint.
pub const QUANT_METHOD: &str = "compressed-tensors";
/// The compressed-tensors format of plain int8 weights with per-channel scales.
pub const INT_QUANTIZED: &str = "int-quantized";

/// How a quantized checkpoint's activations are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Scheme {
    /// Int8 weights and int8 activations, quantized per token at run time (`W8A8`).
    W8A8,
    /// Int8 weights, float activations (`W8A16`): the layers run in float on the dequantized
    /// weights.
    W8A16,
}

fn config_error(dir: &Path, message: String) -> ImportError {
    ImportError::Quantization {
        path: dir.join("config.json"),
        message,
    }
}

/// The scheme of a checkpoint's `quantization_config`, `None` when it has none; a config
/// kindling cannot run is an error naming the field.
pub fn quantization_scheme(
    config: &HfConfig,
    dir: &Path,
) -> Result<Option<Int8Scheme>, ImportError> {
    let Some(q) = config.extra.get("quantization_config") else {
        return Ok(None);
    };
    let field = |name: &str| q.get(name).and_then(Value::as_str);
    let method = field("quant_method").unwrap_or_default();
    if method != QUANT_METHOD {
        return Err(config_error(
            dir,
            format!(
                "quantization_config.quant_method is `{method}`; kindling reads `{QUANT_METHOD}` \
                 checkpoints in the `{INT_QUANTIZED}` format"
            ),
        ));
    }
    let groups = q
        .get("config_groups")
        .and_then(Value::as_object)
        .filter(|g| !g.is_empty())
        .ok_or_else(|| config_error(dir, "quantization_config.config_groups is missing".into()))?;
    let mut scheme = None;
    for (name, group) in groups {
        let at = format!("quantization_config.config_groups.{name}");
        let format = group
            .get("format")
            .and_then(Value::as_str)
            .or(field("format"))
            .unwrap_or_default();
        if format != INT_QUANTIZED {
            return Err(config_error(
                dir,
                format!("{at}.format is `{format}`; kindling reads `{INT_QUANTIZED}`"),
            ));
        }
        check_args(
            dir,
            &format!("{at}.weights"),
            group.get("weights"),
            "channel",
            false,
        )?;
        let this = match group.get("input_activations") {
            None | Some(Value::Null) => Int8Scheme::W8A16,
            args => {
                check_args(dir, &format!("{at}.input_activations"), args, "token", true)?;
                Int8Scheme::W8A8
            }
        };
        if let Some(output) = group.get("output_activations").filter(|v| !v.is_null()) {
            return Err(config_error(
                dir,
                format!("{at}.output_activations is {output}; kindling quantizes no outputs"),
            ));
        }
        if scheme.is_some_and(|s| s != this) {
            return Err(config_error(
                dir,
                "quantization_config mixes W8A8 and W8A16 groups".into(),
            ));
        }
        scheme = Some(this);
    }
    Ok(scheme)
}

/// Checks one `QuantizationArgs` object: 8-bit symmetric int, with the given strategy.
fn check_args(
    dir: &Path,
    at: &str,
    args: Option<&Value>,
    strategy: &str,
    dynamic: bool,
) -> Result<(), ImportError> {
    let args = args
        .filter(|a| a.is_object())
        .ok_or_else(|| config_error(dir, format!("{at} is missing")))?;
    let expect = |key: &str, wanted: Value| -> Result<(), ImportError> {
        let found = args.get(key).cloned().unwrap_or(Value::Null);
        if found == wanted {
            Ok(())
        } else {
            Err(config_error(
                dir,
                format!("{at}.{key} is {found}; kindling's int8 needs {wanted}"),
            ))
        }
    };
    expect("num_bits", json!(8))?;
    expect("type", json!("int"))?;
    expect("symmetric", json!(true))?;
    expect("strategy", json!(strategy))?;
    expect("dynamic", json!(dynamic))?;
    if let Some(size) = args.get("group_size").filter(|v| !v.is_null()) {
        return Err(config_error(
            dir,
            format!("{at}.group_size is {size}; kindling's int8 has one scale per channel"),
        ));
    }
    Ok(())
}

/// Replaces every int8 `*.weight` of `tensors` that has a `*.weight_scale` by its dequantized
/// float32 value, keeping the exact values in [`HfTensor::int8`](crate::HfTensor::int8); the
/// scales (and all-zero `*.weight_zero_point`s) leave the map.
pub(crate) fn dequantize_int8(tensors: &mut TensorMap) -> Result<(), ImportError> {
    let scales: Vec<String> = tensors
        .keys()
        .filter(|k| k.ends_with(".weight_scale"))
        .cloned()
        .collect();
    for scale_name in scales {
        let stem = scale_name.trim_end_matches("_scale").to_string();
        let scale = tensors.remove(&scale_name).expect("listed above");
        let bad = |message: String| ImportError::BadTensor {
            tensor: scale_name.clone(),
            path: scale.file.clone(),
            message,
        };
        let Some(weight) = tensors.get_mut(&stem) else {
            return Err(bad(format!("no `{stem}` beside it")));
        };
        let shape = weight.tensor.shape.to_vec();
        let [d_out, d_in] = shape[..] else {
            return Err(bad(format!(
                "`{stem}` is {shape:?}, not a 2-d linear weight"
            )));
        };
        if weight.tensor.dtype != DType::I8 {
            return Err(bad(format!(
                "`{stem}` is {:?}; an int-quantized weight is int8",
                weight.tensor.dtype
            )));
        }
        let scale_shape = scale.tensor.shape.to_vec();
        if scale_shape != [d_out, 1] && scale_shape != [d_out] {
            return Err(bad(format!(
                "shape {scale_shape:?}; `{stem}` [{d_out}, {d_in}] needs [{d_out}, 1] (one scale per output channel)"
            )));
        }
        let read = |t: &crate::HfTensor| {
            burn_store::bridge::to_data(&t.tensor).map_err(|e| ImportError::BadTensor {
                tensor: t.tensor.name.clone(),
                path: t.file.clone(),
                message: e.to_string(),
            })
        };
        let scales: Vec<f32> = read(&scale)?
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| bad(format!("{e:?}")))?;
        let values: Vec<i8> = read(weight)?
            .try_into_vec::<i8>()
            .map_err(|e| bad(format!("`{stem}`: {e:?}")))?;
        let exact = Int8Values {
            d_out,
            d_in,
            values,
            scales,
        };
        let data = TensorData::new(exact.dequantize(), [d_out, d_in]);
        weight.tensor = burn_store::bridge::from_data(data, stem.clone(), None);
        weight.int8 = Some(Arc::new(exact));
        let zero_point = format!("{stem}_zero_point");
        if let Some(zp) = tensors.get(&zero_point) {
            let all_zero = read(zp)?
                .convert::<f32>()
                .try_into_vec::<f32>()
                .is_ok_and(|v| v.iter().all(|z| *z == 0.0));
            if !all_zero {
                return Err(ImportError::BadTensor {
                    tensor: zero_point,
                    path: zp.file.clone(),
                    message: "non-zero zero points: kindling's int8 is symmetric".into(),
                });
            }
            tensors.remove(&zero_point);
        }
    }
    Ok(())
}

/// Whether any tensor of `tensors` came from int8.
pub(crate) fn has_int8(tensors: &TensorMap) -> bool {
    tensors.values().any(|t| t.int8.is_some())
}

/// Quantizes `module`'s linear layers for a load with int8 kernels: the layers a quantized
/// checkpoint stores in int8 take those values as they are, the others stay float; a float
/// checkpoint is quantized from its weights. `to_module_path` maps file names to the module's
/// burn-store paths.
pub(crate) fn apply_int8<M: burn::module::Module>(
    module: M,
    tensors: &TensorMap,
    to_module_path: impl Fn(&str) -> Option<String>,
) -> Result<M, ImportError> {
    if !has_int8(tensors) {
        return Ok(kindling_body::kernels::quantize_linears(module)?.0);
    }
    let exact: BTreeMap<String, Arc<Int8Values>> = tensors
        .iter()
        .filter_map(|(name, t)| Some((to_module_path(name)?, Arc::clone(t.int8.as_ref()?))))
        .collect();
    let (module, _) =
        kindling_body::kernels::quantize_linears_with(module, |path| match exact.get(path) {
            Some(values) => LinearInt8::Exact(Arc::clone(values)),
            None => LinearInt8::Keep,
        })?;
    Ok(module)
}

/// Whether a load runs the int8 kernels: when asked, or for a quantized checkpoint of the W8A8
/// scheme on the flex device (as `transformers` runs it quantized).
pub(crate) fn wants_int8(
    requested: bool,
    scheme: Option<Int8Scheme>,
    tensors: &TensorMap,
    device: &Device,
) -> bool {
    requested
        || (scheme == Some(Int8Scheme::W8A8)
            && has_int8(tensors)
            && kindling_body::kernels::is_flex_device(device)
            && !device.is_autodiff())
}

/// The `quantization_config` kindling writes with int8 weights: compressed-tensors' `W8A8`
/// (int8 weights per channel, int8 activations per token at run time) on every `Linear`
/// but the modules in `ignore` (their names in the file, without `.weight`).
pub(crate) fn quantization_config(ignore: &[String]) -> Value {
    let args = |strategy: &str, dynamic: bool, observer: Value| {
        json!({
            "actorder": null,
            "block_structure": null,
            "dynamic": dynamic,
            "group_size": null,
            "num_bits": 8,
            "observer": observer,
            "observer_kwargs": {},
            "scale_dtype": null,
            "strategy": strategy,
            "symmetric": true,
            "type": "int",
            "zp_dtype": null
        })
    };
    json!({
        "config_groups": {
            "group_0": {
                "format": INT_QUANTIZED,
                "input_activations": args("token", true, Value::Null),
                "output_activations": null,
                "targets": ["Linear"],
                "weights": args("channel", false, json!("memoryless_minmax")),
            }
        },
        "format": INT_QUANTIZED,
        "global_compression_ratio": null,
        "ignore": ignore,
        "kv_cache_scheme": null,
        "quant_method": QUANT_METHOD,
        "quantization_status": "compressed",
        "sparsity_config": {},
        "transform_config": {}
    })
}
