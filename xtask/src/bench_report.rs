//! Turning `cargo xtask bench` rows into `docs/benchmarks.md` tables and a plot of the
//! kindling/PyTorch throughput ratios.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::bench::{Results, Row, targets};

/// The generated markdown and a short summary for the terminal.
pub struct Report {
    /// The measured part of docs/benchmarks.md.
    pub markdown: String,
    /// The headline numbers against the targets.
    pub summary: String,
}

const EAGER: &str = "eager";
const COMPILE: &str = "compile";

fn is_kindling(row: &Row) -> bool {
    row.framework == "kindling"
}

fn find<'a>(
    rows: &'a [Row],
    purpose: &str,
    model: &str,
    backend: &str,
    cell: Option<(usize, usize)>,
) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.purpose == purpose
            && r.model == model
            && r.backend == backend
            && r.error.is_none()
            && cell.is_none_or(|(b, s)| r.batch == Some(b) && r.seq == Some(s))
    })
}

fn kindling_backends(rows: &[Row]) -> Vec<String> {
    let mut seen = Vec::new();
    for row in rows.iter().filter(|r| is_kindling(r)) {
        if !seen.contains(&row.backend) {
            seen.push(row.backend.clone());
        }
    }
    seen
}

fn torch_modes(rows: &[Row]) -> Vec<String> {
    let mut seen = Vec::new();
    for row in rows.iter().filter(|r| !is_kindling(r)) {
        if !seen.contains(&row.backend) {
            seen.push(row.backend.clone());
        }
    }
    seen
}

fn models(rows: &[Row]) -> Vec<String> {
    let mut seen = Vec::new();
    for row in rows {
        if !seen.contains(&row.model) {
            seen.push(row.model.clone());
        }
    }
    seen
}

fn cells(rows: &[Row], model: &str) -> Vec<(usize, usize)> {
    let set: BTreeSet<(usize, usize)> = rows
        .iter()
        .filter(|r| r.purpose == "grid" && r.model == model)
        .filter_map(|r| Some((r.batch?, r.seq?)))
        .collect();
    set.into_iter().collect()
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.0}", b as f64 / (1024.0 * 1024.0))
    })
}

fn ratio_text(ours: f64, theirs: f64) -> String {
    format!("{:.2}×", ours / theirs)
}

fn throughput(row: Option<&Row>) -> Option<f64> {
    row.and_then(|r| r.throughput)
}

/// One measurement's rows from every kindling CPU backend that ran it.
fn kindling_cpu_rows<'a>(
    rows: &'a [Row],
    purpose: &'a str,
    model: &'a str,
    cell: Option<(usize, usize)>,
) -> impl Iterator<Item = &'a Row> {
    kindling_backends(rows)
        .into_iter()
        .filter(|b| !b.contains("cuda"))
        .filter_map(move |b| find(rows, purpose, model, &b, cell))
}

/// The best kindling backend for one measurement (highest throughput).
fn best_kindling<'a>(
    rows: &'a [Row],
    purpose: &'a str,
    model: &'a str,
    cell: Option<(usize, usize)>,
) -> Option<&'a Row> {
    kindling_cpu_rows(rows, purpose, model, cell).max_by(|a, b| {
        a.throughput
            .unwrap_or(0.0)
            .total_cmp(&b.throughput.unwrap_or(0.0))
    })
}

/// The kindling CPU backend with the lowest peak memory for one measurement.
fn leanest_kindling<'a>(
    rows: &'a [Row],
    purpose: &'a str,
    model: &'a str,
    cell: Option<(usize, usize)>,
) -> Option<&'a Row> {
    kindling_cpu_rows(rows, purpose, model, cell)
        .filter(|r| r.peak_rss_bytes.is_some())
        .min_by_key(|r| r.peak_rss_bytes)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// Renders the generated markdown and the terminal summary.
