//! `cargo xtask eval` and `cargo xtask predict` end to end on a tiny model trained here:
//! the seqeval JSON and the CoNLL predictions file of `eval`, and entity spans of `predict`
//! on a text far longer than the model's window (run in overlapping windows).

mod common;

use std::path::Path;
use std::process::Command;

use common::{tiny_setup, tiny_setup_on};

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

fn train_tiny(
    tmp: &Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    Vec<kindling::data::NerExample>,
) {
    let setup = tiny_setup(tmp, 11, "de", 48);
    let (model, data, examples) = (setup.model, setup.data, setup.examples);
    let run = tmp.join("run");
    let out = xtask(&[
        "train",
        "--model",
        model.to_str().unwrap(),
        "--train",
        data.to_str().unwrap(),
        "--validation",
        data.to_str().unwrap(),
        "--test",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "2e-3",
        "--no-progress",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (run, data, examples)
}

#[test]
fn eval_reports_seqeval_json_and_writes_conll_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, data, examples) = train_tiny(tmp.path());
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "metrics.jsonl",
        "curves.svg",
        "report.json",
        "report.md",
    ] {
        assert!(run.join(file).is_file(), "the run directory lacks {file}");
    }
    let predictions = tmp.path().join("pred.conll");
    let out = xtask(&[
        "eval",
        "--model",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
        "--predictions",
        predictions.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["precision", "recall", "f1"] {
        let v = report[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert!(report["per_type"].is_object());

    // One `token gold predicted` line per word, a blank line after each sentence.
    let text = std::fs::read_to_string(&predictions).unwrap();
    let sentences: Vec<&str> = text
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .collect();
    assert_eq!(sentences.len(), examples.len());
    for (sentence, example) in sentences.iter().zip(&examples) {
        let lines: Vec<&str> = sentence.lines().collect();
        assert_eq!(lines.len(), example.tokens.len());
        for ((line, token), gold) in lines.iter().zip(&example.tokens).zip(&example.tags) {
            let cols: Vec<&str> = line.split(' ').collect();
            assert_eq!(cols.len(), 3, "{line}");
            assert_eq!((cols[0], cols[1]), (token.as_str(), gold.as_str()));
        }
    }

    // The metrics log has one entry per evaluation (every epoch).
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        for key in ["epoch", "step", "loss", "precision", "recall", "f1"] {
            assert!(e.get(key).is_some(), "metrics entry lacks {key}");
        }
    }

    // A run directory is not overwritten without --resume.
    let out = xtask(&[
        "train",
        "--model",
        run.to_str().unwrap(),
        "--output",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}

#[test]
fn predict_tags_text_longer_than_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, _, examples) = train_tiny(tmp.path());
    // ~10 sentences: far beyond the tiny model's 48-token window.
    let long: String = examples
        .iter()
        .take(10)
        .map(|e| e.tokens.join(" "))
        .collect::<Vec<_>>()
        .join(" ");
    let short = examples[0].tokens.join(" ");
    let out = xtask(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        "--json",
        &short,
        &long,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.len(), 2);
    for (text, entities) in [(&short, &all[0]), (&long, &all[1])] {
        let chars: Vec<char> = text.chars().collect();
        let mut last_end = 0;
        for e in entities {
            let (start, end) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert!(start < end && end <= chars.len(), "{e}");
            assert!(
                start >= last_end,
                "entities overlap or are out of order: {e}"
            );
            last_end = end;
            let word: String = chars[start..end].iter().collect();
            assert_eq!(e["word"].as_str().unwrap(), word);
            assert!(["PER", "ORG", "LOC"].contains(&e["entity_group"].as_str().unwrap()));
            let score = e["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&score));
        }
    }
}

/// `train`, `eval` and `predict` on DistilBERT (no token types, `transformer.layer.N`) and
/// ELECTRA (`embedding_size` 16 projected to `hidden_size` 32) token-classification
/// checkpoints: the loss falls, the export is the same model type, and eval and predict read it.
#[test]
fn train_eval_predict_on_distilbert_and_electra() {
    for (case, model_type) in [
        ("distilbert_token_cls", "distilbert"),
        ("electra_token_cls", "electra"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let setup = tiny_setup_on(tmp.path(), 17, "it", 48, case);
        let run = tmp.path().join("run");
        let data = setup.data.to_str().unwrap();
        let out = xtask(&[
            "train",
            "--model",
            setup.model.to_str().unwrap(),
            "--train",
            data,
            "--validation",
            data,
            "--test",
            data,
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--lr",
            "2e-3",
            "--no-progress",
            "--output",
            run.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["model_type"], model_type, "{case}");
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("checkpoint/trainer_state.json")).unwrap(),
        )
        .unwrap();
        let losses: Vec<f64> = serde_json::from_value(state["step_losses"].clone()).unwrap();
        let third = losses.len() / 3;
        let first = losses[..third].iter().sum::<f64>() / third as f64;
        let last = losses[losses.len() - third..].iter().sum::<f64>() / third as f64;
        println!("{case}: mean loss {first:.4} (first third) -> {last:.4} (last third)");
        assert!(
            last < 0.8 * first,
            "{case}: the loss did not fall: {losses:?}"
        );

        let out = xtask(&[
            "eval",
            "--model",
            run.to_str().unwrap(),
            "--data",
            data,
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let f1 = report["f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{case}: f1 {f1}");

        let text = setup.examples[0].tokens.join(" ");
        let out = xtask(&["predict", "--model", run.to_str().unwrap(), "--json", &text]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(all.len(), 1, "{case}");

        // The same checkpoint without `architectures` (as old checkpoints come): predict
        // refuses to guess, and with --task gives the same entities.
        let bare = tmp.path().join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        for file in ["model.safetensors", "tokenizer.json"] {
            std::fs::copy(run.join(file), bare.join(file)).unwrap();
        }
        let mut config = config.clone();
        config.as_object_mut().unwrap().remove("architectures");
        std::fs::write(bare.join("config.json"), config.to_string()).unwrap();
        let out = xtask(&[
            "predict",
            "--model",
            bare.to_str().unwrap(),
            "--json",
            &text,
        ]);
        assert!(
            !out.status.success(),
            "{case}: a bare checkpoint ran without --task"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("task"), "{case}: {stderr}");
        let out = xtask(&[
            "predict",
            "--model",
            bare.to_str().unwrap(),
            "--task",
            "token-classification",
            "--json",
            &text,
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(again, all, "{case}: --task gave other entities");
    }
}
