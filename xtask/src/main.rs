//! `cargo xtask <command>`: kindling's command line.
//!
//! - `train`, `eval`, `predict`, `forward`, `serve`: the `kindling` binary's commands
//!   (`crates/kindling-cli`), with the repository's bundled data and the default body
//!   provisioned from its PyPI package.
//! - `bench`: kindling against PyTorch and ONNX Runtime on this machine (docs/benchmarks.md).
//! - `test`: the whole test suite, provisioning what it needs.
//! - `make-sample`: regenerate the bundled synthetic NER sample.

mod bench;
mod bench_peak;
mod bench_report;
mod bench_worker;
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
    #[command(flatten)]
    Kindling(kindling_cli::Command),
    /// Benchmark kindling (f32 and int8) against PyTorch (eager, torch.compile, dynamic int8)
    /// and ONNX Runtime (f32, dynamic int8) on this machine.
    Bench(bench::BenchArgs),
    /// One measurement of `cargo xtask bench` (run by it: the same binary as the commands).
    #[command(hide = true)]
    BenchWorker(bench_worker::WorkerArgs),
    /// Run the whole test suite (provisions the pretrained test model; CI=true skips nothing).
    Test(test::TestArgs),
    /// Regenerate the bundled synthetic NER sample (data/ner-sample).
    MakeSample,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Kindling(command) => {
            let root = provision::repo_root();
            let defaults = kindling_cli::Defaults {
                ner_sample_dir: Some(root.join(kindling::data::NER_SAMPLE_DIR)),
                data_dir: Some(root.join("data")),
                provision_default_model: Some(provision::minilm_dir),
            };
            kindling_cli::run(command, &defaults)
        }
        Command::Bench(args) => bench::run(args),
        Command::BenchWorker(args) => bench_worker::run(args),
        Command::Test(args) => test::run(args),
        Command::MakeSample => {
            let dir = provision::repo_root().join(kindling::data::NER_SAMPLE_DIR);
            for file in kindling::data::write_ner_sample(&dir)? {
                println!("wrote {}", file.display());
            }
            Ok(())
        }
    }
}
