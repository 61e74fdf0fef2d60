//! `tokenizer.json` loading (pad-token discovery, truncation) and encoding with it.
#![no_main]

use kindling::data::Tokenizer;
use kindling_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("tokenizer.json", data);
    if let Ok(tokenizer) = Tokenizer::from_file(&path, Some(0), Some(12)) {
        let _ = tokenizer.encode_batch(&["Angela Merkel besuchte Paris.", ""]);
        let words = vec![vec!["Zürich".to_string(), "liegt".into(), "🙂".into()]];
        let _ = tokenizer.encode_words_batch(&words);
    }
});
