//! `kindling`: fine-tune, evaluate and run transformer encoders (train, eval, predict, forward, serve).

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kindling",
    version,
    about = "Transformer encoders on Burn: train, eval, predict, forward, serve"
)]
struct Cli {
    #[command(subcommand)]
    command: kindling_cli::Command,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    kindling_cli::run(cli.command, &kindling_cli::Defaults::default())
}
