//! Word-level labels onto sub-word tokens.

use crate::labels::IGNORE_INDEX;

/// Labels per token from labels per word, as `transformers`' `run_ner.py` aligns them.
///
/// `word_ids` gives, per token, the word it came from (`None` for special tokens and
/// padding). The first token of each word gets the word's label; later tokens of the same word
/// get [`IGNORE_INDEX`] (-100), or, when `label_all_subwords`, the word's label mapped through
/// `b_to_i` (for a `B-` label its `I-` label, see [`LabelSet::b_to_i`]; `None` keeps the label
/// as is). Special tokens and padding get -100. A token is a word's "first" when its word
/// differs from the previous token's, exactly as `run_ner.py` decides it. A word id with no
/// entry in `word_labels` (which a tokenizer run on the same words never gives) gets -100.
///
/// [`LabelSet::b_to_i`]: crate::LabelSet::b_to_i
///
/// ```
/// use kindling_data::align_labels_to_subwords;
/// // [CLS] Frank ##furt am Main [SEP] [PAD] for "Frankfurt am Main" = B-LOC I-LOC I-LOC (5, 6, 6)
/// let word_ids = [None, Some(0), Some(0), Some(1), Some(2), None, None];
/// assert_eq!(
///     align_labels_to_subwords(&word_ids, &[5, 6, 6], false, None),
///     [-100, 5, -100, 6, 6, -100, -100]
/// );
/// ```
pub fn align_labels_to_subwords(
    word_ids: &[Option<u32>],
    word_labels: &[i64],
    label_all_subwords: bool,
    b_to_i: Option<&[i64]>,
) -> Vec<i64> {
    let mut previous: Option<u32> = None;
    word_ids
        .iter()
        .map(|&word| {
            let label = match word {
                None => IGNORE_INDEX,
                Some(w) => {
                    let label = word_labels.get(w as usize).copied();
                    match label {
                        None => IGNORE_INDEX,
                        Some(label) if previous != Some(w) => label,
                        Some(label) if label_all_subwords => b_to_i
                            .and_then(|map| usize::try_from(label).ok().and_then(|l| map.get(l)))
                            .copied()
                            .unwrap_or(label),
                        Some(_) => IGNORE_INDEX,
                    }
                }
            };
            previous = word;
            label
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LabelSet;

    /// Worked by hand: "Jeff Dean works at Google in Mountain View" → the book's ch. 4 example
    /// with a WordPiece-like split:
    ///
    /// | token   | [CLS] | Jeff | De | ##an | works | at | Goo | ##gle | in | Mountain | View | [SEP] | pad |
    /// |---------|-------|------|----|------|-------|----|-----|-------|----|----------|------|-------|-----|
    /// | word id | –     | 0    | 1  | 1    | 2     | 3  | 4   | 4     | 5  | 6        | 7    | –     | –   |
    /// | tag     |       | B-PER| I-PER|    | O     | O  | B-ORG|      | O  | B-LOC    | I-LOC|       |     |
    fn example() -> (Vec<Option<u32>>, Vec<i64>) {
        let word_ids = vec![
            None,
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            None,
            None,
        ];
        // PAN-X ids: O 0, B-PER 1, I-PER 2, B-ORG 3, I-ORG 4, B-LOC 5, I-LOC 6.
        let word_labels = vec![1, 2, 0, 0, 3, 0, 5, 6];
        (word_ids, word_labels)
    }

    #[test]
    fn first_subword_only() {
        let (word_ids, labels) = example();
        assert_eq!(
            align_labels_to_subwords(&word_ids, &labels, false, None),
            [-100, 1, 2, -100, 0, 0, 3, -100, 0, 5, 6, -100, -100]
        );
    }

    #[test]
    fn all_subwords_with_b_to_i() {
        let (word_ids, labels) = example();
        let b_to_i = LabelSet::panx().b_to_i();
        // "##gle" continues B-ORG, so it gets I-ORG (4); "##an" continues I-PER and keeps it.
        assert_eq!(
            align_labels_to_subwords(&word_ids, &labels, true, Some(&b_to_i)),
            [-100, 1, 2, 2, 0, 0, 3, 4, 0, 5, 6, -100, -100]
        );
        assert_eq!(
            align_labels_to_subwords(&word_ids, &labels, true, None),
            [-100, 1, 2, 2, 0, 0, 3, 3, 0, 5, 6, -100, -100]
        );
    }

    #[test]
    fn missing_word_labels_are_ignored() {
        assert_eq!(
            align_labels_to_subwords(&[None, Some(0), Some(3)], &[2], false, None),
            [-100, 2, -100]
        );
    }
}
