//! Locating the files of a Hugging Face checkpoint directory.

use std::path::{Path, PathBuf};

use kindling_body::HfConfig;

use crate::error::ImportError;
use crate::quantized::{Int8Scheme, dequantize_int8, quantization_scheme};
use crate::tensors::{TensorMap, read_weight_files};
use crate::weight_files::WeightFiles;

/// A Hugging Face checkpoint directory, located and with its config read.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// The parsed `config.json`.
    pub config: HfConfig,
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
        let config = HfConfig::from_file(&config_path)?;
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
    ///
    /// The int8 weights of a quantized checkpoint (compressed-tensors `int-quantized`) come
    /// dequantized to float32, with their exact int8 values in [`HfTensor::int8`](crate::HfTensor::int8).
    pub fn read_tensors(&self) -> Result<TensorMap, ImportError> {
        let mut tensors = read_weight_files(&self.weights)?;
        if self.quantization()?.is_some() {
            dequantize_int8(&mut tensors)?;
        }
        Ok(tensors)
    }

    /// The quantization scheme config.json declares, if any (an error names the field
    /// kindling cannot run).
    pub fn quantization(&self) -> Result<Option<Int8Scheme>, ImportError> {
        quantization_scheme(&self.config, &self.dir)
    }
}
