//! Pipelines: one type per task, each taking raw inputs and returning what the `transformers`
//! pipeline of that task returns, serialized the same way.
//!
//! - [`token_classification`]: entity spans (`aggregation_strategy="simple"`);
//! - [`text_classification`]: `{label, score}`, or the `top_k` best labels;
//! - [`question_answering`]: `{score, start, end, answer}`, or the `top_k` best answers;
//! - [`fill_mask`]: top-k `{score, token, token_str, sequence}` per mask;
//! - [`feature_extraction`]: the last hidden state per input, or pooled sentence embeddings;
//!
//! Every pipeline implements [`Pipeline`]; [`load_pipeline`] picks the one a checkpoint's
//! head (or an explicit task) calls for and hands it back behind [`JsonPipeline`], which is what
//! `predict` and `serve` use. Adding a task is its own module and one line in
//! [`load_pipeline`].

mod batch;
pub mod feature_extraction;
pub mod fill_mask;
mod loaded;
pub mod question_answering;
pub mod text_classification;
pub mod token_classification;

use std::path::Path;

use burn::prelude::Device;
use kindling_heads::Task;
use serde::Serialize;

use crate::error::KindlingError;

pub use batch::{
    BatchLimits, EncodedRow, PAD_MULTIPLE, padded_input, padded_length, read_values, split_rows,
};
pub use feature_extraction::{FeatureExtractionPipeline, FeatureKind, Features};
pub use fill_mask::{FillMaskCandidate, FillMaskOutput, FillMaskPipeline};
pub use loaded::LoadedCheckpoint;
pub use question_answering::{Answer, QuestionAnsweringOutput, QuestionAnsweringPipeline};
pub use token_classification::{Entity, NerPipeline};

/// One input of a pipeline call.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineInput {
    /// A text (token and text classification, fill-mask with the tokenizer's mask token,
    /// feature extraction).
    Text(String),
    /// A text pair (`text`, `text_pair`), as text classification takes for sentence pairs.
    TextPair {
        /// The first segment.
        text: String,
        /// The second segment.
        text_pair: String,
    },
    /// Extractive question answering.
    Question {
        /// The question.
        question: String,
        /// The context the answer is a span of.
        context: String,
    },
}

impl PipelineInput {
    /// The input's text when it is a single text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            PipelineInput::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Call options, named like the `transformers` pipelines' keyword arguments; each pipeline
/// reads the ones of its task.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOptions {
    /// The task; the checkpoint's `architectures` when `None` (old checkpoints lack it).
    pub task: Option<Task>,
    /// Text classification: `None` gives the best label as `{label, score}`, `Some(k)` the `k`
    /// best as a list. Fill-mask: the number of candidates (5 when `None`). QA: answers.
    pub top_k: Option<usize>,
    /// Tokens per forward pass, special tokens included (the model's window when `None`).
    pub max_seq_len: Option<usize>,
    /// QA: tokens of overlap between context windows (`min(max_seq_len / 2, 128)` when
    /// `None`).
    pub doc_stride: Option<usize>,
    /// QA: the longest answer, in tokens.
    pub max_answer_len: usize,
    /// QA: the longest question, in tokens.
    pub max_question_len: usize,
    /// QA: whether the empty answer may win (SQuAD v2).
    pub handle_impossible_answer: bool,
    /// QA: widen answers to whole words.
    pub align_to_words: bool,
    /// Fill-mask: cut texts longer than the window instead of refusing them (`transformers`'
    /// `tokenizer_kwargs={"truncation": True}`). Text classification always truncates,
    /// token classification and QA window long inputs, sentence embeddings truncate.
    pub truncation: bool,
    /// Run the model's linear layers in int8 (`--dtype int8`: per-channel weights, per-row
    /// dynamic activations; the flex device only).
    pub int8: bool,
}

impl Default for PipelineOptions {
    /// The `transformers` defaults.
    fn default() -> Self {
        Self {
            task: None,
            top_k: None,
            max_seq_len: None,
            doc_stride: None,
            max_answer_len: 15,
            max_question_len: 64,
            handle_impossible_answer: false,
            align_to_words: true,
            truncation: false,
            int8: false,
        }
    }
}

