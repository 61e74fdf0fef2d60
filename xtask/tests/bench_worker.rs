//! `xtask bench-worker` prints the rows `cargo xtask bench` parses, for every workload,
//! and names the directory when the checkpoint is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bodies/bert_gelu_pair/model")
}

fn run(args: &[&str]) -> (bool, Vec<Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bench-worker")
        .arg("--model-dir")
        .arg(fixture_model())
        .args(["--model", "tiny", "--threads", "1"])
        .args(["--warmup", "0", "--min-iters", "1", "--min-time", "0"])
        .args(args)
        .output()
        .expect("xtask bench-worker runs");
    let rows = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is a JSON row"))
        .collect();
    (
        output.status.success(),
        rows,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn inference_prints_one_row_per_cell() {
    let (ok, rows, stderr) = run(&["infer", "--batches", "1,2", "--seqs", "4,8"]);
    assert!(ok, "{stderr}");
    let cells: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r["batch"].as_u64().unwrap(), r["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(cells, [(1, 4), (1, 8), (2, 4), (2, 8)]);
    for row in &rows {
        assert_eq!(row["framework"], "kindling");
        assert_eq!(row["kind"], "inference");
        assert_eq!(row["model"], "tiny");
        let batch = row["batch"].as_f64().unwrap();
        let seq = row["seq"].as_f64().unwrap();
        let median = row["median_s"].as_f64().unwrap();
        let throughput = row["throughput"].as_f64().unwrap();
        assert!(median > 0.0);
        assert!((throughput - batch * seq / median).abs() <= 1e-6 * throughput);
        assert!(
            row["peak_rss_bytes"].as_u64().unwrap()
                >= row["rss_after_load_bytes"].as_u64().unwrap()
        );
    }
}

#[test]
fn training_step_and_load_print_their_rows() {
    let (ok, rows, stderr) = run(&["train", "--batch", "2", "--seq", "8", "--num-labels", "3"]);
    assert!(ok, "{stderr}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "train");
    assert!(rows[0]["throughput"].as_f64().unwrap() > 0.0);

    let (ok, rows, stderr) = run(&["load", "--repeats", "2"]);
    assert!(ok, "{stderr}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "load");
    assert_eq!(rows[0]["iters"], 2);
    assert!(rows[0]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_checkpoint_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bench-worker")
        .args(["--model-dir", "/nonexistent/checkpoint", "load"])
        .output()
        .expect("xtask bench-worker runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/checkpoint"), "{stderr}");
}

#[test]
fn int8_measures_inference_and_refuses_training_and_loads() {
    let (ok, rows, stderr) = run(&[
        "--backend",
        "flex+int8",
        "infer",
        "--batches",
        "1",
        "--seqs",
        "4",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["backend"], "flex+int8");
    for workload in [
        &["train", "--batch", "2", "--seq", "8"][..],
        &["load", "--repeats", "1"],
    ] {
        let args: Vec<&str> = ["--backend", "flex+int8"]
            .into_iter()
            .chain(workload.iter().copied())
            .collect();
        let (ok, rows, stderr) = run(&args);
        assert!(!ok, "{workload:?} with int8 ran: {rows:?}");
        assert!(rows.is_empty());
        assert!(stderr.contains("int8 measures inference only"), "{stderr}");
    }
}
