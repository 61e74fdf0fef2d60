//! `serve`: the checkpoint's pipeline over HTTP (`kindling_serve`), batched and bounded.

use std::path::PathBuf;

use clap::Args;
use kindling::device::{DEVICE_HELP, DTYPE_HELP};
use kindling_serve::ServeOptions;

/// Arguments of `serve`; the defaults are TEI's where TEI has the setting.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Checkpoint directory (with tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Pipeline task for /predict [default: the head in config.json's architectures].
    #[arg(long)]
    pub task: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Device to run on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    pub device: String,
    /// Float precision.
    #[arg(long, default_value = "f32", help = format!("Float precision: {DTYPE_HELP}"))]
    pub dtype: String,
    /// Tokens one batch may hold, summed over its requests.
    #[arg(long, default_value_t = 16_384)]
    pub max_batch_tokens: usize,
    /// Requests one batch may hold.
    #[arg(long, default_value_t = 32)]
    pub max_batch_requests: usize,
    /// Requests accepted at once (queued or running); past it, 429.
    #[arg(long, default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// Largest request body in bytes; past it, 413.
    #[arg(long, default_value_t = 2_000_000)]
    pub payload_limit: usize,
    /// Answer inputs longer than the model takes with 413 instead of cutting them.
    #[arg(long)]
    pub no_truncate: bool,
    /// Log JSON lines instead of text (the level comes from RUST_LOG, `info` by default).
    #[arg(long)]
    pub json_output: bool,
}

/// Runs the command until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    kindling_serve::init_logging(args.json_output);
    let options = ServeOptions {
        model: args.model,
        task: args.task,
        host: args.host,
        port: args.port,
        device: args.device,
        dtype: args.dtype,
        max_batch_tokens: args.max_batch_tokens,
        max_batch_requests: args.max_batch_requests,
        max_concurrent_requests: args.max_concurrent_requests,
        payload_limit: args.payload_limit,
        truncate: !args.no_truncate,
    };
    kindling_serve::serve(options)?;
    Ok(())
}
