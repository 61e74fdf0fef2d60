//! `cargo xtask forward --dtype f16|bf16`: inference in reduced precision (weights cast on load,
//! every op in that dtype) is as close to the float32 truth as PyTorch's own run in that dtype.
//!
//! Oracle: `tests/fixtures/precision_fixture.py` runs `transformers` in float16 and bfloat16
//! and records `torch_error.<dtype>`, PyTorch's max |Δ| from its float32 outputs. The tolerance
//! is twice that: kindling may round differently from PyTorch, but not worse. Each dtype runs
//! in its own process (Burn fixes a device's dtype at first use).

use std::process::Command;

mod common;

use common::{fixtures, mask_of, max_diff_at_real_tokens, read_tensor};

#[test]
fn reduced_precision_inference_is_as_close_as_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    for case in [
        "bert_gelu_pair",
        "xlmr_token_cls",
        "distilbert_sinusoidal",
        "electra_small_proj",
    ] {
        let body = fixtures().join("bodies").join(case);
        let expected = fixtures()
            .join("precision")
            .join(case)
            .join("expected.safetensors");
        let mask = mask_of(&body);
        let (shape, f32_truth) =
            read_tensor(&body.join("expected.safetensors"), "last_hidden_state");
        for dtype in ["f16", "bf16"] {
            let out = tmp.path().join(format!("{case}-{dtype}.safetensors"));
            let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
                .arg("forward")
                .args(["--model", body.join("model").to_str().unwrap()])
                .args(["--input", body.join("inputs.json").to_str().unwrap()])
                .args(["--output", out.to_str().unwrap()])
                .args(["--device", "flex", "--dtype", dtype])
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "{case} {dtype}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let (ours_shape, ours) = read_tensor(&out, "last_hidden_state");
            assert_eq!(ours_shape, shape);
            let (_, torch) = read_tensor(&expected, &format!("last_hidden_state.{dtype}"));
            let (_, torch_error) = read_tensor(&expected, &format!("torch_error.{dtype}"));
            let tolerance = 2.0 * torch_error[0];
            let vs_truth = max_diff_at_real_tokens(&ours, &f32_truth, &mask, shape[2]);
            let vs_torch = max_diff_at_real_tokens(&ours, &torch, &mask, shape[2]);
            println!(
                "{case} {dtype}: |kindling - torch f32| {vs_truth:.3e}, |kindling - torch {dtype}| {vs_torch:.3e}, torch's own error {:.3e}",
                torch_error[0]
            );
            assert!(
                vs_truth <= tolerance,
                "{case} {dtype}: {vs_truth} from f32 > {tolerance}"
            );
            assert!(
                vs_torch <= tolerance,
                "{case} {dtype}: {vs_torch} from torch > {tolerance}"
            );
        }
    }
}
