//! Extractive question answering on raw text, like `transformers`' `QuestionAnsweringPipeline`
//! (4.57; version 5 removed it): the context cut into windows of `max_seq_len` tokens that
//! overlap by `doc_stride`, each window's start and end logits turned into probabilities over
//! its context tokens, spans of at most `max_answer_len` tokens scored by the product of their
//! start and end probabilities, answers widened to whole words (`align_to_words`), equal
//! answers from different windows merged (case-insensitively, their scores summed), and the
//! best `top_k` returned as `{score, start, end, answer}` (character offsets into the context).

use burn::prelude::*;
use kindling_body::{AnyBody, Body};
use kindling_data::TokenizerConfig;
use kindling_heads::{AnyHead, AnyOutput, Model, Task};
use kindling_train::question_answering::{QaFeature, Windowing};
use serde::Serialize;

use super::{
    EncodedRow, LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions, padded_input,
    read_values, split_rows,
};
use crate::error::KindlingError;

/// The window the pipeline uses when the model allows more (`max_seq_len`'s default).
const DEFAULT_MAX_SEQ_LEN: usize = 384;

/// A window's start and end logits, over its own tokens.
type SpanLogits = (Vec<f32>, Vec<f32>);

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The answer's probability (summed over the windows that found it).
    pub score: f64,
    /// Its first character in the context.
    pub start: usize,
    /// The character after its last one.
    pub end: usize,
    /// Its text.
    pub answer: String,
}

/// What one question gives: one answer, or several best first (`transformers` returns a
/// single object whenever there is exactly one).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QuestionAnsweringOutput {
    /// Exactly one answer.
    One(Answer),
    /// Zero or several answers, best first.
    Many(Vec<Answer>),
}

/// A question-answering checkpoint ready to answer questions about contexts.
pub struct QuestionAnsweringPipeline {
    model: Model<AnyBody, AnyHead>,
    windowing: Windowing,
    top_k: usize,
    max_answer_len: usize,
    handle_impossible_answer: bool,
    align_to_words: bool,
    device: Device,
}

fn input_error(field: &str, message: impl Into<String>) -> KindlingError {
    KindlingError::Input {
        source_name: "question-answering".into(),
        field: field.into(),
        message: message.into(),
    }
}

impl QuestionAnsweringPipeline {
    /// The pipeline over a loaded checkpoint, which must have a question-answering head.
    /// `max_seq_len` defaults to `min(model_max_length, 384)` (the tokenizer's
    /// `model_max_length`, and the model's window), `doc_stride` to `min(max_seq_len / 2, 128)`.
    pub fn from_loaded(
        loaded: LoadedCheckpoint,
        options: &PipelineOptions,
    ) -> Result<Self, KindlingError> {
        if !matches!(loaded.model.head, AnyHead::QuestionAnswering(_)) {
            return Err(loaded.wrong_head("question answering needs a question-answering head"));
        }
        let tokenizer_config = TokenizerConfig::for_tokenizer(&loaded.tokenizer)?;
        let model_max = tokenizer_config
            .model_max_length
            .unwrap_or(usize::MAX)
            .min(loaded.window());
        let max_seq_len = options
            .max_seq_len
            .unwrap_or(DEFAULT_MAX_SEQ_LEN.min(model_max));
        let doc_stride = options
            .doc_stride
            .unwrap_or_else(|| (max_seq_len / 2).min(128));
        if doc_stride > max_seq_len {
            return Err(input_error(
                "doc_stride",
                format!("{doc_stride} is larger than max_seq_len ({max_seq_len})"),
            ));
        }
        if options.top_k == Some(0) {
            return Err(input_error("top_k", "should be >= 1 (got 0)"));
        }
        if options.max_answer_len == 0 {
            return Err(input_error("max_answer_len", "should be >= 1 (got 0)"));
        }
        let windowing = Windowing::new(&loaded.tokenizer, max_seq_len, doc_stride)
            .map_err(|e| input_error("tokenizer", e.to_string()))?;
        Ok(Self {
            windowing,
            top_k: options.top_k.unwrap_or(1),
            max_answer_len: options.max_answer_len,
            handle_impossible_answer: options.handle_impossible_answer,
            align_to_words: options.align_to_words,
            device: loaded.device,
            model: loaded.model,
        })
    }

    /// Answers one question about `context`.
    pub fn answer(
        &self,
        question: &str,
        context: &str,
    ) -> Result<QuestionAnsweringOutput, KindlingError> {
        self.run(&PipelineInput::Question {
            question: question.to_string(),
            context: context.to_string(),
        })
    }

