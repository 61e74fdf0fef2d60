//! A loss or an update that becomes NaN or infinite stops `cargo xtask train` with a clear
//! message, and the run directory keeps its last good checkpoint (finite weights) to resume from.

use std::process::Command;

mod common;

use common::tiny_setup;

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = tiny_setup(tmp.path(), 11, "de", 48);
    let (model, data) = (setup.model, setup.data);
    let run = tmp.path().join("run");
    // A learning rate of 1e30 without clipping: the first update is finite, the next loss is not.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("train")
        .args(["--model", model.to_str().unwrap()])
        .args(["--train", data.to_str().unwrap()])
        .args(["--validation", data.to_str().unwrap()])
        .args(["--epochs", "3", "--batch-size", "8", "--lr", "1e30"])
        .args(["--max-grad-norm", "0", "--save-steps", "1", "--no-progress"])
        .args(["--output", run.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a diverging run succeeded:\n{stderr}"
    );
    assert!(
        stderr.contains("NaN") || stderr.contains("inf"),
        "no NaN/inf message:\n{stderr}"
    );
    assert!(
        stderr.contains("last good checkpoint is kept"),
        "message does not say what was kept:\n{stderr}"
    );
    println!("stopped with: {}", stderr.trim());

    let checkpoint = kindling::train::checkpoint::find_checkpoint(&run)
        .expect("the last good checkpoint is kept");
    let weights = kindling::train::checkpoint::checkpoint_weights(&checkpoint).unwrap();
    for (name, bytes) in &weights {
        for chunk in bytes.chunks_exact(4) {
            let value = f32::from_le_bytes(chunk.try_into().unwrap());
            assert!(
                value.is_finite(),
                "checkpoint weight `{name}` holds {value}"
            );
        }
    }
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(checkpoint.join("trainer_state.json")).unwrap(),
    )
    .unwrap();
    assert!(!state["finished"].as_bool().unwrap(), "{state}");
}
