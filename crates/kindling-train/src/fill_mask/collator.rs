//! Dynamic masking, with the semantics of `transformers`' `DataCollatorForLanguageModeling`
//! (and its `whole_word_mask=True` mode, which replaced `DataCollatorForWholeWordMask`).
//!
//! Each non-special token is chosen with probability `mlm_probability` (0.15); a chosen token
//! is replaced by the mask token with probability `mask_replace_prob` (0.8), else by a random
//! token of the vocabulary with probability `random_replace_prob / (1 - mask_replace_prob)`
//! (so 10% of the chosen), else left unchanged (10%). Labels are the original ids at chosen
//! positions and -100 everywhere else. With whole-word masking, words are found from the token
//! offsets (a token starts a new word when it does not begin where the previous token ended,
//! or follows a special token), the first token of each word is drawn with `mlm_probability`,
//! every token of a drawn word is chosen, and every chosen token becomes the mask token, as
//! `transformers` forces `mask_replace_prob = 1` in that mode.
//!
//! The draws come from [`SeededRng`] seeded per batch, so a batch's masks are a function of
//! its seed (the exact draws differ from PyTorch's generator; the distribution is the same).

use kindling_data::{IGNORE_INDEX, SeededRng, Tokenizer, TokenizerConfig};

use super::data::MlmExample;
use crate::error::TrainError;

/// A masked, padded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedBatch {
    /// Token ids after masking, `[batch][seq]`, padded with the pad id.
    pub input_ids: Vec<Vec<i64>>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<Vec<i64>>,
    /// The original id at chosen positions, -100 elsewhere.
    pub labels: Vec<Vec<i64>>,
}

impl MaskedBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// The masking collator.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskingCollator {
    /// Probability that a token (a word's first token, with whole-word masking) is chosen.
    pub mlm_probability: f64,
    /// Probability that a chosen token becomes the mask token.
    pub mask_replace_prob: f64,
    /// Probability that a chosen token becomes a random token.
    pub random_replace_prob: f64,
    /// Mask whole words.
    pub whole_word_mask: bool,
    /// The mask token's id.
    pub mask_token_id: u32,
    /// Random replacements are drawn from `0..vocab_size` (`len(tokenizer)`).
    pub vocab_size: usize,
    /// The id padding rows get.
    pub pad_id: u32,
}

impl MaskingCollator {
    /// `transformers`' defaults (0.15, 0.8, 0.1) for `tokenizer`, whose mask token is the one
    /// its `tokenizer_config.json` names (else `[MASK]` / `<mask>`); a tokenizer with no mask
    /// token is an error naming its file.
    pub fn new(tokenizer: &Tokenizer, whole_word_mask: bool) -> Result<Self, TrainError> {
        let config = TokenizerConfig::for_tokenizer(tokenizer)?;
        let (_, mask_token_id) = tokenizer.mask_token(&config).ok_or_else(|| {
            TrainError::Data(format!(
                "{}: the tokenizer has no mask token (`mask_token` in tokenizer_config.json, or `[MASK]` / `<mask>`), which masked-LM training needs",
                tokenizer.path().display()
            ))
        })?;
        Self {
            mlm_probability: 0.15,
            mask_replace_prob: 0.8,
            random_replace_prob: 0.1,
            whole_word_mask,
            mask_token_id,
            vocab_size: tokenizer.inner().get_vocab_size(true),
            pad_id: tokenizer.pad_id(),
        }
        .checked()
    }

