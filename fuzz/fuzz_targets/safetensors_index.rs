//! `model.safetensors.index.json` next to real shards (the `roberta_silu` fixture's six).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::safetensors_index(data));
