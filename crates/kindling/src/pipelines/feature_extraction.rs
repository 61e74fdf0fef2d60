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
use kindling_body::{AnyBody, Body, OutputOptions};
use kindling_data::Tokenizer;
use kindling_heads::{Head, HeadContext, HeadSpec, Pooling, SentenceEmbeddingHead, Task};
use kindling_import::{BodyLoadOptions, PoolerChoice, load_body};
use serde::Serialize;
use serde_json::Value;

use super::{EncodedRow, Pipeline, PipelineInput, padded_input, read_values, split_rows};
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

/// What a [`FeatureExtractionPipeline`] gives per input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// The last hidden state (`feature-extraction`).
    Tokens,
    /// One vector, pooled and normalized as the checkpoint's sentence-transformers files say
    /// ([`sentence_pooling`]; the sentence-embedding task).
    Sentence,
    /// One vector, pooled as the checkpoint says (mean without its files) and L2-normalized
    /// when `normalize` is set, texts truncated to the window: `serve`'s `/embed` on any body.
    Embedding {
        /// Divide by the L2 norm.
        normalize: bool,
    },
}

impl FeatureExtractionPipeline {
    /// Loads the body of the checkpoint in `dir` (any checkpoint: a task checkpoint's head is
    /// left out, as `AutoModel` leaves it) and its `tokenizer.json`. `Task::SentenceEmbedding`
    /// pools as the checkpoint says ([`sentence_pooling`]); any other task gives token features.
    pub fn load(dir: &Path, device: &Device, task: Task) -> Result<Self, KindlingError> {
        let kind = if task == Task::SentenceEmbedding {
            FeatureKind::Sentence
        } else {
            FeatureKind::Tokens
        };
        Self::load_kind(dir, device, kind)
    }

    /// Loads the body of the checkpoint in `dir` to give features of `kind`.
    pub fn load_kind(
        dir: &Path,
        device: &Device,
        kind: FeatureKind,
    ) -> Result<Self, KindlingError> {
        let options = BodyLoadOptions {
            pooler: PoolerChoice::Never,
            ..BodyLoadOptions::default()
        };
        let (body, _, checkpoint) = load_body(dir, device, options)?;
        let path = checkpoint.tokenizer.ok_or_else(|| KindlingError::File {
            path: dir.join("tokenizer.json"),
            message: "missing; the pipeline needs the checkpoint's tokenizer".into(),
        })?;
        let pad_id = checkpoint.config.common.pad_token_id.map(|p| p as u32);
        Self::from_body(body, dir, &path, pad_id, device, kind)
    }

    /// Features of `kind` from a loaded body (shared, not copied: Burn's tensors are
    /// reference-counted), with the tokenizer at `tokenizer` padding with `pad_id`; `dir` holds
    /// the checkpoint's sentence-transformers files, if any.
    pub fn from_body(
        body: AnyBody,
        dir: &Path,
        tokenizer: &Path,
        pad_id: Option<u32>,
        device: &Device,
        kind: FeatureKind,
    ) -> Result<Self, KindlingError> {
        let mut window = body.max_sequence_length();
        let pooling = match kind {
            FeatureKind::Tokens => None,
            FeatureKind::Sentence | FeatureKind::Embedding { .. } => {
                let (pooling, mut normalize, max_len) = sentence_pooling(dir)?;
                window = max_len.map_or(window, |m| m.min(window));
                if let FeatureKind::Embedding { normalize: asked } = kind {
                    normalize = asked;
                }
                Some(SentenceEmbeddingHead::new(
                    body.hidden_size(),
                    pooling,
                    normalize,
                ))
            }
        };
        let truncate = pooling.is_some().then_some(window);
        let tokenizer = Tokenizer::from_file(tokenizer, pad_id, truncate)?;
        Ok(Self {
            body,
            tokenizer,
            pooling,
            window,
            device: device.clone(),
        })
    }

    /// The most tokens one input may have (longer ones are truncated when pooling, refused
    /// otherwise).
    pub fn window(&self) -> usize {
        self.window
    }

    /// Cuts texts longer than the window instead of refusing them (`transformers`'
    /// `tokenize_kwargs={"truncation": True}`); pooled features always cut.
    pub fn truncating(mut self) -> Result<Self, KindlingError> {
        self.tokenizer = self.tokenizer.with_max_length(Some(self.window))?;
        Ok(self)
    }

    /// The width of the features.
    pub fn hidden_size(&self) -> usize {
        self.body.hidden_size()
    }

    /// The tokenizer texts go through.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The features of one text.
    pub fn features(&self, text: &str) -> Result<Features, KindlingError> {
        self.run(&PipelineInput::Text(text.to_string()))
    }

    /// One text as a row: truncated to the window when pooling, refused past it otherwise.
    fn encode(&self, text: &str) -> Result<[EncodedRow; 1], KindlingError> {
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
        Ok([EncodedRow::from_encoding(&encoding)])
    }
}

impl Pipeline for FeatureExtractionPipeline {
    type Output = Features;
    type Prepared = [EncodedRow; 1];
    /// The pooled vector, or the row's hidden states read flat.
    type RowOutput = Vec<f32>;

    fn task(&self) -> Task {
        if self.pooling.is_some() {
            Task::SentenceEmbedding
        } else {
            Task::Base
        }
    }

    fn prepare(&self, input: &PipelineInput) -> Result<[EncodedRow; 1], KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "feature-extraction".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.encode(text)
    }

    fn rows<'a>(&self, prepared: &'a [EncodedRow; 1]) -> &'a [EncodedRow] {
        prepared
    }

    fn max_padded_length(&self) -> usize {
        self.body.max_sequence_length()
    }

    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<Vec<f32>>, KindlingError> {
        let (input, padded) = padded_input(
            rows,
            self.tokenizer.pad_id().into(),
            self.max_padded_length(),
            &self.device,
        );
        let mask = input.attention_mask.clone();
        let out = self.body.forward(input, OutputOptions::default());
        match &self.pooling {
            Some(head) => {
                let context = HeadContext {
                    attention_mask: mask,
                    num_choices: None,
                    input_embeddings: None,
                };
                let pooled = head.forward(out, &context).sentence_embedding;
                let [_, hidden] = pooled.dims();
                let values = read_values(pooled, "feature-extraction", "sentence_embedding")?;
                Ok(values.chunks(hidden.max(1)).map(<[f32]>::to_vec).collect())
            }
            None => {
                let [_, _, hidden] = out.last_hidden_state.dims();
                let values = read_values(
                    out.last_hidden_state,
                    "feature-extraction",
                    "last_hidden_state",
                )?;
                Ok(split_rows(&values, rows, padded, hidden))
            }
        }
    }

    fn finish(
        &self,
        _: [EncodedRow; 1],
        outputs: Vec<Vec<f32>>,
    ) -> Result<Features, KindlingError> {
        let values = outputs.into_iter().next().unwrap_or_default();
        Ok(match &self.pooling {
            Some(_) => Features::Sentence(values),
            None => {
                let hidden = self.body.hidden_size().max(1);
                Features::Tokens(vec![values.chunks(hidden).map(<[f32]>::to_vec).collect()])
            }
        })
    }
}
