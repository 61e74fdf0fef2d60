//! Locating the files of a Hugging Face checkpoint directory.

use std::path::{Path, PathBuf};

use kindling_body::BertFamilyConfig;

use crate::error::ImportError;
use crate::tensors::{TensorMap, read_weight_files};

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

/// A Hugging Face checkpoint directory, located and with its config read.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// The parsed `config.json`.
    pub config: BertFamilyConfig,
    /// The weights.
    pub weights: WeightFiles,
    /// `tokenizer.json`, when present.
    pub tokenizer: Option<PathBuf>,
}

impl Checkpoint {
    /// Opens a checkpoint directory: reads `config.json` and finds the weights and tokenizer.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ImportError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(ImportError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(ImportError::NoConfig {
                dir: dir.to_path_buf(),
            });
        }
        let config = BertFamilyConfig::from_file(&config_path)?;
        let weights = WeightFiles::locate(dir)?;
        let tokenizer = Some(dir.join("tokenizer.json")).filter(|p| p.is_file());
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer,
        })
    }

    /// Reads every tensor of the checkpoint (lazily: data is read when a module takes it).
    pub fn read_tensors(&self) -> Result<TensorMap, ImportError> {
        read_weight_files(&self.weights)
    }
}
