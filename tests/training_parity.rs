//! Training parity with PyTorch: from the same initial weights, the same micro-batches in the
//! same order and dropout off, 20 optimizer steps of kindling's trainer (AdamW without decay on
//! biases and layer norms, linear warm-up and decay, global-norm clipping, accumulation of 2)
//! give the losses of `torch.optim.AdamW` + `get_linear_schedule_with_warmup` +
//! `clip_grad_norm_` within 1e-3 relative, and the same final logits, on every built backend
//! (the autodiff device of each: forward, backward and the optimizer all run there).
//!
//! Oracle: `tests/fixtures/training_fixture.py` (torch 2.9.0, transformers 5.24.0), files in
//! `tests/fixtures/training/` (BERT), `tests/fixtures/training_distilbert/` (DistilBERT,
//! whose batches have no token types), `tests/fixtures/training_deberta/` (DeBERTa-v3
//! style, no token types) and `tests/fixtures/training_modernbert/` (ModernBERT, sliding-window
//! layers narrower than the batches).

use std::path::PathBuf;

use kindling::body::BodyInput;
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::heads::{AnyLabels, AnyOutput, ModelInput};
use kindling::import::{ModelLoadOptions, load_model};
use kindling::train::token_classification::TokenClassificationEvaluator;
use kindling::train::{AdamWSettings, TrainError, TrainingArguments, TrainingData, train};
use kindling_tests::{fixtures_dir, read_safetensors, test_device};
use serde_json::Value;

/// The BERT run's directory.
const BERT: &str = "training";
/// The DistilBERT run's directory.
const DISTILBERT: &str = "training_distilbert";
/// The DeBERTa-v3-style run's directory.
const DEBERTA: &str = "training_deberta";
/// The ModernBERT run's directory.
const MODERNBERT: &str = "training_modernbert";

fn fixture(run: &str) -> PathBuf {
    fixtures_dir().join(run)
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
        let input = BodyInput::new(
            tensor(&rows(&batch["input_ids"]), device),
            tensor(&rows(&batch["attention_mask"]), device),
        );
        match batch.get("token_type_ids") {
            Some(types) => input.with_token_type_ids(tensor(&rows(types), device)),
            None => input,
        }
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

fn expected(run: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(run).join("expected.json")).unwrap())
        .unwrap()
}

fn micro_batches(run: &str) -> MicroBatches {
    let batches: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(run).join("batches.json")).unwrap())
            .unwrap();
    MicroBatches(batches["micro_batches"].as_array().unwrap().clone())
}

/// The fixture's 20 steps with its arguments on `plain`'s autodiff device; the step losses and
/// the trained model.
type Trained = (
    Vec<f64>,
    kindling::heads::Model<kindling::body::AnyBody, kindling::heads::AnyHead>,
);

fn train_fixture(run: &str, plain: &Device, bf16: bool) -> Trained {
    try_train_fixture(run, plain, bf16).unwrap()
}

fn try_train_fixture(run: &str, plain: &Device, bf16: bool) -> Result<Trained, TrainError> {
    let expected = expected(run);
    let data = micro_batches(run);
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
        bf16,
        ..TrainingArguments::default()
    };
    let device = plain.clone().autodiff();
    let (model, _, _) = load_model(
        fixture(run).join("model"),
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
    )?;

    Ok((outcome.state.step_losses, model))
}

test_device!(twenty_steps_follow_pytorch);

fn twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch(BERT, plain);
}

test_device!(distilbert_twenty_steps_follow_pytorch);

fn distilbert_twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch(DISTILBERT, plain);
}

test_device!(deberta_twenty_steps_follow_pytorch);

/// DeBERTa-v3 style (log buckets, shared position keys, p2c + c2p, relative-embedding
/// LayerNorm): the gradients flow through the relative-position gathers and the additive
/// bias.
fn deberta_twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch(DEBERTA, plain);
}

test_device!(modernbert_twenty_steps_follow_pytorch);

/// ModernBERT: the gradients flow through the rotations, the GeGLU halves, the bias-free norms
/// and the sliding window (the kernel's backward skips the keys outside it).
fn modernbert_twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch(MODERNBERT, plain);
}

