//! Multiple choice as a `train` / `eval` job: read SWAG-style JSON lines, fine-tune the
//! multiple-choice head and body, and report the loss and accuracy, as `run_swag.py` does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use kindling_body::AnyBody;
use kindling_data::{ChoiceExample, read_multiple_choice};
use kindling_heads::{AnyHead, Model};
use kindling_import::{ModelLoadOptions, load_model};

use super::{ChoiceDataset, MultipleChoiceData, MultipleChoiceEvaluator};
use crate::error::TrainError;
use crate::job::{TaskReport, TrainJob, checkpoint_tokenizer, read_files, split_validation};

fn read(files: &[PathBuf]) -> Result<Vec<ChoiceExample>, TrainError> {
    read_files(files, |file| Ok(read_multiple_choice(file)?))
}

fn scores(
    model: &Model<AnyBody, AnyHead>,
    data: &ChoiceDataset,
    batch_size: usize,
    device: &Device,
) -> Result<serde_json::Value, TrainError> {
    let (loss, metrics) = MultipleChoiceEvaluator { data, batch_size }.metrics(model, device)?;
    let mut json = serde_json::json!({ "loss": loss });
    for (name, value) in metrics {
        json[name] = serde_json::json!(value);
    }
    Ok(json)
}

/// Runs a multiple-choice training job: fine-tunes, selects on validation accuracy (or the
/// job's metric), and reports loss and accuracy on the test files (the validation files when
/// there are none).
pub fn train_job(job: &TrainJob) -> Result<TaskReport, TrainError> {
    let started = Instant::now();
    let context = job.open()?;
    let mut train_examples = read(&job.train_files)?;
    let mut validation_examples = read(&job.validation_files)?;
    if validation_examples.is_empty()
        && let Some(fraction) = job.validation_split
    {
        (train_examples, validation_examples) =
            split_validation(train_examples, fraction, job.training.seed)?;
    }
    let test_examples = read(&job.test_files)?;
    let encode = |examples: &[ChoiceExample]| {
        ChoiceDataset::encode(&context.tokenizer, examples, context.max_length)
    };
    let train_data = encode(&train_examples)?;
    let validation_data = encode(&validation_examples)?;
    if let (Some(a), Some(b)) = (train_examples.first(), validation_examples.first())
        && a.endings.len() != b.endings.len()
    {
        return Err(TrainError::Data(format!(
            "the train examples have {} choices, the validation examples {}",
            a.endings.len(),
            b.endings.len()
        )));
    }
    if job.evaluate && validation_data.is_empty() {
        return Err(TrainError::Data(
            "no validation data: give validation files, a validation split, or turn evaluation off"
                .into(),
        ));
    }
    eprintln!(
        "model {} ({}), {} train / {} validation / {} test questions, {} choices each{}",
        job.model_name,
        job.model_dir.display(),
        train_data.len(),
        validation_data.len(),
        test_examples.len(),
        train_data.num_choices,
        if train_data.truncated + validation_data.truncated > 0 {
            format!(
                "; {} choice sequences cut to {} tokens",
                train_data.truncated + validation_data.truncated,
                context.max_length
            )
        } else {
            String::new()
        }
    );
    let (model, export_config) = job.mount(None)?;
    let evaluator = MultipleChoiceEvaluator {
        data: &validation_data,
        batch_size: job.training.eval_batch_size,
    };
    let outcome = job.fit(
        &context,
        model,
        &export_config,
        &MultipleChoiceData { data: &train_data },
        Some(&evaluator),
    )?;
    let best = job.load_result()?;
    let (split, data) = if test_examples.is_empty() {
        ("validation", validation_data)
    } else {
        ("test", encode(&test_examples)?)
    };
    let results = scores(&best, &data, job.training.eval_batch_size, &job.device)?;
    let table = format!(
        "| {split} | loss | accuracy |\n|---|---|---|\n| | {:.4} | {:.4} |\n",
        results["loss"].as_f64().unwrap_or(f64::NAN),
        results["accuracy"].as_f64().unwrap_or(f64::NAN)
    );
    job.write_report(
        &outcome,
        started,
        serde_json::json!({ split: results }),
        &table,
    )
}

/// Scores the multiple-choice checkpoint in `model_dir` on the JSON lines file `data`: loss and
/// accuracy, as JSON and as text.
pub fn eval_job(
    model_dir: &Path,
    data: &Path,
    batch_size: usize,
    int8: bool,
    device: &Device,
) -> Result<(serde_json::Value, String), TrainError> {
    let (model, _, checkpoint) =
        load_model(model_dir, device, ModelLoadOptions::for_inference(int8))?;
    let config = &checkpoint.config;
    let max_length = config.max_sequence_length();
    let (_, tokenizer) = checkpoint_tokenizer(&checkpoint, Some(max_length), "evaluation")?;
    let examples = read_multiple_choice(data)?;
    let encoded = ChoiceDataset::encode(&tokenizer, &examples, max_length)?;
    let json = scores(&model, &encoded, batch_size, device)?;
    let text = format!(
        "loss {:.4}  accuracy {:.4}  ({} questions)",
        json["loss"].as_f64().unwrap_or(f64::NAN),
        json["accuracy"].as_f64().unwrap_or(f64::NAN),
        encoded.len()
    );
    Ok((json, text))
}
