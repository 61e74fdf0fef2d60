//! `config.json` parsing: typed fields, per-model defaults, and the derived body config.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::config_json(data));
