//! End to end: examples → encoded data set → ordered, padded batches, on a WordPiece tokenizer
//! built here, and on the pretrained MiniLM's. The MiniLM test is `#[ignore]`d (it needs
//! `KINDLING_MINILM_DIR`, which `cargo xtask test` provisions and then runs it with
//! `--include-ignored`); run without the variable it fails rather than passing unchecked.

use kindling_data::{
    DataError, IGNORE_INDEX, LabelSet, NerExample, TokenClassificationEncoder, Tokenizer,
    TruncationReport, batch_order,
};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

const VOCAB: [&str; 20] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "jeff", "de", "##an", "works", "at", "goo", "##gle", "in",
    "mountain", "view", "frank", "##furt", "am", "main", ".", "berlin",
];

/// A BERT-style WordPiece tokenizer over [`VOCAB`] (ids are positions).
fn tiny_tokenizer(max_length: Option<usize>) -> Tokenizer {
    let vocab: [(String, u32); VOCAB.len()] =
        std::array::from_fn(|i| (VOCAB[i].to_string(), i as u32));
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut inner = tokenizers::Tokenizer::new(model);
    inner
        .with_normalizer(Some(BertNormalizer::default()))
        .unwrap();
    inner.with_pre_tokenizer(Some(BertPreTokenizer));
    inner.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    Tokenizer::from_tokenizer(inner, None, max_length).unwrap()
}

fn example(text: &str, tags: &str) -> NerExample {
    NerExample::new(
        text.split(' ').map(str::to_string).collect(),
        tags.split(' ').map(str::to_string).collect(),
        Some("en".into()),
    )
}

fn examples() -> Vec<NerExample> {
    vec![
        example(
            "Jeff Dean works at Google in Mountain View .",
            "B-PER I-PER O O B-ORG O B-LOC I-LOC O",
        ),
        example("Frankfurt am Main", "B-LOC I-LOC I-LOC"),
        example("Berlin", "B-LOC"),
    ]
}

#[test]
fn encodes_aligns_and_pads() {
    let encoder =
        TokenClassificationEncoder::new(tiny_tokenizer(None), LabelSet::panx(), None, false)
            .unwrap();
    let dataset = encoder.encode(&examples()).unwrap();
    assert_eq!(dataset.len(), 3);
    assert_eq!(dataset.lengths(), [13, 6, 3]);
    assert_eq!(dataset.pad_id(), 0);
    assert!(dataset.truncation().is_clean());

    let batch = dataset.batch(&[1, 0]).unwrap();
    assert_eq!(batch.shape(), (2, 13));
    assert_eq!(batch.example_indices, [1, 0]);
    // [CLS] frank ##furt am main [SEP] + 7 × [PAD]
    assert_eq!(batch.input_ids[0][..7], [2, 14, 15, 16, 17, 3, 0]);
    assert_eq!(batch.attention_mask[0][..7], [1, 1, 1, 1, 1, 1, 0]);
    let p = IGNORE_INDEX;
    assert_eq!(batch.labels[0], [p, 5, p, 6, 6, p, p, p, p, p, p, p, p]);
    assert_eq!(
        batch.word_ids[0][..7],
        [None, Some(0), Some(0), Some(1), Some(2), None, None]
    );
    // [CLS] jeff de ##an works at goo ##gle in mountain view . [SEP]; "Google" → goo ##gle
    assert_eq!(
        batch.input_ids[1],
        [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 3]
    );
    assert_eq!(batch.labels[1], [p, 1, 2, p, 0, 0, 3, p, 0, 5, 6, 0, p]);
    assert_eq!(batch.attention_mask[1], [1; 13]);
    assert!(batch.token_type_ids.iter().flatten().all(|&t| t == 0));
}

#[test]
fn label_all_subwords_uses_i_tags() {
    let encoder =
        TokenClassificationEncoder::new(tiny_tokenizer(None), LabelSet::panx(), None, true)
            .unwrap();
    let (batch, report) = encoder.encode_batch(&examples()[..2]).unwrap();
    assert!(report.is_clean());
    let p = IGNORE_INDEX;
    assert_eq!(batch.labels[0][..8], [p, 1, 2, 2, 0, 0, 3, 4]);
    assert_eq!(batch.labels[1][..6], [p, 5, 6, 6, 6, p]);
}

