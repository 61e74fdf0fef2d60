//! The three workloads: inference over a grid, a training step, a checkpoint load.

use std::path::PathBuf;

use anyhow::Context as _;
use kindling::body::{Body, BodyInput, OutputOptions};
use kindling::burn::optim::GradientsParams;
use kindling::burn::prelude::*;
use kindling::device::on_compute_threads;
use kindling::heads::{Model, TokenClassificationHead};
use kindling::import::Checkpoint;
use kindling::import::{BodyLoadOptions, load_body, load_model_with_head};
use kindling::train::optimizer::{AdamWSettings, adamw, clip_global_norm};

use super::measure::{Row, Timing};
use super::rss::{current_rss_bytes, peak_rss_bytes};

/// What every workload needs.
pub struct Context {
    pub model_dir: PathBuf,
    pub model: String,
    pub backend: String,
    pub threads: usize,
    pub timing: Timing,
    pub device: Device,
    /// Inference with the linear layers in int8 (`--backend flex+int8`).
    pub int8: bool,
}

impl Context {
    fn row(&self, kind: &'static str, batch: Option<usize>, seq: Option<usize>) -> Row {
        Row {
            framework: "kindling",
            backend: self.backend.clone(),
            model: self.model.clone(),
            kind,
            batch,
            seq,
            threads: self.threads,
            iters: 0,
            median_s: 0.0,
            min_s: 0.0,
            throughput: None,
            peak_rss_bytes: None,
            rss_before_load_bytes: None,
            rss_after_load_bytes: None,
            bytes: None,
        }
    }
}

/// Seeded token ids, uniform in `[1000, vocab)` (a 64-bit LCG; the values do not change the
/// work, only the distribution is shared with the PyTorch half).
fn token_ids(batch: usize, seq: usize, low: usize, high: usize, seed: u64) -> Vec<i64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..batch * seq)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (low + ((state >> 33) as usize) % (high - low)) as i64
        })
        .collect()
}

fn ints(values: Vec<i64>, batch: usize, seq: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::<2, Int>::from_data(TensorData::new(values, [batch, seq]), device)
}

/// A full-length batch: ids, all-ones mask, zero token types.
fn body_input(batch: usize, seq: usize, vocab: usize, device: &Device) -> BodyInput {
    BodyInput::new(
        ints(
            token_ids(batch, seq, 1000.min(vocab - 1), vocab, 0),
            batch,
            seq,
            device,
        ),
        Tensor::<2, Int>::ones([batch, seq], device),
    )
    .with_token_type_ids(Tensor::<2, Int>::zeros([batch, seq], device))
}

