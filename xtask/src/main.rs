//! `cargo xtask <command>`: kindling's command line.
//!
//! - `forward`: run any checkpoint directory on ids or text, write outputs by their
//!   `transformers` names.
//! - `test`: the whole test suite, provisioning what it needs.
//! - `train`: fine-tune a token classifier and report F1 per language.

mod forward;
mod model_source;
mod provision;
mod test;
mod train;

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
    /// Fine-tune a token classifier (default: all-MiniLM-L6-v2 on the bundled NER sample).
    Train(train::TrainArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Forward(args) => forward::run(args),
        Command::Test(args) => test::run(args),
        Command::Train(args) => train::run(args),
    }
}
