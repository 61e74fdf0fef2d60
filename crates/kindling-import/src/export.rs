//! Writing modules back to the Hugging Face layout (`config.json` + `model.safetensors`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::DType;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot};
use kindling_body::kernels::Int8Values;
use kindling_body::{Body, HfConfig};
use safetensors::tensor::{Dtype, View};

use crate::error::ImportError;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and an interrupted write leaves the old one intact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_path(path);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and per call, so concurrent writers never share a temporary file.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

struct ExportTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &ExportTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn safetensors_dtype(dtype: DType, name: &str, path: &Path) -> Result<Dtype, ImportError> {
    Ok(match dtype {
        DType::F64 => Dtype::F64,
        DType::F32 | DType::Flex32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::Bool(_) => Dtype::BOOL,
        other => {
            return Err(ImportError::Write {
                path: path.to_path_buf(),
                message: format!(
                    "tensor `{name}` has dtype {other:?}, which safetensors cannot hold"
                ),
            });
        }
    })
}

/// Writes a module's parameters to `path` as safetensors, in PyTorch layout (`[out, in]` linear
/// weights, `weight`/`bias` norms), each named by `to_file_name(module_path)`.
///
/// Linear layers quantized to int8 are written as a quantized checkpoint stores them
/// (compressed-tensors `int-quantized`): `weight` int8 `[out, in]` and `weight_scale` float32
/// `[out, 1]`.
pub fn save_module<M: Module>(
    module: &M,
    path: &Path,
    to_file_name: impl Fn(&str) -> String,
) -> Result<(), ImportError> {
    let int8 = kindling_body::kernels::int8_weights(module);
    save_module_with(module, path, to_file_name, &int8)
}

/// [`save_module`] with the module's int8 weights already collected.
fn save_module_with<M: Module>(
    module: &M,
    path: &Path,
    to_file_name: impl Fn(&str) -> String,
    int8: &BTreeMap<String, Int8Values>,
) -> Result<(), ImportError> {
    let write_error = |message: String| ImportError::Write {
        path: path.to_path_buf(),
        message,
    };
    let mut tensors = Vec::new();
    for tensor in module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let name = to_file_name(&tensor.name);
        if let Some(values) = int8.get(&tensor.name) {
            let scales = values.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            tensors.push((
                format!("{name}_scale"),
                ExportTensor {
                    dtype: Dtype::F32,
                    shape: vec![values.d_out, 1],
                    bytes: scales,
                },
            ));
            tensors.push((
                name,
                ExportTensor {
                    dtype: Dtype::I8,
                    shape: vec![values.d_out, values.d_in],
                    bytes: values.values.iter().map(|&v| v as u8).collect(),
                },
            ));
            continue;
        }
        let dtype = safetensors_dtype(tensor.dtype, &name, path)?;
        let shape = tensor.shape.to_vec();
        let bytes = tensor
            .into_bytes()
            .map_err(|e| write_error(format!("reading `{name}`: {e}")))?
            .to_vec();
        // Dtype::F32 data on a Flex32 device is f32 bytes already.
        tensors.push((
            name,
            ExportTensor {
                dtype,
                shape,
                bytes,
            },
        ));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), metadata)
        .map_err(|e| write_error(e.to_string()))?;
    write_atomically(path, &bytes)
}

/// Writes a body as a `transformers` base-model checkpoint (`BertModel`, `RobertaModel`,
/// `DistilBertModel`, `ElectraModel`, ...): `config.json` and `model.safetensors` in `dir`,
/// plus a copy of `tokenizer` when given. `AutoModel.from_pretrained(dir)` loads it.
pub fn save_body<B: Body>(
    body: &B,
    config: &HfConfig,
    dir: &Path,
    tokenizer: Option<&Path>,
) -> Result<(), ImportError> {
    let mut config = config.clone();
    config.common.architectures = Some(vec![format!("{}Model", config.model_type.class_stem())]);
    write_checkpoint(
        body,
        |path| body.hf_name(path),
        body,
        &config,
        dir,
        tokenizer,
    )
}

/// Writes a checkpoint directory: `module`'s weights as `model.safetensors` (each named by
/// `to_file_name`), `config.json` (with `dtype` set to what `body`'s weights are, as
/// `transformers` writes it) and a copy of `tokenizer`, each atomically.
pub(crate) fn write_checkpoint<M: Module, B: Body>(
    module: &M,
    to_file_name: impl Fn(&str) -> String,
    body: &B,
    config: &HfConfig,
    dir: &Path,
    tokenizer: Option<&Path>,
) -> Result<(), ImportError> {
    std::fs::create_dir_all(dir).map_err(|source| ImportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let int8 = kindling_body::kernels::int8_weights(module);
    let mut config = config.clone();
    config.extra.remove("quantization_config");
    if !int8.is_empty() {
        // The linear layers left in float are named in `ignore`, as compressed-tensors does.
        let ignore: Vec<String> = kindling_body::kernels::linear_weight_paths(module)
            .into_iter()
            .filter(|path| !int8.contains_key(path))
            .map(|path| {
                let name = to_file_name(&path);
                name.strip_suffix(".weight").unwrap_or(&name).to_string()
            })
            .collect();
        config.extra.insert(
            "quantization_config".into(),
            crate::quantized::quantization_config(&ignore),
        );
    }
    save_module_with(module, &dir.join("model.safetensors"), &to_file_name, &int8)?;
    config.extra.remove("torch_dtype");
    let dtype = body.input_embeddings().dtype();
    let dtype_name = match dtype {
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        _ => "float32",
    };
    config
        .extra
        .insert("dtype".into(), serde_json::Value::String(dtype_name.into()));
    write_atomically(&dir.join("config.json"), config.to_json_string().as_bytes())?;
    if let Some(tokenizer) = tokenizer {
        let bytes = std::fs::read(tokenizer).map_err(|source| ImportError::Io {
            path: tokenizer.to_path_buf(),
            source,
        })?;
        write_atomically(&dir.join("tokenizer.json"), &bytes)?;
    }
    Ok(())
}
