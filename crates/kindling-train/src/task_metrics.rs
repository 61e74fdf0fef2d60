//! One place that turns a task's loss and named metrics into the trainer's [`Evaluation`].
//!
//! Interim: until the trainer's `Evaluation` carries named metrics and the selection metric
//! comes from `TrainingArguments`, the selection metric goes into `f1` (negated when lower is
//! better, so that "higher is better" still holds), and into `precision` and `recall`.

use std::collections::BTreeMap;

use crate::trainer::Evaluation;

/// The evaluation of `loss` and `metrics`, selecting on `metrics[selection]`.
pub(crate) fn evaluation(
    loss: f64,
    metrics: BTreeMap<String, f64>,
    selection: &str,
    greater_is_better: bool,
) -> Evaluation {
    let value = metrics.get(selection).copied().unwrap_or(f64::NAN);
    let score = if greater_is_better { value } else { -value };
    Evaluation {
        loss,
        precision: score,
        recall: score,
        f1: score,
    }
}
