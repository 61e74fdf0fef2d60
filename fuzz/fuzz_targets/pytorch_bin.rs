//! `pytorch_model.bin` (zip or legacy `torch.save`): the pickle guard, then burn-store's reader,
//! then a body load from a fixed config.
#![no_main]

use kindling::import::{BodyLoadOptions, load_body};
use kindling_fuzz::{scratch_dir, scratch_file};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str =
    include_str!("../../tests/fixtures/bodies/bert_odd_heads_gelu_new/model/config.json");

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir().join("pytorch_bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let _ = scratch_file("pytorch_bin/pytorch_model.bin", data);
    let device = kindling::device::parse_device("flex").unwrap();
    let _ = load_body(&dir, &device, BodyLoadOptions::default());
});
