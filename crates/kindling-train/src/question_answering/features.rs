//! Question and context into model windows, as `transformers` tokenizes them for question
//! answering (`truncation="only_second"`, `stride`, `return_overflowing_tokens`,
//! `return_offsets_mapping`): the question whole, the context cut into windows of at most
//! `max_length` tokens (special tokens included) that overlap by `doc_stride` tokens.
//!
//! The windows are cut here rather than by the tokenizer's truncation: the question and the
//! context are each tokenized whole (as `tokenizers` tokenizes a pair), the context encoding
//! is split with `tokenizers`' own `Encoding::truncate` (the same window arithmetic), and
//! each window is joined to the question by the checkpoint's post-processor, which places the
//! special tokens and segment ids of a pair.

use kindling_data::{QaAnswer, QaExample, Tokenizer};
use tokenizers::{Encoding, TruncationDirection};

use crate::error::TrainError;

/// The classifier (or beginning-of-sequence) tokens, by name, a window may start with.
const CLS_TOKENS: [&str; 4] = ["[CLS]", "<s>", "[cls]", "<cls>"];

/// Cuts question/context pairs into windows for one checkpoint's tokenizer.
#[derive(Clone)]
pub struct Windowing {
    tokenizer: tokenizers::Tokenizer,
    pad_id: u32,
    cls_id: Option<u32>,
    max_length: usize,
    doc_stride: usize,
    pair_specials: usize,
}

impl std::fmt::Debug for Windowing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windowing")
            .field("max_length", &self.max_length)
            .field("doc_stride", &self.doc_stride)
            .finish()
    }
}

/// One window of one question: the model's input and, for the context's tokens, where they
/// come from in the context.
#[derive(Debug, Clone)]
pub struct QaFeature {
    /// The question this window belongs to (its index in the examples).
    pub example: usize,
    /// Token ids, special tokens included, unpadded.
    pub input_ids: Vec<u32>,
    /// Segment ids as the checkpoint's post-processor sets them.
    pub token_type_ids: Vec<u32>,
    /// Character offsets into the context for the context's tokens, `None` for the question's
    /// and the special tokens (`run_qa.py`'s evaluation `offset_mapping`).
    pub context_offsets: Vec<Option<(usize, usize)>>,
    /// The window's encoding (words, sequences, offsets), for aligning answers to words.
    pub encoding: Encoding,
    /// Where the classifier token is (the span target of a question with no answer here).
    pub cls_index: usize,
}

impl QaFeature {
    /// Tokens in the window.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the window is empty (never, for a window of a real question).
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// The training target of this window for `answer` (`run_qa.py`'s
    /// `prepare_train_features`): the first and last token of the answer when it lies wholly
    /// inside the window's context, else the classifier token for both; the classifier token
    /// too for a question without an answer.
    pub fn span_positions(&self, answer: Option<&QaAnswer>) -> (usize, usize) {
        let Some(answer) = answer else {
            return (self.cls_index, self.cls_index);
        };
        let (start_char, end_char) = (answer.answer_start, answer.answer_end());
        let offsets = &self.context_offsets;
        let (Some(first), Some(last)) = (
            offsets.iter().position(Option::is_some),
            offsets.iter().rposition(Option::is_some),
        ) else {
            return (self.cls_index, self.cls_index);
        };
        let offset = |i: usize| self.encoding.get_offsets()[i];
        if !(offset(first).0 <= start_char && offset(last).1 >= end_char) {
            return (self.cls_index, self.cls_index);
        }
        // Walk past the answer's start, then back; `run_qa.py`'s loops, offsets of every token
        // (specials are (0, 0)), so the walks match it where they leave the context.
        let mut start = first;
        while start < self.len() && offset(start).0 <= start_char {
            start += 1;
        }
        let mut end = last;
        while offset(end).1 >= end_char {
            if end == 0 {
                break;
            }
            end -= 1;
        }
        (start - 1, end + 1)
    }
}

