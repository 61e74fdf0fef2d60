//! Which files of a checkpoint directory hold its weights.

use std::path::{Path, PathBuf};

use crate::error::ImportError;

/// Where a checkpoint keeps its weights, in the order `transformers` prefers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    /// One `model.safetensors`.
    Safetensors(PathBuf),
    /// `model.safetensors.index.json` naming the shard of every tensor.
    ShardedSafetensors {
        /// The index file.
        index: PathBuf,
    },
    /// A `pytorch_model.bin` written by `torch.save`.
    PytorchBin(PathBuf),
}

impl WeightFiles {
    /// Finds the weights in `dir`: safetensors first, then the shard index, then the `.bin`.
    pub fn locate(dir: &Path) -> Result<Self, ImportError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let bin = dir.join("pytorch_model.bin");
        if single.is_file() {
            Ok(Self::Safetensors(single))
        } else if index.is_file() {
            Ok(Self::ShardedSafetensors { index })
        } else if bin.is_file() {
            Ok(Self::PytorchBin(bin))
        } else {
            Err(ImportError::NoWeights {
                dir: dir.to_path_buf(),
            })
        }
    }

    /// The file that names the weights (the weights file, or the shard index).
    pub fn path(&self) -> &Path {
        match self {
            Self::Safetensors(p) | Self::PytorchBin(p) => p,
            Self::ShardedSafetensors { index } => index,
        }
    }
}