/// A task pipeline: raw input in, the `transformers` pipeline's output out. Each input is
/// prepared into rows (tokenized, windowed), the rows of many inputs run together in padded
/// forward passes, and each input's outputs are finished from its rows' outputs, so a batch
/// gives every input what it gives alone.
pub trait Pipeline {
    /// What one input gives (serialized exactly like `transformers`' result for it).
    type Output: Serialize;
    /// One input before the forward pass: its rows and what finishing needs.
    type Prepared;
    /// What the forward pass gives one row.
    type RowOutput;
    /// The task this pipeline runs.
    fn task(&self) -> Task;
    /// Tokenizes (and windows) one input; errors name the input's field.
    fn prepare(&self, input: &PipelineInput) -> Result<Self::Prepared, KindlingError>;
    /// The rows of a prepared input, in order.
    fn rows<'a>(&self, prepared: &'a Self::Prepared) -> &'a [EncodedRow];
    /// The most tokens a forward pass row may be padded to (the model's position limit).
    fn max_padded_length(&self) -> usize;
    /// Runs rows in one forward pass, padded with [`padded_input`] under
    /// [`Pipeline::max_padded_length`]; one output per row, in order.
    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<Self::RowOutput>, KindlingError>;
    /// The input's result from its rows' outputs.
    fn finish(
        &self,
        prepared: Self::Prepared,
        outputs: Vec<Self::RowOutput>,
    ) -> Result<Self::Output, KindlingError>;

    /// Runs one input.
    fn run(&self, input: &PipelineInput) -> Result<Self::Output, KindlingError> {
        self.run_batch(std::slice::from_ref(input), BatchLimits::default())
            .pop()
            .unwrap_or_else(|| Err(forward_error(self.task(), "no result".into())))
    }

    /// Runs several inputs, in order; the first error stops it.
    fn run_all(&self, inputs: &[PipelineInput]) -> Result<Vec<Self::Output>, KindlingError> {
        self.run_batch(inputs, BatchLimits::default())
            .into_iter()
            .collect()
    }

    /// Runs several inputs together, the rows of all of them in forward passes within
    /// `limits` ([`BatchLimits::passes`]): one result per input, so a bad input fails alone,
    /// and each the same as the input gives alone.
    fn run_batch(
        &self,
        inputs: &[PipelineInput],
        limits: BatchLimits,
    ) -> Vec<Result<Self::Output, KindlingError>> {
        let prepared: Vec<Result<Self::Prepared, KindlingError>> =
            inputs.iter().map(|input| self.prepare(input)).collect();
        let rows: Vec<&EncodedRow> = prepared
            .iter()
            .flatten()
            .flat_map(|p| self.rows(p))
            .collect();
        let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
        let mut outputs: Vec<Option<Self::RowOutput>> = (0..rows.len()).map(|_| None).collect();
        let mut failure = None;
        for pass in limits.passes(&lengths, self.max_padded_length()) {
            let pass_rows: Vec<&EncodedRow> = pass.iter().map(|&i| rows[i]).collect();
            match self.forward(&pass_rows) {
                Ok(out) => {
                    for (i, o) in pass.into_iter().zip(out) {
                        outputs[i] = Some(o);
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let counts: Vec<usize> = prepared
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| self.rows(p).len()))
            .collect();
        let mut outputs = outputs.into_iter();
        prepared
            .into_iter()
            .zip(counts)
            .map(|(prepared, count)| {
                let prepared = prepared?;
                let mine: Option<Vec<Self::RowOutput>> = outputs.by_ref().take(count).collect();
                match (&failure, mine) {
                    (None, Some(mine)) => self.finish(prepared, mine),
                    (Some(message), _) => Err(forward_error(self.task(), message.clone())),
                    (None, None) => Err(forward_error(self.task(), "a row has no output".into())),
                }
            })
            .collect()
    }
}

/// A failed forward pass, reported to each input it held.
fn forward_error(task: Task, message: String) -> KindlingError {
    KindlingError::Forward {
        task: task.pipeline_name().into(),
        message,
    }
}

/// A pipeline of any task, with JSON outputs: what string-keyed callers (`predict`, `serve`)
/// hold.
pub trait JsonPipeline: Send + Sync {
    /// The task this pipeline runs.
    fn task(&self) -> Task;
    /// Runs the inputs; one JSON value per input, in order.
    fn run_json(&self, inputs: &[PipelineInput]) -> Result<Vec<serde_json::Value>, KindlingError> {
        self.run_json_batch(inputs, BatchLimits::default())
            .into_iter()
            .collect()
    }
    /// Runs the inputs together in forward passes within `limits`; one result per input.
    fn run_json_batch(
        &self,
        inputs: &[PipelineInput],
        limits: BatchLimits,
    ) -> Vec<Result<serde_json::Value, KindlingError>>;
}

impl<P: Pipeline + Send + Sync> JsonPipeline for P {
    fn task(&self) -> Task {
        Pipeline::task(self)
    }

    fn run_json_batch(
        &self,
        inputs: &[PipelineInput],
        limits: BatchLimits,
    ) -> Vec<Result<serde_json::Value, KindlingError>> {
        self.run_batch(inputs, limits)
            .into_iter()
            .map(|out| {
                serde_json::to_value(out?).map_err(|e| KindlingError::Input {
                    source_name: "pipeline output".into(),
                    field: Pipeline::task(self).pipeline_name().into(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Loads the pipeline for the checkpoint in `dir`: the task of its head, or `options.task`.
pub fn load_pipeline(
    dir: &Path,
    device: &Device,
    options: &PipelineOptions,
) -> Result<Box<dyn JsonPipeline>, KindlingError> {
    let task = checkpoint_task(dir, options.task)?;
    // Features come from the body alone, of any checkpoint (as `AutoModel` loads it).
    if matches!(task, Task::Base | Task::SentenceEmbedding) {
        return Ok(Box::new(FeatureExtractionPipeline::load(
            dir, device, task,
        )?));
    }
    let loaded = LoadedCheckpoint::load(dir, device, options.task, options.int8)?;
    pipeline_from_loaded(loaded, options)
}

/// The task a checkpoint's pipeline runs: `task` when given, else its head's, from
/// `config.json`'s `architectures`.
pub fn checkpoint_task(dir: &Path, task: Option<Task>) -> Result<Task, KindlingError> {
    if let Some(task) = task {
        return Ok(task);
    }
    let opened = kindling_import::Checkpoint::open(dir)?;
    // Without `architectures` the head is unknown: running the body alone would
    // silently drop a classifier the weights may hold, so the task must be named.
    let Some(architectures) = opened.config.common.architectures.as_deref() else {
        return Err(KindlingError::File {
            path: dir.join("config.json"),
            message: "no `architectures`, so the task is unknown; name it (--task token-classification, text-classification, fill-mask, feature-extraction, ...)".into(),
        });
    };
    Ok(
        Task::from_architectures(Some(architectures))
            .map_err(kindling_import::ImportError::from)?,
    )
}

/// The pipeline of a loaded checkpoint's head.
pub fn pipeline_from_loaded(
    loaded: LoadedCheckpoint,
    options: &PipelineOptions,
) -> Result<Box<dyn JsonPipeline>, KindlingError> {
    match loaded.task() {
        Task::TokenClassification => Ok(Box::new(NerPipeline::from_loaded(loaded, options)?)),
        Task::MaskedLm => Ok(Box::new(FillMaskPipeline::from_loaded(loaded, options)?)),
        Task::SequenceClassification => Ok(Box::new(
            text_classification::TextClassificationPipeline::from_loaded(loaded, options)?,
        )),
        Task::QuestionAnswering => Ok(Box::new(QuestionAnsweringPipeline::from_loaded(
            loaded, options,
        )?)),
        other => Err(KindlingError::File {
            path: loaded.dir.join("config.json"),
            message: format!(
                "no `{}` pipeline yet (head {other:?})",
                other.pipeline_name()
            ),
        }),
    }
}
