//! Evaluating a text classifier: logits over a data set, the mean loss, and the metrics of
//! the data's label kind.

use burn::prelude::*;
use kindling_body::AnyBody;
use kindling_data::{EncodedLabel, TextLabelKind, batch_order};
use kindling_heads::{AnyHead, AnyOutput, Model};
use serde::Serialize;

use super::TextClassificationDataset;
use super::metrics::{Metrics, classification_metrics, multi_label_metrics, regression_metrics};
use crate::error::TrainError;
use crate::trainer::{Evaluation, Evaluator};

/// The model's logits on every example, with the mean loss.
#[derive(Debug, Clone)]
pub struct TextPredictions {
    /// `[example][num_labels]` logits, in data order.
    pub logits: Vec<Vec<f32>>,
    /// Mean loss over batches (NaN when no batch had a finite loss).
    pub loss: f64,
}

/// Runs `model` over `data` in batches of `batch_size` (file order).
pub fn predict_texts(
    model: &Model<AnyBody, AnyHead>,
    data: &TextClassificationDataset,
    batch_size: usize,
    device: &Device,
) -> Result<TextPredictions, TrainError> {
    let num_labels = data.scheme.num_labels();
    let mut logits = Vec::with_capacity(data.len());
    let mut loss_sum = 0.0;
    let mut batches = 0usize;
    for indices in batch_order(data.len(), batch_size.max(1), None, None)? {
        let batch = data.batch(&indices)?;
        let (input, labels) = batch.tensors(num_labels, device)?;
        let (output, loss) = model.forward_with_labels(input, labels)?;
        let value = loss.into_scalar::<f64>();
        if value.is_finite() {
            loss_sum += value;
            batches += 1;
        }
        let AnyOutput::SequenceClassification(output) = output else {
            return Err(TrainError::Data(
                "the model is not a sequence classifier".into(),
            ));
        };
        let [rows, classes] = output.logits.dims();
        if classes != num_labels {
            return Err(TrainError::Data(format!(
                "the model has {classes} outputs but the data {num_labels} labels"
            )));
        }
        let values: Vec<f32> = output
            .logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::Data(format!("reading logits: {e:?}")))?;
        logits.extend((0..rows).map(|r| values[r * classes..(r + 1) * classes].to_vec()));
    }
    Ok(TextPredictions {
        logits,
        loss: if batches > 0 {
            loss_sum / batches as f64
        } else {
            f64::NAN
        },
    })
}

fn argmax(row: &[f32]) -> i64 {
    // the first maximum, as torch / numpy argmax
    row.iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as i64
}

impl TextPredictions {
    /// The metrics of `kind` against the gold labels of `data`: single-label `accuracy`, `f1`
    /// (macro), `f1_micro`, `mcc` (argmax); multi-label `accuracy` (exact match), `f1`,
    /// `f1_micro` (sigmoid > 0.5, i.e. logit > 0); regression `pearson`, `spearmanr`, `mse`.
    pub fn metrics(&self, data: &TextClassificationDataset) -> Metrics {
        let gold = data.examples.iter().map(|e| &e.label);
        match data.scheme.kind {
            TextLabelKind::SingleLabel => {
                let gold: Vec<i64> = gold
                    .map(|l| match l {
                        EncodedLabel::Class(id) => *id,
                        _ => -1,
                    })
                    .collect();
                let predicted: Vec<i64> = self.logits.iter().map(|r| argmax(r)).collect();
                classification_metrics(&gold, &predicted)
            }
            TextLabelKind::MultiLabel => {
                let gold: Vec<Vec<bool>> = gold
                    .map(|l| match l {
                        EncodedLabel::MultiHot(v) => v.iter().map(|&x| x > 0.5).collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                let predicted: Vec<Vec<bool>> = self
                    .logits
                    .iter()
                    .map(|r| r.iter().map(|&x| x > 0.0).collect())
                    .collect();
                multi_label_metrics(&gold, &predicted)
            }
            TextLabelKind::Regression => {
                let gold: Vec<f64> = gold
                    .flat_map(|l| match l {
                        EncodedLabel::Values(v) => v.iter().map(|&x| f64::from(x)).collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                let predicted: Vec<f64> = self
                    .logits
                    .iter()
                    .flatten()
                    .map(|&x| f64::from(x))
                    .collect();
                regression_metrics(&gold, &predicted)
            }
        }
    }
}

/// The loss and metrics of one evaluation, as `kindling eval --json` prints them:
/// `{"loss": …, "accuracy": …, …}` (NaN is written as `null`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextClassificationReport {
    /// Mean loss.
    pub loss: f64,
    /// The metrics by name.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// Evaluates `model` on `data`: the mean loss and the metrics of the data's label kind.
pub fn evaluate_text_classification(
    model: &Model<AnyBody, AnyHead>,
    data: &TextClassificationDataset,
    batch_size: usize,
    device: &Device,
) -> Result<TextClassificationReport, TrainError> {
    let predictions = predict_texts(model, data, batch_size, device)?;
    Ok(TextClassificationReport {
        loss: predictions.loss,
        metrics: predictions.metrics(data),
    })
}

/// The metric that selects the best model for `kind` when none is asked for: `accuracy` for
/// classification (as `run_glue.py`), `pearson` for regression.
pub fn selection_metric(kind: TextLabelKind) -> &'static str {
    match kind {
        TextLabelKind::SingleLabel | TextLabelKind::MultiLabel => "accuracy",
        TextLabelKind::Regression => "pearson",
    }
}

/// Evaluates a text classifier on encoded examples during training.
pub struct TextClassificationEvaluator<'a> {
    /// The evaluation examples.
    pub data: &'a TextClassificationDataset,
    /// Examples per batch.
    pub batch_size: usize,
}

impl Evaluator<AnyHead> for TextClassificationEvaluator<'_> {
    fn evaluate(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<Evaluation, TrainError> {
        let report = evaluate_text_classification(model, self.data, self.batch_size, device)?;
        Ok(Evaluation {
            loss: report.loss,
            metrics: report.metrics,
        })
    }
}
