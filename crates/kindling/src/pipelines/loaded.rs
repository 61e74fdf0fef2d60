//! A checkpoint loaded for a pipeline: the model, its tokenizer and its config.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use kindling_body::{AnyBody, Body, HfConfig};
use kindling_data::Tokenizer;
use kindling_heads::{AnyHead, Model, Task};
use kindling_import::{ModelLoadOptions, load_model};

use crate::error::KindlingError;

/// What every pipeline starts from: a checkpoint directory's model (body and head), its
/// `tokenizer.json` and its `config.json`. Cloning shares the weights (Burn's tensors are
/// reference-counted), so several pipelines with other options can run one loaded model.
#[derive(Clone)]
pub struct LoadedCheckpoint {
    /// Body and head.
    pub model: Model<AnyBody, AnyHead>,
    /// The checkpoint's tokenizer, padding with the config's `pad_token_id`.
    pub tokenizer: Tokenizer,
    /// The checkpoint's config.
    pub config: HfConfig,
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Where the model runs.
    pub device: Device,
}

impl LoadedCheckpoint {
    /// Loads `dir` with the head of `task` (the config's `architectures` when `None`); the
    /// directory must hold `tokenizer.json`.
    /// With `int8`, every linear layer is quantized to int8 (the flex device only).
    pub fn load(
        dir: &Path,
        device: &Device,
        task: Option<Task>,
        int8: bool,
    ) -> Result<Self, KindlingError> {
        let options = ModelLoadOptions {
            task,
            labels: None,
            int8,
        };
        let (model, _, checkpoint) = load_model(dir, device, options)?;
        let path = checkpoint
            .tokenizer
            .clone()
            .ok_or_else(|| KindlingError::File {
                path: dir.join("tokenizer.json"),
                message: "missing; the pipeline needs the checkpoint's tokenizer".into(),
            })?;
        let config = checkpoint.config;
        let tokenizer =
            Tokenizer::from_file(&path, config.common.pad_token_id.map(|p| p as u32), None)?;
        Ok(Self {
            model,
            tokenizer,
            config,
            dir: dir.to_path_buf(),
            device: device.clone(),
        })
    }

    /// The task of the loaded head.
    pub fn task(&self) -> Task {
        self.model.head.task()
    }

    /// The label names in class order: the config's `id2label`, else `LABEL_i` for `classes`
    /// classes, as `transformers` names them.
    pub fn labels(&self, classes: usize) -> Vec<String> {
        self.config
            .labels()
            .filter(|l| l.len() == classes)
            .unwrap_or_else(|| (0..classes).map(|i| format!("LABEL_{i}")).collect())
    }

    /// The model's window: the most tokens one forward pass takes.
    pub fn window(&self) -> usize {
        self.model.body.max_sequence_length()
    }

    /// An error about this checkpoint's head, naming its `config.json`.
    pub fn wrong_head(&self, needs: &str) -> KindlingError {
        KindlingError::File {
            path: self.dir.join("config.json"),
            message: format!("{needs}; this checkpoint's head is {:?}", self.task()),
        }
    }
}
