//! Question answering as a `train` / `eval` job: read SQuAD JSON or JSON lines, fine-tune the
//! span head and body on windows of `max_length` tokens (384 by default, as `run_qa.py`),
//! select on validation F1, and report exact match and F1.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use kindling_body::AnyBody;
use kindling_data::{QaExample, read_squad};
use kindling_heads::{AnyHead, Model};
use kindling_import::{ModelLoadOptions, load_model};

use super::{
    DEFAULT_MAX_LENGTH, PostProcessOptions, QaDataset, QaEvaluator, QaTrainingData, Windowing,
};
use crate::error::TrainError;
use crate::job::{
    TaskOptions, TaskReport, TrainJob, checkpoint_tokenizer, read_files, split_validation,
};

/// Reads the files; without `version_2_with_negative` every question must have an answer
/// (SQuAD v1.1), as the v1.1 metric has nothing to compare an unanswerable question with.
fn read(files: &[PathBuf], options: &TaskOptions) -> Result<Vec<QaExample>, TrainError> {
    let examples = read_files(files, |file| Ok(read_squad(file)?))?;
    if !options.version_2_with_negative
        && let Some(example) = examples.iter().find(|e| e.answers.is_empty())
    {
        return Err(TrainError::Data(format!(
            "{} (id {}): the question has no answer; SQuAD v2 data needs --version-2-with-negative",
            example.origin, example.id
        )));
    }
    Ok(examples)
}

fn postprocess_options(options: &TaskOptions) -> PostProcessOptions {
    PostProcessOptions {
        version_2_with_negative: options.version_2_with_negative,
        max_answer_length: options.max_answer_length,
        ..PostProcessOptions::default()
    }
}

fn scores(
    model: &Model<AnyBody, AnyHead>,
    data: &QaDataset,
    options: &TaskOptions,
    batch_size: usize,
    device: &Device,
) -> Result<serde_json::Value, TrainError> {
    let evaluator = QaEvaluator {
        data,
        batch_size,
        options: postprocess_options(options),
    };
    let (_, evaluation) = evaluator.run(model, device)?;
    let mut json = serde_json::json!({ "loss": evaluation.loss });
    for (name, value) in evaluation.metrics {
        json[name] = serde_json::json!(value);
    }
    Ok(json)
}

fn exact_key(options: &TaskOptions) -> &'static str {
    if options.version_2_with_negative {
        "exact"
    } else {
        "exact_match"
    }
}

/// Runs a question-answering training job: fine-tunes, selects on validation F1 (or the job's
/// metric), and reports loss, exact match and F1 on the test files (the validation files when
/// there are none).
pub fn train_job(job: &TrainJob) -> Result<TaskReport, TrainError> {
    let started = Instant::now();
    let context = job.open()?;
    let max_length = job
        .max_length
        .unwrap_or(DEFAULT_MAX_LENGTH.min(context.max_length));
    let windowing = Windowing::new(&context.tokenizer, max_length, job.options.doc_stride)?;
    let mut train_examples = read(&job.train_files, &job.options)?;
    let mut validation_examples = read(&job.validation_files, &job.options)?;
    if validation_examples.is_empty()
        && let Some(fraction) = job.validation_split
    {
        (train_examples, validation_examples) =
            split_validation(train_examples, fraction, job.training.seed)?;
    }
    let test_examples = read(&job.test_files, &job.options)?;
    let (n_train, n_validation) = (train_examples.len(), validation_examples.len());
    let train_data = QaDataset::encode(&windowing, train_examples)?;
    let validation_data = QaDataset::encode(&windowing, validation_examples)?;
    if job.evaluate && validation_data.is_empty() {
        return Err(TrainError::Data(
            "no validation data: give validation files, a validation split, or turn evaluation off"
                .into(),
        ));
    }
    eprintln!(
        "model {} ({}), {n_train} train / {n_validation} validation / {} test questions, {} / {} windows of up to {max_length} tokens (stride {})",
        job.model_name,
        job.model_dir.display(),
        test_examples.len(),
        train_data.len(),
        validation_data.len(),
        job.options.doc_stride,
    );
    let (model, export_config) = job.mount(None)?;
    let evaluator = QaEvaluator {
        data: &validation_data,
        batch_size: job.training.eval_batch_size,
        options: postprocess_options(&job.options),
    };
    let outcome = job.fit(
        &context,
        model,
        &export_config,
        &QaTrainingData { data: &train_data },
        Some(&evaluator),
    )?;
    let best = job.load_result()?;
    let (split, data) = if test_examples.is_empty() {
        ("validation", validation_data)
    } else {
        ("test", QaDataset::encode(&windowing, test_examples)?)
    };
    let results = scores(
        &best,
        &data,
        &job.options,
        job.training.eval_batch_size,
        &job.device,
    )?;
    let value = |key: &str| results[key].as_f64().unwrap_or(f64::NAN);
    let table = format!(
        "| {split} | loss | exact match | F1 |\n|---|---|---|---|\n| | {:.4} | {:.2} | {:.2} |\n",
        value("loss"),
        value(exact_key(&job.options)),
        value("f1")
    );
    job.write_report(
        &outcome,
        started,
        serde_json::json!({ split: results }),
        &table,
    )
}

/// Scores the question-answering checkpoint in `model_dir` on the SQuAD file `data`: loss,
/// exact match and F1 (v2.0's figures with `version_2_with_negative`), as JSON and as text.
pub fn eval_job(
    model_dir: &Path,
    data: &Path,
    options: &TaskOptions,
    batch_size: usize,
    int8: bool,
    device: &Device,
) -> Result<(serde_json::Value, String), TrainError> {
    let (model, _, checkpoint) =
        load_model(model_dir, device, ModelLoadOptions::for_inference(int8))?;
    let max_length = DEFAULT_MAX_LENGTH.min(checkpoint.config.max_sequence_length());
    let (_, tokenizer) = checkpoint_tokenizer(&checkpoint, None, "evaluation")?;
    let windowing = Windowing::new(&tokenizer, max_length, options.doc_stride)?;
    let examples = read(&[data.to_path_buf()], options)?;
    let n = examples.len();
    let encoded = QaDataset::encode(&windowing, examples)?;
    let json = scores(&model, &encoded, options, batch_size, device)?;
    let text = format!(
        "loss {:.4}  exact match {:.2}  F1 {:.2}  ({n} questions, {} windows)",
        json["loss"].as_f64().unwrap_or(f64::NAN),
        json[exact_key(options)].as_f64().unwrap_or(f64::NAN),
        json["f1"].as_f64().unwrap_or(f64::NAN),
        encoded.len()
    );
    Ok((json, text))
}
