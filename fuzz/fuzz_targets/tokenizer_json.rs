//! `tokenizer.json` loading (pad-token discovery, truncation) and encoding with it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::tokenizer_json(data));
