//! Padded batches for token classification.

use crate::labels::IGNORE_INDEX;

/// One example, tokenized and labelled, not padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedExample {
    /// Token ids, special tokens included.
    pub input_ids: Vec<i64>,
    /// Segment ids.
    pub token_type_ids: Vec<i64>,
    /// The word each token came from (`None` for special tokens).
    pub word_ids: Vec<Option<u32>>,
    /// Label id per token, [`IGNORE_INDEX`] where no label applies.
    pub labels: Vec<i64>,
}

impl EncodedExample {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the example has no tokens.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// A batch for token classification, padded on the right to its longest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClassificationBatch {
    /// Token ids `[batch][seq]`, padded with the tokenizer's pad id.
    pub input_ids: Vec<Vec<i64>>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<Vec<i64>>,
    /// Segment ids, 0 on padding.
    pub token_type_ids: Vec<Vec<i64>>,
    /// Label ids, [`IGNORE_INDEX`] (-100) on special tokens, later sub-words and padding.
    pub labels: Vec<Vec<i64>>,
    /// The word each token came from (`None` for special tokens and padding), to turn token
    /// predictions back into word predictions.
    pub word_ids: Vec<Vec<Option<u32>>>,
    /// Which example (index into the encoded data set) each row is.
    pub example_indices: Vec<usize>,
}

impl TokenClassificationBatch {
    /// `(batch, seq)`.
    pub fn shape(&self) -> (usize, usize) {
        (
            self.input_ids.len(),
            self.input_ids.first().map_or(0, Vec::len),
        )
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// Pads `rows` (with their example indices) to the longest one.
    pub(crate) fn pad(rows: &[(usize, &EncodedExample)], pad_id: i64) -> Self {
        let longest = rows.iter().map(|(_, e)| e.len()).max().unwrap_or(0);
        let mut batch = Self {
            input_ids: Vec::with_capacity(rows.len()),
            attention_mask: Vec::with_capacity(rows.len()),
            token_type_ids: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
            word_ids: Vec::with_capacity(rows.len()),
            example_indices: Vec::with_capacity(rows.len()),
        };
        for &(index, example) in rows {
            let n = example.len();
            let pad = longest - n;
            batch
                .input_ids
                .push(padded(&example.input_ids, pad_id, pad));
            let mut mask = vec![1; n];
            mask.extend(std::iter::repeat_n(0, pad));
            batch.attention_mask.push(mask);
            batch
                .token_type_ids
                .push(padded(&example.token_type_ids, 0, pad));
            batch
                .labels
                .push(padded(&example.labels, IGNORE_INDEX, pad));
            batch.word_ids.push(padded(&example.word_ids, None, pad));
            batch.example_indices.push(index);
        }
        batch
    }
}

fn padded<T: Clone>(row: &[T], value: T, pad: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(row.len() + pad);
    out.extend_from_slice(row);
    out.extend(std::iter::repeat_n(value, pad));
    out
}
