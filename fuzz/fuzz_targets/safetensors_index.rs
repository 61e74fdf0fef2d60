//! `model.safetensors.index.json` next to real shards (the `roberta_silu` fixture's six).
#![no_main]

use kindling::import::Checkpoint;
use kindling_fuzz::scratch_dir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir().join("safetensors_index");
    if !dir.join("config.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/bodies/roberta_silu/model"
        );
        for entry in std::fs::read_dir(fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("model.safetensors.index.json"), data).unwrap();
    if let Ok(checkpoint) = Checkpoint::open(&dir) {
        let _ = checkpoint.read_tensors();
    }
});
