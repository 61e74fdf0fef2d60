//! `cargo xtask train`: fine-tune a token classifier (the book's chapter 4) and report entity
//! F1 per language.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use kindling::body::AnyBody;
use kindling::burn::prelude::Device;
use kindling::data::{
    EncodedDataset, LabelSet, NerExample, TokenClassificationEncoder, Tokenizer, read_dataset,
};
use kindling::device::{DEVICE_HELP, parse_device};
use kindling::heads::{AnyHead, Model, Task};
use kindling::import::{Checkpoint, ModelLoadOptions, describe_model, load_model, save_model};
use kindling::train::token_classification::{
    TokenClassificationData, TokenClassificationEvaluator, predict_tags,
};
use kindling::train::{AdamWSettings, TrainingArguments, checkpoint, train};
use serde_json::json;

use crate::model_source::{DEFAULT_MODEL, resolve_model};
use crate::provision::repo_root;

/// Arguments of `cargo xtask train` (defaults: the book's hyper-parameters on the bundled
/// multilingual NER sample and all-MiniLM-L6-v2).
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Pretrained body or checkpoint: a directory or a Hugging Face id in the local cache
    /// [default: sentence-transformers/all-MiniLM-L6-v2].
    #[arg(long)]
    model: Option<String>,
    /// Training files (CoNLL, JSON lines or PAN-X) [default: the bundled sample, 4 languages].
    #[arg(long, num_args = 1..)]
    train: Vec<PathBuf>,
    /// Validation files, used for model selection [default: the bundled sample].
    #[arg(long, num_args = 1..)]
    validation: Vec<PathBuf>,
    /// Test files; F1 is reported per language [default: the bundled sample].
    #[arg(long, num_args = 1..)]
    test: Vec<PathBuf>,
    /// Tag set: comma-separated, or a file with one tag per line [default: PAN-X's when the
    /// data fits it, else inferred].
    #[arg(long)]
    labels: Option<String>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 24)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Fraction of steps for linear warm-up.
    #[arg(long, default_value_t = 0.0)]
    warmup_ratio: f64,
    /// Decoupled weight decay (not on biases and layer norms).
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Truncate sequences to this many tokens [default: the model's window].
    #[arg(long)]
    max_length: Option<usize>,
    /// Batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Seed for shuffling, dropout and the fresh head.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Device to train on.
    #[arg(long, default_value = "flex", help = format!("Device: {DEVICE_HELP}"))]
    device: String,
    /// Run directory: a Hugging Face checkpoint of the best model, metrics.jsonl, curves.svg,
    /// report.json and report.md, and the resume checkpoint.
    #[arg(long, default_value = "runs/ner")]
    output: PathBuf,
    /// Continue the run in --output from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Evaluate (and checkpoint) every N steps instead of every epoch.
    #[arg(long)]
    eval_steps: Option<usize>,
    /// Write the resume checkpoint every N steps.
    #[arg(long)]
    save_steps: Option<usize>,
    /// Early stopping: evaluations without improvement before stopping.
    #[arg(long)]
    patience: Option<usize>,
    /// Global gradient-norm bound (0 disables clipping).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    /// Label every sub-word, not just the first of each word.
    #[arg(long)]
    label_all_subwords: bool,
    /// Batch sequences of similar length together.
    #[arg(long)]
    group_by_length: bool,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Train in bfloat16 with float32 master weights (forward and backward in bf16).
    #[arg(long)]
    bf16: bool,
}

fn sample_files(split: &str) -> Vec<PathBuf> {
    ["de", "fr", "it", "en"]
        .iter()
        .map(|lang| {
            repo_root()
                .join("data/ner-sample")
                .join(lang)
                .join(format!("{split}.txt"))
        })
        .collect()
}

fn read_all(files: &[PathBuf], labels: Option<&LabelSet>) -> anyhow::Result<Vec<NerExample>> {
    let mut all = Vec::new();
    for file in files {
        all.extend(
            read_dataset(file, labels).with_context(|| format!("reading {}", file.display()))?,
        );
    }
    Ok(all)
}

