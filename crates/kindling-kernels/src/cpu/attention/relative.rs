//! Gathered relative-position scores (DeBERTa's disentangled `c2p` and `p2c` terms) on
//! float32 slices, heads read in place.
//!
//! Each term is `content · positionsᵀ` per `(batch, head)`, a `[seq, rows]` table of scores
//! against every relative-embedding row, of which each `(query, key)` pair reads one. Burn's
//! form materializes the tables for the whole batch, broadcasts the position projection over
//! it, and gathers through an index tensor of the scores' full size; here one worker computes
//! one pair's table into its scratch (one matrix product, heads read through strides) and
//! gathers from it while it is in cache.

use super::{AttentionShape, Shared, View, for_each_head, product};

/// One relative term: the content rows (`[batch, seq, heads · head_dim]`), the projected
/// relative embeddings (`[rows, heads · head_dim]`), and the table row each score reads.
#[derive(Debug, Clone, Copy)]
pub struct RelativeTerm<'a> {
    /// The queries (content-to-position) or keys (position-to-content).
    pub content: &'a [f32],
    /// The position keys or queries, one row per relative-embedding row.
    pub positions: &'a [f32],
    /// Rows in `positions`.
    pub rows: usize,
    /// `[seq, seq]` row-major, by query then key: the table row `index[i · seq + j]` (below
    /// `rows`) that the score of query `i` and key `j` reads, in the table row of query `i`
    /// or, with `by_key`, of key `j`.
    pub index: &'a [u32],
    /// Whether the content rows are the keys (DeBERTa's `p2c`); otherwise the queries (`c2p`).
    pub by_key: bool,
}

/// `out [batch, heads, seq, seq] = scale · Σ terms`: for each term, query `i` and key `j`, the
/// product of the content row and the position row its index names.
///
/// # Panics
/// When a slice is shorter than `shape` says or an index is out of its table (a bounds check
/// of the gather).
#[allow(unsafe_code)]
pub fn relative_scores(
    terms: &[RelativeTerm<'_>],
    shape: AttentionShape,
    scale: f32,
    out: &mut [f32],
) {
    let AttentionShape {
        batch,
        seq_q: seq,
        heads,
        head_dim,
        ..
    } = shape;
    let hidden = shape.hidden();
    assert_eq!(
        shape.seq_k, seq,
        "relative scores: queries and keys are one sequence"
    );
    assert_eq!(out.len(), batch * heads * seq * seq, "relative scores: out");
    for term in terms {
        assert_eq!(
            term.content.len(),
            batch * seq * hidden,
            "relative scores: content"
        );
        assert_eq!(
            term.positions.len(),
            term.rows * hidden,
            "relative scores: positions"
        );
        assert_eq!(term.index.len(), seq * seq, "relative scores: index");
    }
    out.fill(0.0);
    let out = Shared(out.as_mut_ptr());
    let work = terms.iter().map(|t| seq * t.rows * head_dim).sum::<usize>();
    for_each_head(shape, work, |scratch, task| {
        let (b, h) = (task / heads, task % heads);
        // SAFETY: task `(b, h)` writes only its own `[seq, seq]` block of `out`.
        let block =
            unsafe { std::slice::from_raw_parts_mut(out.get().add(task * seq * seq), seq * seq) };
        for term in terms {
            let table = &mut scratch.first;
            table.resize(seq * term.rows, 0.0);
            let content = View::rows(
                term.content[(b * seq * hidden + h * head_dim)..].as_ptr(),
                hidden,
            );
            let positions =
                View::rows(term.positions[h * head_dim..].as_ptr(), hidden).transposed();
            // SAFETY: `content` addresses `seq × head_dim` elements of this sequence and head
            // (rows `hidden` apart), `positions` `head_dim × rows` of this head, and the table
            // is `seq × rows`, this worker's own.
            unsafe {
                product(
                    seq,
                    term.rows,
                    head_dim,
                    View::rows(table.as_mut_ptr(), term.rows),
                    content,
                    positions,
                    scale,
                );
            }
            let rows = term.rows;
            let score_rows = block
                .chunks_exact_mut(seq)
                .zip(term.index.chunks_exact(seq));
            for (i, (cells, index)) in score_rows.enumerate() {
                if term.by_key {
                    // Key `j`'s table row, for every key `j` of query `i`.
                    for (j, (cell, &r)) in cells.iter_mut().zip(index).enumerate() {
                        *cell += table[j * rows + r as usize];
                    }
                } else {
                    let row = &table[i * rows..(i + 1) * rows];
                    for (cell, &r) in cells.iter_mut().zip(index) {
                        *cell += row[r as usize];
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::values;
    use super::*;

    #[test]
    fn matches_the_gather_of_the_full_tables() {
        let (batch, seq, heads, head_dim, rows) = (2, 5, 3, 4, 7);
        let hidden = heads * head_dim;
        let query = values(batch * seq * hidden, 1);
        let key = values(batch * seq * hidden, 2);
        let pos_key = values(rows * hidden, 3);
        let pos_query = values(rows * hidden, 4);
        let c2p: Vec<u32> = (0..seq * seq)
            .map(|e| ((e * 3 + 1) % rows) as u32)
            .collect();
        let p2c: Vec<u32> = (0..seq * seq)
            .map(|e| ((e * 5 + 2) % rows) as u32)
            .collect();
        let shape = AttentionShape {
            batch,
            seq_q: seq,
            seq_k: seq,
            heads,
            head_dim,
        };
        let terms = [
            RelativeTerm {
                content: &query,
                positions: &pos_key,
                rows,
                index: &c2p,
                by_key: false,
            },
            RelativeTerm {
                content: &key,
                positions: &pos_query,
                rows,
                index: &p2c,
                by_key: true,
            },
        ];
        // Either term first.
        let mut out = vec![f32::NAN; batch * heads * seq * seq];
        relative_scores(&terms, shape, 0.5, &mut out);
        let mut swapped = vec![f32::NAN; batch * heads * seq * seq];
        relative_scores(&[terms[1], terms[0]], shape, 0.5, &mut swapped);
        let dot = |a: &[f32], ar: usize, p: &[f32], pr: usize, h: usize| -> f32 {
            (0..head_dim)
                .map(|d| a[ar * hidden + h * head_dim + d] * p[pr * hidden + h * head_dim + d])
                .sum()
        };
        for b in 0..batch {
            for h in 0..heads {
                for i in 0..seq {
                    for j in 0..seq {
                        let expected = 0.5
                            * (dot(&query, b * seq + i, &pos_key, c2p[i * seq + j] as usize, h)
                                + dot(&key, b * seq + j, &pos_query, p2c[i * seq + j] as usize, h));
                        for got in [&out, &swapped] {
                            let got = got[((b * heads + h) * seq + i) * seq + j];
                            assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
                        }
                    }
                }
            }
        }
    }
}
