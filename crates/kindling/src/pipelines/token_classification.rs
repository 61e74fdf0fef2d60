//! Named-entity recognition on raw text, like the `transformers` token-classification pipeline
//! with `aggregation_strategy="simple"`: per-token labels and scores, adjacent tokens of one
//! entity grouped into spans with character offsets and the mean score. Texts longer than the
//! model's window run in overlapping windows, each token scored by the window where it sits
//! farthest from an edge, so no entity is cut.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use kindling_body::{AnyBody, Body};
use kindling_data::Tokenizer;
use kindling_heads::Task;
use kindling_heads::{AnyHead, AnyOutput, Model};
use serde::Serialize;

use super::{
    EncodedRow, LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions, padded_input,
    read_values, split_rows,
};
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

/// A text cut into windows for tagging.
pub struct TaggedText {
    text: String,
    /// One row per window.
    rows: Vec<EncodedRow>,
    /// The content tokens `start..end` each window holds.
    spans: Vec<(usize, usize)>,
    /// Special tokens before the content in every window.
    lead: usize,
    /// Character offsets of the content tokens.
    offsets: Vec<(usize, usize)>,
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
        let loaded = LoadedCheckpoint::load(dir, device, None, false)?;
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

    /// Tokenizes one text into windows of at most the model's window, overlapping by the
    /// stride.
    fn windows(&self, text: &str) -> Result<TaggedText, KindlingError> {
        let inner = self.tokenizer.inner();
        let encode = |special: bool| {
            inner
                .encode_char_offsets(text, special)
                .map_err(|e| kindling_data::DataError::Encode {
                    index: 0,
                    message: e.to_string(),
                })
        };
        let with_special = encode(true)?;
        let content = encode(false)?;
        let ids = content.get_ids();
        let mut tagged = TaggedText {
            text: text.to_string(),
            rows: Vec::new(),
            spans: Vec::new(),
            lead: 0,
            offsets: content.get_offsets().to_vec(),
        };
        if ids.is_empty() {
            return Ok(tagged);
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
        tagged.lead = lead.len();
        for start in starts {
            let end = (start + room).min(ids.len());
            let mut row: Vec<u32> = lead.clone();
            row.extend_from_slice(&ids[start..end]);
            row.extend_from_slice(&trail);
            // one segment: token types are all zero, as the single-text pipeline sets them
            tagged
                .rows
                .push(EncodedRow::from_ids(&row, &vec![0; row.len()]));
            tagged.spans.push((start, end));
        }
        Ok(tagged)
    }

    /// Per-token labels of a windowed text: each token from the window where it sits farthest
    /// from an edge.
    fn token_predictions(
        tagged: &TaggedText,
        windows: &[Vec<(usize, f32)>],
    ) -> Vec<TokenPrediction> {
        // best[t] = (distance to the nearest window edge, label, score)
        let mut best: Vec<Option<(usize, usize, f32)>> = vec![None; tagged.offsets.len()];
        for (&(start, end), window) in tagged.spans.iter().zip(windows) {
            for (t, slot) in best.iter_mut().enumerate().take(end).skip(start) {
                let Some(&(label, score)) = window.get(tagged.lead + (t - start)) else {
                    continue;
                };
                let centrality = (t - start).min(end - 1 - t);
                if slot.is_none_or(|(c, _, _)| centrality > c) {
                    *slot = Some((centrality, label, score));
                }
            }
        }
        best.into_iter()
            .zip(&tagged.offsets)
            .map(|(b, &(start, end))| {
                let (_, label, score) = b.unwrap_or((0, 0, 0.0));
                TokenPrediction {
                    label,
                    score,
                    start,
                    end,
                }
            })
            .collect()
    }

    /// The entities of each text.
    pub fn predict(&self, texts: &[String]) -> Result<Vec<Vec<Entity>>, KindlingError> {
        let inputs: Vec<PipelineInput> = texts.iter().cloned().map(PipelineInput::Text).collect();
        self.run_all(&inputs)
    }

    /// Groups tagged tokens into entity spans (`aggregation_strategy="simple"`).
    fn entities(&self, text: &str, tokens: &[TokenPrediction]) -> Vec<Entity> {
        let chars: Vec<char> = text.chars().collect();
        let mut groups: Vec<Vec<&TokenPrediction>> = Vec::new();
        for token in tokens {
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
        groups
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
            .collect()
    }
}

impl Pipeline for NerPipeline {
    type Output = Vec<Entity>;
    type Prepared = TaggedText;
    /// Per position, the best label and its probability.
    type RowOutput = Vec<(usize, f32)>;

    fn task(&self) -> Task {
        Task::TokenClassification
    }

    fn prepare(&self, input: &PipelineInput) -> Result<TaggedText, KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "token-classification".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.windows(text)
    }

    fn rows<'a>(&self, prepared: &'a TaggedText) -> &'a [EncodedRow] {
        &prepared.rows
    }

    fn max_padded_length(&self) -> usize {
        self.model.body.max_sequence_length()
    }

    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<Vec<(usize, f32)>>, KindlingError> {
        let (input, padded) = padded_input(
            rows,
            self.tokenizer.pad_id().into(),
            self.max_padded_length(),
            &self.device,
        );
        let AnyOutput::TokenClassification(out) = self.model.forward(input) else {
            unreachable!("checked at load")
        };
        let [_, _, classes] = out.logits.dims();
        let probs = read_values(softmax(out.logits, 2), "token-classification", "logits")?;
        Ok(split_rows(&probs, rows, padded, classes)
            .into_iter()
            .map(|row| {
                row.chunks(classes.max(1))
                    .map(|p| {
                        p.iter()
                            .copied()
                            .enumerate()
                            .fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a })
                    })
                    .collect()
            })
            .collect())
    }

    fn finish(
        &self,
        prepared: TaggedText,
        outputs: Vec<Vec<(usize, f32)>>,
    ) -> Result<Vec<Entity>, KindlingError> {
        let tokens = Self::token_predictions(&prepared, &outputs);
        Ok(self.entities(&prepared.text, &tokens))
    }
}