    /// Cuts a question and its context into windows.
    fn windows(&self, question: &str, context: &str) -> Result<QaWindows, KindlingError> {
        for (field, value) in [("question", question), ("context", context)] {
            if value.is_empty() {
                return Err(input_error(field, format!("`{field}` cannot be empty")));
            }
        }
        let windows = self
            .windowing
            .windows(0, "input", question, context)
            .map_err(|e| input_error("question", e.to_string()))?;
        let rows = windows
            .iter()
            .map(|w| EncodedRow::from_ids(&w.input_ids, &w.token_type_ids))
            .collect();
        Ok(QaWindows {
            context: context.to_string(),
            windows,
            rows,
        })
    }

    /// The best answers from every window's start and end logits.
    fn answers(
        &self,
        prepared: &QaWindows,
        logits: &[SpanLogits],
    ) -> Result<QuestionAnsweringOutput, KindlingError> {
        let (context, windows) = (&prepared.context, &prepared.windows);
        let context_chars: Vec<char> = context.chars().collect();
        let text = |a: usize, b: usize| -> String {
            let (a, b) = (a.min(context_chars.len()), b.min(context_chars.len()));
            context_chars[a..b.max(a)].iter().collect()
        };
        let pre_top_k = if self.align_to_words {
            self.top_k * 2 + 10
        } else {
            self.top_k
        };
        let mut min_null_score = 1_000_000f64;
        let mut answers: Vec<Answer> = Vec::new();
        let cls_id = self.windowing.cls_id();
        for (window, (start, end)) in windows.iter().zip(logits) {
            let desired: Vec<bool> = window
                .context_offsets
                .iter()
                .zip(&window.input_ids)
                .map(|(offset, &id)| offset.is_some() || Some(id) == cls_id)
                .collect();
            let mut start = masked_softmax(start, &desired);
            let mut end = masked_softmax(end, &desired);
            if self.handle_impossible_answer && !start.is_empty() {
                min_null_score = min_null_score.min(f64::from(start[0] * end[0]));
            }
            if let (Some(s), Some(e)) = (start.first_mut(), end.first_mut()) {
                *s = 0.0;
                *e = 0.0;
            }
            for (s, e, score) in
                decode_spans(&start, &end, pre_top_k, self.max_answer_len, &desired)
            {
                let (a, b) = self.char_span(&window.encoding, s, e);
                let target = text(a, b);
                let lower = target.to_lowercase();
                if let Some(known) = answers
                    .iter_mut()
                    .find(|x| x.answer.to_lowercase() == lower)
                {
                    known.score += f64::from(score);
                } else {
                    answers.push(Answer {
                        score: f64::from(score),
                        start: a,
                        end: b,
                        answer: target,
                    });
                }
            }
        }
        if self.handle_impossible_answer {
            answers.push(Answer {
                score: min_null_score,
                start: 0,
                end: 0,
                answer: String::new(),
            });
        }
        // a stable sort, best first, as Python's `sorted(..., reverse=True)`
        answers.sort_by(|a, b| b.score.total_cmp(&a.score));
        answers.truncate(self.top_k);
        Ok(if answers.len() == 1 {
            QuestionAnsweringOutput::One(answers.remove(0))
        } else {
            QuestionAnsweringOutput::Many(answers)
        })
    }

    /// The characters tokens `s..=e` cover: widened to their words with `align_to_words`
    /// (falling back to the tokens' own offsets where a token has no word), as `get_indices`.
    fn char_span(&self, encoding: &tokenizers::Encoding, s: usize, e: usize) -> (usize, usize) {
        let offsets = encoding.get_offsets();
        if self.align_to_words {
            let word_chars = |token: usize| {
                let (_, word) = encoding.token_to_word(token)?;
                encoding.word_to_chars(word, 1)
            };
            if let (Some(a), Some(b)) = (word_chars(s), word_chars(e)) {
                return (a.0, b.1);
            }
        }
        (offsets[s].0, offsets[e].1)
    }
}

/// A question's windows over its context.
pub struct QaWindows {
    context: String,
    windows: Vec<QaFeature>,
    rows: Vec<EncodedRow>,
}

