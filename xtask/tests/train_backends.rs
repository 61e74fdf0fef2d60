//! `cargo xtask train --device D` trains (autodiff, optimizer, checkpoint, export) on every
//! backend this build has, and every backend's run learns: the loss falls.

use std::process::Command;

mod common;

use common::{built_devices, tiny_setup};

#[test]
fn train_on_every_built_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = tiny_setup(tmp.path(), 5, "fr", 64);
    let (model, data) = (setup.model, setup.data);
    for device in built_devices() {
        let device = device.as_str();
        let run = tmp.path().join(format!("run-{device}"));
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("train")
            .args(["--model", model.to_str().unwrap()])
            .args(["--train", data.to_str().unwrap()])
            .args(["--validation", data.to_str().unwrap()])
            .args(["--epochs", "4", "--batch-size", "16", "--lr", "1e-3"])
            .args(["--device", device, "--no-progress"])
            .args(["--output", run.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{device}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            run.join("model.safetensors").is_file(),
            "{device}: no export"
        );
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("checkpoint/trainer_state.json")).unwrap(),
        )
        .unwrap();
        let losses: Vec<f64> = serde_json::from_value(state["step_losses"].clone()).unwrap();
        assert_eq!(losses.len(), 16, "{device}: 4 epochs of 4 steps");
        let first = losses[..4].iter().sum::<f64>() / 4.0;
        let last = losses[12..].iter().sum::<f64>() / 4.0;
        println!("train --device {device}: mean loss {first:.4} (epoch 1) -> {last:.4} (epoch 4)");
        assert!(
            losses.iter().all(|l| l.is_finite()) && last < 0.8 * first,
            "{device}: the loss did not fall: {losses:?}"
        );
    }
}