    /// Checks the probabilities as `transformers` does, and applies whole-word masking's
    /// `mask_replace_prob = 1`.
    pub fn checked(mut self) -> Result<Self, TrainError> {
        let unit = |p: f64| (0.0..=1.0).contains(&p);
        for (field, value) in [
            ("mlm_probability", self.mlm_probability),
            ("mask_replace_prob", self.mask_replace_prob),
            ("random_replace_prob", self.random_replace_prob),
        ] {
            if !unit(value) {
                return Err(TrainError::Argument {
                    field,
                    value: value.to_string(),
                    message: "must be between 0 and 1",
                });
            }
        }
        if self.mask_replace_prob + self.random_replace_prob > 1.0 {
            return Err(TrainError::Argument {
                field: "random_replace_prob",
                value: self.random_replace_prob.to_string(),
                message: "mask_replace_prob + random_replace_prob must not exceed 1",
            });
        }
        if self.whole_word_mask {
            self.mask_replace_prob = 1.0;
            self.random_replace_prob = 0.0;
        }
        Ok(self)
    }

    /// Pads `rows` to the longest and masks them with draws seeded by `seed`.
    pub fn collate(&self, rows: &[&MlmExample], seed: u64) -> MaskedBatch {
        let mut rng = SeededRng::new(seed);
        let longest = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut batch = MaskedBatch {
            input_ids: Vec::with_capacity(rows.len()),
            attention_mask: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            let n = row.len();
            // Padding counts as special: never chosen.
            let special: Vec<bool> = (0..longest)
                .map(|i| row.special_tokens_mask.get(i).copied().unwrap_or(true))
                .collect();
            let chosen = if self.whole_word_mask {
                self.choose_words(row, &special, &mut rng)
            } else {
                special
                    .iter()
                    .map(|&s| !s && rng.bernoulli(self.mlm_probability))
                    .collect::<Vec<_>>()
            };
            let mut ids: Vec<i64> = (0..longest)
                .map(|i| row.input_ids.get(i).map_or(self.pad_id, |&v| v) as i64)
                .collect();
            let labels: Vec<i64> = ids
                .iter()
                .zip(&chosen)
                .map(|(&id, &c)| if c { id } else { IGNORE_INDEX })
                .collect();
            let random_prob = if self.mask_replace_prob < 1.0 {
                self.random_replace_prob / (1.0 - self.mask_replace_prob)
            } else {
                0.0
            };
            for (id, &c) in ids.iter_mut().zip(&chosen) {
                if !c {
                    continue;
                }
                if rng.bernoulli(self.mask_replace_prob) {
                    *id = self.mask_token_id as i64;
                } else if rng.bernoulli(random_prob) {
                    *id = rng.below(self.vocab_size) as i64;
                }
            }
            let mut mask = vec![1i64; n];
            mask.resize(longest, 0);
            batch.input_ids.push(ids);
            batch.attention_mask.push(mask);
            batch.labels.push(labels);
        }
        batch
    }

    /// Whole-word choice: word starts drawn with `mlm_probability`, then every token of a drawn
    /// word chosen (`_calc_word_ids_and_prob_mask` + `_whole_word_mask`).
    fn choose_words(&self, row: &MlmExample, special: &[bool], rng: &mut SeededRng) -> Vec<bool> {
        let mut word_ids: Vec<Option<usize>> = Vec::with_capacity(special.len());
        let mut word = 0usize;
        let mut previous: Option<(bool, usize)> = None; // (special, end offset)
        for (i, &is_special) in special.iter().enumerate() {
            let (start, end) = row.offsets.get(i).copied().unwrap_or((0, 0));
            if is_special {
                word_ids.push(None);
            } else {
                let continues = matches!(previous, Some((false, prev_end)) if prev_end == start);
                if !continues {
                    word += 1;
                }
                word_ids.push(Some(word));
            }
            previous = Some((is_special, end));
        }
        // One draw per word, at its first token.
        let mut drawn = vec![false; word + 1];
        let mut last = None;
        for &id in &word_ids {
            if let Some(w) = id
                && last != Some(w)
                && rng.bernoulli(self.mlm_probability)
            {
                drawn[w] = true;
            }
            last = id;
        }
        word_ids
            .iter()
            .map(|w| w.is_some_and(|w| drawn[w]))
            .collect()
    }
}
