//! `cargo xtask forward` end to end: the exact flags of the contract, outputs under their
//! `transformers` names, compared with the fixtures written by `tests/fixtures/generate.py`
//! (torch 2.9.0, transformers 5.24.0).

use std::process::Command;

mod common;

use common::{built_devices, fixtures, mask_of, max_diff_at_real_tokens, read_tensors as read};

fn forward(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("forward")
        .args(args)
        .output()
        .expect("run xtask")
}

#[test]
fn body_checkpoint_on_ids_on_every_built_backend() {
    let case = fixtures().join("bodies/bert_gelu_pair");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.safetensors");
    for device in built_devices() {
        let device = device.as_str();
        let run = forward(&[
            "--model",
            case.join("model").to_str().unwrap(),
            "--input",
            case.join("inputs.json").to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--device",
            device,
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let ours = read(&out);
        let names: Vec<&str> = ours.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(names, ["last_hidden_state", "pooler_output"]);
        let expected = read(&case.join("expected.safetensors"));
        let find = |n: &str| expected.iter().find(|t| t.0 == n).unwrap();
        let mask = mask_of(&case);
        let hidden = find("last_hidden_state");
        assert_eq!(ours[0].1, hidden.1);
        let d = max_diff_at_real_tokens(&ours[0].2, &hidden.2, &mask, hidden.1[2]);
        assert!(d <= 1e-4, "{device}: last_hidden_state {d}");
        let pooled = find("pooler_output");
        let d = max_diff_at_real_tokens(&ours[1].2, &pooled.2, &[1, 1, 1], pooled.1[1]);
        assert!(d <= 1e-4, "{device}: pooler_output {d}");
        println!("forward --device {device}: matches PyTorch within 1e-4");
    }
}

#[test]
fn task_checkpoint_writes_its_head_outputs() {
    let case = fixtures().join("heads/xlmr_qa");
    let tmp = tempfile::tempdir().unwrap();
    let ids = tmp.path().join("ids.json");
    // The fixture's inputs carry labels; the forward contract takes ids and masks only.
    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("inputs.json")).unwrap()).unwrap();
    std::fs::write(
        &ids,
        serde_json::json!({
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
        })
        .to_string(),
    )
    .unwrap();
    let out = tmp.path().join("out.safetensors");
    let run = forward(&[
        "--model",
        case.join("model").to_str().unwrap(),
        "--input",
        ids.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = read(&out);
    let expected = read(&case.join("expected.safetensors"));
    for name in ["start_logits", "end_logits"] {
        let a = ours.iter().find(|t| t.0 == name).expect(name);
        let b = expected.iter().find(|t| t.0 == name).unwrap();
        assert_eq!(a.1, b.1);
        let d =
            a.2.iter()
                .zip(&b.2)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
        assert!(d <= 1e-4, "{name}: {d}");
    }
}

#[test]
fn text_input_needs_a_tokenizer_and_bad_ids_are_clear_errors() {
    let case = fixtures().join("bodies/bert_gelu_pair");
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("lines.txt");
    std::fs::write(&text, "hello world\n").unwrap();
    let out = tmp.path().join("out.safetensors");
    let run = forward(&[
        "--model",
        case.join("model").to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("tokenizer.json"));

    let ids = tmp.path().join("ids.json");
    std::fs::write(
        &ids,
        r#"{"input_ids": [[2, 99999, 3]], "attention_mask": [[1, 1, 1]]}"#,
    )
    .unwrap();
    let run = forward(&[
        "--model",
        case.join("model").to_str().unwrap(),
        "--input",
        ids.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("input_ids") && err.contains("99999"), "{err}");
    assert!(!out.exists(), "no output is written on error");
}

#[test]
#[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
fn text_input_on_minilm_writes_ids_and_mask() {
    let dir = std::env::var_os("KINDLING_MINILM_DIR").unwrap_or_else(|| {
        panic!(
            "KINDLING_MINILM_DIR is not set: this test needs the pretrained all-MiniLM-L6-v2; \
             run `cargo xtask test`, which provisions it"
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    let sentences: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("minilm/sentences.json")).unwrap(),
    )
    .unwrap();
    let text = tmp.path().join("lines.txt");
    std::fs::write(&text, sentences.join("\n")).unwrap();
    let out = tmp.path().join("out.safetensors");
    let run = forward(&[
        "--model",
        dir.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = read(&out);
    let expected = read(&fixtures().join("minilm/expected.safetensors"));
    for name in ["input_ids", "attention_mask"] {
        let a = ours.iter().find(|t| t.0 == name).expect(name);
        let b = expected.iter().find(|t| t.0 == name).unwrap();
        assert_eq!(a.1, b.1, "{name} shape");
        assert_eq!(a.2, b.2, "{name}");
    }
    let a = ours.iter().find(|t| t.0 == "last_hidden_state").unwrap();
    let b = expected
        .iter()
        .find(|t| t.0 == "last_hidden_state")
        .unwrap();
    let mask: Vec<i64> = expected
        .iter()
        .find(|t| t.0 == "attention_mask")
        .unwrap()
        .2
        .iter()
        .map(|&v| v as i64)
        .collect();
    let d = max_diff_at_real_tokens(&a.2, &b.2, &mask, b.1[2]);
    assert!(d <= 1e-4, "last_hidden_state {d}");
}
