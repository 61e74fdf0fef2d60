//! What pipelines share to run many inputs in one forward pass: tokenized rows, the limits of
//! one pass, right padding into body input, and reading per-row outputs back.
//!
//! The attention mask keeps padding out of every real position, but the padded length still
//! changes the order of float sums inside the kernels (results move in the last bits). So every
//! row is padded to a length that depends on its own length only ([`padded_length`]: the next
//! multiple of [`PAD_MULTIPLE`]), and only rows of one padded length share a forward pass: an
//! input gives bit for bit the same result alone or batched with any others, which is what lets
//! `serve` batch clients together and still answer exactly like the offline pipeline.

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::BodyInput;

use crate::error::KindlingError;

/// One row of a forward pass: a tokenized sequence, special tokens included, unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRow {
    /// Token ids.
    pub ids: Vec<i64>,
    /// Segment ids, one per token.
    pub type_ids: Vec<i64>,
}

impl EncodedRow {
    /// A row from a `tokenizers` encoding.
    pub fn from_encoding(encoding: &tokenizers::Encoding) -> Self {
        Self::from_ids(encoding.get_ids(), encoding.get_type_ids())
    }

    /// A row from token and segment ids.
    pub fn from_ids(ids: &[u32], type_ids: &[u32]) -> Self {
        Self {
            ids: ids.iter().map(|&v| i64::from(v)).collect(),
            type_ids: type_ids.iter().map(|&v| i64::from(v)).collect(),
        }
    }

    /// Tokens in the row.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the row has no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Rows are padded to a multiple of this many tokens: few enough lengths that rows share
/// passes, little enough padding to cost little.
pub const PAD_MULTIPLE: usize = 16;

/// The length a row of `len` tokens is padded to: the next multiple of [`PAD_MULTIPLE`], but
/// never past `max_len` (the model's position limit) or below `len`.
pub fn padded_length(len: usize, max_len: usize) -> usize {
    len.div_ceil(PAD_MULTIPLE)
        .saturating_mul(PAD_MULTIPLE)
        .min(max_len)
        .max(len)
}

/// How much one forward pass takes: at most `max_rows` rows and `max_tokens` padded tokens
/// (rows × the longest row). A row longer than `max_tokens` still runs, alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Rows per forward pass.
    pub max_rows: usize,
    /// Padded tokens per forward pass.
    pub max_tokens: usize,
}

impl Default for BatchLimits {
    /// 8 rows and 16,384 tokens: batched enough to keep the kernels busy, small enough that
    /// one long row does not pad seven short ones to its length for long.
    fn default() -> Self {
        Self {
            max_rows: 8,
            max_tokens: 16_384,
        }
    }
}

impl BatchLimits {
    /// Plans the forward passes for rows of these lengths: rows of one padded length
    /// ([`padded_length`] under `max_len`) together, in order, at most `max_rows` rows and
    /// `max_tokens` padded tokens a pass. Returns each pass's row indices.
    pub fn passes(&self, lengths: &[usize], max_len: usize) -> Vec<Vec<usize>> {
        let mut by_length: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, &len) in lengths.iter().enumerate() {
            by_length
                .entry(padded_length(len, max_len))
                .or_default()
                .push(i);
        }
        let mut passes = Vec::new();
        for (padded, rows) in by_length {
            let per_pass = (self.max_tokens / padded.max(1)).clamp(1, self.max_rows.max(1));
            passes.extend(rows.chunks(per_pass).map(<[usize]>::to_vec));
        }
        passes
    }
}

/// Rows padded on the right with `pad_id` to the [`padded_length`] of the longest under
/// `max_len`, as body input (ids, attention mask, segment ids); also the padded length.
pub fn padded_input(
    rows: &[&EncodedRow],
    pad_id: i64,
    max_len: usize,
    device: &Device,
) -> (BodyInput, usize) {
    let longest = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let longest = padded_length(longest, max_len);
    let (mut ids, mut mask, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let pad = longest - row.len();
        ids.extend_from_slice(&row.ids);
        ids.extend(std::iter::repeat_n(pad_id, pad));
        mask.extend(std::iter::repeat_n(1i64, row.len()));
        mask.extend(std::iter::repeat_n(0i64, pad));
        types.extend_from_slice(&row.type_ids);
        types.extend(std::iter::repeat_n(0i64, pad));
    }
    let shape = [rows.len(), longest];
    let tensor = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, shape), device);
    let input = BodyInput::new(tensor(ids), tensor(mask)).with_token_type_ids(tensor(types));
    (input, longest)
}

/// A tensor's values as `f32`, or an error naming the task and the output.
pub fn read_values<const D: usize>(
    tensor: Tensor<D>,
    task: &str,
    output: &str,
) -> Result<Vec<f32>, KindlingError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| KindlingError::Input {
            source_name: task.into(),
            field: output.into(),
            message: format!("{e:?}"),
        })
}

/// Per row, the values at its own positions of a `[rows, padded, width]` output read flat:
/// `rows[i].len() × width` values each, padding dropped.
pub fn split_rows(
    values: &[f32],
    rows: &[&EncodedRow],
    padded: usize,
    width: usize,
) -> Vec<Vec<f32>> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let start = i * padded * width;
            values[start..start + row.len() * width].to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize) -> EncodedRow {
        EncodedRow {
            ids: vec![1; n],
            type_ids: vec![0; n],
        }
    }

    #[test]
    fn rows_pad_to_multiples_under_the_limit() {
        assert_eq!(padded_length(1, 512), 16);
        assert_eq!(padded_length(16, 512), 16);
        assert_eq!(padded_length(17, 512), 32);
        assert_eq!(padded_length(40, 48), 48);
        assert_eq!(padded_length(60, 48), 60);
    }

    #[test]
    fn passes_group_padded_lengths_within_the_limits() {
        let limits = BatchLimits {
            max_rows: 2,
            max_tokens: 64,
        };
        // padded: 16, 32, 16, 16, 48, 32
        let passes = limits.passes(&[3, 20, 10, 16, 40, 17], 512);
        // three 16s: two per pass; the 32s: two fit 64 tokens; the 48 alone.
        assert_eq!(passes, vec![vec![0, 2], vec![3], vec![1, 5], vec![4]]);
        let one_per_pass = BatchLimits {
            max_rows: 8,
            max_tokens: 10,
        };
        assert_eq!(one_per_pass.passes(&[3, 3], 512), vec![vec![0], vec![1]]);
    }

    #[test]
    fn split_rows_drops_padding() {
        let rows = [row(2), row(1)];
        let refs: Vec<&EncodedRow> = rows.iter().collect();
        let values: Vec<f32> = (0..8).map(|v| v as f32).collect(); // [2 rows, 2 padded, 2 wide]
        assert_eq!(
            split_rows(&values, &refs, 2, 2),
            vec![vec![0.0, 1.0, 2.0, 3.0], vec![4.0, 5.0]]
        );
    }
}
