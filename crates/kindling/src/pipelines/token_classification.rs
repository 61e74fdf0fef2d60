//! Named-entity recognition on raw text, like the `transformers` token-classification pipeline
//! with `aggregation_strategy="simple"`: per-token labels and scores, adjacent tokens of one
//! entity grouped into spans with character offsets and the mean score. Texts longer than the
//! model's window run in overlapping windows, each token scored by the window where it sits
//! farthest from an edge, so no entity is cut.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::softmax;
use kindling_body::{AnyBody, Body, BodyInput};
use kindling_data::Tokenizer;
use kindling_heads::Task;
use kindling_heads::{AnyHead, AnyOutput, Model};
use serde::Serialize;

use super::{LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions};
use crate::error::KindlingError;

/// One entity span, as the `transformers` pipeline reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// The entity type (`PER`, `ORG`, `LOC`, ...).
    pub entity_group: String,
    /// Mean probability of the span's tokens.
    pub score: f32,
    /// The span's text.
    pub word: String,
    /// Character offset where the span starts.
    pub start: usize,
    /// Character offset where the span ends (exclusive).
    pub end: usize,
}

/// A token-classification checkpoint ready to tag text.
pub struct NerPipeline {
    model: Model<AnyBody, AnyHead>,
    tokenizer: Tokenizer,
    labels: Vec<String>,
    window: usize,
    stride: usize,
    device: Device,
}

struct TokenPrediction {
    label: usize,
    score: f32,
    start: usize,
    end: usize,
}

fn split_tag(tag: &str) -> (&str, &str) {
    if let Some(rest) = tag.strip_prefix("B-") {
        ("B", rest)
    } else if let Some(rest) = tag.strip_prefix("I-") {
        ("I", rest)
    } else {
        ("I", tag)
    }
}

