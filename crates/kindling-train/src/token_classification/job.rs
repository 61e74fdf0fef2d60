//! Token classification as a `train` / `eval` job: read CoNLL / JSON lines / PAN-X files, fix
//! the tag set, fine-tune, and report seqeval F1 per language (the book's chapter 4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use kindling_body::AnyBody;
use kindling_data::{
    EncodedDataset, LabelSet, NerExample, TokenClassificationEncoder, read_dataset,
};
use kindling_heads::{AnyHead, Model};
use kindling_import::{ModelLoadOptions, load_model, write_atomically};

use super::{TokenClassificationData, TokenClassificationEvaluator, predict_tags};
use crate::error::TrainError;
use crate::job::{TaskReport, TrainJob, checkpoint_tokenizer, read_files, split_validation};

/// The tag set: `spec` (comma-separated, or a file with one tag per line) when given, else
/// PAN-X's when every tag of the data is one of its tags, else the data's tags.
pub fn label_set(
    spec: Option<&[String]>,
    examples: &[&[NerExample]],
) -> Result<LabelSet, TrainError> {
    if let Some(list) = spec {
        return Ok(LabelSet::from_list(list.to_vec())?);
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

/// Scores `model` on `examples` grouped by language (with an `all` group when there are
/// several); one seqeval report as JSON per group.
pub fn evaluate_by_language(
    model: &Model<AnyBody, AnyHead>,
    encoder: &TokenClassificationEncoder,
    examples: &[NerExample],
    batch_size: usize,
    device: &Device,
) -> Result<BTreeMap<String, serde_json::Value>, TrainError> {
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
        let value = serde_json::to_value(&report).map_err(|e| TrainError::Data(e.to_string()))?;
        out.insert(lang, value);
    }
    Ok(out)
}

fn report_truncation(split: &str, data: &EncodedDataset) {
    let t = data.truncation();
    if !t.is_clean() {
        eprintln!("{split}: {t}");
    }
}

fn read_ner(files: &[PathBuf], labels: Option<&LabelSet>) -> Result<Vec<NerExample>, TrainError> {
    read_files(files, |file| Ok(read_dataset(file, labels)?))
}

/// Runs a token-classification training job: fine-tunes, exports the best model by
/// validation F1, and scores it on the test files per language.
pub fn train_job(job: &TrainJob) -> Result<TaskReport, TrainError> {
    let started = Instant::now();
    let context = job.open()?;
    let preset = job
        .labels
        .as_deref()
        .map(|l| label_set(Some(l), &[]))
        .transpose()?;
    let mut train_examples = read_ner(&job.train_files, preset.as_ref())?;
    let mut validation_examples = read_ner(&job.validation_files, preset.as_ref())?;
    if validation_examples.is_empty()
        && let Some(fraction) = job.validation_split
    {
        (train_examples, validation_examples) =
            split_validation(train_examples, fraction, job.training.seed)?;
    }
    let test_examples = read_ner(&job.test_files, preset.as_ref())?;
    let labels = match preset {
        Some(labels) => labels,
        None => label_set(
            None,
            &[&train_examples, &validation_examples, &test_examples],
        )?,
    };
    let encoder = TokenClassificationEncoder::new(
        context.tokenizer.clone(),
        labels.clone(),
        Some(context.max_length),
        job.options.label_all_subwords,
    )?;
    let train_data = encoder.encode(&train_examples)?;
    let validation_data = encoder.encode(&validation_examples)?;
    report_truncation("train", &train_data);
    report_truncation("validation", &validation_data);
    eprintln!(
        "model {} ({}), {} train / {} validation / {} test sentences, labels {}",
        job.model_name,
        job.model_dir.display(),
        train_data.len(),
        validation_data.len(),
        test_examples.len(),
        labels.labels().join(" ")
    );
    if job.evaluate && validation_data.is_empty() {
        return Err(TrainError::Data(
            "no validation data: give validation files, a validation split, or turn evaluation off"
                .into(),
        ));
    }
    let label_names = labels.labels().to_vec();
    let (model, export_config) = job.mount(Some(label_names.clone()))?;
    let data = TokenClassificationData { data: &train_data };
    let evaluator = TokenClassificationEvaluator {
        data: &validation_data,
        labels: &labels,
        batch_size: job.training.eval_batch_size,
    };
    let outcome = job.fit(&context, model, &export_config, &data, Some(&evaluator))?;

    let best = job.load_result()?;
    let test = evaluate_by_language(
        &best,
        &encoder,
        &test_examples,
        job.training.eval_batch_size,
        &job.device,
    )?;
    let mut table = String::from("| test set | precision | recall | F1 |\n|---|---|---|---|\n");
    for (lang, scores) in &test {
        let _ = writeln!(
            table,
            "| {lang} | {:.4} | {:.4} | {:.4} |",
            scores["precision"].as_f64().unwrap_or(f64::NAN),
            scores["recall"].as_f64().unwrap_or(f64::NAN),
            scores["f1"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let mut job_with_labels = job.clone();
    job_with_labels.labels = Some(label_names);
    let results = serde_json::to_value(&test).map_err(|e| TrainError::Data(e.to_string()))?;
    job_with_labels.write_report(&outcome, started, results, &table)
}

/// What `eval` prints for a token-classification checkpoint.
pub struct TokenEval {
    /// The seqeval report as JSON (`precision`, `recall`, `f1`, per type).
    pub json: serde_json::Value,
    /// The report as a table.
    pub text: String,
}

/// Scores the token-classification checkpoint in `model_dir` on `data` (seqeval report); with
/// `predictions`, also writes CoNLL lines `token gold predicted`, a blank line between
/// sentences.
pub fn eval_job(
    model_dir: &Path,
    data: &Path,
    predictions: Option<&Path>,
    batch_size: usize,
    int8: bool,
    device: &Device,
) -> Result<TokenEval, TrainError> {
    let (model, _, checkpoint) =
        load_model(model_dir, device, ModelLoadOptions::for_inference(int8))?;
    let config = &checkpoint.config;
    let labels = LabelSet::from_list(config.labels().ok_or_else(|| TrainError::Checkpoint {
        path: model_dir.join("config.json"),
        message: "no id2label: the tag set of a token-classification checkpoint is needed".into(),
    })?)?;
    let max_length = config.max_sequence_length();
    let (_, tokenizer) = checkpoint_tokenizer(&checkpoint, Some(max_length), "evaluation")?;
    let examples = read_dataset(data, Some(&labels))?;
    let encoder =
        TokenClassificationEncoder::new(tokenizer, labels.clone(), Some(max_length), false)?;
    let encoded = encoder.encode(&examples)?;
    let truncation = encoded.truncation();
    if !truncation.is_clean() {
        eprintln!("{}: {truncation}", data.display());
    }
    let tags = predict_tags(&model, &encoded, &labels, batch_size, device)?;
    let report = tags.report()?;
    if let Some(path) = predictions {
        let mut out = String::new();
        for (example, words) in examples.iter().zip(&tags.words) {
            for (i, (token, gold)) in example.tokens.iter().zip(&example.tags).enumerate() {
                let predicted = words
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "O".into());
                let _ = writeln!(out, "{token} {gold} {predicted}");
            }
            out.push('\n');
        }
        write_atomically(path, out.as_bytes())?;
    }
    Ok(TokenEval {
        json: serde_json::to_value(&report).map_err(|e| TrainError::Data(e.to_string()))?,
        text: report.to_string(),
    })
}
