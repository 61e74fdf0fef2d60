//! `cargo xtask <command>`: kindling's command line.
//!
//! - `forward`: run any checkpoint directory on ids or text, write outputs by their
//!   `transformers` names.
//! - `test`: the whole test suite, provisioning what it needs.
//! - `train`, `eval`, `predict`, `bench`: arrive with the trainer, heads and benchmarks.

mod forward;
mod provision;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kindling commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a checkpoint on token ids or text and write its outputs as safetensors.
    Forward(forward::ForwardArgs),
    /// Run the whole test suite (provisions the pretrained test model; CI=true skips nothing).
    Test(test::TestArgs),
    /// Fine-tune a model (arrives with the trainer).
    Train {
        /// Arguments for the trainer.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Forward(args) => forward::run(args),
        Command::Test(args) => test::run(args),
        Command::Train { .. } => {
            anyhow::bail!(
                "`cargo xtask train` arrives with the trainer (token classification on the bundled \
                 multilingual NER sample); today kindling runs bodies: see `cargo xtask forward --help`"
            )
        }
    }
}