impl NerPipeline {
    /// Loads a token-classification checkpoint directory (with `tokenizer.json`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, KindlingError> {
        let loaded = LoadedCheckpoint::load(dir, device, None)?;
        Self::from_loaded(loaded, &PipelineOptions::default())
    }

    /// The pipeline over a loaded checkpoint, which must have a token-classification head;
    /// `options.max_seq_len` sets the window.
    pub fn from_loaded(
        loaded: LoadedCheckpoint,
        options: &PipelineOptions,
    ) -> Result<Self, KindlingError> {
        let AnyHead::TokenClassification(head) = &loaded.model.head else {
            return Err(loaded.wrong_head("named entities need a token-classification head"));
        };
        let labels = loaded.labels(head.num_labels());
        let window = loaded.window();
        let pipeline = Self {
            labels,
            window,
            stride: window / 4,
            device: loaded.device,
            tokenizer: loaded.tokenizer,
            model: loaded.model,
        };
        Ok(match options.max_seq_len {
            Some(n) => pipeline.with_window(n, n / 4),
            None => pipeline,
        })
    }

    /// Sets the window (tokens per forward pass, special tokens included) and the overlap.
    pub fn with_window(mut self, window: usize, stride: usize) -> Self {
        self.window = window.clamp(3, self.model.body.max_sequence_length());
        self.stride = stride.min(self.window.saturating_sub(3) / 2);
        self
    }

    /// The label names, in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Per-token labels of one text, windowed when it is longer than the model's window.
    fn predict_tokens(&self, text: &str) -> Result<Vec<TokenPrediction>, KindlingError> {
        let inner = self.tokenizer.inner();
        let with_special = inner.encode_char_offsets(text, true).map_err(|e| {
            kindling_data::DataError::Encode {
                index: 0,
                message: e.to_string(),
            }
        })?;
        let content = inner.encode_char_offsets(text, false).map_err(|e| {
            kindling_data::DataError::Encode {
                index: 0,
                message: e.to_string(),
            }
        })?;
        let ids = content.get_ids();
        let offsets = content.get_offsets();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let specials = with_special.len().saturating_sub(ids.len());
        let mask = with_special.get_special_tokens_mask();
        let lead: Vec<u32> = with_special
            .get_ids()
            .iter()
            .zip(mask)
            .take_while(|(_, m)| **m == 1)
            .map(|(id, _)| *id)
            .collect();
        let trail: Vec<u32> = with_special.get_ids()[lead.len() + ids.len()..].to_vec();
        let room = self.window.saturating_sub(specials).max(1);
        let step = room.saturating_sub(self.stride).max(1);
        let mut starts = vec![0usize];
        while starts.last().is_some_and(|&s| s + room < ids.len()) {
            starts.push(starts.last().copied().unwrap_or(0) + step);
        }
        // best[t] = (distance to the nearest window edge, label, score)
        let mut best: Vec<Option<(usize, usize, f32)>> = vec![None; ids.len()];
        for start in starts {
            let end = (start + room).min(ids.len());
            let mut row: Vec<i64> = lead.iter().map(|&v| v as i64).collect();
            row.extend(ids[start..end].iter().map(|&v| v as i64));
            row.extend(trail.iter().map(|&v| v as i64));
            let n = row.len();
            let input = BodyInput::new(
                Tensor::<2, Int>::from_data(TensorData::new(row, [1, n]), &self.device),
                Tensor::<2, Int>::ones([1, n], &self.device),
            );
            let AnyOutput::TokenClassification(out) = self.model.forward(input) else {
                unreachable!("checked at load")
            };
            let [_, _, classes] = out.logits.dims();
            let probs: Vec<f32> = softmax(out.logits, 2)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            for (t, slot) in best.iter_mut().enumerate().take(end).skip(start) {
                let pos = lead.len() + (t - start);
                let row = &probs[pos * classes..(pos + 1) * classes];
                let (label, score) = row
                    .iter()
                    .copied()
                    .enumerate()
                    .fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a });
                let centrality = (t - start).min(end - 1 - t);
                if slot.is_none_or(|(c, _, _)| centrality > c) {
                    *slot = Some((centrality, label, score));
                }
            }
        }
        Ok(best
            .into_iter()
            .zip(offsets)
            .map(|(b, &(start, end))| {
                let (_, label, score) = b.unwrap_or((0, 0, 0.0));
                TokenPrediction {
                    label,
                    score,
                    start,
                    end,
                }
            })
            .collect())
    }

    /// The entities of each text.
    pub fn predict(&self, texts: &[String]) -> Result<Vec<Vec<Entity>>, KindlingError> {
        texts.iter().map(|text| self.predict_one(text)).collect()
    }

    fn predict_one(&self, text: &str) -> Result<Vec<Entity>, KindlingError> {
        let tokens = self.predict_tokens(text)?;
        let chars: Vec<char> = text.chars().collect();
        let mut groups: Vec<Vec<&TokenPrediction>> = Vec::new();
        for token in &tokens {
            let tag = self.labels.get(token.label).map_or("O", String::as_str);
            let (bi, kind) = split_tag(tag);
            let joins = groups.last().and_then(|g| g.last()).is_some_and(|last| {
                let last_tag = self.labels.get(last.label).map_or("O", String::as_str);
                split_tag(last_tag).1 == kind && bi != "B"
            });
            match groups.last_mut() {
                Some(group) if joins => group.push(token),
                _ => groups.push(vec![token]),
            }
        }
        Ok(groups
            .into_iter()
            .filter_map(|group| {
                let first = group.first()?;
                let last = group.last()?;
                let tag = self.labels.get(first.label).map_or("O", String::as_str);
                let kind = split_tag(tag).1;
                if kind == "O" {
                    return None;
                }
                let score = group.iter().map(|t| t.score).sum::<f32>() / group.len() as f32;
                Some(Entity {
                    entity_group: kind.to_string(),
                    score,
                    word: chars[first.start..last.end.min(chars.len())]
                        .iter()
                        .collect(),
                    start: first.start,
                    end: last.end,
                })
            })
            .collect())
    }
}

impl Pipeline for NerPipeline {
    type Output = Vec<Entity>;

    fn task(&self) -> Task {
        Task::TokenClassification
    }

    fn run(&self, input: &PipelineInput) -> Result<Vec<Entity>, KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "token-classification".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.predict_one(text)
    }
}
