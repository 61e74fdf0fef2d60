//! Training parity with PyTorch: from the same initial weights, the same micro-batches in the
//! same order and dropout off, 20 optimizer steps of kindling's trainer (AdamW without decay on
//! biases and layer norms, linear warm-up and decay, global-norm clipping, accumulation of 2)
//! give the losses of `torch.optim.AdamW` + `get_linear_schedule_with_warmup` +
//! `clip_grad_norm_` within 1e-3 relative, and the same final logits.
//!
//! Oracle: `tests/fixtures/training_fixture.py` (torch 2.9.0, transformers 5.24.0), files in
//! `tests/fixtures/training/`.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::BodyInput;
use kindling_heads::{AnyLabels, AnyOutput, ModelInput};
use kindling_import::{ModelLoadOptions, load_model};
use kindling_train::token_classification::TokenClassificationEvaluator;
use kindling_train::{AdamWSettings, TrainError, TrainingArguments, TrainingData, train};
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/training")
}

fn rows(value: &Value) -> Vec<Vec<i64>> {
    serde_json::from_value(value.clone()).expect("rows of integers")
}

fn tensor(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [b, s]), device)
}

/// The fixture's micro-batches, one "example" each, served in file order.
struct MicroBatches(Vec<Value>);

impl MicroBatches {
    fn input(&self, i: usize, device: &Device) -> ModelInput {
        let batch = &self.0[i];
        BodyInput::new(
            tensor(&rows(&batch["input_ids"]), device),
            tensor(&rows(&batch["attention_mask"]), device),
        )
        .with_token_type_ids(tensor(&rows(&batch["token_type_ids"]), device))
        .into()
    }
}

impl TrainingData for MicroBatches {
    type Labels = AnyLabels;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn lengths(&self) -> Vec<usize> {
        vec![1; self.0.len()]
    }

    fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<(ModelInput, AnyLabels), TrainError> {
        let i = indices[0];
        let labels = tensor(&rows(&self.0[i]["labels"]), device);
        Ok((self.input(i, device), AnyLabels::Tokens(labels)))
    }
}

fn read_floats(path: &std::path::Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = file.tensor(name).unwrap();
    let values = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

#[test]
fn twenty_steps_follow_pytorch() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
            .unwrap();
    let batches: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("batches.json")).unwrap())
            .unwrap();
    let data = MicroBatches(batches["micro_batches"].as_array().unwrap().clone());
    let a = &expected["args"];
    let total = a["total_steps"].as_u64().unwrap() as usize;
    let args = TrainingArguments {
        num_train_epochs: 1,
        max_steps: Some(total),
        batch_size: 1,
        eval_batch_size: 1,
        learning_rate: a["learning_rate"].as_f64().unwrap(),
        warmup_ratio: a["warmup_steps"].as_f64().unwrap() / total as f64,
        adamw: AdamWSettings {
            weight_decay: a["weight_decay"].as_f64().unwrap(),
            beta1: a["betas"][0].as_f64().unwrap(),
            beta2: a["betas"][1].as_f64().unwrap(),
            epsilon: a["adam_epsilon"].as_f64().unwrap(),
        },
        max_grad_norm: a["max_grad_norm"].as_f64(),
        gradient_accumulation_steps: a["gradient_accumulation_steps"].as_u64().unwrap() as usize,
        seed: 0,
        eval_steps: None,
        save_steps: None,
        early_stopping_patience: None,
        group_by_length: false,
        shuffle: false,
        progress: false,
    };
    let device = Device::flex().autodiff();
    let (model, _, _) = load_model(
        fixture().join("model"),
        &device,
        ModelLoadOptions::default(),
    )
    .unwrap();
    let run = tempfile::tempdir().unwrap();
    let (model, outcome) = train(
        model,
        &data,
        None::<&TokenClassificationEvaluator>,
        &args,
        run.path(),
        false,
        &device,
        |_| Ok(()),
    )
    .unwrap();

    let theirs: Vec<f64> = serde_json::from_value(expected["losses"].clone()).unwrap();
    let ours = &outcome.state.step_losses;
    assert_eq!(ours.len(), theirs.len(), "optimizer steps");
    for (step, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let rel = ((o - t) / t).abs();
        println!("step {step:2}: kindling {o:.6}  torch {t:.6}  rel {rel:.2e}");
        assert!(rel <= 1e-3, "step {step}: loss {o} vs torch {t}");
    }

    let valid = model.valid();
    let plain = Device::flex();
    let AnyOutput::TokenClassification(out) = valid.forward(data.input(0, &plain)) else {
        panic!("a token classifier")
    };
    let (shape, expected_logits) = read_floats(
        &fixture().join("expected_logits.safetensors"),
        "final_logits",
    );
    assert_eq!(out.logits.dims().to_vec(), shape);
    let logits: Vec<f32> = out
        .logits
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let diff = logits
        .iter()
        .zip(&expected_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("final logits max |Δ| = {diff:.3e}");
    assert!(diff <= 1e-3, "final logits differ by {diff}");
}