pub fn render(results: &Results, quick: bool) -> Report {
    let rows = &results.rows;
    let (inference_target, train_target, load_target) = targets();
    let mut md = String::new();
    let mut summary = String::new();
    let backends = kindling_backends(rows);
    let modes = torch_modes(rows);

    let _ = writeln!(md, "## Machine\n\n| | |\n|---|---|");
    for (key, value) in &results.machine {
        let _ = writeln!(md, "| {key} | {value} |");
    }
    if quick {
        let _ = writeln!(md, "\nA `--quick` run: inference at batch 8 × 128 only.");
    }
    if let Some(rounds) = rows.iter().filter_map(|r| r.rounds).max() {
        let _ = writeln!(
            md,
            "\nEvery measurement ran in {rounds} round{}, kindling's and PyTorch's interleaved \
             (the order reversed every other round); each number is its fastest round's median.",
            if rounds == 1 { "" } else { "s" }
        );
    }

    // Headline: the targets.
    let _ = writeln!(
        md,
        "\n## Against the targets\n\nRatios are kindling's best CPU backend (the fastest for \
         speed, the leanest for memory) over PyTorch eager (and over `torch.compile` where it \
         ran); for load, the ratio is of speeds (PyTorch's seconds over kindling's). The load \
         target is for a 90 MB checkpoint; the BERT-base row (438 MB) is for information.\n\n| Target | Goal | kindling | PyTorch eager | \
         torch.compile | Ratio vs eager | Ratio vs compile | |\n|---|---|---|---|---|---|---|---|"
    );
    for model in models(rows) {
        let cell = Some((8, 128));
        if let (Some(ours), Some(eager)) = (
            best_kindling(rows, "grid", &model, cell),
            find(rows, "grid", &model, EAGER, cell),
        ) {
            let compiled = find(rows, "grid", &model, COMPILE, cell);
            let (o, e) = (
                ours.throughput.unwrap_or(0.0),
                eager.throughput.unwrap_or(1.0),
            );
            let line = format!(
                "| Inference {model}, 8 × 128 (tokens/s) | ≥ {inference_target}× | {o:.0} ({}) | {e:.0} | {} | {} | {} | {} |",
                ours.backend,
                throughput(compiled).map_or("–".into(), |c| format!("{c:.0}")),
                ratio_text(o, e),
                throughput(compiled).map_or("–".into(), |c| ratio_text(o, c)),
                verdict(o / e >= inference_target),
            );
            let _ = writeln!(md, "{line}");
            let _ = writeln!(summary, "{line}");
        }
        if let (Some(ours), Some(eager)) = (
            best_kindling(rows, "train", &model, None),
            find(rows, "train", &model, EAGER, None),
        ) {
            let compiled = find(rows, "train", &model, COMPILE, None);
            let (o, e) = (
                ours.throughput.unwrap_or(0.0),
                eager.throughput.unwrap_or(1.0),
            );
            let line = format!(
                "| Training step {model}, 8 × 128 (samples/s) | ≥ {train_target}× | {o:.2} ({}) | {e:.2} | {} | {} | {} | {} |",
                ours.backend,
                throughput(compiled).map_or("–".into(), |c| format!("{c:.2}")),
                ratio_text(o, e),
                throughput(compiled).map_or("–".into(), |c| ratio_text(o, c)),
                verdict(o / e >= train_target),
            );
            let _ = writeln!(md, "{line}");
            let _ = writeln!(summary, "{line}");
        }
        let memory_purpose = if quick { "grid" } else { "memory" };
        for (purpose, what) in [
            (memory_purpose, "inference 8 × 128"),
            ("train", "training step"),
        ] {
            let cell = if purpose == "train" {
                None
            } else {
                Some((8, 128))
            };
            if let (Some(ours), Some(eager)) = (
                leanest_kindling(rows, purpose, &model, cell),
                find(rows, purpose, &model, EAGER, cell),
            ) && let (Some(o), Some(e)) = (ours.peak_rss_bytes, eager.peak_rss_bytes)
            {
                let line = format!(
                    "| Peak memory {model}, {what} (MiB) | ≤ PyTorch | {} ({}) | {} | – | {} | – | {} |",
                    mib(Some(o)),
                    ours.backend,
                    mib(Some(e)),
                    ratio_text(o as f64, e as f64),
                    verdict(o <= e),
                );
                let _ = writeln!(md, "{line}");
                let _ = writeln!(summary, "{line}");
            }
        }
        let fastest_load = backends
            .iter()
            .filter_map(|b| find(rows, "load", &model, b, None))
            .min_by(|a, b| {
                a.median_s
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.median_s.unwrap_or(f64::MAX))
            });
        if let Some(ours) = fastest_load {
            let eager = find(rows, "load", &model, EAGER, None);
            let o = ours.median_s.unwrap_or(f64::MAX);
            // The target names a 90 MB checkpoint; a larger one is reported, not judged.
            let judged = ours.bytes.unwrap_or(0) <= 150_000_000;
            let line = format!(
                "| Load {model} ({:.0} MB) (s) | {} | {o:.3} ({}) | {} | – | {} | – | {} |",
                ours.bytes.unwrap_or(0) as f64 / 1e6,
                if judged {
                    format!("< {load_target} s")
                } else {
                    "–".into()
                },
                ours.backend,
                eager
                    .and_then(|e| e.median_s)
                    .map_or("–".into(), |e| format!("{e:.3}")),
                eager
                    .and_then(|e| e.median_s)
                    .map_or("–".into(), |e| ratio_text(e, o)),
                if judged {
                    verdict(o < load_target)
                } else {
                    "–"
                },
            );
            let _ = writeln!(md, "{line}");
            let _ = writeln!(summary, "{line}");
        }
    }

    // Inference grids.
    let _ = writeln!(
        md,
        "\n## Inference throughput\n\nTokens per second of the body (`BertModel` with pooler), \
         full-length sequences; in brackets the ratio to PyTorch eager.\n\n![kindling / PyTorch \
         eager throughput](benchmarks.svg)\n"
    );
    for model in models(rows) {
        let grid = cells(rows, &model);
        if grid.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {model}\n");
        let mut header = String::from("| batch × seq |");
        let mut rule = String::from("|---|");
        for mode in &modes {
            let _ = write!(header, " PyTorch {mode} |");
            rule.push_str("---|");
        }
        for backend in &backends {
            let _ = write!(header, " kindling {backend} |");
            rule.push_str("---|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for (b, s) in grid {
            let eager = throughput(find(rows, "grid", &model, EAGER, Some((b, s))));
            let mut line = format!("| {b} × {s} |");
            for mode in &modes {
                let row = rows.iter().find(|r| {
                    r.purpose == "grid"
                        && r.model == model
                        && &r.backend == mode
                        && r.batch == Some(b)
                        && r.seq == Some(s)
                });
                let text = match row {
                    Some(r) if r.error.is_some() => "failed".to_string(),
                    Some(r) => r.throughput.map_or("–".into(), |t| format!("{t:.0}")),
                    None => "–".into(),
                };
                let _ = write!(line, " {text} |");
            }
            for backend in &backends {
                let text = match throughput(find(rows, "grid", &model, backend, Some((b, s)))) {
                    Some(t) => match eager {
                        Some(e) => format!("{t:.0} ({})", ratio_text(t, e)),
                        None => format!("{t:.0}"),
                    },
                    None => "–".into(),
                };
                let _ = write!(line, " {text} |");
            }
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md);
    }

    // Training, memory, load.
    let _ = writeln!(
        md,
        "## Training step\n\nSamples per second of one `Trainer`-style step of a token classifier \
         (9 labels) at batch 8 × 128: forward with dropout, cross entropy, backward, clipping at \
         norm 1.0, AdamW. Peak RSS of that process in MiB.\n"
    );
    table_by_model(&mut md, rows, "train", &modes, &backends, |r| {
        format!(
            "{:.2} / {} MiB",
            r.throughput.unwrap_or(0.0),
            mib(r.peak_rss_bytes)
        )
    });
    let memory_purpose = if quick { "grid" } else { "memory" };
    let _ = writeln!(
        md,
        "\n## Peak memory\n\nPeak RSS (MiB) of a process that loads the model and runs inference \
         at batch 8 × 128 (in brackets: RSS right after loading).\n"
    );
    table_by_model(&mut md, rows, memory_purpose, &modes, &backends, |r| {
        format!(
            "{} ({})",
            mib(r.peak_rss_bytes),
            mib(r.rss_after_load_bytes)
        )
    });
    let _ = writeln!(
        md,
        "\n## Checkpoint load\n\nMedian seconds from a checkpoint directory to a body ready on \
         the device (5 loads after one that warms the page cache); PyTorch is \
         `AutoModel.from_pretrained`.\n"
    );
    table_by_model(&mut md, rows, "load", &modes, &backends, |r| {
        format!("{:.3} s", r.median_s.unwrap_or(0.0))
    });

    Report {
        markdown: md,
        summary,
    }
}

