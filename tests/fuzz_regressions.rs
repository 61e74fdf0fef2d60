//! Inputs the fuzzers found crashing (`tests/fixtures/fuzz/<target>/`), replayed through the
//! same code the cargo-fuzz targets run (`fuzz/src/targets.rs`), in the normal suite.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use kindling_tests::fixtures_dir;

#[allow(dead_code)] // the helpers the targets share are used by some targets only
#[path = "../fuzz/src/targets.rs"]
mod targets;

fn replay(target: &str) -> fn(&[u8]) {
    match target {
        "config_json" => targets::config_json,
        "safetensors_file" => targets::safetensors_file,
        "safetensors_index" => targets::safetensors_index,
        "pickle_scan" => targets::pickle_scan,
        "pytorch_bin" => targets::pytorch_bin,
        "conll" => targets::conll,
        "jsonl" => targets::jsonl,
        "panx" => targets::panx,
        "tokenizer_json" => targets::tokenizer_json,
        other => panic!("tests/fixtures/fuzz/{other}: no such fuzz target"),
    }
}

/// Panics seen anywhere, caught or not: libFuzzer treats a caught panic as a crash too, and
/// kindling's own `catch_unwind` safety nets must not hide a regression here.
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn saved_fuzz_findings_no_longer_panic() {
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let root = fixtures_dir().join("fuzz");
    let mut failures = Vec::new();
    let mut count = 0;
    for target in std::fs::read_dir(&root).expect("tests/fixtures/fuzz") {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_string_lossy().to_string();
        let run = replay(&name);
        for input in std::fs::read_dir(&target).unwrap() {
            let input = input.unwrap().path();
            let data = std::fs::read(&input).unwrap();
            count += 1;
            let before = PANICS.load(Ordering::SeqCst);
            let result = catch_unwind(AssertUnwindSafe(|| run(&data)));
            if result.is_err() || PANICS.load(Ordering::SeqCst) != before {
                failures.push(format!(
                    "{name}/{}",
                    input.file_name().unwrap().to_string_lossy()
                ));
            } else {
                println!(
                    "{name}/{}: ok",
                    input.file_name().unwrap().to_string_lossy()
                );
            }
        }
    }
    assert!(count > 0, "no saved fuzz inputs under {}", root.display());
    assert!(failures.is_empty(), "still panicking: {failures:?}");
}