/// `select_starts_ends`' normalization: tokens that cannot be in an answer get logit -10000,
/// then a softmax over the window, in float32.
fn masked_softmax(logits: &[f32], desired: &[bool]) -> Vec<f32> {
    let masked: Vec<f32> = logits
        .iter()
        .zip(desired)
        .map(|(&x, &ok)| if ok { x } else { -10000.0 })
        .collect();
    let max = masked.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = masked.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|&x| x / sum).collect()
}

/// `decode_spans`: the `top_k` best (start, end) pairs by `start[s] * end[e]` with
/// `s <= e < s + max_answer_len`, then those whose tokens may both be in an answer.
fn decode_spans(
    start: &[f32],
    end: &[f32],
    top_k: usize,
    max_answer_len: usize,
    desired: &[bool],
) -> Vec<(usize, usize, f32)> {
    let n = start.len();
    // Only spans with s <= e < s + max_answer_len can score above 0; the zero-score rest is
    // only reached when there are fewer such spans than `top_k`.
    let mut flat: Vec<(usize, f32)> = Vec::new();
    for (s, &p_start) in start.iter().enumerate() {
        for (e, &p_end) in end.iter().enumerate().take(s + max_answer_len).skip(s) {
            flat.push((s * n + e, p_start * p_end));
        }
    }
    if top_k == 1 {
        // numpy's argmax: the first maximum (0 when every score is 0)
        let best = flat
            .iter()
            .fold(None::<(usize, f32)>, |best, &(i, v)| match best {
                Some((_, b)) if v <= b => best,
                _ => Some((i, v)),
            })
            .filter(|&(_, v)| v > 0.0)
            .unwrap_or((0, 0.0));
        flat = vec![best];
    } else {
        flat.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if flat.len() < top_k {
            let taken: std::collections::HashSet<usize> = flat.iter().map(|f| f.0).collect();
            let rest = (0..n * n).filter(|i| !taken.contains(i)).map(|i| (i, 0.0));
            flat.extend(rest.take(top_k - flat.len()));
        }
        flat.truncate(top_k);
    }
    flat.into_iter()
        .map(|(i, v)| (i / n, i % n, v))
        .filter(|&(s, e, _)| desired[s] && desired[e])
        .collect()
}

impl Pipeline for QuestionAnsweringPipeline {
    type Output = QuestionAnsweringOutput;

    fn task(&self) -> Task {
        Task::QuestionAnswering
    }

    type Prepared = QaWindows;
    type RowOutput = SpanLogits;

    fn prepare(&self, input: &PipelineInput) -> Result<QaWindows, KindlingError> {
        match input {
            PipelineInput::Question { question, context } => self.windows(question, context),
            _ => Err(input_error(
                "inputs",
                "takes a question and a context ({\"question\", \"context\"}, or --question and --context)",
            )),
        }
    }

    fn rows<'a>(&self, prepared: &'a QaWindows) -> &'a [EncodedRow] {
        &prepared.rows
    }

    fn max_padded_length(&self) -> usize {
        self.model.body.max_sequence_length()
    }

    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<SpanLogits>, KindlingError> {
        let pad = i64::from(self.windowing.pad_id());
        let (input, padded) = padded_input(rows, pad, self.max_padded_length(), &self.device);
        let AnyOutput::QuestionAnswering(output) = self.model.forward(input) else {
            unreachable!("checked at load")
        };
        let start = read_values(output.start_logits, "question-answering", "start_logits")?;
        let end = read_values(output.end_logits, "question-answering", "end_logits")?;
        let starts = split_rows(&start, rows, padded, 1);
        let ends = split_rows(&end, rows, padded, 1);
        Ok(starts.into_iter().zip(ends).collect())
    }

    fn finish(
        &self,
        prepared: QaWindows,
        outputs: Vec<SpanLogits>,
    ) -> Result<QuestionAnsweringOutput, KindlingError> {
        self.answers(&prepared, &outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_respect_order_length_and_mask() {
        let start = [0.0, 0.6, 0.3, 0.1];
        let end = [0.0, 0.1, 0.7, 0.25];
        let desired = [true, true, true, false];
        let got = decode_spans(&start, &end, 3, 2, &desired);
        // the best 3: (1,2) 0.42, (2,2) 0.21, (2,3) 0.075; (2,3) ends on an undesired token
        let spans: Vec<(usize, usize)> = got.iter().map(|g| (g.0, g.1)).collect();
        assert_eq!(spans, vec![(1, 2), (2, 2)]);
        let best = decode_spans(&start, &end, 1, 1, &desired);
        assert_eq!((best[0].0, best[0].1), (2, 2));
    }
}