/// Inference throughput of the body over every (batch, seq) cell the model's positions allow.
pub fn inference(ctx: &Context, batches: &[usize], seqs: &[usize]) -> anyhow::Result<Vec<Row>> {
    let before_load = current_rss_bytes();
    let options = BodyLoadOptions {
        int8: ctx.int8,
        ..BodyLoadOptions::default()
    };
    let (body, _, checkpoint) = load_body(&ctx.model_dir, &ctx.device, options)
        .with_context(|| format!("loading {}", ctx.model_dir.display()))?;
    let after_load = current_rss_bytes();
    let vocab = checkpoint.config.vocab_size();
    let mut rows = Vec::new();
    for &batch in batches {
        for &seq in seqs {
            if seq > body.max_sequence_length() {
                continue;
            }
            let input = body_input(batch, seq, vocab, &ctx.device);
            let measured = on_compute_threads(&ctx.device, || {
                ctx.timing.run(|| {
                    let output = body.forward(input.clone(), OutputOptions::default());
                    // Reading a scalar back makes every backend finish the work.
                    let _ = output.last_hidden_state.sum().into_scalar::<f32>();
                    Ok::<_, anyhow::Error>(())
                })
            })?;
            let mut row = ctx.row("inference", Some(batch), Some(seq));
            row.iters = measured.iters;
            row.median_s = measured.median_s;
            row.min_s = measured.min_s;
            row.throughput = Some((batch * seq) as f64 / measured.median_s);
            row.peak_rss_bytes = peak_rss_bytes();
            row.rss_before_load_bytes = before_load;
            row.rss_after_load_bytes = after_load;
            row.emit()?;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// One `transformers.Trainer`-style step of a token classifier: forward with dropout, cross
/// entropy, backward, global-norm clipping at 1.0, AdamW (decay 0.01 except biases and layer
/// norms) at 5e-5.
pub fn train_step(
    ctx: &Context,
    batch: usize,
    seq: usize,
    num_labels: usize,
) -> anyhow::Result<Row> {
    let before_load = current_rss_bytes();
    let device = ctx.device.clone().autodiff();
    let checkpoint = Checkpoint::open(&ctx.model_dir)?;
    let tensors = checkpoint.read_tensors()?;
    let config = &checkpoint.config;
    let head = TokenClassificationHead::new(
        config.hidden_size(),
        num_labels,
        config.classifier_dropout_prob(),
        config.initializer_range(),
        &device,
    );
    let (model, _) = load_model_with_head(&checkpoint, &tensors, head, false, &device)?;
    drop(tensors);
    let after_load = current_rss_bytes();
    let mut optimizer = adamw(&model, &AdamWSettings::default());
    let vocab = config.vocab_size();
    let input = body_input(batch, seq, vocab, &device);
    let labels = ints(token_ids(batch, seq, 0, num_labels, 1), batch, seq, &device);
    let mut model: Option<Model<_, TokenClassificationHead>> = Some(model);
    let phases = std::env::var_os("KINDLING_BENCH_PHASES").is_some();
    let measured = on_compute_threads(&ctx.device, || {
        ctx.timing.run(|| {
            let start = std::time::Instant::now();
            let current = model.take().context("model lost in a failed step")?;
            let (_, loss) = current.forward_with_labels(input.clone(), labels.clone())?;
            let _ = loss.clone().into_scalar::<f32>();
            let forward = start.elapsed();
            let mut grads = GradientsParams::from_grads(loss.backward(), &current);
            let backward = start.elapsed();
            let (current, _) = clip_global_norm(current, &mut grads, 1.0);
            let clipped = start.elapsed();
            model = Some(optimizer.step(5e-5, current, grads));
            if phases {
                // Eager CPU backends finish each op before the next, so the split is real there.
                eprintln!(
                    "train phases: forward {:.3}s, backward {:.3}s, clip {:.3}s, optimizer {:.3}s",
                    forward.as_secs_f64(),
                    (backward - forward).as_secs_f64(),
                    (clipped - backward).as_secs_f64(),
                    (start.elapsed() - clipped).as_secs_f64()
                );
            }
            Ok::<_, anyhow::Error>(())
        })
    })?;
    let mut row = ctx.row("train", Some(batch), Some(seq));
    row.iters = measured.iters;
    row.median_s = measured.median_s;
    row.min_s = measured.min_s;
    row.throughput = Some(batch as f64 / measured.median_s);
    row.peak_rss_bytes = peak_rss_bytes();
    row.rss_before_load_bytes = before_load;
    row.rss_after_load_bytes = after_load;
    row.emit()?;
    Ok(row)
}

/// Checkpoint load time: directory to a body whose parameters live on the device.
pub fn load(ctx: &Context, repeats: usize) -> anyhow::Result<Row> {
    let checkpoint = Checkpoint::open(&ctx.model_dir)?;
    let bytes = std::fs::metadata(checkpoint.weights.path())
        .with_context(|| format!("reading {}", checkpoint.weights.path().display()))?
        .len();
    let timing = Timing {
        warmup: 1,
        min_iters: repeats,
        min_time: 0.0,
        max_iters: repeats,
    };
    let measured = timing.run(|| {
        let (body, _, _) = load_body(&ctx.model_dir, &ctx.device, BodyLoadOptions::default())?;
        drop(body);
        Ok::<_, anyhow::Error>(())
    })?;
    let mut row = ctx.row("load", None, None);
    row.iters = measured.iters;
    row.median_s = measured.median_s;
    row.min_s = measured.min_s;
    row.peak_rss_bytes = peak_rss_bytes();
    row.bytes = Some(bytes);
    row.emit()?;
    Ok(row)
}
