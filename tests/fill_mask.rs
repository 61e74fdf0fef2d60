//! The fill-mask and feature-extraction pipelines equal `transformers`' on tiny random
//! checkpoints with real tokenizers (BERT with WordPiece, RoBERTa with byte-level BPE):
//! identical token ids, tokens, decoded strings and sequences, scores and features within
//! 1e-4.
//!
//! Oracle: `tests/fixtures/fill_mask/expected.json`, written by
//! `tests/fixtures/fill_mask_fixture.py` with `transformers`' `pipeline("fill-mask")` and
//! `pipeline("feature-extraction")` (versions recorded in the file).

use std::path::{Path, PathBuf};

use kindling::burn::prelude::Device;
use kindling::heads::Task;
use kindling::pipelines::{PipelineInput, PipelineOptions, load_pipeline};
use kindling_tests::{TOLERANCE, fixtures_dir, test_device};
use serde_json::Value;

fn dir(name: &str) -> PathBuf {
    fixtures_dir().join("fill_mask").join(name)
}

fn expected() -> Value {
    let path = dir("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn run(dir: &Path, task: Option<Task>, top_k: Option<usize>, text: &str, device: &Device) -> Value {
    let options = PipelineOptions {
        task,
        top_k,
        ..PipelineOptions::default()
    };
    let pipeline = load_pipeline(dir, device, &options).unwrap();
    let mut out = pipeline
        .run_json(&[PipelineInput::Text(text.to_string())])
        .unwrap();
    out.remove(0)
}

/// Candidates equal: ids, strings and sequences exactly, scores within the tolerance.
fn assert_candidates(got: &Value, want: &Value, context: &str) -> f64 {
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{context}: candidate count");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        if w.is_array() {
            worst = worst.max(assert_candidates(g, w, context));
            continue;
        }
        for key in ["token", "token_str", "sequence"] {
            assert_eq!(g[key], w[key], "{context}: `{key}`");
        }
        let diff = (g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs();
        assert!(
            diff <= f64::from(TOLERANCE),
            "{context}: score off by {diff:e}"
        );
        worst = worst.max(diff);
    }
    worst
}

fn fill_mask_matches_transformers(device: &Device) {
    let expected = expected();
    for model in ["bert", "roberta"] {
        let mut worst = 0.0f64;
        for case in expected[model]["fill_mask"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let tokenizer =
                kindling::data::Tokenizer::from_file(dir(model).join("tokenizer.json"), None, None)
                    .unwrap();
            let ids: Vec<u32> = tokenizer
                .inner()
                .encode(text, true)
                .unwrap()
                .get_ids()
                .to_vec();
            let want: Vec<u32> = case["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(ids, want, "{model} {text:?}: token ids");
            for (key, top_k) in [("top_k_5", None), ("top_k_3", Some(3))] {
                let got = run(&dir(model), None, top_k, text, device);
                worst = worst.max(assert_candidates(
                    &got,
                    &case[key],
                    &format!("{model} {text:?} {key}"),
                ));
            }
        }
        println!("{model} fill-mask: max |Δscore| = {worst:.3e}");
    }
}
test_device!(fill_mask_matches_transformers);

fn max_diff(got: &Value, want: &Value) -> f64 {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "shape");
            g.iter()
                .zip(w)
                .map(|(g, w)| max_diff(g, w))
                .fold(0.0, f64::max)
        }
        (g, w) => (g.as_f64().unwrap() - w.as_f64().unwrap()).abs(),
    }
}

fn feature_extraction_matches_transformers(device: &Device) {
    let expected = expected();
    for model in ["bert", "roberta"] {
        for case in expected[model]["feature_extraction"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let got = run(&dir(model), Some(Task::Base), None, text, device);
            let diff = max_diff(&got, &case["features"]);
            println!("{model} features {text:?}: max |Δ| = {diff:.3e}");
            assert!(diff <= f64::from(TOLERANCE), "{model} {text:?}: {diff:e}");
        }
    }
}
test_device!(feature_extraction_matches_transformers);

/// The bert checkpoint with the sentence-transformers files of `bert_sentence/` (CLS pooling,
/// no normalization), assembled as the fixture script assembled it.
fn sentence_checkpoint() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    copy(&dir("bert"), tmp.path());
    copy(&dir("bert_sentence"), tmp.path());
    tmp
}

fn sentence_embedding_uses_the_checkpoint_pooling(device: &Device) {
    let expected = expected();
    let checkpoint = sentence_checkpoint();
    for case in expected["bert_sentence"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = run(
            checkpoint.path(),
            Some(Task::SentenceEmbedding),
            None,
            text,
            device,
        );
        let diff = max_diff(&got, &case["embedding"]);
        println!("bert CLS sentence embedding {text:?}: max |Δ| = {diff:.3e}");
        assert!(diff <= f64::from(TOLERANCE), "{text:?}: {diff:e}");
    }
}
test_device!(sentence_embedding_uses_the_checkpoint_pooling);

#[test]
fn a_text_without_mask_is_an_error_like_transformers() {
    let device = kindling_tests::device("flex");
    let expected = expected();
    let pipeline = load_pipeline(&dir("bert"), &device, &PipelineOptions::default()).unwrap();
    let err = pipeline
        .run_json(&[PipelineInput::Text("no mask here".into())])
        .unwrap_err()
        .to_string();
    let want = expected["bert"]["no_mask_error"].as_str().unwrap();
    assert!(err.contains(want), "{err} lacks {want:?}");
}

/// A checkpoint whose tokenizer has no mask token: the fill-mask pipeline and the masked-LM
/// collator both refuse it, naming the tokenizer file.
#[test]
fn a_tokenizer_without_mask_token_is_refused() {
    let device = kindling_tests::device("flex");
    let tmp = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(dir("bert").join(file), tmp.path().join(file)).unwrap();
    }
    let tokenizer = std::fs::read_to_string(dir("bert").join("tokenizer.json")).unwrap();
    std::fs::write(
        tmp.path().join("tokenizer.json"),
        tokenizer.replace("[MASK]", "[MSK]"),
    )
    .unwrap();
    let err = load_pipeline(tmp.path(), &device, &PipelineOptions::default())
        .err()
        .expect("no mask token")
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("mask token"),
        "{err}"
    );
    let tokenizer =
        kindling::data::Tokenizer::from_file(tmp.path().join("tokenizer.json"), None, None)
            .unwrap();
    let err = kindling::train::fill_mask::MaskingCollator::new(&tokenizer, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("mask token"),
        "{err}"
    );
}
