#![warn(missing_docs)]
//! The `kindling` command line: `train`, `eval`, `predict`, `forward` and `serve`, with the contracts of
//! DESIGN.md. The `kindling` binary runs [`Command`]; `cargo xtask` embeds the same commands, so
//! both behave the same.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(subcommand)]
//!     command: kindling_cli::Command,
//! }
//!
//! let cli = Cli::parse();
//! kindling_cli::run(cli.command, &kindling_cli::Defaults::default())?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod eval;
pub mod forward;
pub mod model_source;
pub mod predict;
pub mod serve;
pub mod train;

use std::path::PathBuf;

use clap::Subcommand;

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a checkpoint on token ids or text and write its outputs as safetensors.
    Forward(forward::ForwardArgs),
    /// Score a checkpoint on a data set with its task's metrics.
    Eval(eval::EvalArgs),
    /// Run the checkpoint's pipeline on inputs (entities, labels, answers, masked tokens).
    Predict(predict::PredictArgs),
    /// Fine-tune a body for a task (default: token classification on the bundled NER sample).
    Train(Box<train::TrainArgs>),
    /// Serve the checkpoint's pipeline over HTTP (/predict, /embed, /tokenize, /info,
    /// /health, /metrics), batched and bounded.
    Serve(serve::ServeArgs),
}

/// Where the commands find what a bare `train` uses: the embedding program (`cargo xtask`
/// knows the repository and can provision the default body; the installed binary does not).
#[derive(Default)]
pub struct Defaults {
    /// The bundled NER sample (`data/ner-sample`); `None` generates it into the run directory.
    pub ner_sample_dir: Option<PathBuf>,
    /// The directory holding each task's bundled sample (`data/`), when known.
    pub data_dir: Option<PathBuf>,
    /// Fetches the default body when it is not cached (`cargo xtask` installs its package).
    pub provision_default_model: Option<fn() -> anyhow::Result<PathBuf>>,
}

/// Runs a command.
pub fn run(command: Command, defaults: &Defaults) -> anyhow::Result<()> {
    match command {
        Command::Forward(args) => forward::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Train(args) => train::run(*args, defaults),
        Command::Serve(args) => serve::run(args),
    }
}
