//! Reading the tensors of safetensors, sharded safetensors and `pytorch_model.bin` files with
//! burn-store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{ModuleStore, PytorchStore, SafetensorsStore};

use crate::error::ImportError;
use crate::pickle_guard::foreign_pickle_globals;
use crate::weight_files::WeightFiles;

/// A tensor of a checkpoint, with the file it came from (for error messages).
#[derive(Debug, Clone)]
pub struct HfTensor {
    /// The lazily read tensor, named as in the file.
    pub tensor: PackTensor,
    /// The file holding it.
    pub file: PathBuf,
    /// For a weight a quantized checkpoint stores in int8: its exact values and per-channel
    /// scales (`tensor` is then their dequantized float32 value).
    pub int8: Option<std::sync::Arc<kindling_body::kernels::Int8Values>>,
}

/// Every tensor of a checkpoint, by its name in the file.
pub type TensorMap = BTreeMap<String, HfTensor>;

/// Reads the tensors named by `weights`.
pub fn read_weight_files(weights: &WeightFiles) -> Result<TensorMap, ImportError> {
    match weights {
        WeightFiles::Safetensors(path) => read_safetensors(path),
        WeightFiles::PytorchBin(path) => read_pytorch(path),
        WeightFiles::ShardedSafetensors { index } => read_sharded(index),
    }
}

fn weights_error(path: &Path, message: impl ToString) -> ImportError {
    ImportError::Weights {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn into_map(path: &Path, tensors: &BTreeMap<String, PackTensor>) -> Result<TensorMap, ImportError> {
    Ok(tensors
        .iter()
        .map(|(name, tensor)| {
            (
                name.clone(),
                HfTensor {
                    tensor: tensor.clone(),
                    file: path.to_path_buf(),
                    int8: None,
                },
            )
        })
        .collect())
}

/// Reads one `.safetensors` file (memory-mapped).
pub fn read_safetensors(path: &Path) -> Result<TensorMap, ImportError> {
    let mut store = SafetensorsStore::from_file(path);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| weights_error(path, e))?;
    into_map(path, tensors)
}

/// Reads a `torch.save` file as data; the pickle is interpreted, never executed, and a pickle
/// naming anything but tensor-rebuild and storage globals is refused first
/// ([`ImportError::UnsafePickle`]).
pub fn read_pytorch(path: &Path) -> Result<TensorMap, ImportError> {
    let foreign = foreign_pickle_globals(path).map_err(|e| weights_error(path, e))?;
    if !foreign.is_empty() {
        return Err(ImportError::UnsafePickle {
            path: path.to_path_buf(),
            globals: foreign.iter().map(ToString::to_string).collect(),
        });
    }
    let mut store = PytorchStore::from_file(path);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| weights_error(path, e))?;
    into_map(path, tensors)
}

/// Reads the shards listed in a `model.safetensors.index.json`, checking that every tensor the
/// index names is in the shard it names.
pub fn read_sharded(index: &Path) -> Result<TensorMap, ImportError> {
    let shard_error = |message: String| ImportError::ShardIndex {
        path: index.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(index).map_err(|source| ImportError::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| shard_error(format!("not valid JSON: {e}")))?;
    let weight_map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| shard_error("missing object field `weight_map`".into()))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tensor, shard) in weight_map {
        let shard = shard
            .as_str()
            .ok_or_else(|| shard_error(format!("`weight_map.{tensor}` is not a file name")))?;
        if shard.contains('/') || shard.contains('\\') || shard.starts_with("..") {
            return Err(shard_error(format!(
                "shard `{shard}` for `{tensor}` is not a plain file name"
            )));
        }
        by_shard
            .entry(shard.to_string())
            .or_default()
            .push(tensor.clone());
    }
    if by_shard.is_empty() {
        return Err(shard_error("`weight_map` is empty".into()));
    }
    let mut all = TensorMap::new();
    for (shard, names) in by_shard {
        let path = dir.join(&shard);
        if !path.is_file() {
            return Err(shard_error(format!(
                "shard `{shard}` (holding `{}`) does not exist",
                names[0]
            )));
        }
        let tensors = read_safetensors(&path)?;
        let expected: BTreeSet<&String> = names.iter().collect();
        for name in &names {
            if !tensors.contains_key(name) {
                return Err(shard_error(format!(
                    "`{name}` is listed in shard `{shard}` but not found there"
                )));
            }
        }
        for (name, tensor) in tensors {
            if !expected.contains(&name) && weight_map.contains_key(&name) {
                // Listed under another shard: that shard's copy wins.
                continue;
            }
            if let Some(previous) = all.get(&name) {
                return Err(ImportError::Duplicate {
                    tensor: name,
                    first: previous.file.display().to_string(),
                    second: path.display().to_string(),
                });
            }
            all.insert(name, tensor);
        }
    }
    Ok(all)
}
