//! Examples to labelled token ids: tokenize pre-split words, align word labels to sub-words,
//! report what truncation cut.

use std::collections::BTreeSet;

use crate::align::align_labels_to_subwords;
use crate::batch::{EncodedExample, TokenClassificationBatch};
use crate::error::DataError;
use crate::example::NerExample;
use crate::labels::LabelSet;
use crate::tokenizer::Tokenizer;

/// What truncation to the model's window cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruncationReport {
    /// Examples cut to fit the window.
    pub sequences: usize,
    /// Words whose first sub-word fell past the window, so their label is never seen.
    pub labelled_words_cut: usize,
    /// Words the tokenizer turned into no token at all (e.g. only control characters), so
    /// their label is never seen either.
    pub words_without_tokens: usize,
}

impl TruncationReport {
    /// Whether no label was lost.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for TruncationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sequences truncated, {} labelled words cut, {} words without tokens",
            self.sequences, self.labelled_words_cut, self.words_without_tokens
        )
    }
}

/// Turns [`NerExample`]s into token ids with one label per token.
#[derive(Debug, Clone)]
pub struct TokenClassificationEncoder {
    tokenizer: Tokenizer,
    labels: LabelSet,
    b_to_i: Vec<i64>,
    label_all_subwords: bool,
}

impl TokenClassificationEncoder {
    /// An encoder with `labels` (tag ↔ id) and `tokenizer`.
    ///
    /// `max_length: Some(n)` truncates rows to `n` tokens (special tokens included);
    /// `None` keeps the tokenizer's own setting ([`Tokenizer::max_length`]).
    /// `label_all_subwords` labels every sub-word of a word (later ones of a `B-` word with its
    /// `I-` label, as `run_ner.py --label_all_tokens`) instead of only the first.
    pub fn new(
        tokenizer: Tokenizer,
        labels: LabelSet,
        max_length: Option<usize>,
        label_all_subwords: bool,
    ) -> Result<Self, DataError> {
        let tokenizer = match max_length {
            Some(n) => tokenizer.with_max_length(Some(n))?,
            None => tokenizer,
        };
        let b_to_i = labels.b_to_i();
        Ok(Self {
            tokenizer,
            labels,
            b_to_i,
            label_all_subwords,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The label set.
    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    /// Whether every sub-word is labelled.
    pub fn label_all_subwords(&self) -> bool {
        self.label_all_subwords
    }

    /// Tokenizes and labels every example once, for batching by index later.
    ///
    /// Errors when an example has more or fewer tags than tokens, has a tag outside the label
    /// set (naming the file and line it came from), or cannot be tokenized.
    pub fn encode(&self, examples: &[NerExample]) -> Result<EncodedDataset, DataError> {
        let mut encoded = Vec::with_capacity(examples.len());
        let mut truncation = TruncationReport::default();
        for (index, example) in examples.iter().enumerate() {
            if example.tokens.len() != example.tags.len() {
                return Err(DataError::ExampleLengthMismatch {
                    example: index,
                    tokens: example.tokens.len(),
                    tags: example.tags.len(),
                });
            }
            let word_labels = self.labels.encode_example(example, index)?;
            let encoding = self.tokenizer.encode_words(index, &example.tokens)?;
            count_lost(&encoding, example.len(), &mut truncation);
            let word_ids = encoding.get_word_ids().to_vec();
            let labels = align_labels_to_subwords(
                &word_ids,
                &word_labels,
                self.label_all_subwords,
                Some(&self.b_to_i),
            );
            encoded.push(EncodedExample {
                input_ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
                token_type_ids: encoding
                    .get_type_ids()
                    .iter()
                    .map(|&i| i64::from(i))
                    .collect(),
                word_ids,
                labels,
            });
        }
        Ok(EncodedDataset {
            examples: encoded,
            pad_id: i64::from(self.tokenizer.pad_id()),
            truncation,
        })
    }

    /// Encodes `examples` and pads them into one batch (rows in the given order).
    pub fn encode_batch(
        &self,
        examples: &[NerExample],
    ) -> Result<(TokenClassificationBatch, TruncationReport), DataError> {
        let dataset = self.encode(examples)?;
        let all: Vec<usize> = (0..dataset.len()).collect();
        Ok((dataset.batch(&all)?, dataset.truncation()))
    }
}

/// Adds to `report` what truncation cut from one example of `n_words` words.
fn count_lost(encoding: &tokenizers::Encoding, n_words: usize, report: &mut TruncationReport) {
    let kept: BTreeSet<u32> = encoding.get_word_ids().iter().flatten().copied().collect();
    let overflow: BTreeSet<u32> = encoding
        .get_overflowing()
        .iter()
        .flat_map(|e| e.get_word_ids().iter().flatten().copied())
        .collect();
    if !encoding.get_overflowing().is_empty() {
        report.sequences += 1;
    }
    let cut = overflow.difference(&kept).count();
    report.labelled_words_cut += cut;
    report.words_without_tokens += n_words.saturating_sub(kept.len() + cut);
}

/// Every example of a data set, tokenized and labelled once, ready to batch by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedDataset {
    examples: Vec<EncodedExample>,
    pad_id: i64,
    truncation: TruncationReport,
}

impl EncodedDataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The encoded examples, in the order given.
    pub fn examples(&self) -> &[EncodedExample] {
        &self.examples
    }

    /// Tokens per example (for [`batch_order`](crate::batch_order)'s length grouping).
    pub fn lengths(&self) -> Vec<usize> {
        self.examples.iter().map(EncodedExample::len).collect()
    }

    /// The id padding uses.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// What truncation cut, over all examples.
    pub fn truncation(&self) -> TruncationReport {
        self.truncation
    }

    /// The examples at `indices`, padded to the longest of them (labels padded with -100).
    pub fn batch(&self, indices: &[usize]) -> Result<TokenClassificationBatch, DataError> {
        let rows = indices
            .iter()
            .map(|&index| {
                self.examples
                    .get(index)
                    .map(|e| (index, e))
                    .ok_or(DataError::ExampleIndex {
                        index,
                        len: self.examples.len(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenClassificationBatch::pad(&rows, self.pad_id))
    }

    /// One batch per entry of `order` (as [`batch_order`](crate::batch_order) gives them).
    pub fn batches<'a>(
        &'a self,
        order: &'a [Vec<usize>],
    ) -> impl Iterator<Item = Result<TokenClassificationBatch, DataError>> + 'a {
        order.iter().map(|indices| self.batch(indices))
    }
}
