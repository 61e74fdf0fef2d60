//! `cargo xtask <command>`: kindling's command line.
//!
//! - `forward`: run any checkpoint directory on ids or text, write outputs by their
//!   `transformers` names.
//! - `bench`: kindling against PyTorch on this machine (docs/benchmarks.md).
//! - `test`: the whole test suite, provisioning what it needs.
//! - `train`: fine-tune a token classifier and report F1 per language.
//! - `eval`, `predict`: score a checkpoint on data; tag raw text.
//! - `make-sample`: regenerate the bundled synthetic NER sample.

mod bench;
mod bench_report;
mod eval;
mod forward;
mod model_source;
mod predict;
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
    /// Benchmark kindling against PyTorch eager and torch.compile on this machine.
    Bench(bench::BenchArgs),
    /// Run the whole test suite (provisions the pretrained test model; CI=true skips nothing).
    Test(test::TestArgs),
    /// Evaluate a token-classification checkpoint on a data set (seqeval report).
    Eval(eval::EvalArgs),
    /// Tag raw text with a token-classification checkpoint.
    Predict(predict::PredictArgs),
    /// Regenerate the bundled synthetic NER sample (data/ner-sample).
    MakeSample,
    /// Fine-tune a token classifier (default: all-MiniLM-L6-v2 on the bundled NER sample).
    Train(train::TrainArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Forward(args) => forward::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Test(args) => test::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::MakeSample => {
            let dir = provision::repo_root().join(kindling::data::NER_SAMPLE_DIR);
            for file in kindling::data::write_ner_sample(&dir)? {
                println!("wrote {}", file.display());
            }
            Ok(())
        }
    }
}
