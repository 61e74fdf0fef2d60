//! `train --task T`, `eval --json` and `predict --json` end to end for the tasks beyond token
//! classification, through the same clap commands the `kindling` binary has, each on its
//! bundled sample (`data/<task>-sample`) from a tiny random checkpoint: the task's metric
//! rises from chance to well above it.
//!
//! - question-answering: a BERT reader (`tests/fixtures/question_answering/sample_model`) on
//!   the SQuAD sample: exact match and F1 from near 0 to well above;
//! - text-classification: `tests/fixtures/text_classification/sample_model` on the sentiment
//!   sample: accuracy from about 0.5 to above 0.9;
//! - multiple-choice: a fresh head on the fill-mask fixture's BERT body on the SWAG-style
//!   sample: accuracy from about 0.25 to well above.

use std::path::{Path, PathBuf};
use std::process::Command;

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn eval_task(model: &Path, data: &Path, task: &str) -> serde_json::Value {
    let out = xtask(&[
        "eval",
        "--task",
        task,
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "eval: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "eval --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn a_tiny_model_learns_the_squad_sample() {
    let model = root().join("tests/fixtures/question_answering/sample_model");
    let sample = root().join("data/question-answering-sample");
    let (train, validation) = (sample.join("train.json"), sample.join("validation.json"));
    let before = eval_task(&model, &validation, "question-answering");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_task(
        &run,
        "question-answering",
        &model,
        &train,
        &validation,
        &["--epochs", "8", "--batch-size", "16", "--lr", "2e-3"],
    );
    let after = eval_task(&run, &validation, "question-answering");
    println!("before training: {before}\nafter training: {after}");
    let (em0, f10) = (
        before["exact_match"].as_f64().unwrap(),
        before["f1"].as_f64().unwrap(),
    );
    let (em, f1) = (
        after["exact_match"].as_f64().unwrap(),
        after["f1"].as_f64().unwrap(),
    );
    assert!(
        em0 < 10.0 && f10 < 20.0,
        "the untrained model already answers: {before}"
    );
    assert!(
        em >= 40.0 && f1 >= 45.0,
        "exact match {em}, F1 {f1} after training"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["task"], "question-answering");
    assert_eq!(report["metric_for_best_model"], "f1");

    // the trained reader through predict: one question per --question, sharing a context
    let out = xtask(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        "--json",
        "--question",
        "Where does Anna live?",
        "--question",
        "What does Bruno work as?",
        "--context",
        "Anna lives in Paris. Bruno works as a Baker.",
    ]);
    assert!(
        out.status.success(),
        "predict: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("predict: {answers}");
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 2);
    for answer in answers {
        let (start, end) = (
            answer["start"].as_u64().unwrap() as usize,
            answer["end"].as_u64().unwrap() as usize,
        );
        let context: Vec<char> = "Anna lives in Paris. Bruno works as a Baker."
            .chars()
            .collect();
        let text: String = context[start..end].iter().collect();
        assert_eq!(answer["answer"].as_str().unwrap(), text);
        assert!(answer["score"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn squad_v2_data_without_the_flag_is_an_error_naming_the_question() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("v2.jsonl");
    std::fs::write(
        &data,
        "{\"id\": \"q1\", \"context\": \"Anna lives in Paris.\", \"question\": \"Where?\", \"answers\": {\"text\": [\"Paris\"], \"answer_start\": [14]}}\n{\"id\": \"q2\", \"context\": \"Anna lives in Paris.\", \"question\": \"Why?\", \"answers\": {\"text\": [], \"answer_start\": []}}\n",
    )
    .unwrap();
    let model = root().join("tests/fixtures/question_answering/sample_model");
    let out = xtask(&[
        "eval",
        "--task",
        "question-answering",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("q2") && err.contains("--version-2-with-negative"),
        "{err}"
    );
    let out = xtask(&[
        "eval",
        "--task",
        "question-answering",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--version-2-with-negative",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1"] {
        assert!(json[key].is_number(), "{key} missing: {json}");
    }
}

fn train_task(
    run: &Path,
    task: &str,
    model: &Path,
    train: &Path,
    validation: &Path,
    extra: &[&str],
) {
    let mut args = vec![
        "train",
        "--task",
        task,
        "--model",
        model.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--validation",
        validation.to_str().unwrap(),
        "--no-progress",
        "--output",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let started = std::time::Instant::now();
    let out = xtask(&args);
    assert!(
        out.status.success(),
        "train --task {task}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "{task}: trained in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_tiny_model_learns_the_text_classification_sample() {
    let model = root().join("tests/fixtures/text_classification/sample_model");
    let sample = root().join("data/text-classification-sample");
    let validation = sample.join("validation.csv");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_task(
        &run,
        "text-classification",
        &model,
        &sample.join("train.csv"),
        &validation,
        &["--epochs", "10", "--batch-size", "16", "--lr", "2e-3"],
    );
    let after = eval_task(&run, &validation, "text-classification");
    println!("text-classification after training: {after}");
    let accuracy = after["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "accuracy {accuracy}: {after}");
    let out = xtask(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        "--json",
        "the film was wonderful",
        "the food was awful",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let labels: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("predict: {labels}");
    assert_eq!(labels[0]["label"], "positive");
    assert_eq!(labels[1]["label"], "negative");
}

#[test]
fn a_tiny_model_learns_the_multiple_choice_sample() {
    let model = root().join("tests/fixtures/fill_mask/bert");
    let sample = root().join("data/multiple-choice-sample");
    let validation = sample.join("validation.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_task(
        &run,
        "multiple-choice",
        &model,
        &sample.join("train.jsonl"),
        &validation,
        &["--epochs", "6", "--batch-size", "8", "--lr", "1e-3"],
    );
    let after = eval_task(&run, &validation, "multiple-choice");
    println!("multiple-choice after training: {after}");
    let accuracy = after["accuracy"].as_f64().unwrap();
    assert!(
        accuracy >= 0.6,
        "accuracy {accuracy} (chance 0.25): {after}"
    );
}
