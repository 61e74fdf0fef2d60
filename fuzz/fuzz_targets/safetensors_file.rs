//! `model.safetensors`: header, offsets, dtypes and shapes, loaded into a body built from a fixed
//! config (so tensors are read, cast and shape-checked as in a real load).
#![no_main]

use kindling::import::{BodyLoadOptions, load_body};
use kindling_fuzz::{scratch_dir, scratch_file};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = include_str!("../../tests/fixtures/bodies/bert_gelu_pair/model/config.json");

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir().join("safetensors_file");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let _ = scratch_file("safetensors_file/model.safetensors", data);
    let device = kindling::device::parse_device("flex").unwrap();
    let _ = load_body(&dir, &device, BodyLoadOptions::default());
});
