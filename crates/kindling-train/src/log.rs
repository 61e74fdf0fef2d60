//! The metrics log (`metrics.jsonl`) and the curves image (`curves.svg`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Reads a metric written by [`LogEntry`]'s serializer: JSON has no NaN, so serde_json writes a
/// non-finite value (an evaluation before any training step has no training loss) as `null`,
/// which reads back as NaN; without this a resume from such a checkpoint failed to parse it.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A metric value that survives JSON: NaN is written as `null` and read back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metric(#[serde(deserialize_with = "f64_or_nan")] pub f64);

/// One evaluation, one line of `metrics.jsonl`: the task's metrics (`precision`, `recall`, `f1`
/// for token classification; `accuracy`, `exact_match`, `perplexity`, ... for the others) sit
/// at the top level beside the loss, as `transformers`' `eval_*` entries of its log history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Fractional epoch at the evaluation (`1.0` = end of the first epoch).
    pub epoch: f64,
    /// Optimizer step.
    pub step: usize,
    /// Mean training loss since the previous evaluation.
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_loss: f64,
    /// Evaluation loss.
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss: f64,
    /// Learning rate at the evaluation.
    pub learning_rate: f64,
    /// The task's metrics by name.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, Metric>,
}

impl LogEntry {
    /// A metric by name (`loss` is the evaluation loss); NaN when it was not computed.
    pub fn metric(&self, name: &str) -> f64 {
        match name {
            "loss" => self.loss,
            name => self.metrics.get(name).map_or(f64::NAN, |m| m.0),
        }
    }
}

/// Appends one JSON line to `path`.
pub fn append_metrics(path: &Path, entry: &LogEntry) -> Result<(), TrainError> {
    let io = |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let line = serde_json::to_string(entry).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    writeln!(file, "{line}").map_err(io)
}

/// Draws the training loss of every optimizer step (`step_losses`, averaged over windows of
/// `smoothing` steps), the evaluation loss, and the selection metric `metric` against the
/// step, as an SVG.
pub fn plot_curves(
    path: &Path,
    step_losses: &[f64],
    smoothing: usize,
    history: &[LogEntry],
    metric: &str,
) -> Result<(), TrainError> {
    let draw_error = |e: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("drawing the curves: {e}"),
    };
    let window = smoothing.max(1);
    let train: Vec<(f64, f64)> = step_losses
        .chunks(window)
        .enumerate()
        .filter(|(_, c)| c.iter().all(|v| v.is_finite()))
        .map(|(i, c)| {
            let step = (i * window + c.len()) as f64;
            (step, c.iter().sum::<f64>() / c.len() as f64)
        })
        .collect();
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
    let (left, right) = root.split_horizontally(450);
    let max_step = history
        .iter()
        .map(|e| e.step)
        .chain(std::iter::once(step_losses.len()))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_loss = history
        .iter()
        .map(|e| e.loss)
        .chain(train.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3);

    let mut loss = ChartBuilder::on(&left)
        .caption("loss", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..max_step, 0f64..max_loss * 1.05)
        .map_err(|e| draw_error(e.to_string()))?;
    loss.configure_mesh()
        .x_desc("step")
        .draw()
        .map_err(|e| draw_error(e.to_string()))?;
    loss.draw_series(LineSeries::new(train.iter().copied(), &BLUE))
        .map_err(|e| draw_error(e.to_string()))?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE));
    loss.draw_series(LineSeries::new(
        history
            .iter()
            .filter(|e| e.loss.is_finite())
            .map(|e| (e.step as f64, e.loss)),
        &RED,
    ))
    .map_err(|e| draw_error(e.to_string()))?
    .label("validation")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
    loss.configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(|e| draw_error(e.to_string()))?;

    let points: Vec<(f64, f64)> = history
        .iter()
        .map(|e| (e.step as f64, e.metric(metric)))
        .filter(|p| p.1.is_finite())
        .collect();
    let top = points.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let bottom = points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let mut chart = ChartBuilder::on(&right)
        .caption(format!("validation {metric}"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..max_step, bottom..top * 1.05)
        .map_err(|e| draw_error(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .draw()
        .map_err(|e| draw_error(e.to_string()))?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), &GREEN))
        .map_err(|e| draw_error(e.to_string()))?;
    chart
        .draw_series(points.iter().map(|p| Circle::new(*p, 3, GREEN.filled())))
        .map_err(|e| draw_error(e.to_string()))?;
    root.present().map_err(|e| draw_error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_metric_survives_the_json_round_trip() {
        let entry = LogEntry {
            epoch: 0.5,
            step: 4,
            train_loss: f64::NAN,
            loss: 1.25,
            learning_rate: 2e-5,
            metrics: [("precision", 0.5), ("recall", f64::NAN), ("f1", 1.0 / 3.0)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Metric(v)))
                .collect(),
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains("\"train_loss\":null"), "{text}");
        let back: LogEntry = serde_json::from_str(&text).unwrap();
        assert!(text.contains("\"f1\":0.333"), "{text}");
        assert!(back.train_loss.is_nan());
        assert!(back.metric("recall").is_nan());
        assert_eq!(back.metric("f1"), 1.0 / 3.0);
        assert_eq!(back.metric("loss"), 1.25);
        assert_eq!(back.step, 4);
    }
}
