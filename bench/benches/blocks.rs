//! Criterion micro-benchmarks of the encoder's building blocks, at BERT-base width and batch
//! 8 x 128 tokens, on each CPU backend this build has: self-attention (the module, and its
//! score/softmax core alone), the feed-forward linear layers, layer norm, GELU, dropout and the
//! embedding lookup. Where kindling has its own kernel (`kindling::body::kernels`) it is
//! measured beside Burn's operation: `burn/<backend>` against `kindling/<backend>`.
//!
//! `cargo bench -p kindling-bench --bench blocks` (add `--features tch` for LibTorch).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kindling::body::{
    AttentionMask, Embeddings, PositionIds, SelfAttention, hf_layer_norm, hf_linear, kernels,
};
use kindling::burn::nn::DropoutConfig;
use kindling::burn::prelude::*;
use kindling::burn::tensor::Distribution;
use kindling::burn::tensor::activation::{gelu, softmax};

const BATCH: usize = 8;
const SEQ: usize = 128;
const HIDDEN: usize = 768;
const HEADS: usize = 12;
const VOCAB: usize = 30522;

fn devices() -> Vec<(&'static str, Device)> {
    kindling::device::built_backends()
        .into_iter()
        .filter(|name| matches!(*name, "flex" | "ndarray" | "tch"))
        .filter_map(|name| Some((name, kindling::device::parse_device(name).ok()?)))
        .collect()
}

fn hidden(device: &Device) -> Tensor<3> {
    Tensor::random([BATCH, SEQ, HIDDEN], Distribution::Normal(0.0, 1.0), device)
}

/// Makes the backend finish (and pays for one small read, the same for every backend).
fn finish<const D: usize>(t: Tensor<D>) {
    let _ = t.sum().into_scalar::<f32>();
}

fn attention(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        let module = SelfAttention::new(HIDDEN, HEADS, 0.0, 0.02, &device);
        let x = hidden(&device);
        let mask = Tensor::<4, Bool>::full([BATCH, 1, 1, SEQ], false, &device);
        // Padding in every sequence's last quarter, so the fused path carries its bias.
        let attention_mask = Tensor::<2, Int>::ones([BATCH, SEQ], &device)
            .slice_fill([0..BATCH, 3 * SEQ / 4..SEQ], 0);
        for (path, fused) in [("decomposed", false), ("fused", true)] {
            let mask = AttentionMask::new(attention_mask.clone(), fused);
            group.bench_function(
                BenchmarkId::new(format!("self_attention_{path}"), name),
                |b| b.iter(|| finish(module.forward(x.clone(), &mask).0)),
            );
        }
        let head_dim = HIDDEN / HEADS;
        let q = Tensor::<4>::random(
            [BATCH, HEADS, SEQ, head_dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let k = q.clone() * 0.5;
        let v = q.clone() * 2.0;
        group.bench_function(BenchmarkId::new("scores_softmax_context", name), |b| {
            b.iter(|| {
                let scores = q.clone().matmul(k.clone().swap_dims(2, 3)) * 0.125;
                let probs = softmax(scores.mask_fill(mask.clone(), f32::MIN), 3);
                finish(probs.matmul(v.clone()))
            })
        });
    }
    group.finish();
}

fn layer_norm(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_norm");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        let norm = hf_layer_norm(HIDDEN, 1e-12, &device);
        let x = hidden(&device);
        group.bench_function(name, |b| b.iter(|| finish(norm.forward(x.clone()))));
    }
    group.finish();
}

fn gelu_activation(c: &mut Criterion) {
    let mut group = c.benchmark_group("gelu");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        // The intermediate activation is 4x the hidden width.
        let x = Tensor::<3>::random(
            [BATCH, SEQ, 4 * HIDDEN],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        group.bench_function(BenchmarkId::new("burn", name), |b| {
            b.iter(|| finish(gelu(x.clone())))
        });
        group.bench_function(BenchmarkId::new("kindling", name), |b| {
            b.iter(|| finish(kernels::gelu(x.clone())))
        });
    }
    group.finish();
}

fn feed_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("intermediate_linear_gelu");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        let dense = hf_linear(HIDDEN, 4 * HIDDEN, 0.02, &device);
        let x = hidden(&device);
        group.bench_function(BenchmarkId::new("burn", name), |b| {
            b.iter(|| finish(gelu(dense.forward(x.clone()))))
        });
        group.bench_function(BenchmarkId::new("kindling", name), |b| {
            b.iter(|| finish(kernels::linear_gelu(x.clone(), &dense)))
        });
    }
    group.finish();
}

fn dropout(c: &mut Criterion) {
    let mut group = c.benchmark_group("dropout_train");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        let device = device.autodiff();
        let layer = DropoutConfig::new(0.1).init();
        // The attention probabilities of one layer, the largest tensor dropout sees.
        let x = Tensor::<4>::random([BATCH, HEADS, SEQ, SEQ], Distribution::Default, &device)
            .require_grad();
        group.bench_function(BenchmarkId::new("burn", name), |b| {
            b.iter(|| finish(layer.forward(x.clone())))
        });
        group.bench_function(BenchmarkId::new("kindling", name), |b| {
            b.iter(|| finish(kernels::dropout(x.clone(), &layer)))
        });
    }
    group.finish();
}

fn embedding_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("embeddings");
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    for (name, device) in devices() {
        let embeddings = Embeddings::new(
            VOCAB,
            HIDDEN,
            512,
            2,
            Some(0),
            PositionIds::Absolute,
            1e-12,
            0.0,
            0.02,
            &device,
        );
        let ids = Tensor::<2, Int>::random(
            [BATCH, SEQ],
            Distribution::Uniform(1000.0, VOCAB as f64),
            &device,
        );
        group.bench_function(name, |b| {
            b.iter(|| finish(embeddings.forward(ids.clone(), None, None)))
        });
    }
    group.finish();
}

criterion_group! {
    name = blocks;
    config = Criterion::default().sample_size(20);
    targets = attention, feed_forward, layer_norm, gelu_activation, dropout, embedding_lookup
}
criterion_main!(blocks);
