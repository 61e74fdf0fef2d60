//! Helpers shared by the fuzz targets: scratch files (the readers take paths, as users call
//! them) and a character-level WordPiece tokenizer for the dataset targets.

use std::path::PathBuf;
use std::sync::OnceLock;

use kindling::data::{LabelSet, NerExample, TokenClassificationEncoder, Tokenizer};

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

/// What a training run does with examples a reader returned: infer the labels, align them to
/// sub-words, truncate and batch. Every error is fine; a panic is the bug the fuzzer looks for.
pub fn encode_examples(examples: &[NerExample], label_all_subwords: bool) {
    let labels = LabelSet::infer(examples);
    let Ok(encoder) =
        TokenClassificationEncoder::new(char_tokenizer(), labels, Some(16), label_all_subwords)
    else {
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
