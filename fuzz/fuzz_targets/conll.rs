//! The conll reader, then label inference, sub-word alignment, truncation and batching.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::conll(data));