#[test]
fn truncation_is_reported() {
    // A window of 6: [CLS] + 4 tokens + [SEP].
    let encoder = TokenClassificationEncoder::new(
        tiny_tokenizer(Some(512)),
        LabelSet::panx(),
        Some(6),
        false,
    )
    .unwrap();
    let dataset = encoder.encode(&examples()).unwrap();
    // Example 0 keeps jeff de ##an works: words 0–2; the other 6 words are cut.
    // Example 1 fits exactly.
    assert_eq!(
        dataset.truncation(),
        TruncationReport {
            sequences: 1,
            labelled_words_cut: 6,
            words_without_tokens: 0,
        }
    );
    assert_eq!(dataset.lengths(), [6, 6, 3]);
    assert_eq!(
        dataset.examples()[0].labels,
        [IGNORE_INDEX, 1, 2, IGNORE_INDEX, 0, IGNORE_INDEX]
    );
}

#[test]
fn bad_examples_are_errors() {
    let encoder =
        TokenClassificationEncoder::new(tiny_tokenizer(None), LabelSet::panx(), None, false)
            .unwrap();
    let mut bad = examples();
    bad[2].tags.push("O".into());
    assert!(matches!(
        encoder.encode(&bad),
        Err(DataError::ExampleLengthMismatch {
            example: 2,
            tokens: 1,
            tags: 2
        })
    ));
    let mut bad = examples();
    bad[1].tags[0] = "B-MISC".into();
    let msg = encoder.encode(&bad).unwrap_err().to_string();
    assert!(msg.starts_with("example 1: tag `B-MISC`"), "{msg}");
    let dataset = encoder.encode(&examples()).unwrap();
    assert!(matches!(
        dataset.batch(&[0, 3]),
        Err(DataError::ExampleIndex { index: 3, len: 3 })
    ));
}

#[test]
fn seeded_length_grouped_epochs() {
    let encoder =
        TokenClassificationEncoder::new(tiny_tokenizer(None), LabelSet::panx(), None, false)
            .unwrap();
    let many: Vec<NerExample> = (0..30).map(|i| examples()[i % 3].clone()).collect();
    let dataset = encoder.encode(&many).unwrap();
    let lengths = dataset.lengths();
    let order = batch_order(dataset.len(), 4, Some(11), Some(&lengths)).unwrap();
    assert_eq!(
        order,
        batch_order(dataset.len(), 4, Some(11), Some(&lengths)).unwrap()
    );
    let mut seen = 0;
    for batch in dataset.batches(&order) {
        let batch = batch.unwrap();
        seen += batch.len();
        let (rows, seq) = batch.shape();
        assert!(rows <= 4);
        assert_eq!(
            seq,
            batch
                .example_indices
                .iter()
                .map(|&i| lengths[i])
                .max()
                .unwrap()
        );
        assert!(batch.labels.iter().all(|row| row.len() == seq));
    }
    assert_eq!(seen, 30);
    assert_eq!(lengths[order[0][0]], 13);
}

#[test]
#[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
fn minilm_tokenizer_gives_one_label_per_word_in_order() {
    let dir = std::env::var_os("KINDLING_MINILM_DIR").unwrap_or_else(|| {
        panic!(
            "KINDLING_MINILM_DIR is not set: this test needs the pretrained all-MiniLM-L6-v2; \
             run `cargo xtask test`, which provisions it"
        )
    });
    let tokenizer = Tokenizer::from_file(
        std::path::Path::new(&dir).join("tokenizer.json"),
        None,
        Some(128),
    )
    .unwrap();
    let labels = LabelSet::panx();
    let encoder = TokenClassificationEncoder::new(tokenizer, labels.clone(), None, false).unwrap();
    let (batch, report) = encoder.encode_batch(&examples()).unwrap();
    assert!(report.is_clean());
    for (row, ex) in batch.labels.iter().zip(examples()) {
        // One label per word, on its first sub-word, in the words' order.
        let labelled: Vec<i64> = row.iter().copied().filter(|&l| l != IGNORE_INDEX).collect();
        let expected: Vec<i64> = ex.tags.iter().map(|t| labels.id(t).unwrap()).collect();
        assert_eq!(labelled, expected, "{:?}", ex.tokens);
    }
}

#[test]
fn empty_example_is_only_special_tokens() {
    let encoder =
        TokenClassificationEncoder::new(tiny_tokenizer(None), LabelSet::panx(), None, false)
            .unwrap();
    let (batch, report) = encoder
        .encode_batch(&[NerExample::new(vec![], vec![], None), examples()[2].clone()])
        .unwrap();
    assert!(report.is_clean());
    assert_eq!(batch.input_ids[0], [2, 3, 0]);
    assert_eq!(batch.labels[0], [IGNORE_INDEX; 3]);
    assert_eq!(batch.input_ids[1], [2, 19, 3]);
    assert_eq!(batch.labels[1], [IGNORE_INDEX, 5, IGNORE_INDEX]);
}
