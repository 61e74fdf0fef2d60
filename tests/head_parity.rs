//! Head parity with PyTorch `transformers`: every head on every family, loaded from
//! a full task checkpoint with one call, gives the logits of `transformers` within 1e-4 at
//! non-padded positions and its loss within 1e-5 relative, on every built backend. Exported
//! again, each loads back with nothing missing and the same outputs.
//!
//! Oracle: `tests/fixtures/heads_fixture.py` (torch 2.9.0, transformers 5.24.0), outputs in
//! `tests/fixtures/heads/<case>/expected.safetensors`.

use std::path::PathBuf;

use kindling::body::BodyInput;
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::heads::{AnyLabels, AnyOutput, ModelInput, SequenceLabels, SpanLabels};
use kindling::import::{ModelLoadOptions, load_model, save_model};
use kindling_tests::{
    TOLERANCE, case_names, fixtures_dir, max_abs_diff, read_safetensors, test_device,
};
use serde_json::Value;

pub(crate) fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Flattens a nested JSON array of numbers, returning the values and the shape.
fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
    match value {
        Value::Array(items) => {
            let mut values = Vec::new();
            let mut inner = Vec::new();
            for item in items {
                let (v, s) = flatten(item);
                values.extend(v);
                inner = s;
            }
            let mut shape = vec![items.len()];
            shape.extend(inner);
            (values, shape)
        }
        other => (vec![other.as_f64().expect("a number")], vec![]),
    }
}

fn ints<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Int> {
    let (values, shape) = flatten(value);
    let values: Vec<i64> = values.into_iter().map(|v| v as i64).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn floats<const D: usize>(value: &Value, device: &Device) -> Tensor<D> {
    let (values, shape) = flatten(value);
    let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The model input of a head fixture's `inputs.json`.
pub(crate) fn model_input(inputs: &Value, device: &Device) -> ModelInput {
    if inputs["input_ids"][0][0].is_array() {
        let types = inputs.get("token_type_ids").map(|t| ints::<3>(t, device));
        return ModelInput::multiple_choice(
            ints::<3>(&inputs["input_ids"], device),
            ints::<3>(&inputs["attention_mask"], device),
            types,
        );
    }
    let mut body = BodyInput::new(
        ints::<2>(&inputs["input_ids"], device),
        ints::<2>(&inputs["attention_mask"], device),
    );
    if let Some(types) = inputs.get("token_type_ids") {
        body = body.with_token_type_ids(ints::<2>(types, device));
    }
    body.into()
}

fn labels(case: &Value, inputs: &Value, device: &Device) -> AnyLabels {
    match case["head"].as_str().unwrap() {
        "token_classification" | "masked_lm" => {
            AnyLabels::Tokens(ints::<2>(&inputs["labels"], device))
        }
        "sequence_classification" => match case["problem_type"].as_str() {
            Some("single_label_classification") => AnyLabels::Sequence(SequenceLabels::Classes(
                ints::<1>(&inputs["labels"], device),
            )),
            Some("multi_label_classification") => AnyLabels::Sequence(SequenceLabels::Values(
                floats::<2>(&inputs["labels"], device),
            )),
            _ => {
                let targets = floats::<1>(&inputs["labels"], device);
                let [b] = targets.dims();
                AnyLabels::Sequence(SequenceLabels::Values(targets.reshape([b, 1])))
            }
        },
        "question_answering" => AnyLabels::Spans(SpanLabels {
            start_positions: ints::<1>(&inputs["start_positions"], device),
            end_positions: ints::<1>(&inputs["end_positions"], device),
        }),
        "multiple_choice" => AnyLabels::Choice(ints::<1>(&inputs["labels"], device)),
        other => panic!("unknown head `{other}`"),
    }
}

pub(crate) fn mask_rows(inputs: &Value) -> Vec<Vec<i64>> {
    serde_json::from_value(inputs["attention_mask"].clone()).unwrap()
}

fn check_case(name: &str, device: &Device) {
    let dir = fixtures_dir().join("heads").join(name);
    let case = read_json(dir.join("case.json"));
    let inputs = read_json(dir.join("inputs.json"));
    let expected = read_safetensors(&dir.join("expected.safetensors"));
    let (model, report, checkpoint) =
        load_model(dir.join("model"), device, ModelLoadOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.is_exact(), "{name}: {report}");

    let (output, loss) = model
        .forward_with_labels(model_input(&inputs, device), labels(&case, &inputs, device))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let tol = TOLERANCE;
    let per_token = matches!(
        output,
        AnyOutput::TokenClassification(_) | AnyOutput::MaskedLm(_)
    );
    let mask = per_token.then(|| mask_rows(&inputs));
    for (key, data) in output.named() {
        let diff = max_abs_diff(
            key,
            &data.convert::<f32>(),
            &expected[key],
            mask.as_deref(),
            1,
        );
        println!("{name} {key}: max |Δ| = {diff:.3e}");
        assert!(diff <= tol, "{name} `{key}`: max |Δ| {diff:e} > {tol:e}");
    }
    let ours = loss.into_scalar::<f64>();
    let theirs = expected["loss"].values[0] as f64;
    let rel = ((ours - theirs) / theirs).abs();
    println!("{name} loss: {ours:.7} vs {theirs:.7} (rel {rel:.2e})");
    assert!(rel <= 1e-5, "{name}: loss {ours} vs transformers' {theirs}");

    // Export and load again: nothing missing, nothing unused, the same outputs.
    let out = tempfile::tempdir().unwrap();
    // One backend leaves its exports for the transformers round trip; the others use scratch.
    let export_dir = match std::env::var_os("KINDLING_EXPORT_DIR") {
        Some(root) if format!("{device:?}").to_lowercase().contains("flex") => {
            PathBuf::from(root).join("heads").join(name)
        }
        _ => out.path().join(name),
    };
    save_model(&model, &checkpoint.config, &export_dir, None).unwrap();
    let (again, report, _) = load_model(&export_dir, device, ModelLoadOptions::default()).unwrap();
    assert!(report.is_exact(), "{name} after export: {report}");
    let a = model.forward(model_input(&inputs, device)).named();
    let b = again.forward(model_input(&inputs, device)).named();
    for ((key, x), (_, y)) in a.into_iter().zip(b) {
        assert_eq!(
            x.convert::<f32>().try_to_vec::<f32>().unwrap_or_default(),
            y.convert::<f32>().try_to_vec::<f32>().unwrap_or_default(),
            "{name} `{key}` after export"
        );
    }
}

fn all_heads(device: &Device) {
    let names = case_names("heads");
    assert_eq!(
        names.len(),
        63,
        "every head x {{BERT, RoBERTa, XLM-R, DistilBERT, ELECTRA, DeBERTa-v3, DeBERTa-v2, \
         ModernBERT (cls), ModernBERT (mean)}}: {names:?}"
    );
    for name in names {
        check_case(&name, device);
    }
}
test_device!(all_heads);
