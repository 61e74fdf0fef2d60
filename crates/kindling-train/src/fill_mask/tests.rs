//! The collator's statistics and the grouping into blocks.

use std::str::FromStr;

use kindling_data::{TextLine, Tokenizer};

use super::*;

const WORDS: [&str; 12] = [
    "the", "cat", "dog", "sat", "ran", "on", "mat", "far", "##s", "big", "small", "red",
];

/// A BERT-style WordPiece tokenizer over [`WORDS`]: `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3,
/// `[MASK]` 4, then the words.
fn tokenizer() -> Tokenizer {
    let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    let vocab: serde_json::Map<String, serde_json::Value> = specials
        .iter()
        .chain(WORDS.iter())
        .enumerate()
        .map(|(i, t)| (t.to_string(), serde_json::json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    });
    let inner = tokenizers::Tokenizer::from_str(&json.to_string()).unwrap();
    Tokenizer::from_tokenizer(inner, None, None).unwrap()
}

fn lines(texts: &[&str]) -> Vec<TextLine> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| TextLine {
            text: t.to_string(),
            line: i + 1,
        })
        .collect()
}

fn corpus(n: usize) -> Vec<TextLine> {
    let texts: Vec<String> = (0..n)
        .map(|i| {
            let w = |k: usize| WORDS[(i * 7 + k * 3) % WORDS.len()].trim_start_matches('#');
            format!("the {} cats {} on the {} mat", w(1), w(2), w(3))
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    lines(&refs)
}

#[test]
fn group_texts_concatenates_and_drops_the_remainder() {
    let tok = tokenizer();
    let input = lines(&["the cat sat", "the dog ran far"]);
    // [CLS] the cat sat [SEP] [CLS] the dog ran far [SEP] = 11 tokens -> 2 blocks of 4
    let grouped = MlmDataset::encode(
        &tok,
        &input,
        MlmOptions {
            block_size: 4,
            line_by_line: false,
        },
        "t.txt",
    )
    .unwrap();
    assert_eq!(grouped.len(), 2);
    assert_eq!(grouped.examples[0].input_ids, vec![2, 5, 6, 8]);
    assert_eq!(grouped.examples[1].input_ids, vec![3, 2, 5, 7]);
    assert_eq!(
        grouped.examples[1].special_tokens_mask,
        vec![true, true, false, false]
    );
    let by_line = MlmDataset::encode(
        &tok,
        &input,
        MlmOptions {
            block_size: 5,
            line_by_line: true,
        },
        "t.txt",
    )
    .unwrap();
    assert_eq!(by_line.lengths(), vec![5, 5]);
    assert_eq!(by_line.examples[1].input_ids, vec![2, 5, 7, 9, 3]);
    let err = MlmDataset::encode(
        &tok,
        &input,
        MlmOptions {
            block_size: 64,
            line_by_line: false,
        },
        "t.txt",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t.txt") && err.contains("block"), "{err}");
}

#[test]
fn masking_follows_15_80_10_10_and_never_touches_special_tokens() {
    let tok = tokenizer();
    let collator = MaskingCollator::new(&tok, false).unwrap();
    assert_eq!(collator.mask_token_id, 4);
    let data = MlmDataset::encode(
        &tok,
        &corpus(400),
        MlmOptions {
            block_size: 32,
            line_by_line: false,
        },
        "corpus",
    )
    .unwrap();
    let rows: Vec<&MlmExample> = data.examples.iter().collect();
    let (mut candidates, mut chosen, mut masked, mut random, mut kept) = (0, 0, 0, 0, 0);
    for seed in 0..20u64 {
        let batch = collator.collate(&rows, seed);
        for (r, row) in rows.iter().enumerate() {
            for (i, &id) in row.input_ids.iter().enumerate() {
                let label = batch.labels[r][i];
                let input = batch.input_ids[r][i];
                if row.special_tokens_mask[i] {
                    assert_eq!(label, -100, "a special token was chosen");
                    assert_eq!(input, id as i64, "a special token was changed");
                    continue;
                }
                candidates += 1;
                if label == -100 {
                    assert_eq!(input, id as i64, "an unchosen token was changed");
                    continue;
                }
                assert_eq!(label, id as i64);
                chosen += 1;
                if input == 4 {
                    masked += 1;
                } else if input == id as i64 {
                    kept += 1;
                } else {
                    random += 1;
                }
            }
        }
    }
    let frac = |a: usize, b: usize| a as f64 / b as f64;
    let p = frac(chosen, candidates);
    println!(
        "chosen {p:.4} of {candidates}; of {chosen} chosen: mask {:.4}, random {:.4}, kept {:.4}",
        frac(masked, chosen),
        frac(random, chosen),
        frac(kept, chosen)
    );
    assert!(candidates > 50_000);
    assert!((0.14..0.16).contains(&p), "{p}");
    assert!((0.78..0.82).contains(&frac(masked, chosen)));
    // a random draw equal to the original counts as kept: 1/17 of the 10%
    assert!((0.08..0.11).contains(&frac(random, chosen)));
    assert!((0.09..0.12).contains(&frac(kept, chosen)));
    // deterministic per seed, different across seeds
    assert_eq!(collator.collate(&rows, 3), collator.collate(&rows, 3));
    assert_ne!(collator.collate(&rows, 3), collator.collate(&rows, 4));
}

#[test]
fn whole_word_masking_masks_every_piece_of_a_word() {
    let tok = tokenizer();
    let collator = MaskingCollator::new(&tok, true).unwrap();
    assert_eq!(collator.mask_replace_prob, 1.0);
    // "cats" is `cat ##s`: two tokens, one word
    let data = MlmDataset::encode(
        &tok,
        &corpus(400),
        MlmOptions {
            block_size: 32,
            line_by_line: true,
        },
        "corpus",
    )
    .unwrap();
    let rows: Vec<&MlmExample> = data.examples.iter().collect();
    let (mut words, mut chosen_words) = (0usize, 0usize);
    for seed in 0..10u64 {
        let batch = collator.collate(&rows, seed);
        for (r, row) in rows.iter().enumerate() {
            for i in 0..row.len() {
                let chosen = batch.labels[r][i] != -100;
                if row.special_tokens_mask[i] {
                    assert!(!chosen);
                    continue;
                }
                if chosen {
                    assert_eq!(batch.input_ids[r][i], 4, "whole words become [MASK]");
                }
                let continues = i > 0
                    && !row.special_tokens_mask[i - 1]
                    && row.offsets[i - 1].1 == row.offsets[i].0;
                if continues {
                    let prev = batch.labels[r][i - 1] != -100;
                    assert_eq!(prev, chosen, "a word was split at {r}:{i}");
                } else {
                    words += 1;
                    chosen_words += usize::from(chosen);
                }
            }
        }
    }
    let p = chosen_words as f64 / words as f64;
    println!("whole words chosen: {p:.4} of {words}");
    assert!((0.13..0.17).contains(&p), "{p}");
}

#[test]
fn bad_probabilities_are_refused() {
    let tok = tokenizer();
    let mut collator = MaskingCollator::new(&tok, false).unwrap();
    collator.mask_replace_prob = 0.95;
    let err = collator.clone().checked().unwrap_err().to_string();
    assert!(err.contains("random_replace_prob"), "{err}");
    collator.mlm_probability = 1.5;
    let err = collator.checked().unwrap_err().to_string();
    assert!(err.contains("mlm_probability"), "{err}");
}
