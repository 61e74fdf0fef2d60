//! The model a server runs: the checkpoint's pipeline (one per distinct call parameters, all
//! sharing one copy of the weights), an embedder on its body, and its tokenizer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kindling::KindlingError;
use kindling::body::Body;
use kindling::burn::prelude::Device;
use kindling::data::Tokenizer;
use kindling::device::{on_compute_threads, parse_device, with_dtype};
use kindling::heads::Task;
use kindling::pipelines::{
    BatchLimits, FeatureExtractionPipeline, FeatureKind, JsonPipeline, LoadedCheckpoint,
    PipelineInput, checkpoint_task, pipeline_from_loaded,
};
use serde_json::{Value, json};

use crate::error::{ApiError, ServeError};
use crate::options::ServeOptions;
use crate::request::Parameters;

/// What a batched job asks the model for; jobs with equal work share forward passes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// The task pipeline with these call parameters (`/predict`).
    Predict(Parameters),
    /// Pooled vectors (`/embed`).
    Embed {
        /// L2-normalize them.
        normalize: bool,
    },
}

/// Where predictions come from.
enum Predictor {
    /// A checkpoint with a head: pipelines are built from it per parameters.
    Head(Box<LoadedCheckpoint>),
    /// A body alone (feature extraction).
    Features(Box<FeatureExtractionPipeline>),
}

/// The most pipelines kept for distinct parameters before the cache starts over.
const PIPELINE_CACHE: usize = 32;

/// A loaded checkpoint ready to serve.
pub struct ServedModel {
    task: Task,
    tokenizer: Tokenizer,
    max_input_length: usize,
    truncate: bool,
    predictor: Predictor,
    /// `[unnormalized, normalized]`.
    embedders: [FeatureExtractionPipeline; 2],
    pipelines: Mutex<HashMap<Parameters, Arc<dyn JsonPipeline>>>,
    info: Value,
    /// Where the model computes (each batch runs on its compute threads: see
    /// [`on_compute_threads`]).
    device: Device,
}

fn tokenizer_path(dir: &Path, found: Option<&Path>) -> Result<std::path::PathBuf, ServeError> {
    found.map(Path::to_path_buf).ok_or_else(|| {
        ServeError::Model(KindlingError::File {
            path: dir.join("tokenizer.json"),
            message: "missing; serving needs the checkpoint's tokenizer".into(),
        })
    })
}

impl ServedModel {
    /// Loads the checkpoint `options.model` on `options.device` in `options.dtype`.
    pub fn load(options: &ServeOptions) -> Result<Self, ServeError> {
        let dir = options.model.as_path();
        let (device, int8) = with_dtype(parse_device(&options.device)?, &options.dtype)?;
        let asked = options
            .task
            .as_deref()
            .map(Task::from_pipeline_name)
            .transpose()
            .map_err(|e| ServeError::Option {
                option: "--task",
                message: e.to_string(),
            })?;
        let task = checkpoint_task(dir, asked)?;
        let embedding = |normalize| FeatureKind::Embedding { normalize };
        let (predictor, embedders, tokenizer, config) =
            if matches!(task, Task::Base | Task::SentenceEmbedding) {
                let body_options = kindling::import::BodyLoadOptions {
                    pooler: kindling::import::PoolerChoice::Never,
                    int8,
                };
                let (body, _, checkpoint) = kindling::import::load_body(dir, &device, body_options)
                    .map_err(KindlingError::from)?;
                let path = tokenizer_path(dir, checkpoint.tokenizer.as_deref())?;
                let pad = checkpoint.config.common.pad_token_id.map(|p| p as u32);
                let kind = if task == Task::SentenceEmbedding {
                    FeatureKind::Sentence
                } else {
                    FeatureKind::Tokens
                };
                let make = |kind| {
                    FeatureExtractionPipeline::from_body(
                        body.clone(),
                        dir,
                        &path,
                        pad,
                        &device,
                        kind,
                    )
                };
                let mut features = make(kind)?;
                if options.truncate {
                    features = features.truncating()?;
                }
                let tokenizer =
                    Tokenizer::from_file(&path, pad, None).map_err(KindlingError::from)?;
                let embedders = [make(embedding(false))?, make(embedding(true))?];
                (
                    Predictor::Features(Box::new(features)),
                    embedders,
                    tokenizer,
                    checkpoint.config,
                )
            } else {
                let loaded = LoadedCheckpoint::load(dir, &device, asked, int8)?;
                let path = loaded.tokenizer.path().to_path_buf();
                let pad = loaded.config.common.pad_token_id.map(|p| p as u32);
                let make = |kind| {
                    FeatureExtractionPipeline::from_body(
                        loaded.model.body.clone(),
                        dir,
                        &path,
                        pad,
                        &device,
                        kind,
                    )
                };
                let embedders = [make(embedding(false))?, make(embedding(true))?];
                let tokenizer = loaded
                    .tokenizer
                    .clone()
                    .with_max_length(None)
                    .map_err(KindlingError::from)?;
                let config = loaded.config.clone();
                (
                    Predictor::Head(Box::new(loaded)),
                    embedders,
                    tokenizer,
                    config,
                )
            };
        let max_input_length = match &predictor {
            Predictor::Head(loaded) => loaded.model.body.max_sequence_length(),
            Predictor::Features(features) => features.window(),
        };
        let labels = match task {
            Task::TokenClassification | Task::SequenceClassification => config.labels(),
            _ => None,
        };
        let model_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let info = json!({
            "model_id": model_id,
            "model_dir": dir.display().to_string(),
            "model_type": serde_json::to_value(config.model_type).unwrap_or(Value::Null),
            "architecture": config.common.architectures.as_ref().and_then(|a| a.first()),
            "task": task.pipeline_name(),
            "labels": labels,
            "max_input_length": max_input_length,
            "embedding_size": embedders[0].hidden_size(),
            "device": options.device,
            "dtype": options.dtype,
            "truncate": options.truncate,
            "limits": {
                "max_batch_tokens": options.max_batch_tokens,
                "max_batch_requests": options.max_batch_requests,
                "max_concurrent_requests": options.max_concurrent_requests,
                "payload_limit": options.payload_limit,
            },
            "version": env!("CARGO_PKG_VERSION"),
        });
        let served = Self {
            task,
            tokenizer,
            max_input_length,
            truncate: options.truncate,
            predictor,
            embedders,
            pipelines: Mutex::new(HashMap::new()),
            info,
            device,
        };
        // A head without a pipeline (multiple choice) fails here, at start, not per request.
        if matches!(served.predictor, Predictor::Head(_)) {
            served.pipeline(&Parameters::default())?;
        }
        Ok(served)
    }

