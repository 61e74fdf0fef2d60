//! The panx reader, then label inference, sub-word alignment, truncation and batching.
#![no_main]

use kindling::data::read_panx;
use kindling_fuzz::{encode_examples, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("data.panx", data);
    if let Ok(examples) = read_panx(&path) {
        encode_examples(&examples, data.first().is_some_and(|b| b & 1 == 1));
    }
});