fn label_set(spec: Option<&str>, examples: &[&[NerExample]]) -> anyhow::Result<LabelSet> {
    if let Some(spec) = spec {
        let path = Path::new(spec);
        let list: Vec<String> = if path.is_file() {
            std::fs::read_to_string(path)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        } else {
            spec.split(',').map(|s| s.trim().to_string()).collect()
        };
        return Ok(LabelSet::from_list(list)?);
    }
    let panx = LabelSet::panx();
    let all: Vec<NerExample> = examples.iter().flat_map(|e| e.iter().cloned()).collect();
    if all
        .iter()
        .all(|e| e.tags.iter().all(|t| panx.id(t).is_some()))
    {
        Ok(panx)
    } else {
        Ok(LabelSet::infer(&all))
    }
}

/// Evaluates `model` on `examples`, grouped by language; returns JSON per group.
pub fn evaluate_by_language(
    model: &Model<AnyBody, AnyHead>,
    encoder: &TokenClassificationEncoder,
    examples: &[NerExample],
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut groups: BTreeMap<String, Vec<NerExample>> = BTreeMap::new();
    for example in examples {
        let lang = example.lang.clone().unwrap_or_else(|| "all".into());
        groups.entry(lang).or_default().push(example.clone());
    }
    if groups.len() > 1 {
        groups.insert("all".into(), examples.to_vec());
    }
    let mut out = BTreeMap::new();
    for (lang, group) in groups {
        let data = encoder.encode(&group)?;
        let predictions = predict_tags(model, &data, encoder.labels(), batch_size, device)?;
        let report = predictions.report()?;
        out.insert(lang, serde_json::to_value(&report)?);
    }
    Ok(out)
}

