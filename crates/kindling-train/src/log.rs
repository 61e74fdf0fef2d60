//! The metrics log (`metrics.jsonl`) and the curves image (`curves.svg`).

use std::io::Write;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One evaluation, one line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Fractional epoch at the evaluation (`1.0` = end of the first epoch).
    pub epoch: f64,
    /// Optimizer step.
    pub step: usize,
    /// Mean training loss since the previous evaluation.
    pub train_loss: f64,
    /// Evaluation loss.
    pub loss: f64,
    /// Entity-level precision.
    pub precision: f64,
    /// Entity-level recall.
    pub recall: f64,
    /// Entity-level F1.
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
