//! `xtask bench-worker`: the kindling half of `cargo xtask bench`, inside the same binary the
//! commands run (`cargo xtask train|forward|predict|eval|serve`), so the benchmark times the
//! build and profile users get.
//!
//! Measures one backend on one checkpoint and prints one JSON object per measurement (JSON
//! Lines) on stdout. `bench/pytorch_bench.py` is the PyTorch half and follows the same protocol:
//! the same seeded token ids (uniform in `[1000, vocab)`, all-ones mask, zero token types, no
//! padding), the same timing loop (`--warmup` untimed runs, then timed runs until both
//! `--min-iters` and `--min-time` are reached, at most `--max-iters`), and the same rows, so the
//! driver can put the two side by side.

mod measure;
mod rss;
mod workloads;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use self::measure::Timing;

/// One backend, one checkpoint, one kind of measurement.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Options every measurement shares.
#[derive(Args, Debug)]
struct Common {
    /// A `transformers` checkpoint directory (BERT family).
    #[arg(long, global = true, default_value = ".")]
    model_dir: PathBuf,
    /// A label copied into the rows (`bert-base`, `minilm`).
    #[arg(long, global = true, default_value = "model")]
    model: String,
    /// Device string, as in `--device` of the other commands (`flex`, `ndarray`, `tch`, ...),
    /// with `+int8` to run the linear layers in int8 (`flex+int8`, as `--dtype int8` does).
    #[arg(long, global = true, default_value = "flex")]
    backend: String,
    /// Worker threads (recorded in the rows; the driver sets the thread-pool variables).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(flatten)]
    timing: Timing,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inference throughput of the body (tokens per second) over a batch x sequence grid.
    Infer {
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        batches: Vec<usize>,
        /// Sequence lengths, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "32,128,512")]
        seqs: Vec<usize>,
    },
    /// One training step (forward, backward, gradient clipping, AdamW) of a token classifier.
    Train {
        /// Batch size.
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Sequence length.
        #[arg(long, default_value_t = 128)]
        seq: usize,
        /// Labels of the token classification head.
        #[arg(long, default_value_t = 9)]
        num_labels: usize,
    },
    /// Checkpoint load time, from directory to a body ready on the device.
    Load {
        /// Timed loads (after one untimed load that warms the page cache).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

/// Runs one measurement and prints its rows.
pub fn run(cli: WorkerArgs) -> anyhow::Result<()> {
    let (device_spec, int8) = match cli.common.backend.split_once('+') {
        Some((device, "int8")) => (device, true),
        Some((_, other)) => anyhow::bail!("--backend: unknown suffix `+{other}` (only +int8)"),
        None => (cli.common.backend.as_str(), false),
    };
    if int8 && !matches!(cli.command, Command::Infer { .. }) {
        // Training and loads run in f32: a `+int8` row of them would be an f32 number.
        anyhow::bail!(
            "--backend {}: int8 measures inference only (infer), not training or loads",
            cli.common.backend
        );
    }
    let device = kindling::device::parse_device(device_spec)?;
    let ctx = workloads::Context {
        int8,
        model_dir: cli.common.model_dir.clone(),
        model: cli.common.model.clone(),
        backend: cli.common.backend.clone(),
        threads: cli.common.threads,
        timing: cli.common.timing.clone(),
        device,
    };
    let rows = match cli.command {
        Command::Infer { batches, seqs } => workloads::inference(&ctx, &batches, &seqs)?,
        Command::Train {
            batch,
            seq,
            num_labels,
        } => vec![workloads::train_step(&ctx, batch, seq, num_labels)?],
        Command::Load { repeats } => vec![workloads::load(&ctx, repeats)?],
    };
    // Rows are printed by the workloads as they finish; nothing is left to print here.
    drop(rows);
    Ok(())
}