impl Windowing {
    /// Windows of `max_length` tokens (special tokens included) overlapping by `doc_stride`,
    /// for `tokenizer`. A stride too large for a question is an error when a context of that
    /// question has to be cut (as in `tokenizers`), not before.
    pub fn new(
        tokenizer: &Tokenizer,
        max_length: usize,
        doc_stride: usize,
    ) -> Result<Self, TrainError> {
        let mut inner = tokenizer.inner().clone();
        inner
            .with_truncation(None)
            .map_err(|e| TrainError::Data(format!("{}: {e}", tokenizer.path().display())))?;
        inner.with_padding(None);
        let pair_specials = inner
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, true));
        let cls_id = CLS_TOKENS.iter().find_map(|t| inner.token_to_id(t));
        Ok(Self {
            tokenizer: inner,
            pad_id: tokenizer.pad_id(),
            cls_id,
            max_length,
            doc_stride,
            pair_specials,
        })
    }

    /// The window length, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The overlap between consecutive windows, in tokens.
    pub fn doc_stride(&self) -> usize {
        self.doc_stride
    }

    /// The id batches are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The classifier token's id, when the tokenizer has one.
    pub fn cls_id(&self) -> Option<u32> {
        self.cls_id
    }

    fn encode(&self, what: &str, origin: &str, text: &str) -> Result<Encoding, TrainError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.tokenizer.encode_char_offsets(text, false)
        }))
        .map_err(|_| TrainError::Data(format!("{origin}: the tokenizer failed on the {what}")))?
        .map_err(|e| TrainError::Data(format!("{origin}: tokenizing the {what}: {e}")))
    }

    /// The windows of one question over its context; `origin` names the question in errors.
    pub fn windows(
        &self,
        example: usize,
        origin: &str,
        question: &str,
        context: &str,
    ) -> Result<Vec<QaFeature>, TrainError> {
        let question_encoding = self.encode("question", origin, question)?;
        let mut context_encoding = self.encode("context", origin, context)?;
        let fixed = question_encoding.len() + self.pair_specials;
        if fixed + context_encoding.len() > self.max_length {
            let budget = self.max_length.saturating_sub(fixed);
            if budget <= self.doc_stride {
                return Err(TrainError::Data(format!(
                    "{origin}: the question is {} tokens long: with {} special tokens, windows of {} tokens and an overlap (doc_stride) of {}, no part of the context fits; shorten the question or raise the window",
                    question_encoding.len(),
                    self.pair_specials,
                    self.max_length,
                    self.doc_stride
                )));
            }
            context_encoding.truncate(budget, self.doc_stride, TruncationDirection::Right);
        }
        let overflowing = context_encoding.take_overflowing();
        std::iter::once(context_encoding)
            .chain(overflowing)
            .map(|part| {
                let encoding = self
                    .tokenizer
                    .post_process(question_encoding.clone(), Some(part), true)
                    .map_err(|e| TrainError::Data(format!("{origin}: {e}")))?;
                Ok(self.feature(example, encoding))
            })
            .collect()
    }

    fn feature(&self, example: usize, encoding: Encoding) -> QaFeature {
        let sequence_ids = encoding.get_sequence_ids();
        let context_offsets = sequence_ids
            .iter()
            .zip(encoding.get_offsets())
            .map(|(sequence, &offset)| (*sequence == Some(1)).then_some(offset))
            .collect();
        let input_ids = encoding.get_ids().to_vec();
        // `run_qa.py`: the first classifier (or beginning-of-sequence) token, else 0.
        let cls_index = self
            .cls_id
            .and_then(|cls| input_ids.iter().position(|&id| id == cls))
            .unwrap_or(0);
        QaFeature {
            example,
            token_type_ids: encoding.get_type_ids().to_vec(),
            input_ids,
            context_offsets,
            encoding,
            cls_index,
        }
    }

    /// The windows of every example, in order; `run_qa.py` strips the questions' leading
    /// whitespace (some SQuAD questions have a lot of it) before tokenizing.
    pub fn features(&self, examples: &[QaExample]) -> Result<Vec<QaFeature>, TrainError> {
        let mut features = Vec::new();
        for (i, example) in examples.iter().enumerate() {
            features.extend(self.windows(
                i,
                &example.origin,
                example.question.trim_start(),
                &example.context,
            )?);
        }
        Ok(features)
    }
}
