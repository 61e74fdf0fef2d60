//! Text classification on raw text, like `transformers`' `TextClassificationPipeline`: texts (or
//! text pairs) truncated to the window and batched, the logits turned into scores by the function the
//! model's config calls for, and either the best label as `{label, score}` or, with `top_k`,
//! the `k` best labels sorted by score.
//!
//! The scoring function is `transformers`': none (raw logits) for `problem_type` regression,
//! sigmoid for multi-label classification or a single output, softmax otherwise.

use std::path::Path;

use burn::prelude::*;
use kindling_body::{AnyBody, Body, ProblemType};
use kindling_data::Tokenizer;
use kindling_heads::{AnyHead, AnyOutput, Model, Task};
use serde::Serialize;

use super::{
    EncodedRow, LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions, padded_input,
    read_values,
};
use crate::error::KindlingError;

/// One label with its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    /// The label's name (`id2label`).
    pub label: String,
    /// Its probability (softmax or sigmoid), or its raw value for regression.
    pub score: f32,
}

/// What one input gives: the best label, or the `top_k` best sorted by score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TextClassificationOutput {
    /// `top_k` unset: `{label, score}` of the best label.
    Best(LabelScore),
    /// `top_k` set: the best labels, highest score first (ties in label order).
    Ranked(Vec<LabelScore>),
}

/// How logits become scores (`transformers`' `ClassificationFunction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFunction {
    /// Raw logits (regression).
    None,
    /// Independent probabilities (multi-label, or a single output).
    Sigmoid,
    /// A distribution over the labels.
    Softmax,
}

impl ScoreFunction {
    /// The function `transformers` picks for a config's `problem_type` and label count.
    pub fn for_model(problem_type: Option<ProblemType>, num_labels: usize) -> Self {
        match problem_type {
            Some(ProblemType::Regression) => ScoreFunction::None,
            Some(ProblemType::MultiLabelClassification) => ScoreFunction::Sigmoid,
            _ if num_labels == 1 => ScoreFunction::Sigmoid,
            _ => ScoreFunction::Softmax,
        }
    }

    /// Scores of one row of logits.
    pub fn apply(&self, logits: &[f32]) -> Vec<f32> {
        match self {
            ScoreFunction::None => logits.to_vec(),
            ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            ScoreFunction::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.iter().map(|e| e / sum).collect()
            }
        }
    }
}

/// A sequence-classification checkpoint ready to classify text.
pub struct TextClassificationPipeline {
    model: Model<AnyBody, AnyHead>,
    tokenizer: Tokenizer,
    labels: Vec<String>,
    function: ScoreFunction,
    top_k: Option<usize>,
    device: Device,
}

