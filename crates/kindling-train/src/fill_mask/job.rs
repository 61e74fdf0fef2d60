//! Masked-LM domain adaptation as a `train` / `eval` job: read plain-text files, pack them
//! into blocks (or one sequence per line), train with dynamic masking, and report the loss and
//! perplexity, as `run_mlm.py` does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use kindling_body::AnyBody;
use kindling_data::{TextLine, Tokenizer, read_text_lines};
use kindling_heads::{AnyHead, Model};
use kindling_import::{ModelLoadOptions, load_model};

use super::{
    EVAL_MASK_SEED, FillMaskData, FillMaskEvaluator, MaskingCollator, MlmDataset, MlmOptions,
};
use crate::error::TrainError;
use crate::job::{
    TaskOptions, TaskReport, TrainJob, checkpoint_tokenizer, read_files, split_validation,
};

/// `run_mlm.py` caps the block size at 1024 tokens.
const MAX_BLOCK: usize = 1024;

fn read_lines(files: &[PathBuf]) -> Result<Vec<TextLine>, TrainError> {
    read_files(files, |file| Ok(read_text_lines(file)?))
}

fn names(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The collator the task options ask for.
pub fn collator(
    tokenizer: &Tokenizer,
    options: &TaskOptions,
) -> Result<MaskingCollator, TrainError> {
    let mut collator = MaskingCollator::new(tokenizer, options.whole_word_mask)?;
    collator.mlm_probability = options.mlm_probability;
    collator.checked()
}

/// Loss and perplexity as JSON and as a Markdown table row.
fn scores(
    evaluator: &FillMaskEvaluator,
    model: &Model<AnyBody, AnyHead>,
    device: &Device,
) -> Result<serde_json::Value, TrainError> {
    let (loss, metrics) = evaluator.metrics(model, device)?;
    let mut json = serde_json::json!({ "loss": loss });
    for (name, value) in metrics {
        json[name] = serde_json::json!(value);
    }
    Ok(json)
}

/// Runs a fill-mask training job: trains the masked-LM head and body on the train files,
/// selects on the validation loss (or the job's metric), and reports loss and perplexity on
/// the test files (the validation files when there are none).
pub fn train_job(job: &TrainJob) -> Result<TaskReport, TrainError> {
    let started = Instant::now();
    let context = job.open()?;
    let options = MlmOptions {
        block_size: context.max_length.min(MAX_BLOCK),
        line_by_line: job.options.line_by_line,
    };
    let mut train_lines = read_lines(&job.train_files)?;
    let mut validation_lines = read_lines(&job.validation_files)?;
    if validation_lines.is_empty()
        && let Some(fraction) = job.validation_split
    {
        (train_lines, validation_lines) =
            split_validation(train_lines, fraction, job.training.seed)?;
    }
    let test_lines = read_lines(&job.test_files)?;
    let encode = |lines: &[TextLine], files: &[PathBuf]| {
        MlmDataset::encode(&context.tokenizer, lines, options, &names(files))
    };
    let train_data = encode(&train_lines, &job.train_files)?;
    let validation_data = if validation_lines.is_empty() {
        None
    } else {
        Some(encode(&validation_lines, &job.validation_files)?)
    };
    if job.evaluate && validation_data.is_none() {
        return Err(TrainError::Data(
            "no validation data: give validation files, a validation split, or turn evaluation off"
                .into(),
        ));
    }
    let collator = collator(&context.tokenizer, &job.options)?;
    eprintln!(
        "model {} ({}), {} train / {} validation sequences of up to {} tokens{}",
        job.model_name,
        job.model_dir.display(),
        train_data.len(),
        validation_data.as_ref().map_or(0, MlmDataset::len),
        options.block_size,
        if options.line_by_line {
            " (line by line)"
        } else {
            ""
        }
    );
    let evaluator = validation_data
        .as_ref()
        .map(|v| FillMaskEvaluator::new(v, &collator, job.training.eval_batch_size, EVAL_MASK_SEED))
        .transpose()?;
    let (model, export_config) = job.mount(None)?;
    let data = FillMaskData {
        data: &train_data,
        collator: &collator,
    };
    let outcome = job.fit(&context, model, &export_config, &data, evaluator.as_ref())?;

    let best = job.load_result()?;
    let (split, final_eval) = if test_lines.is_empty() {
        ("validation", evaluator)
    } else {
        let test = encode(&test_lines, &job.test_files)?;
        let eval = FillMaskEvaluator::new(
            &test,
            &collator,
            job.training.eval_batch_size,
            EVAL_MASK_SEED,
        )?;
        ("test", Some(eval))
    };
    let results = match &final_eval {
        Some(e) => scores(e, &best, &job.device)?,
        None => serde_json::Value::Null,
    };
    let table = format!(
        "| {split} | loss | perplexity |\n|---|---|---|\n| | {:.4} | {:.4} |\n",
        results["loss"].as_f64().unwrap_or(f64::NAN),
        results["perplexity"].as_f64().unwrap_or(f64::NAN)
    );
    job.write_report(
        &outcome,
        started,
        serde_json::json!({ split: results }),
        &table,
    )
}

/// Scores the masked-LM checkpoint in `model_dir` on the text file `data`: the loss and
/// perplexity of a fixed-seed masking ([`EVAL_MASK_SEED`]), as JSON and as text.
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
    let config = &checkpoint.config;
    let (_, tokenizer) = checkpoint_tokenizer(&checkpoint, None, "evaluation")?;
    let mlm = MlmOptions {
        block_size: config.max_sequence_length().min(MAX_BLOCK),
        line_by_line: options.line_by_line,
    };
    let lines = read_text_lines(data)?;
    let encoded = MlmDataset::encode(&tokenizer, &lines, mlm, &data.display().to_string())?;
    let collator = collator(&tokenizer, options)?;
    let evaluator = FillMaskEvaluator::new(&encoded, &collator, batch_size, EVAL_MASK_SEED)?;
    let json = scores(&evaluator, &model, device)?;
    let text = format!(
        "loss {:.4}  perplexity {:.4}  ({} sequences)",
        json["loss"].as_f64().unwrap_or(f64::NAN),
        json["perplexity"].as_f64().unwrap_or(f64::NAN),
        encoded.len()
    );
    Ok((json, text))
}