/// Runs the command.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let device = parse_device(&args.device)?;
    let train_device = device.clone().autodiff();
    let model_dir = resolve_model(args.model.as_deref())?;
    let train_files = if args.train.is_empty() {
        sample_files("train")
    } else {
        args.train.clone()
    };
    let validation_files = if args.validation.is_empty() && args.train.is_empty() {
        sample_files("validation")
    } else {
        args.validation.clone()
    };
    let test_files = if args.test.is_empty() && args.train.is_empty() {
        sample_files("test")
    } else {
        args.test.clone()
    };
    let run_dir = args.output.clone();
    if !args.resume && checkpoint::find_checkpoint(&run_dir).is_some() {
        bail!(
            "{} already holds a run; pass --resume to continue it or --output for a new one",
            run_dir.display()
        );
    }

    let checkpoint_info = Checkpoint::open(&model_dir)?;
    let preset = match args.labels.as_deref() {
        Some(spec) => Some(label_set(Some(spec), &[])?),
        None => None,
    };
    let train_examples = read_all(&train_files, preset.as_ref())?;
    let validation_examples = read_all(&validation_files, preset.as_ref())?;
    let test_examples = read_all(&test_files, preset.as_ref())?;
    let labels = match preset {
        Some(labels) => labels,
        None => label_set(
            None,
            &[&train_examples, &validation_examples, &test_examples],
        )?,
    };
    let config = &checkpoint_info.config;
    let tokenizer_path = checkpoint_info
        .tokenizer
        .clone()
        .with_context(|| format!("{} has no tokenizer.json", model_dir.display()))?;
    let max_length = args.max_length.unwrap_or(config.max_sequence_length());
    let tokenizer = Tokenizer::from_file(
        &tokenizer_path,
        config.common.pad_token_id.map(|p| p as u32),
        Some(max_length),
    )?;
    let encoder = TokenClassificationEncoder::new(
        tokenizer,
        labels.clone(),
        Some(max_length),
        args.label_all_subwords,
    )?;
    let train_data = encoder.encode(&train_examples)?;
    let validation_data = encoder.encode(&validation_examples)?;
    report_truncation("train", &train_data);
    report_truncation("validation", &validation_data);
    eprintln!(
        "model {} ({}), {} train / {} validation / {} test sentences, labels {}",
        args.model.as_deref().unwrap_or(DEFAULT_MODEL),
        model_dir.display(),
        train_data.len(),
        validation_data.len(),
        test_examples.len(),
        labels.labels().join(" ")
    );

    train_device.seed(args.seed);
    let label_names = labels.labels().to_vec();
    let (model, report, mut checkpoint) = load_model(
        &model_dir,
        &train_device,
        ModelLoadOptions {
            task: Some(Task::TokenClassification),
            labels: Some(label_names.clone()),
        },
    )?;
    eprint!("{report}");
    describe_model(
        &mut checkpoint.config,
        Task::TokenClassification,
        Some(&label_names),
    );
    let export_config = checkpoint.config.clone();

    let training = TrainingArguments {
        num_train_epochs: args.epochs,
        max_steps: args.max_steps,
        batch_size: args.batch_size,
        eval_batch_size: 64,
        learning_rate: args.lr,
        warmup_ratio: args.warmup_ratio,
        adamw: AdamWSettings {
            weight_decay: args.weight_decay,
            ..AdamWSettings::default()
        },
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        gradient_accumulation_steps: args.grad_accum,
        seed: args.seed,
        eval_steps: args.eval_steps,
        save_steps: args.save_steps,
        early_stopping_patience: args.patience,
        group_by_length: args.group_by_length,
        shuffle: true,
        progress: !args.no_progress,
        bf16: args.bf16,
    };
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(
        run_dir.join("training_args.json"),
        serde_json::to_vec_pretty(&training)?,
    )?;
    let data = TokenClassificationData { data: &train_data };
    let evaluator = TokenClassificationEvaluator {
        data: &validation_data,
        labels: &labels,
        batch_size: training.eval_batch_size,
    };
    let (_, outcome) = train(
        model,
        &data,
        (!validation_data.is_empty()).then_some(&evaluator),
        &training,
        &run_dir,
        args.resume,
        &train_device,
        |best| {
            save_model(best, &export_config, &run_dir, Some(&tokenizer_path))?;
            Ok(())
        },
    )?;
    if validation_data.is_empty() {
        // Without validation there is no selection: the last model is the result.
        bail!("no validation data; pass --validation");
    }

    // Test the best model (the run directory is its Hugging Face checkpoint).
    let (best, _, _) = load_model(&run_dir, &device, ModelLoadOptions::default())?;
    let test = evaluate_by_language(
        &best,
        &encoder,
        &test_examples,
        training.eval_batch_size,
        &device,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let report = json!({
        "model": args.model.as_deref().unwrap_or(DEFAULT_MODEL),
        "device": args.device,
        "train_files": train_files,
        "validation_files": validation_files,
        "test_files": test_files,
        "labels": label_names,
        "training_args": training,
        "steps": outcome.state.global_step,
        "stopped_early": outcome.stopped_early,
        "best_validation_f1": outcome.state.best_f1,
        "best_step": outcome.state.best_step,
        "train_seconds_this_process": outcome.seconds,
        "wall_seconds": seconds,
        "test": test,
    });
    kindling::import::write_atomically(
        &run_dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let md = report_markdown(&report, &test);
    kindling::import::write_atomically(&run_dir.join("report.md"), md.as_bytes())?;
    println!("{md}");
    Ok(())
}

fn report_truncation(split: &str, data: &EncodedDataset) {
    let t = data.truncation();
    if !t.is_clean() {
        eprintln!("{split}: {t}");
    }
}

fn report_markdown(
    report: &serde_json::Value,
    test: &BTreeMap<String, serde_json::Value>,
) -> String {
    let mut md = String::from("# Training report\n\n");
    md.push_str(&format!(
        "model `{}` on `{}`, {} steps, best validation F1 {:.4} (step {}), wall time {:.0} s\n\n",
        report["model"].as_str().unwrap_or_default(),
        report["device"].as_str().unwrap_or_default(),
        report["steps"],
        report["best_validation_f1"].as_f64().unwrap_or(f64::NAN),
        report["best_step"],
        report["wall_seconds"].as_f64().unwrap_or_default()
    ));
    md.push_str("| test set | precision | recall | F1 |\n|---|---|---|---|\n");
    for (lang, scores) in test {
        md.push_str(&format!(
            "| {lang} | {:.4} | {:.4} | {:.4} |\n",
            scores["precision"].as_f64().unwrap_or(f64::NAN),
            scores["recall"].as_f64().unwrap_or(f64::NAN),
            scores["f1"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    md
}