    /// The task `/predict` runs.
    pub fn task(&self) -> Task {
        self.task
    }

    /// `GET /info`'s answer.
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// The checkpoint's tokenizer, untruncated.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The most tokens one input may have before it is cut (or refused with truncation off).
    pub fn max_input_length(&self) -> usize {
        self.max_input_length
    }

    /// Tokens of one input, special tokens included (a pair or question with its context).
    pub fn count_tokens(&self, input: &PipelineInput) -> Result<usize, String> {
        let inner = self.tokenizer.inner();
        let encoding = match input {
            PipelineInput::Text(text) => inner.encode(text.as_str(), true),
            PipelineInput::TextPair { text, text_pair } => {
                inner.encode((text.as_str(), text_pair.as_str()), true)
            }
            PipelineInput::Question { question, context } => {
                inner.encode((question.as_str(), context.as_str()), true)
            }
        };
        encoding.map(|e| e.len()).map_err(|e| e.to_string())
    }

    /// Whether `work` cuts inputs at the model's length: everything but token classification
    /// and QA, which run long inputs in windows as the offline pipelines do.
    pub fn cuts_long_inputs(&self, work: &Work) -> bool {
        match work {
            Work::Embed { .. } => true,
            Work::Predict(_) => !matches!(
                self.task,
                Task::TokenClassification | Task::QuestionAnswering
            ),
        }
    }

    /// The most tokens an input of `work` may have when truncation is off.
    pub fn length_limit(&self, work: &Work) -> usize {
        match work {
            Work::Embed { .. } => self.embedders[0].window(),
            Work::Predict(_) => self.max_input_length,
        }
    }

    /// Whether inputs past the length are cut (else answered 413).
    pub fn truncates(&self) -> bool {
        self.truncate
    }

    /// A 422 for parameters `/predict` cannot run with on this model.
    pub fn check_parameters(&self, parameters: &Parameters) -> Result<(), ApiError> {
        parameters.check(self.task)
    }

    /// The pipeline for `parameters`, built (sharing the weights) on first use.
    fn pipeline(&self, parameters: &Parameters) -> Result<Arc<dyn JsonPipeline>, KindlingError> {
        let Predictor::Head(loaded) = &self.predictor else {
            unreachable!("feature extraction runs without a cache")
        };
        let mut cache = self
            .pipelines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pipeline) = cache.get(parameters) {
            return Ok(pipeline.clone());
        }
        let options = parameters.options(self.task, self.truncate);
        let pipeline: Arc<dyn JsonPipeline> =
            Arc::from(pipeline_from_loaded((**loaded).clone(), &options)?);
        if cache.len() >= PIPELINE_CACHE {
            cache.clear();
        }
        cache.insert(parameters.clone(), pipeline.clone());
        Ok(pipeline)
    }

    /// Runs `work` on inputs together; one result per input.
    pub fn run(
        &self,
        work: &Work,
        inputs: &[PipelineInput],
        limits: BatchLimits,
    ) -> Vec<Result<Value, KindlingError>> {
        on_compute_threads(&self.device, || self.run_here(work, inputs, limits))
    }

    /// [`ServedModel::run`] on the calling thread.
    fn run_here(
        &self,
        work: &Work,
        inputs: &[PipelineInput],
        limits: BatchLimits,
    ) -> Vec<Result<Value, KindlingError>> {
        match work {
            Work::Embed { normalize } => {
                self.embedders[usize::from(*normalize)].run_json_batch(inputs, limits)
            }
            Work::Predict(parameters) => match &self.predictor {
                Predictor::Features(features) => features.run_json_batch(inputs, limits),
                Predictor::Head(_) => match self.pipeline(parameters) {
                    Ok(pipeline) => pipeline.run_json_batch(inputs, limits),
                    Err(e) => {
                        let message = e.to_string();
                        inputs
                            .iter()
                            .map(|_| {
                                Err(KindlingError::Input {
                                    source_name: "parameters".into(),
                                    field: "parameters".into(),
                                    message: message.clone(),
                                })
                            })
                            .collect()
                    }
                },
            },
        }
    }
}
