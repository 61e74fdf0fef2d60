//! Features of a text: what the `transformers` feature-extraction pipeline returns (the body's
//! last hidden state, `[1][seq][hidden]` nested lists per input, the text tokenized whole
//! with its special tokens), or, as the sentence-embedding task, one pooled vector per input
//! (`SentenceTransformer.encode`).
//!
//! The checkpoint's pooling, for sentence embeddings, is what its sentence-transformers files
//! say: the `sentence_transformers.models.Pooling` module listed in `modules.json` (its
//! `config.json`'s `pooling_mode_cls_token` / `pooling_mode_mean_tokens` /
//! `pooling_mode_max_tokens`), L2-normalized when `modules.json` lists a
//! `sentence_transformers.models.Normalize` module, texts truncated to
//! `sentence_bert_config.json`'s `max_seq_length`. A checkpoint without `modules.json` gets
//! [`HeadSpec`]'s default, all-MiniLM-L6-v2's recipe: mean pooling over real tokens, then L2
//! normalization.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::{AnyBody, Body, BodyInput, OutputOptions};
use kindling_data::Tokenizer;
use kindling_heads::{Head, HeadContext, HeadSpec, Pooling, SentenceEmbeddingHead, Task};
use kindling_import::{BodyLoadOptions, PoolerChoice, load_body};
use serde::Serialize;
use serde_json::Value;

use super::{Pipeline, PipelineInput};
use crate::error::KindlingError;

/// What one input gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Features {
    /// Feature extraction: the last hidden state, `[1][seq][hidden]`.
    Tokens(Vec<Vec<Vec<f32>>>),
    /// Sentence embedding: one vector `[hidden]`.
    Sentence(Vec<f32>),
}

/// A body ready to give features.
pub struct FeatureExtractionPipeline {
    body: AnyBody,
    tokenizer: Tokenizer,
    pooling: Option<SentenceEmbeddingHead>,
    window: usize,
    device: Device,
}

fn read_json(path: &Path) -> Result<Option<Value>, KindlingError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| KindlingError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| KindlingError::File {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })
}

/// The pooling, normalization and length limit the sentence-transformers files in `dir` give
/// (see the module docs); `HeadSpec`'s defaults without them.
pub fn sentence_pooling(dir: &Path) -> Result<(Pooling, bool, Option<usize>), KindlingError> {
    let defaults = HeadSpec::new(Task::SentenceEmbedding);
    let max_len = read_json(&dir.join("sentence_bert_config.json"))?
        .and_then(|v| v.get("max_seq_length")?.as_u64())
        .map(|n| n as usize);
    let modules_path = dir.join("modules.json");
    let Some(modules) = read_json(&modules_path)? else {
        return Ok((defaults.pooling, defaults.normalize, max_len));
    };
    let list = modules.as_array().cloned().unwrap_or_default();
    let of_type = |suffix: &str| {
        list.iter().find(|m| {
            m.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(suffix))
        })
    };
    let normalize = of_type("models.Normalize").is_some();
    let Some(module) = of_type("models.Pooling") else {
        return Err(KindlingError::File {
            path: modules_path,
            message: "lists no sentence_transformers.models.Pooling module".into(),
        });
    };
    let config_path = dir
        .join(module.get("path").and_then(Value::as_str).unwrap_or(""))
        .join("config.json");
    let config = read_json(&config_path)?.ok_or_else(|| KindlingError::File {
        path: config_path.clone(),
        message: "missing: the Pooling module's config".into(),
    })?;
    let on = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(false);
    let pooling = match (
        on("pooling_mode_cls_token"),
        on("pooling_mode_mean_tokens"),
        on("pooling_mode_max_tokens"),
    ) {
        (true, false, false) => Pooling::Cls,
        (false, true, false) => Pooling::Mean,
        (false, false, true) => Pooling::Max,
        _ => {
            return Err(KindlingError::File {
                path: config_path,
                message: "supported: exactly one of pooling_mode_cls_token, pooling_mode_mean_tokens, pooling_mode_max_tokens".into(),
            });
        }
    };
    Ok((pooling, normalize, max_len))
}

