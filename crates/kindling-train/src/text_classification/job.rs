//! Text classification as a `train` / `eval` job: read CSV / TSV / JSON-lines files with the
//! job's columns, fix the label scheme (the checkpoint's names and `problem_type` when it is a
//! sequence classifier, else the data's), fine-tune, and report the test metrics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use kindling_data::{TableColumns, TextClassificationExample, TextLabelKind};
use kindling_import::{ModelLoadOptions, load_model};

use super::{
    TextClassificationData, TextClassificationDataset, TextClassificationEvaluator,
    evaluate_text_classification, problem_type, read_split, scheme_for_checkpoint,
    selection_metric, set_problem_type,
};
use crate::error::TrainError;
use crate::job::{
    Columns, TaskReport, TrainJob, checkpoint_tokenizer, read_files, split_validation,
};

fn table_columns(columns: &Columns) -> TableColumns {
    TableColumns {
        text: columns.text.clone(),
        text_pair: columns.text_pair.clone(),
        label: columns.label.clone(),
    }
}

fn read_all(
    files: &[PathBuf],
    columns: &TableColumns,
) -> Result<Vec<TextClassificationExample>, TrainError> {
    read_files(files, |file| read_split(file, columns))
}

fn metrics_table(metrics: &super::Metrics) -> String {
    let mut table = String::from("| test metric | value |\n|---|---|\n");
    for (name, value) in metrics {
        let _ = writeln!(table, "| {name} | {value:.4} |");
    }
    table
}

/// Runs a text-classification training job: fine-tunes, exports the best model by the
/// validation metric (`accuracy`, or `pearson` for regression when the default was left), and
/// scores it on the test files.
pub fn train_job(job: &TrainJob) -> Result<TaskReport, TrainError> {
    let started = Instant::now();
    let context = job.open()?;
    let columns = table_columns(&job.columns);
    let mut train_rows = read_all(&job.train_files, &columns)?;
    let mut validation_rows = read_all(&job.validation_files, &columns)?;
    if validation_rows.is_empty()
        && let Some(fraction) = job.validation_split
    {
        (train_rows, validation_rows) = split_validation(train_rows, fraction, job.training.seed)?;
    }
    let test_rows = read_all(&job.test_files, &columns)?;
    let mut scheme = scheme_for_checkpoint(&context.checkpoint.config, &train_rows)?;
    if let Some(labels) = &job.labels {
        scheme = kindling_data::TextLabelScheme::infer(
            &train_rows,
            Some(scheme.kind),
            Some(labels.as_slice()),
        )?;
    }
    let encode = |rows: &[TextClassificationExample]| {
        TextClassificationDataset::encode(rows, &scheme, &context.tokenizer, context.max_length)
    };
    let train_data = encode(&train_rows)?;
    let validation_data = encode(&validation_rows)?;
    let test_data = encode(&test_rows)?;
    for (split, data) in [("train", &train_data), ("validation", &validation_data)] {
        if data.truncated > 0 {
            eprintln!(
                "{split}: {} of {} texts cut to {} tokens",
                data.truncated,
                data.len(),
                context.max_length
            );
        }
    }
    eprintln!(
        "model {} ({}), {} train / {} validation / {} test texts, {}, labels {}",
        job.model_name,
        job.model_dir.display(),
        train_data.len(),
        validation_data.len(),
        test_data.len(),
        scheme.problem_type(),
        scheme.labels.join(" ")
    );
    if job.evaluate && validation_data.is_empty() {
        return Err(TrainError::Data(
            "no validation data: give validation files, a validation split, or turn evaluation off"
                .into(),
        ));
    }
    let mut job = job.clone();
    if scheme.kind == TextLabelKind::Regression && job.training.metric_for_best_model == "accuracy"
    {
        // the task's default metric does not exist for regression
        job.training.metric_for_best_model = selection_metric(scheme.kind).into();
        job.training.greater_is_better = true;
    }
    let (mut model, mut export_config) = job.mount(Some(scheme.labels.clone()))?;
    set_problem_type(&mut model, &scheme)?;
    export_config.common.problem_type = Some(problem_type(scheme.kind));
    let data = TextClassificationData { data: &train_data };
    let evaluator = TextClassificationEvaluator {
        data: &validation_data,
        batch_size: job.training.eval_batch_size,
    };
    let outcome = job.fit(&context, model, &export_config, &data, Some(&evaluator))?;

    let (results, table) = if test_data.is_empty() {
        (serde_json::Value::Null, String::new())
    } else {
        let best = job.load_result()?;
        let report = evaluate_text_classification(
            &best,
            &test_data,
            job.training.eval_batch_size,
            &job.device,
        )?;
        (
            serde_json::to_value(&report).map_err(|e| TrainError::Data(e.to_string()))?,
            metrics_table(&report.metrics),
        )
    };
    job.labels = Some(scheme.labels.clone());
    job.write_report(&outcome, started, results, &table)
}

/// What `eval` prints for a text-classification checkpoint.
pub struct TextEval {
    /// `{"loss": …, "accuracy": …, …}` (the label kind's metrics).
    pub json: serde_json::Value,
    /// The metrics as a table.
    pub text: String,
}

/// Scores the sequence-classification checkpoint in `model_dir` on the table `data` (its
/// labels read against the checkpoint's names and `problem_type`; a label outside them is an
/// error naming the file, line and column).
pub fn eval_job(
    model_dir: &Path,
    data: &Path,
    columns: &Columns,
    batch_size: usize,
    int8: bool,
    device: &Device,
) -> Result<TextEval, TrainError> {
    let (mut model, _, checkpoint) = load_model(
        model_dir,
        device,
        ModelLoadOptions {
            task: Some(kindling_heads::Task::SequenceClassification),
            labels: None,
            int8,
        },
    )?;
    let config = &checkpoint.config;
    let rows = read_split(data, &table_columns(columns))?;
    let mut scheme = scheme_for_checkpoint(config, &rows)?;
    if let kindling_heads::AnyHead::SequenceClassification(head) = &model.head
        && head.num_labels() != scheme.num_labels()
    {
        // the data alone decided the classes (a checkpoint without names): the head's count wins
        let names = (0..head.num_labels())
            .map(|i| format!("LABEL_{i}"))
            .collect::<Vec<_>>();
        scheme = kindling_data::TextLabelScheme::infer(
            &rows,
            Some(scheme.kind),
            Some(names.as_slice()),
        )?;
    }
    set_problem_type(&mut model, &scheme)?;
    let max_length = config.max_sequence_length();
    let (_, tokenizer) = checkpoint_tokenizer(&checkpoint, Some(max_length), "evaluation")?;
    let encoded = TextClassificationDataset::encode(&rows, &scheme, &tokenizer, max_length)?;
    if encoded.truncated > 0 {
        eprintln!(
            "{}: {} of {} texts cut to {max_length} tokens",
            data.display(),
            encoded.truncated,
            encoded.len()
        );
    }
    let report = evaluate_text_classification(&model, &encoded, batch_size, device)?;
    let mut text = format!("{} examples, {}\n", encoded.len(), scheme.problem_type());
    let _ = writeln!(text, "loss {:.4}", report.loss);
    for (name, value) in &report.metrics {
        let _ = writeln!(text, "{name} {value:.4}");
    }
    Ok(TextEval {
        json: serde_json::to_value(&report).map_err(|e| TrainError::Data(e.to_string()))?,
        text,
    })
}
