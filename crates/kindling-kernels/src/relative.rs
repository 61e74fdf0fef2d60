//! Gathered relative-position scores: DeBERTa's content-to-position and position-to-content
//! terms, the additive bias of its disentangled attention.

use std::sync::{Arc, OnceLock};

use burn::prelude::*;

/// Which row of a relative-embedding table each `(content, other)` position pair reads,
/// `[seq, seq]` row-major and shared by every sequence of the batch and every head. Built
/// once per forward pass; cloning shares it (and the index tensor Burn's path builds from it
/// on first use).
///
/// ```
/// use kindling_kernels::RelativeIndex;
///
/// // Two positions, three table rows: row 1 + (c - o).
/// let index = RelativeIndex::new(2, 3, vec![1, 2, 0, 1]).unwrap();
/// assert_eq!((index.seq(), index.rows()), (2, 3));
/// assert!(RelativeIndex::new(2, 3, vec![1, 2, 0, 3]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct RelativeIndex {
    seq: usize,
    rows: usize,
    index: Arc<[u32]>,
    /// The entries transposed, built on first use: kindling's kernel reads a key-content
    /// term's rows by query.
    transposed: Arc<OnceLock<Vec<u32>>>,
    /// `[batch, heads, seq, seq]` on a device, for the gather of Burn's path.
    gather: Arc<OnceLock<Tensor<4, Int>>>,
}

/// Why a [`RelativeIndex`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelativeIndexError {
    /// The index does not have `seq²` entries.
    #[error("relative index: {found} entries for a sequence of {seq} (expected {})", seq * seq)]
    Length {
        /// The sequence length.
        seq: usize,
        /// The entries given.
        found: usize,
    },
    /// An entry names a row past the table.
    #[error("relative index: entry {entry} is row {row}, past a table of {rows} rows")]
    Row {
        /// The entry's position in the index.
        entry: usize,
        /// The row it names.
        row: u32,
        /// Rows in the table.
        rows: usize,
    },
}

impl RelativeIndex {
    /// The index of a `[rows, …]` table for sequences of `seq`: `index[c · seq + o]` is the row
    /// the pair of content position `c` and other position `o` reads.
    pub fn new(seq: usize, rows: usize, index: Vec<u32>) -> Result<Self, RelativeIndexError> {
        if index.len() != seq * seq {
            return Err(RelativeIndexError::Length {
                seq,
                found: index.len(),
            });
        }
        if let Some((entry, &row)) = index.iter().enumerate().find(|(_, r)| **r as usize >= rows) {
            return Err(RelativeIndexError::Row { entry, row, rows });
        }
        Ok(Self {
            seq,
            rows,
            index: index.into(),
            transposed: Arc::default(),
            gather: Arc::default(),
        })
    }

    /// The sequence length.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Rows of the table the index reads.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The entries, `[seq, seq]` row-major.
    pub fn entries(&self) -> &[u32] {
        &self.index
    }

    /// The entries transposed (`[o · seq + c]`), built once and shared by every clone.
    pub(crate) fn transposed(&self) -> &[u32] {
        let seq = self.seq;
        self.transposed.get_or_init(|| {
            (0..seq * seq)
                .map(|e| self.index[(e % seq) * seq + e / seq])
                .collect()
        })
    }

    /// The index repeated to `[batch, heads, seq, seq]` on `device` (built on first use).
    fn gather_tensor(&self, batch: usize, heads: usize, device: &Device) -> Tensor<4, Int> {
        let seq = self.seq;
        let build = || {
            let values = self.index.iter().map(|&r| i64::from(r)).collect::<Vec<_>>();
            Tensor::<2, Int>::from_data(TensorData::new(values, [seq, seq]), device)
                .reshape([1, 1, seq, seq])
                .repeat_dim(0, batch)
                .repeat_dim(1, heads)
        };
        let cached = self.gather.get_or_init(&build);
        if cached.dims() == [batch, heads, seq, seq] && cached.device() == *device {
            cached.clone()
        } else {
            build()
        }
    }
}

/// One term of [`relative_scores`].
#[derive(Debug, Clone)]
pub struct RelativeTerm<'a> {
    /// The content rows, `[batch, seq, heads · head_dim]`: the queries (content-to-position)
    /// or the keys (position-to-content).
    pub content: &'a Tensor<3>,
    /// The projected relative embeddings, `[rows, heads · head_dim]`.
    pub positions: Tensor<2>,
    /// The row each pair reads.
    pub index: &'a RelativeIndex,
    /// Whether the content rows are the keys: the score of query `o` and key `c` then reads
    /// `index[c · seq + o]` (DeBERTa's `p2c`); otherwise query `c` and key `o` (`c2p`).
    pub by_key: bool,
}

/// `scale · Σ terms` as `[batch, heads, seq, seq]` scores (query rows, key columns): for each
/// term, the product of a content row and the position row its index names, per head.
///
/// On Flex in float32 without autodiff, one worker per `(sequence, head)` computes that pair's
/// `[seq, rows]` table and gathers from it in cache. Elsewhere (training, other backends,
/// other dtypes), Burn's operations, as `transformers` computes it: the tables of the whole
/// batch, then a gather. `None` without terms.
///
/// # Panics
/// When the shapes of the terms disagree.
pub fn relative_scores(terms: &[RelativeTerm<'_>], heads: usize, scale: f64) -> Option<Tensor<4>> {
    let first = terms.first()?;
    let [batch, seq, hidden] = first.content.dims();
    for term in terms {
        assert_eq!(
            term.content.dims(),
            [batch, seq, hidden],
            "relative scores: content"
        );
        assert_eq!(
            term.positions.dims(),
            [term.index.rows(), hidden],
            "relative scores: positions"
        );
        assert_eq!(term.index.seq(), seq, "relative scores: index");
    }
    #[cfg(feature = "flex")]
    if let Some(out) = crate::flex::relative_scores(terms, heads, scale) {
        return Some(out);
    }
    let head_dim = hidden / heads;
    let device = first.content.device();
    terms
        .iter()
        .map(|term| {
            let rows = term.index.rows();
            let content = term
                .content
                .clone()
                .reshape([batch, seq, heads, head_dim])
                .swap_dims(1, 2);
            let positions = term
                .positions
                .clone()
                .reshape([rows, heads, head_dim])
                .swap_dims(0, 1)
                .swap_dims(1, 2)
                .unsqueeze::<4>()
                .expand([batch, heads, head_dim, rows]);
            let index = term.index.gather_tensor(batch, heads, &device);
            let gathered = content.matmul(positions).gather(3, index);
            let gathered = if term.by_key {
                gathered.swap_dims(2, 3)
            } else {
                gathered
            };
            gathered * scale
        })
        .reduce(|a, b| a + b)
}
