//! Shared helpers of the xtask command tests. Each test binary uses some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kindling::data::{NerExample, generate_ner_sample, write_panx};

/// `tests/fixtures`.
pub fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A tiny BERT token-classification checkpoint with a word-level tokenizer over the data's words.
pub fn tiny_model(dir: &Path, words: &[String]) {
    tiny_model_from(dir, words, "bert_token_cls");
}

/// The token-classification checkpoint of the head fixture `case` (`bert_token_cls`,
/// `distilbert_token_cls`, ...) with a word-level tokenizer over the data's words.
pub fn tiny_model_from(dir: &Path, words: &[String], case: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let src = fixtures().join("heads").join(case).join("model");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let vocab_size = config["vocab_size"].as_u64().unwrap() as usize;
    let mut vocab = serde_json::Map::new();
    for (i, special) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().enumerate() {
        vocab.insert(special.to_string(), i.into());
    }
    for word in words {
        if vocab.len() >= vocab_size {
            break;
        }
        if !vocab.contains_key(word) {
            let id = vocab.len();
            vocab.insert(word.clone(), id.into());
        }
    }
    let added: Vec<serde_json::Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
}

/// A synthetic NER sample and a tiny model over its words, for runs of `cargo xtask train`.
pub struct TinySetup {
    /// The sentences written to `data`.
    pub examples: Vec<NerExample>,
    /// `dir/train.txt`, in PAN-X format.
    pub data: PathBuf,
    /// `dir/model`: [`tiny_model`] over the sample's words.
    pub model: PathBuf,
}

/// `sentences` synthetic sentences in `lang` (seeded) written to `dir/train.txt`, and a tiny
/// model over their words in `dir/model`.
pub fn tiny_setup(dir: &Path, seed: u64, lang: &str, sentences: usize) -> TinySetup {
    tiny_setup_on(dir, seed, lang, sentences, "bert_token_cls")
}

/// [`tiny_setup`] with the model made from the head fixture `case`.
pub fn tiny_setup_on(dir: &Path, seed: u64, lang: &str, sentences: usize, case: &str) -> TinySetup {
    let examples = generate_ner_sample(seed, lang, sentences).unwrap();
    let data = dir.join("train.txt");
    write_panx(&data, &examples).unwrap();
    let words: Vec<String> = examples.iter().flat_map(|e| e.tokens.clone()).collect();
    let model = dir.join("model");
    tiny_model_from(&model, &words, case);
    TinySetup {
        examples,
        data,
        model,
    }
}

/// `--device` strings of every backend this build has (`cuda:0` for CUDA).
pub fn built_devices() -> Vec<String> {
    kindling::device::built_backends()
        .into_iter()
        .map(|b| if b == "cuda" { "cuda:0" } else { b }.to_string())
        .collect()
}

/// Every tensor of a safetensors file as (name, shape, values as f32), sorted by name; i64
/// tensors are converted.
pub fn read_tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                safetensors::Dtype::I64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                other => panic!("{name}: {other:?}"),
            };
            (name, view.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One tensor of a safetensors file: its shape and values as f32.
pub fn read_tensor(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    read_tensors(path)
        .into_iter()
        .find(|t| t.0 == name)
        .map(|(_, shape, values)| (shape, values))
        .unwrap_or_else(|| panic!("{}: no tensor `{name}`", path.display()))
}

/// Largest |a - b| over the positions whose token is real (`mask` 1); `per_token` values per
/// token.
pub fn max_diff_at_real_tokens(a: &[f32], b: &[f32], mask: &[i64], per_token: usize) -> f32 {
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(i, _)| mask[i / per_token] == 1)
        .map(|(_, (x, y))| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The flattened `attention_mask` of a fixture case's `inputs.json`.
pub fn mask_of(case: &Path) -> Vec<i64> {
    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("inputs.json")).unwrap()).unwrap();
    let rows: Vec<Vec<i64>> = serde_json::from_value(inputs["attention_mask"].clone()).unwrap();
    rows.concat()
}
