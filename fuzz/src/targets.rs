//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the regression test that replays saved crashes in the normal
//! suite (`tests/fuzz_regressions.rs`). Every error is fine; a panic is a bug.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kindling::body::HfConfig;
use kindling::data::{
    LabelSet, NerExample, TokenClassificationEncoder, Tokenizer, read_conll, read_jsonl, read_panx,
};
use kindling::import::pickle_guard::scan_pickle;
use kindling::import::{BodyLoadOptions, Checkpoint, load_body};

/// The fixture configs the weight targets load into (so a fuzzed file is read, cast and
/// shape-checked as in a real load).
const SAFETENSORS_CONFIG: &str =
    include_str!("../../tests/fixtures/bodies/bert_gelu_pair/model/config.json");
const PYTORCH_CONFIG: &str =
    include_str!("../../tests/fixtures/bodies/bert_odd_heads_gelu_new/model/config.json");
/// The fixture checkpoint with six shards, for the index target.
const SHARDED_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/bodies/roberta_silu/model"
);

/// A per-process scratch directory, in memory where the system has `/dev/shm`.
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("kindling-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

/// Writes `data` to `name` in the scratch directory and returns its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// A WordPiece tokenizer over single characters (`a`, `##a`, ...): every word becomes several
/// sub-words, so label alignment and truncation (at 16 tokens) are exercised.
pub fn char_tokenizer() -> Tokenizer {
    let mut vocab = serde_json::Map::new();
    for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] {
        vocab.insert(token.into(), vocab.len().into());
    }
    for c in ('a'..='z').chain('0'..='9').chain("-.,'".chars()) {
        vocab.insert(c.to_string(), vocab.len().into());
        vocab.insert(format!("##{c}"), vocab.len().into());
    }
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    });
    let path = scratch_file("char_tokenizer.json", json.to_string().as_bytes());
    Tokenizer::from_file(path, None, Some(16)).expect("the fuzz tokenizer loads")
}

/// [`char_tokenizer`], built once per process: the dataset targets encode with it on every
/// input.
fn shared_char_tokenizer() -> Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(char_tokenizer).clone()
}

/// What a training run does with examples a reader returned: infer the labels, align them to
/// sub-words, truncate and batch. Every error is fine; a panic is the bug the fuzzer looks for.
pub fn encode_examples(examples: &[NerExample], label_all_subwords: bool) {
    let labels = LabelSet::infer(examples);
    let Ok(encoder) = TokenClassificationEncoder::new(
        shared_char_tokenizer(),
        labels,
        Some(16),
        label_all_subwords,
    ) else {
        return;
    };
    if let Ok(dataset) = encoder.encode(examples) {
        let _ = dataset.truncation();
        let indices: Vec<usize> = (0..dataset.len()).collect();
        for chunk in indices.chunks(4) {
            let _ = dataset.batch(chunk);
        }
    }
}

/// `config.json` parsing: typed fields, per-model defaults, and the derived body config.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = HfConfig::from_json_str(text, Path::new("config.json")) {
        let _ = config.labels();
        let _ = config.max_sequence_length();
        let _ = config.position_ids();
        let _ = config.classifier_dropout_prob();
        let _ = config.size_probes();
        let _ = config.to_json_string();
        let _ = config.body_config();
    }
}

/// `model.safetensors`: header, offsets, dtypes and shapes, loaded into a body built from a fixed
/// config (so tensors are read, cast and shape-checked as in a real load).
pub fn safetensors_file(data: &[u8]) {
    load_body_from_weights(
        "safetensors_file",
        SAFETENSORS_CONFIG,
        "model.safetensors",
        data,
    );
}

/// `model.safetensors.index.json` next to real shards (the `roberta_silu` fixture's six).
pub fn safetensors_index(data: &[u8]) {
    let dir = scratch_dir().join("safetensors_index");
    if !dir.join("config.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(SHARDED_FIXTURE).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("model.safetensors.index.json"), data).unwrap();
    if let Ok(checkpoint) = Checkpoint::open(&dir) {
        let _ = checkpoint.read_tensors();
    }
}

/// The pickle guard's opcode walk over arbitrary bytes.
pub fn pickle_scan(data: &[u8]) {
    if let Ok(scan) = scan_pickle(data) {
        assert!(scan.end <= data.len());
    }
}

/// `pytorch_model.bin` (zip or legacy `torch.save`): the pickle guard, then burn-store's reader,
/// then a body load from a fixed config.
pub fn pytorch_bin(data: &[u8]) {
    load_body_from_weights("pytorch_bin", PYTORCH_CONFIG, "pytorch_model.bin", data);
}

/// Writes `config` and `data` as weight file `weights` into the scratch directory `name`, and
/// loads a body from it on flex.
fn load_body_from_weights(name: &str, config: &str, weights: &str, data: &[u8]) {
    let dir = scratch_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join(weights), data).unwrap();
    let device = kindling::device::parse_device("flex").unwrap();
    let _ = load_body(&dir, &device, BodyLoadOptions::default());
}

/// The CoNLL reader, then label inference, sub-word alignment, truncation and batching.
pub fn conll(data: &[u8]) {
    let path = scratch_file("data.conll", data);
    if let Ok(examples) = read_conll(&path) {
        encode_examples(&examples, data.first().is_some_and(|b| b & 1 == 1));
    }
}

/// The JSON lines reader (tag names and, with the PAN-X label list, label ids), then label
/// inference, sub-word alignment, truncation and batching.
pub fn jsonl(data: &[u8]) {
    let path = scratch_file("data.jsonl", data);
    let panx = LabelSet::panx();
    let labels = data.first().is_some_and(|b| b & 1 == 1).then_some(&panx);
    if let Ok(examples) = read_jsonl(&path, labels) {
        encode_examples(&examples, labels.is_some());
    }
}

/// The PAN-X reader, then label inference, sub-word alignment, truncation and batching.
pub fn panx(data: &[u8]) {
    let path = scratch_file("data.panx", data);
    if let Ok(examples) = read_panx(&path) {
        encode_examples(&examples, data.first().is_some_and(|b| b & 1 == 1));
    }
}

/// `tokenizer.json` loading (pad-token discovery, truncation) and encoding with it.
pub fn tokenizer_json(data: &[u8]) {
    let path = scratch_file("tokenizer.json", data);
    if let Ok(tokenizer) = Tokenizer::from_file(&path, Some(0), Some(12)) {
        let _ = tokenizer.encode_batch(&["Angela Merkel besuchte Paris.", ""]);
        let words = vec![vec!["Zürich".to_string(), "liegt".into(), "🙂".into()]];
        let _ = tokenizer.encode_words_batch(&words);
    }
}
