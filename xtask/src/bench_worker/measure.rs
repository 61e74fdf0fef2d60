//! The timing loop both halves of the benchmark share, and the row they print.

use std::time::Instant;

use clap::Args;
use serde::Serialize;

/// How long to measure: `warmup` untimed runs, then timed runs until at least `min_iters` runs
/// and `min_time` seconds, stopping at `max_iters`.
#[derive(Args, Debug, Clone)]
pub struct Timing {
    /// Untimed runs first (allocation, lazy initialization, page cache).
    #[arg(long, global = true, default_value_t = 1)]
    pub warmup: usize,
    /// Fewest timed runs.
    #[arg(long, global = true, default_value_t = 2)]
    pub min_iters: usize,
    /// Least total timed seconds.
    #[arg(long, global = true, default_value_t = 3.0)]
    pub min_time: f64,
    /// Most timed runs.
    #[arg(long, global = true, default_value_t = 20)]
    pub max_iters: usize,
}

/// The timed runs' summary.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Timed runs.
    pub iters: usize,
    /// Median seconds per run.
    pub median_s: f64,
    /// Fastest run, in seconds.
    pub min_s: f64,
}

impl Timing {
    /// Runs `work` by the protocol and summarizes the timed runs.
    pub fn run<E>(&self, mut work: impl FnMut() -> Result<(), E>) -> Result<Measured, E> {
        for _ in 0..self.warmup {
            work()?;
        }
        let mut times = Vec::new();
        let mut total = 0.0;
        while times.len() < self.max_iters.max(1)
            && (times.len() < self.min_iters.max(1) || total < self.min_time)
        {
            let start = Instant::now();
            work()?;
            let seconds = start.elapsed().as_secs_f64();
            total += seconds;
            times.push(seconds);
        }
        times.sort_by(f64::total_cmp);
        let mid = times.len() / 2;
        let median_s = if times.len() % 2 == 0 {
            (times[mid - 1] + times[mid]) / 2.0
        } else {
            times[mid]
        };
        Ok(Measured {
            iters: times.len(),
            median_s,
            min_s: times[0],
        })
    }
}

/// One measurement, as both halves print it (one JSON object per line).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `kindling` here, `pytorch` in the Python half.
    pub framework: &'static str,
    /// The device string (`flex`, `ndarray`, `tch`).
    pub backend: String,
    /// The model label.
    pub model: String,
    /// `inference`, `train` or `load`.
    pub kind: &'static str,
    /// Batch size (none for `load`).
    pub batch: Option<usize>,
    /// Sequence length (none for `load`).
    pub seq: Option<usize>,
    /// Worker threads.
    pub threads: usize,
    /// Timed runs.
    pub iters: usize,
    /// Median seconds per run.
    pub median_s: f64,
    /// Fastest run, in seconds.
    pub min_s: f64,
    /// Tokens per second (inference), samples per second (train), none for `load`.
    pub throughput: Option<f64>,
    /// The process's peak resident memory so far.
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory before the model was loaded (the runtime's own floor).
    pub rss_before_load_bytes: Option<u64>,
    /// Resident memory right after the model was loaded.
    pub rss_after_load_bytes: Option<u64>,
    /// Size of the weight files (for `load`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Row {
    /// Prints the row as one JSON line (stdout is the driver's channel; logs go to stderr).
    pub fn emit(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}
