//! Shared helpers of the workspace tests: the devices every test runs on, fixtures, and
//! tolerant comparison.
//!
//! Oracle: the tensors under `tests/fixtures/` were written by `tests/fixtures/generate.py`
//! with PyTorch `transformers` (versions pinned in `tests/fixtures/requirements.txt`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kindling::burn::prelude::Device;
use kindling::burn::tensor::TensorData;

/// Runs a test function `fn(&Device)` once per built backend, as `module::backend` tests
/// (`body_parity::bert_gelu_pair::flex`), in the manner of candle's `test_device!`.
/// Attributes after the name go on every generated test:
/// `test_device!(hidden_states_match, #[ignore = "needs KINDLING_MINILM_DIR ..."]);`.
#[macro_export]
macro_rules! test_device {
    ($test:ident $(, #[$attr:meta])* $(,)?) => {
        mod $test {
            #[cfg(feature = "flex")]
            #[test]
            $(#[$attr])*
            fn flex() {
                super::$test(&$crate::device("flex"))
            }
            #[cfg(feature = "ndarray")]
            #[test]
            $(#[$attr])*
            fn ndarray() {
                super::$test(&$crate::device("ndarray"))
            }
            #[cfg(feature = "wgpu")]
            #[test]
            $(#[$attr])*
            fn wgpu() {
                super::$test(&$crate::device("wgpu"))
            }
            #[cfg(feature = "tch")]
            #[test]
            $(#[$attr])*
            fn tch() {
                super::$test(&$crate::device("tch"))
            }
            #[cfg(all(feature = "tch", feature = "gpu"))]
            #[test]
            $(#[$attr])*
            fn tch_cuda() {
                super::$test(&$crate::device("tch:cuda:0"))
            }
            #[cfg(feature = "cuda")]
            #[test]
            $(#[$attr])*
            fn cuda() {
                super::$test(&$crate::device("cuda:0"))
            }
        }
    };
}

/// A device by its `--device` name; panics (a test failure) when the backend is not built.
pub fn device(name: &str) -> Device {
    kindling::device::parse_device(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Absolute tolerance of f32 parity with PyTorch (max |Δ| at non-padded positions), the same on
/// every backend: none needed a wider one (docs/backends.md has the measured values).
pub const TOLERANCE: f32 = 1e-4;

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture cases under `tests/fixtures/<kind>` (`bodies`, `heads`), sorted: every
/// directory with a `case.json`, so a newly generated case is tested without code.
pub fn case_names(kind: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join(kind))
        .unwrap_or_else(|e| panic!("tests/fixtures/{kind}: {e}"))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("case.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The pretrained all-MiniLM-L6-v2 directory from `KINDLING_MINILM_DIR`, which `cargo xtask test`
/// provisions. Tests that need it are `#[ignore = "needs KINDLING_MINILM_DIR ..."]`, so a plain
/// `cargo test` lists them as ignored; once one runs (`-- --include-ignored`, as
/// `cargo xtask test` passes), a missing directory is a failure, never a silent pass.
pub fn minilm_dir() -> PathBuf {
    let dir = std::env::var_os("KINDLING_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "KINDLING_MINILM_DIR is not set: this test needs the pretrained all-MiniLM-L6-v2; \
             run `cargo xtask test`, which provisions it, or point KINDLING_MINILM_DIR at a \
             directory with its config.json, model.safetensors and tokenizer.json"
            )
        });
    assert!(
        dir.join("config.json").is_file(),
        "KINDLING_MINILM_DIR={} has no config.json",
        dir.display()
    );
    dir
}

/// A tensor read from an expected-outputs file, as f32 (i64 and i8 widened to f32).
#[derive(Debug, Clone)]
pub struct Expected {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Reads every tensor of a safetensors file.
pub fn read_safetensors(path: &Path) -> HashMap<String, Expected> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                safetensors::Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|c| {
                        i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
                safetensors::Dtype::I8 => data.iter().map(|&b| f32::from(b as i8)).collect(),
                other => panic!(
                    "{}: `{name}` has unexpected dtype {other:?}",
                    path.display()
                ),
            };
            (
                name,
                Expected {
                    shape: view.shape().to_vec(),
                    values,
                },
            )
        })
        .collect()
}

/// Max |actual - expected| over the positions `[b, s, ...]` where `mask[b][s] == 1` (all
/// positions when `mask` is `None`). For `[batch, heads, query, key]` attention weights pass
/// `query_axis = 2`; for `[batch, seq, ...]` tensors, 1.
pub fn max_abs_diff(
    name: &str,
    actual: &TensorData,
    expected: &Expected,
    mask: Option<&[Vec<i64>]>,
    query_axis: usize,
) -> f32 {
    assert_eq!(
        actual.shape().as_slice(),
        expected.shape.as_slice(),
        "`{name}`: shape differs from PyTorch's"
    );
    let actual: Vec<f32> = actual
        .try_to_vec::<f32>()
        .unwrap_or_else(|e| panic!("`{name}`: {e:?}"));
    let shape = &expected.shape;
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut worst = 0f32;
    for (i, (a, e)) in actual.iter().zip(&expected.values).enumerate() {
        if let Some(mask) = mask {
            let b = i / strides[0];
            let s = (i / strides[query_axis]) % shape[query_axis];
            if mask[b][s] == 0 {
                continue;
            }
        }
        let d = (a - e).abs();
        if d.is_nan() {
            panic!("`{name}`: NaN at flat index {i}");
        }
        worst = worst.max(d);
    }
    worst
}

/// The `TrainingArguments` of a fixture's 20-step training run (`expected.json`'s `args`, as
/// the task fixture scripts write them): one micro-batch per "example", in file order.
pub fn fixture_training_args(a: &serde_json::Value) -> kindling::train::TrainingArguments {
    let total = a["total_steps"].as_u64().unwrap() as usize;
    kindling::train::TrainingArguments {
        num_train_epochs: 1,
        max_steps: Some(total),
        batch_size: 1,
        eval_batch_size: 1,
        learning_rate: a["learning_rate"].as_f64().unwrap(),
        warmup_ratio: a["warmup_steps"].as_f64().unwrap() / total as f64,
        adamw: kindling::train::AdamWSettings {
            weight_decay: a["weight_decay"].as_f64().unwrap(),
            beta1: a["betas"][0].as_f64().unwrap(),
            beta2: a["betas"][1].as_f64().unwrap(),
            epsilon: a["adam_epsilon"].as_f64().unwrap(),
        },
        max_grad_norm: a["max_grad_norm"].as_f64(),
        gradient_accumulation_steps: a["gradient_accumulation_steps"].as_u64().unwrap() as usize,
        seed: 0,
        shuffle: false,
        progress: false,
        ..kindling::train::TrainingArguments::default()
    }
}

/// Asserts that every step's loss is within 1e-3 relative of PyTorch's (`expected.json`'s
/// `losses`), printing each step.
pub fn assert_losses_follow(run: &str, ours: &[f64], expected: &serde_json::Value) {
    let theirs: Vec<f64> = serde_json::from_value(expected["losses"].clone()).unwrap();
    assert_eq!(ours.len(), theirs.len(), "optimizer steps");
    for (step, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let rel = ((o - t) / t).abs();
        println!("{run} step {step:2}: kindling {o:.6}  torch {t:.6}  rel {rel:.2e}");
        assert!(rel <= 1e-3, "{run} step {step}: loss {o} vs torch {t}");
    }
}

/// The Rust blocks of the README and of the `docs/` pages that have any, compiled (and run,
/// unless marked `no_run`) as doc-tests, so they cannot drift from the API.
/// `xtask/tests/docs.rs` checks that every page with a Rust block is listed here.
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../../README.md")]
    pub mod readme {}
    #[doc = include_str!("../../docs/custom-heads.md")]
    pub mod custom_heads {}
    #[doc = include_str!("../../docs/downstream.md")]
    pub mod downstream {}
}

/// A checkpoint directory with a tokenizer for each pipeline task, from the committed
/// fixtures: `(pipeline task name, directory)`. The token-classification one is assembled in
/// `scratch` (the BERT head fixture's weights, vocabulary 120, with the fill-mask fixture's
/// 105-token tokenizer), as the fixtures hold no tagger with a tokenizer.
pub fn task_checkpoints(scratch: &Path) -> Vec<(&'static str, PathBuf)> {
    let fixtures = fixtures_dir();
    let tagger = scratch.join("token-classification");
    std::fs::create_dir_all(&tagger).unwrap_or_else(|e| panic!("{}: {e}", tagger.display()));
    let copy = |from: PathBuf| {
        let name = from.file_name().unwrap_or_default().to_owned();
        std::fs::copy(&from, tagger.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    let head = fixtures.join("heads/bert_token_cls/model");
    copy(head.join("config.json"));
    copy(head.join("model.safetensors"));
    copy(fixtures.join("fill_mask/bert/tokenizer.json"));
    copy(fixtures.join("fill_mask/bert/tokenizer_config.json"));
    vec![
        ("token-classification", tagger),
        (
            "text-classification",
            fixtures.join("text_classification/pipeline/bert_single/model"),
        ),
        (
            "question-answering",
            fixtures.join("question_answering/pipeline/bert/model"),
        ),
        ("fill-mask", fixtures.join("fill_mask/bert")),
    ]
}

/// Inputs for a pipeline task in the fixtures' small vocabulary, of varied lengths (one longer
/// than the tagger's 48-token window, so it runs in several windows).
pub fn task_inputs(task: &str) -> Vec<kindling::pipelines::PipelineInput> {
    use kindling::pipelines::PipelineInput;
    let texts: Vec<&str> = match task {
        "fill-mask" => vec![
            "the dog [MASK] loudly",
            "the [MASK] lives in the stable and the cow moos every morning",
            "[MASK] cat meows",
            "the [MASK] [MASK] in the pond",
            "one two three four five six seven eight nine ten [MASK] the sheep bleats",
        ],
        "question-answering" => {
            let contexts = [
                "the dog lives in the yard and the cat lives in the house",
                "the old horse eats hay in the stable every evening and the young pig eats corn",
                "the sun is yellow",
            ];
            let questions = [
                "where does the cat live?",
                "what does the horse eat?",
                "what is yellow?",
            ];
            return questions
                .iter()
                .zip(contexts)
                .map(|(q, c)| PipelineInput::Question {
                    question: q.to_string(),
                    context: c.to_string(),
                })
                .collect();
        }
        _ => vec![
            "the dog barks",
            "the big black dog lives in the yard and the small white cat lives in the house",
            "a happy cow",
            "one two three four five six seven eight nine ten the sheep bleats in the green \
             meadow every morning and the duck quacks in the pond every evening when the sun \
             comes and the red bird sings in the tree and the grey horse neighs in the stable",
            "sky",
        ],
    };
    texts
        .into_iter()
        .map(|t| PipelineInput::Text(t.to_string()))
        .collect()
}

/// Where two JSON values differ: `None` when they are equal, numbers allowed to differ by
/// `tolerance` (absolute) and everything else (keys, strings, shapes) exact.
pub fn json_difference(
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    tolerance: f64,
) -> Option<String> {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64()?, b.as_f64()?);
            ((a - b).abs() > tolerance).then(|| format!("{a} vs {b}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{} items vs {}", a.len(), b.len()));
            }
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
                json_difference(x, y, tolerance).map(|d| format!("[{i}]: {d}"))
            })
        }
        (Value::Object(a), Value::Object(b)) => {
            if a.len() != b.len() || a.keys().any(|k| !b.contains_key(k)) {
                return Some(format!(
                    "keys {:?} vs {:?}",
                    a.keys().collect::<Vec<_>>(),
                    b.keys().collect::<Vec<_>>()
                ));
            }
            a.iter().find_map(|(k, x)| {
                json_difference(x, &b[k], tolerance).map(|d| format!(".{k}: {d}"))
            })
        }
        (a, b) => (a != b).then(|| format!("{a} vs {b}")),
    }
}