impl TextClassificationPipeline {
    /// Loads a sequence-classification checkpoint directory (with `tokenizer.json`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, KindlingError> {
        let loaded =
            LoadedCheckpoint::load(dir, device, Some(Task::SequenceClassification), false)?;
        Self::from_loaded(loaded, &PipelineOptions::default())
    }

    /// The pipeline over a loaded checkpoint, which must have a sequence-classification head;
    /// `options.top_k` asks for ranked labels, `options.max_seq_len` sets the window texts are
    /// truncated to (the model's by default).
    pub fn from_loaded(
        loaded: LoadedCheckpoint,
        options: &PipelineOptions,
    ) -> Result<Self, KindlingError> {
        let AnyHead::SequenceClassification(head) = &loaded.model.head else {
            return Err(
                loaded.wrong_head("text classification needs a sequence-classification head")
            );
        };
        let num_labels = head.num_labels();
        let labels = loaded.labels(num_labels);
        let function = ScoreFunction::for_model(loaded.config.common.problem_type, num_labels);
        let window = options
            .max_seq_len
            .unwrap_or_else(|| loaded.window())
            .clamp(2, loaded.window().max(2));
        let tokenizer = loaded.tokenizer.clone().with_max_length(Some(window))?;
        Ok(Self {
            labels,
            function,
            top_k: options.top_k,
            device: loaded.device,
            tokenizer,
            model: loaded.model,
        })
    }

    /// Sets `top_k`: `None` gives the best label, `Some(k)` the `k` best (all with `k` at
    /// least the number of labels).
    pub fn with_top_k(mut self, top_k: Option<usize>) -> Self {
        self.top_k = top_k;
        self
    }

    /// Sets how logits become scores (`function_to_apply`).
    pub fn with_function(mut self, function: ScoreFunction) -> Self {
        self.function = function;
        self
    }

    /// The label names, in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The scores of every label for one text or pair, in label order.
    pub fn scores(&self, text: &str, text_pair: Option<&str>) -> Result<Vec<f32>, KindlingError> {
        let row = self.encode(text, text_pair)?;
        let logits = self.forward(&[&row])?.pop().unwrap_or_default();
        Ok(self.function.apply(&logits))
    }

    /// One text or pair as a row, truncated to the window.
    fn encode(&self, text: &str, text_pair: Option<&str>) -> Result<EncodedRow, KindlingError> {
        let encoding = self.tokenizer.encode_text(0, text, text_pair)?;
        Ok(EncodedRow::from_encoding(&encoding))
    }

    /// Ranks or picks the labels from one input's scores.
    fn label_scores(&self, scores: &[f32]) -> Result<TextClassificationOutput, KindlingError> {
        let named = |(i, &score): (usize, &f32)| LabelScore {
            label: self
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("LABEL_{i}")),
            score,
        };
        Ok(match self.top_k {
            None => {
                // the first maximum, as numpy's argmax
                let best = scores
                    .iter()
                    .enumerate()
                    .fold(None::<(usize, &f32)>, |best, (i, s)| match best {
                        Some((_, b)) if *s <= *b => best,
                        _ => Some((i, s)),
                    })
                    .ok_or_else(|| KindlingError::Input {
                        source_name: "text-classification".into(),
                        field: "logits".into(),
                        message: "the model has no outputs".into(),
                    })?;
                TextClassificationOutput::Best(named(best))
            }
            Some(k) => {
                let mut ranked: Vec<LabelScore> = scores.iter().enumerate().map(named).collect();
                // a stable sort, highest first, as Python's `sort(reverse=True)`
                ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
                ranked.truncate(k);
                TextClassificationOutput::Ranked(ranked)
            }
        })
    }
}

impl TextClassificationPipeline {
    /// Classifies one text or pair.
    pub fn classify(
        &self,
        text: &str,
        text_pair: Option<&str>,
    ) -> Result<TextClassificationOutput, KindlingError> {
        self.label_scores(&self.scores(text, text_pair)?)
    }
}

impl Pipeline for TextClassificationPipeline {
    type Output = TextClassificationOutput;

    fn task(&self) -> Task {
        Task::SequenceClassification
    }

    type Prepared = EncodedRow;
    /// The logits.
    type RowOutput = Vec<f32>;

    fn prepare(&self, input: &PipelineInput) -> Result<EncodedRow, KindlingError> {
        match input {
            PipelineInput::Text(text) => self.encode(text, None),
            PipelineInput::TextPair { text, text_pair } => self.encode(text, Some(text_pair)),
            PipelineInput::Question { .. } => Err(KindlingError::Input {
                source_name: "text-classification".into(),
                field: "inputs".into(),
                message: "takes a text or a text pair, not a question".into(),
            }),
        }
    }

    fn rows<'a>(&self, prepared: &'a EncodedRow) -> &'a [EncodedRow] {
        std::slice::from_ref(prepared)
    }

    fn max_padded_length(&self) -> usize {
        self.model.body.max_sequence_length()
    }

    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<Vec<f32>>, KindlingError> {
        let (input, _) = padded_input(
            rows,
            self.tokenizer.pad_id().into(),
            self.max_padded_length(),
            &self.device,
        );
        let AnyOutput::SequenceClassification(out) = self.model.forward(input) else {
            unreachable!("checked at load")
        };
        let [_, labels] = out.logits.dims();
        let logits = read_values(out.logits, "text-classification", "logits")?;
        Ok(logits.chunks(labels.max(1)).map(<[f32]>::to_vec).collect())
    }

    fn finish(
        &self,
        _: EncodedRow,
        outputs: Vec<Vec<f32>>,
    ) -> Result<TextClassificationOutput, KindlingError> {
        let logits = outputs.into_iter().next().unwrap_or_default();
        self.label_scores(&self.function.apply(&logits))
    }
}