fn table_by_model(
    md: &mut String,
    rows: &[Row],
    purpose: &str,
    modes: &[String],
    backends: &[String],
    cell: impl Fn(&Row) -> String,
) {
    let mut header = String::from("| model |");
    let mut rule = String::from("|---|");
    for mode in modes {
        let _ = write!(header, " PyTorch {mode} |");
        rule.push_str("---|");
    }
    for backend in backends {
        let _ = write!(header, " kindling {backend} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for model in models(rows) {
        let mut line = format!("| {model} |");
        for name in modes.iter().chain(backends) {
            let row = rows
                .iter()
                .find(|r| r.purpose == purpose && r.model == model && &r.backend == name);
            let text = match row {
                Some(r) if r.error.is_some() => "failed".into(),
                Some(r) => cell(r),
                None => "–".into(),
            };
            let _ = write!(line, " {text} |");
        }
        let _ = writeln!(md, "{line}");
    }
}

/// Draws kindling's throughput over PyTorch eager's for every grid cell, one panel per model,
/// one line per backend, with the parity and target lines.
pub fn plot(results: &Results, path: &Path) -> anyhow::Result<()> {
    let rows = &results.rows;
    let models = models(rows);
    let backends = kindling_backends(rows);
    let (inference_target, _, _) = targets();
    let root = SVGBackend::new(path, (1000, 420 * models.len().max(1) as u32)).into_drawing_area();
    let fail = |e: String| anyhow::anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let panels = root.split_evenly((models.len().max(1), 1));
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (panel, model) in panels.iter().zip(&models) {
        let grid = cells(rows, model);
        let series: Vec<(String, Vec<(f64, f64)>)> = backends
            .iter()
            .map(|backend| {
                let points = grid
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &cell)| {
                        let ours = throughput(find(rows, "grid", model, backend, Some(cell)))?;
                        let eager = throughput(find(rows, "grid", model, EAGER, Some(cell)))?;
                        Some((i as f64, ours / eager))
                    })
                    .collect();
                (backend.clone(), points)
            })
            .collect();
        let top = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
            .fold(inference_target, f64::max)
            * 1.15;
        let labels: Vec<String> = grid.iter().map(|(b, s)| format!("{b}×{s}")).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{model}: kindling / PyTorch eager, inference tokens/s"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..(grid.len().max(1) as f64 - 0.5), 0f64..top)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_labels(grid.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("batch × sequence")
            .y_desc("throughput ratio")
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        let span = -0.5..(grid.len().max(1) as f64 - 0.5);
        for (level, color, label) in [
            (1.0, BLACK.mix(0.5), "PyTorch eager".to_string()),
            (
                inference_target,
                BLACK.mix(0.25),
                format!("target {inference_target}×"),
            ),
        ] {
            chart
                .draw_series(LineSeries::new(
                    [(span.start, level), (span.end, level)],
                    color.stroke_width(1),
                ))
                .map_err(|e| fail(e.to_string()))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
        for (i, (backend, points)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(format!("kindling {backend}"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| fail(e.to_string()))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
