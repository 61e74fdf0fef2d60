//! The order in which examples are batched: seeded shuffling and length-grouped batches.

use crate::error::DataError;
use crate::rng::SeededRng;

/// Batches of example indices covering `0..n_examples` exactly once, the last batch possibly
/// smaller.
///
/// - `seed: None` keeps the file order (evaluation). `Some(seed)` shuffles: ChaCha8 seeded
///   with `seed_from_u64(seed)`, Fisher–Yates (see the crate's `rng` module), so a seed always
///   gives the same order on every platform. Use a different seed per epoch, e.g.
///   `seed.wrapping_add(epoch)`.
/// - `group_by_length: Some(lengths)` (one length per example, e.g. token counts) groups
///   examples of similar length to waste less padding, as `transformers`' `group_by_length`
///   does (`get_length_grouped_indices`): the (shuffled) order is cut into mega-batches of
///   `min(n_examples / (4 * batch_size), 50)` batches (at least 1), each sorted by length,
///   longest first (a stable sort), and the longest example overall is swapped to the front, so
///   running out of memory shows in the first batch.
///
/// Errors when `batch_size` is 0 or `lengths` does not have one entry per example.
pub fn batch_order(
    n_examples: usize,
    batch_size: usize,
    seed: Option<u64>,
    group_by_length: Option<&[usize]>,
) -> Result<Vec<Vec<usize>>, DataError> {
    if batch_size == 0 {
        return Err(DataError::ZeroBatchSize);
    }
    let mut order: Vec<usize> = (0..n_examples).collect();
    if let Some(seed) = seed {
        SeededRng::new(seed).shuffle(&mut order);
    }
    if let Some(lengths) = group_by_length {
        if lengths.len() != n_examples {
            return Err(DataError::LengthsMismatch {
                lengths: lengths.len(),
                examples: n_examples,
            });
        }
        group(&mut order, lengths, batch_size);
    }
    Ok(order.chunks(batch_size).map(<[usize]>::to_vec).collect())
}

fn group(order: &mut [usize], lengths: &[usize], batch_size: usize) {
    let mult = (order.len() / (batch_size * 4)).clamp(1, 50);
    let mega = mult * batch_size;
    for chunk in order.chunks_mut(mega) {
        chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    // Each mega-batch now starts with its longest; bring the longest of all to the front.
    let longest = order
        .chunks(mega)
        .enumerate()
        .map(|(m, chunk)| (lengths[chunk[0]], m))
        .fold(None, |best: Option<(usize, usize)>, (len, m)| match best {
            Some((best_len, _)) if best_len >= len => best,
            _ => Some((len, m)),
        });
    if let Some((_, m)) = longest {
        order.swap(0, m * mega);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers_once(batches: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn sequential_without_seed() {
        let batches = batch_order(7, 3, None, None).unwrap();
        assert_eq!(batches, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert!(batch_order(0, 3, None, None).unwrap().is_empty());
    }

    #[test]
    fn seeded_shuffle_is_deterministic_and_covers_every_index() {
        let a = batch_order(103, 8, Some(42), None).unwrap();
        let b = batch_order(103, 8, Some(42), None).unwrap();
        let c = batch_order(103, 8, Some(43), None).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 13);
        assert!(a[..12].iter().all(|batch| batch.len() == 8));
        assert_eq!(a[12].len(), 7);
        covers_once(&a, 103);
        covers_once(&c, 103);
    }

    #[test]
    fn length_grouping_sorts_mega_batches_longest_first() {
        let n = 400;
        let lengths: Vec<usize> = (0..n).map(|i| (i * 37) % 101).collect();
        let batches = batch_order(n, 4, Some(3), Some(&lengths)).unwrap();
        covers_once(&batches, n);
        assert_eq!(batches, batch_order(n, 4, Some(3), Some(&lengths)).unwrap());
        // The longest example comes first.
        let max = *lengths.iter().max().unwrap();
        assert_eq!(lengths[batches[0][0]], max);
        // 400 / 16 = 25 batches per mega-batch: 100 examples each, sorted descending
        // (apart from the swapped first element).
        let flat: Vec<usize> = batches.iter().flatten().copied().collect();
        for mega in flat.chunks(100) {
            let lens: Vec<usize> = mega[1..].iter().map(|&i| lengths[i]).collect();
            assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{lens:?}");
        }
        // Without a seed the grouping still applies to the file order.
        let plain = batch_order(10, 2, None, Some(&[1, 5, 2, 9, 0, 3, 3, 8, 7, 6])).unwrap();
        assert_eq!(plain[0], [3, 0]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(matches!(
            batch_order(3, 0, None, None),
            Err(DataError::ZeroBatchSize)
        ));
        assert!(matches!(
            batch_order(3, 2, None, Some(&[1, 2])),
            Err(DataError::LengthsMismatch {
                lengths: 2,
                examples: 3
            })
        ));
    }
}