impl FeatureExtractionPipeline {
    /// Loads the body of the checkpoint in `dir` (any checkpoint: a task checkpoint's head is
    /// left out, as `AutoModel` leaves it) and its `tokenizer.json`. `Task::SentenceEmbedding`
    /// pools as the checkpoint says ([`sentence_pooling`]); any other task gives token features.
    pub fn load(dir: &Path, device: &Device, task: Task) -> Result<Self, KindlingError> {
        let options = BodyLoadOptions {
            pooler: PoolerChoice::Never,
        };
        let (body, _, checkpoint) = load_body(dir, device, options)?;
        let path = checkpoint.tokenizer.ok_or_else(|| KindlingError::File {
            path: dir.join("tokenizer.json"),
            message: "missing; the pipeline needs the checkpoint's tokenizer".into(),
        })?;
        let config = &checkpoint.config;
        let mut window = body.max_sequence_length();
        let pooling = if task == Task::SentenceEmbedding {
            let (pooling, normalize, max_len) = sentence_pooling(dir)?;
            window = max_len.map_or(window, |m| m.min(window));
            Some(SentenceEmbeddingHead::new(
                body.hidden_size(),
                pooling,
                normalize,
            ))
        } else {
            None
        };
        let truncate = pooling.is_some().then_some(window);
        let tokenizer = Tokenizer::from_file(
            &path,
            config.common.pad_token_id.map(|p| p as u32),
            truncate,
        )?;
        Ok(Self {
            body,
            tokenizer,
            pooling,
            window,
            device: device.clone(),
        })
    }

    /// The features of one text.
    pub fn features(&self, text: &str) -> Result<Features, KindlingError> {
        let encoding = self
            .tokenizer
            .inner()
            .encode_char_offsets(text, true)
            .map_err(|e| kindling_data::DataError::Encode {
                index: 0,
                message: e.to_string(),
            })?;
        let n = encoding.len();
        if n > self.window {
            return Err(KindlingError::Input {
                source_name: "feature-extraction".into(),
                field: "inputs".into(),
                message: format!(
                    "the text is {n} tokens long; the model takes at most {}",
                    self.window
                ),
            });
        }
        let row = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, n]), &self.device)
        };
        let ids = encoding.get_ids().iter().map(|&v| v as i64).collect();
        let types = encoding.get_type_ids().iter().map(|&t| t as i64).collect();
        let mask = Tensor::<2, Int>::ones([1, n], &self.device);
        let input = BodyInput::new(row(ids), mask.clone()).with_token_type_ids(row(types));
        let out = self.body.forward(input, OutputOptions::default());
        let read = |t: Tensor<2>| -> Result<Vec<f32>, KindlingError> {
            t.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| KindlingError::Input {
                    source_name: "feature-extraction".into(),
                    field: "outputs".into(),
                    message: format!("{e:?}"),
                })
        };
        match &self.pooling {
            Some(head) => {
                let context = HeadContext {
                    attention_mask: mask,
                    num_choices: None,
                    input_embeddings: None,
                };
                let pooled = head.forward(out, &context).sentence_embedding;
                Ok(Features::Sentence(read(pooled)?))
            }
            None => {
                let [_, seq, hidden] = out.last_hidden_state.dims();
                let flat = read(out.last_hidden_state.reshape([seq, hidden]))?;
                Ok(Features::Tokens(vec![
                    flat.chunks(hidden.max(1)).map(<[f32]>::to_vec).collect(),
                ]))
            }
        }
    }
}

impl Pipeline for FeatureExtractionPipeline {
    type Output = Features;

    fn task(&self) -> Task {
        if self.pooling.is_some() {
            Task::SentenceEmbedding
        } else {
            Task::Base
        }
    }

    fn run(&self, input: &PipelineInput) -> Result<Features, KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "feature-extraction".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.features(text)
    }
}
