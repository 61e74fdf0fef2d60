//! The metrics log (`metrics.jsonl`) and the curves image (`curves.svg`).

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

/// One evaluation, one line of `metrics.jsonl`.
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
    /// Entity-level precision.
    #[serde(deserialize_with = "f64_or_nan")]
    pub precision: f64,
    /// Entity-level recall.
    #[serde(deserialize_with = "f64_or_nan")]
    pub recall: f64,
    /// Entity-level F1.
    #[serde(deserialize_with = "f64_or_nan")]
    pub f1: f64,
    /// Learning rate at the evaluation.
    pub learning_rate: f64,
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

/// Draws training loss, evaluation loss and F1 against the step, as an SVG.
pub fn plot_curves(path: &Path, history: &[LogEntry]) -> Result<(), TrainError> {
    let draw_error = |e: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("drawing the curves: {e}"),
    };
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
    let (left, right) = root.split_horizontally(450);
    let max_step = history.iter().map(|e| e.step).max().unwrap_or(1).max(1) as f64;
    let max_loss = history
        .iter()
        .flat_map(|e| [e.train_loss, e.loss])
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
    loss.draw_series(LineSeries::new(
        history.iter().map(|e| (e.step as f64, e.train_loss)),
        &BLUE,
    ))
    .map_err(|e| draw_error(e.to_string()))?
    .label("train")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE));
    loss.draw_series(LineSeries::new(
        history.iter().map(|e| (e.step as f64, e.loss)),
        &RED,
    ))
    .map_err(|e| draw_error(e.to_string()))?
    .label("validation")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
    loss.configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(|e| draw_error(e.to_string()))?;

    let mut f1 = ChartBuilder::on(&right)
        .caption("validation F1", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..max_step, 0f64..1f64)
        .map_err(|e| draw_error(e.to_string()))?;
    f1.configure_mesh()
        .x_desc("step")
        .draw()
        .map_err(|e| draw_error(e.to_string()))?;
    f1.draw_series(LineSeries::new(
        history.iter().map(|e| (e.step as f64, e.f1)),
        &GREEN,
    ))
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
            precision: 0.5,
            recall: 0.25,
            f1: 1.0 / 3.0,
            learning_rate: 2e-5,
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains("\"train_loss\":null"), "{text}");
        let back: LogEntry = serde_json::from_str(&text).unwrap();
        assert!(back.train_loss.is_nan());
        assert_eq!(back.f1, entry.f1);
        assert_eq!(back.step, 4);
    }
}