fn steps_follow_pytorch(run: &str, plain: &Device) {
    let expected = expected(run);
    let data = micro_batches(run);
    let (ours, model) = train_fixture(run, plain, false);
    let theirs: Vec<f64> = serde_json::from_value(expected["losses"].clone()).unwrap();
    assert_eq!(ours.len(), theirs.len(), "optimizer steps");
    for (step, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let rel = ((o - t) / t).abs();
        println!("step {step:2}: kindling {o:.6}  torch {t:.6}  rel {rel:.2e}");
        assert!(rel <= 1e-3, "step {step}: loss {o} vs torch {t}");
    }

    let valid = model.valid();
    let AnyOutput::TokenClassification(out) = valid.forward(data.input(0, plain)) else {
        panic!("a token classifier")
    };
    let expected_logits = read_safetensors(&fixture(run).join("expected_logits.safetensors"))
        .remove("final_logits")
        .expect("final_logits");
    assert_eq!(out.logits.dims().to_vec(), expected_logits.shape);
    let logits: Vec<f32> = out
        .logits
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let diff = logits
        .iter()
        .zip(&expected_logits.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // 1e-3 relative to the logits' scale, the losses' criterion: after 20 steps the two
    // float32 runs differ by the order in which each backend sums.
    let scale = expected_logits
        .values
        .iter()
        .fold(1.0f32, |m, v| m.max(v.abs()));
    println!("final logits max |Δ| = {diff:.3e} (scale {scale:.3})");
    assert!(
        diff <= 1e-3 * scale,
        "final logits differ by {diff} (scale {scale})"
    );
}

test_device!(bf16_steps_follow_pytorch_bf16);

fn bf16_steps_follow_pytorch_bf16(plain: &Device) {
    bf16_steps_follow(BERT, plain);
}

test_device!(deberta_bf16_steps_follow_pytorch_bf16);

fn deberta_bf16_steps_follow_pytorch_bf16(plain: &Device) {
    bf16_steps_follow(DEBERTA, plain);
}

test_device!(modernbert_bf16_steps_follow_pytorch_bf16);

fn modernbert_bf16_steps_follow_pytorch_bf16(plain: &Device) {
    bf16_steps_follow(MODERNBERT, plain);
}

/// `bf16: true` (bf16 compute, float32 master weights) against PyTorch's run of the same scheme
/// (`bf16_losses`). Tolerance: twice PyTorch's own relative deviation of its bf16 run from its
/// float32 run (`bf16_max_rel_deviation`): kindling rounds differently, but not worse.
fn bf16_steps_follow(run: &str, plain: &Device) {
    if !plain.supports_dtype(kindling::burn::tensor::FloatDType::BF16) {
        // No bfloat16 on this device: what is checked is that training refuses, naming it.
        let Err(err) = try_train_fixture(run, plain, true) else {
            panic!("bf16 training on {plain:?}, which has no bfloat16, must be an error");
        };
        assert!(
            matches!(err, TrainError::Precision(_)) && err.to_string().contains("bfloat16"),
            "{err}"
        );
        println!("{plain:?} has no bfloat16; --bf16 is refused: {err}");
        return;
    }
    let expected = expected(run);
    let (ours, model) = train_fixture(run, plain, true);
    let f32_losses: Vec<f64> = serde_json::from_value(expected["losses"].clone()).unwrap();
    let bf16_losses: Vec<f64> = serde_json::from_value(expected["bf16_losses"].clone()).unwrap();
    let tolerance = 2.0 * expected["bf16_max_rel_deviation"].as_f64().unwrap();
    assert_eq!(ours.len(), bf16_losses.len());
    for (step, ((o, b), f)) in ours.iter().zip(&bf16_losses).zip(&f32_losses).enumerate() {
        let vs_bf16 = ((o - b) / f).abs();
        let vs_f32 = ((o - f) / f).abs();
        println!(
            "{run} step {step:2}: kindling bf16 {o:.5}  torch bf16 {b:.5}  torch f32 {f:.5}  rel {vs_bf16:.2e} / {vs_f32:.2e}"
        );
        assert!(
            vs_bf16 <= tolerance,
            "step {step}: {o} vs torch bf16 {b} (tol {tolerance:.2e})"
        );
        assert!(
            vs_f32 <= tolerance,
            "step {step}: {o} vs torch f32 {f} (tol {tolerance:.2e})"
        );
    }
    // The master weights stay float32.
    let weight = kindling::body::Body::input_embeddings(&model.body);
    assert_eq!(weight.dtype(), kindling::burn::tensor::DType::F32);
}
