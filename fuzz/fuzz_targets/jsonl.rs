//! The JSON lines reader (tag names and, with the PAN-X label list, label ids), then label
//! inference, sub-word alignment, truncation and batching.
#![no_main]

use kindling::data::{LabelSet, read_jsonl};
use kindling_fuzz::{encode_examples, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("data.jsonl", data);
    let panx = LabelSet::panx();
    let labels = data.first().is_some_and(|b| b & 1 == 1).then_some(&panx);
    if let Ok(examples) = read_jsonl(&path, labels) {
        encode_examples(&examples, labels.is_some());
    }
});
