//! The JSON lines reader (tag names and, with the PAN-X label list, label ids), then label
//! inference, sub-word alignment, truncation and batching.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::jsonl(data));
