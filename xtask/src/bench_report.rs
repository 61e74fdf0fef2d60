//! Turning `cargo xtask bench` rows into `docs/benchmarks.md` tables and a plot of the
//! kindling/PyTorch throughput ratios. The f32 targets compare f32 with f32 (kindling's int8
//! backends are left out of them); int8 has its own section, against PyTorch's and ONNX
//! Runtime's dynamic int8 and PyTorch eager in f32.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::bench::{Results, Row, int8_targets, is_int8_backend, targets};

/// The generated markdown and a short summary for the terminal.
pub struct Report {
    /// The measured part of docs/benchmarks.md.
    pub markdown: String,
    /// The headline numbers against the targets.
    pub summary: String,
}

const EAGER: &str = "eager";
const COMPILE: &str = "compile";
/// PyTorch's dynamic int8 (`torch.ao.quantization.quantize_dynamic`).
const TORCH_INT8: &str = "int8";
/// ONNX Runtime on the `torch.onnx` export, f32 and dynamic int8.
const ORT: &str = "ort";
const ORT_INT8: &str = "ort-int8";
/// kindling's f32 CPU backend of the int8 comparison.
const FLEX: &str = "flex";

/// How a PyTorch-side mode is named in the tables.
fn mode_label(mode: &str) -> String {
    let (base, device) = match mode.split_once(':') {
        Some((base, device)) => (base, Some(device)),
        None => (mode, None),
    };
    let name = match base {
        ORT => "ONNX Runtime f32".to_string(),
        ORT_INT8 => "ONNX Runtime int8".to_string(),
        other => format!("PyTorch {other}"),
    };
    match device {
        Some(device) => format!("{name}:{device}"),
        None => name,
    }
}

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

/// One measurement's rows from every kindling f32 CPU backend that ran it (the int8 backends
/// are compared in their own section).
fn kindling_cpu_rows<'a>(
    rows: &'a [Row],
    purpose: &'a str,
    model: &'a str,
    cell: Option<(usize, usize)>,
) -> impl Iterator<Item = &'a Row> {
    kindling_backends(rows)
        .into_iter()
        .filter(|b| !b.contains("cuda") && !is_int8_backend(b))
        .filter_map(move |b| find(rows, purpose, model, &b, cell))
}

/// A successful measurement at batch 8 x 128: the grid's cell, else the memory process's.
fn at_8x128<'a>(rows: &'a [Row], model: &str, backend: &str) -> Option<&'a Row> {
    find(rows, "grid", model, backend, Some((8, 128)))
        .or_else(|| find(rows, "memory", model, backend, Some((8, 128))))
}

/// The fastest kindling int8 CPU backend at batch 8 x 128.
fn best_kindling_int8<'a>(rows: &'a [Row], model: &str) -> Option<&'a Row> {
    kindling_backends(rows)
        .into_iter()
        .filter(|b| !b.contains("cuda") && is_int8_backend(b))
        .filter_map(|b| at_8x128(rows, model, &b))
        .max_by(|a, b| {
            a.throughput
                .unwrap_or(0.0)
                .total_cmp(&b.throughput.unwrap_or(0.0))
        })
}

/// The machine line of the int8 section: the CPU and the instruction set of each side's
/// kernels (`unknown` for what a results.json does not record).
fn cpu_line(results: &Results) -> String {
    let get = |key: &str| {
        results
            .machine
            .get(key)
            .map_or("unknown", String::as_str)
            .to_string()
    };
    let mut line = format!(
        "CPU: {} (flags: {}). Kernels: kindling {}, PyTorch {}, ONNX Runtime: {}. ISA \
         variables: {}.",
        get("cpu"),
        get("isa"),
        get("isa kindling"),
        get("isa torch"),
        get("isa onnxruntime"),
        get("isa overrides"),
    );
    // Older results.json files have no peak; their reports read as they did.
    if let Some(peak) = results.machine.get("fma peak") {
        line.push_str(&format!(" float32 FMA peak: {peak}."));
    }
    line
}

/// `ours / theirs` and whether it meets `target`, or `–` when either is missing.
fn judged_ratio(ours: Option<f64>, theirs: Option<f64>, target: f64) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => {
            format!("{} ({})", ratio_text(o, t), verdict(o / t >= target))
        }
        _ => "–".into(),
    }
}

/// The int8 section: for each model at batch 8 x 128, kindling f32 and int8, PyTorch eager f32
/// and dynamic int8, ONNX Runtime f32 and dynamic int8 (tokens/s), and kindling int8's ratios
/// to ONNX Runtime int8 and to PyTorch eager f32 against their targets. Models with none of
/// the int8 rows are left out; nothing is written when no model has one.
fn int8_section(results: &Results, md: &mut String, summary: &mut String) {
    let rows = &results.rows;
    let (vs_ort, vs_eager) = int8_targets();
    let mut lines = Vec::new();
    for model in models(rows) {
        let int8 = best_kindling_int8(rows, &model);
        let torch_int8 = at_8x128(rows, &model, TORCH_INT8);
        let ort_int8 = at_8x128(rows, &model, ORT_INT8);
        if int8.is_none() && torch_int8.is_none() && ort_int8.is_none() {
            continue;
        }
        let eager = at_8x128(rows, &model, EAGER);
        let tokens =
            |row: Option<&Row>| throughput(row).map_or("–".into(), |t| format!("{t:.0}"));
        let int8_text = match int8 {
            Some(r) if r.backend != "flex+int8" => format!("{} ({})", tokens(int8), r.backend),
            _ => tokens(int8),
        };
        lines.push(format!(
            "| {model} | {} | {int8_text} | {} | {} | {} | {} | {} | {} |",
            tokens(at_8x128(rows, &model, FLEX)),
            tokens(eager),
            tokens(torch_int8),
            tokens(at_8x128(rows, &model, ORT)),
            tokens(ort_int8),
            judged_ratio(throughput(int8), throughput(ort_int8), vs_ort),
            judged_ratio(throughput(int8), throughput(eager), vs_eager),
        ));
    }
    if lines.is_empty() {
        return;
    }
    let header = format!(
        "| model | kindling flex | kindling flex+int8 | PyTorch eager | PyTorch int8 | ONNX \
         Runtime f32 | ONNX Runtime int8 | int8 / ONNX Runtime int8 (≥ {vs_ort}×) | int8 / \
         PyTorch eager f32 (≥ {vs_eager}×) |\n|---|---|---|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        md,
        "\n## int8 inference\n\nTokens per second at batch 8 × 128, f32 and dynamic int8 side \
         by side: kindling `--dtype int8` (int8 weights with a scale per output channel, \
         activations quantized per row), PyTorch's `quantize_dynamic` (a scale per tensor) and \
         ONNX Runtime's `quantize_dynamic` on a `torch.onnx` export (a scale per channel). The \
         targets are kindling's int8 at {vs_ort}× ONNX Runtime's int8 and {vs_eager}× PyTorch \
         eager in f32.\n\n{}\n\n{header}",
        cpu_line(results)
    );
    let _ = writeln!(
        summary,
        "\nint8 at 8 × 128 (tokens/s). {}",
        cpu_line(results)
    );
    let _ = writeln!(summary, "{header}");
    for line in &lines {
        let _ = writeln!(md, "{line}");
        let _ = writeln!(summary, "{line}");
    }
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
        "\n## Against the targets\n\nRatios are kindling's best f32 CPU backend (the fastest for \
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

    int8_section(results, &mut md, &mut summary);

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
            let _ = write!(header, " {} |", mode_label(mode));
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

/// One row per model of `purpose`'s measurements, one column per PyTorch-side mode and kindling
/// backend that has any (the int8 and ONNX Runtime ones have no training or load rows).
fn table_by_model(
    md: &mut String,
    rows: &[Row],
    purpose: &str,
    modes: &[String],
    backends: &[String],
    cell: impl Fn(&Row) -> String,
) {
    let measured = |name: &String| {
        rows.iter()
            .any(|r| r.purpose == purpose && &r.backend == name)
    };
    let modes: Vec<&String> = modes.iter().filter(|m| measured(m)).collect();
    let backends: Vec<&String> = backends.iter().filter(|b| measured(b)).collect();
    let mut header = String::from("| model |");
    let mut rule = String::from("|---|");
    for mode in &modes {
        let _ = write!(header, " {} |", mode_label(mode));
        rule.push_str("---|");
    }
    for backend in &backends {
        let _ = write!(header, " kindling {backend} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for model in models(rows) {
        let mut line = format!("| {model} |");
        for name in modes.iter().chain(&backends) {
            let row = rows
                .iter()
                .find(|r| r.purpose == purpose && r.model == model && &r.backend == *name);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// An inference row of `backend` on minilm; `throughput` tokens/s at `batch` x `seq`.
    fn row(framework: &str, backend: &str, cell: (usize, usize), throughput: f64) -> Row {
        let (batch, seq) = cell;
        let median_s = (batch * seq) as f64 / throughput;
        Row {
            framework: framework.into(),
            backend: backend.into(),
            model: "minilm".into(),
            kind: "inference".into(),
            batch: Some(batch),
            seq: Some(seq),
            threads: Some(2),
            iters: Some(3),
            median_s: Some(median_s),
            min_s: Some(median_s),
            throughput: Some(throughput),
            peak_rss_bytes: Some(500 << 20),
            rss_before_load_bytes: None,
            rss_after_load_bytes: None,
            bytes: None,
            error: None,
            purpose: "grid".into(),
            round: None,
            rounds: None,
        }
    }

    fn machine() -> BTreeMap<String, String> {
        [
            ("cpu", "Test CPU 9000"),
            ("isa", "avx512f avx2 fma"),
            ("isa kindling", "avx2"),
            ("isa torch", "AVX2"),
            (
                "isa onnxruntime",
                "MLAS picks its kernels from CPUID at run time",
            ),
            (
                "isa overrides",
                "KINDLING_ISA=avx2 ATEN_CPU_CAPABILITY=avx2",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn line_of<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
    }

    fn cells(line: &str) -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    }

    #[test]
    fn the_int8_table_puts_every_anchor_side_by_side_with_both_ratios() {
        let cell = (8, 128);
        let (kindling_int8, ort_int8, eager) = (6000.0, 4000.0, 3500.0);
        let results = Results {
            machine: machine(),
            rows: vec![
                row("kindling", "flex", cell, 4200.0),
                row("kindling", "flex+int8", cell, kindling_int8),
                row("pytorch", "eager", cell, eager),
                row("pytorch", "int8", cell, 5000.0),
                row("onnxruntime", "ort", cell, 3900.0),
                row("onnxruntime", "ort-int8", cell, ort_int8),
                // Another cell of the grid is not the int8 comparison's.
                row("kindling", "flex+int8", (1, 32), 99.0),
            ],
        };
        let report = render(&results, false);
        let md = &report.markdown;
        assert!(md.contains("## int8 inference"), "{md}");
        let header = cells(line_of(md, "| model | kindling flex | kindling flex+int8"));
        assert_eq!(header.len(), 9);
        let minilm = cells(line_of(md, "| minilm | 4200"));
        assert_eq!(
            &minilm[1..7],
            ["4200", "6000", "3500", "5000", "3900", "4000"]
        );
        let (vs_ort, vs_eager) = int8_targets();
        // 6000 / 4000 = 1.50 against 1.2: met; 6000 / 3500 = 1.71 against 2: missed.
        assert_eq!(
            kindling_int8 / ort_int8 >= vs_ort,
            minilm[7].ends_with("(met)")
        );
        assert_eq!(minilm[7], format!("{:.2}× (met)", kindling_int8 / ort_int8));
        assert_eq!(
            kindling_int8 / eager >= vs_eager,
            minilm[8].ends_with("(met)")
        );
        assert_eq!(minilm[8], format!("{:.2}× (missed)", kindling_int8 / eager));
        // The CPU and both sides' instruction sets, in the docs and the summary.
        let cpu = line_of(md, "CPU: Test CPU 9000");
        assert!(cpu.contains("kindling avx2, PyTorch AVX2"), "{cpu}");
        assert!(cpu.contains("KINDLING_ISA=avx2"), "{cpu}");
        assert!(
            !cpu.contains("FMA peak"),
            "no peak recorded, none printed: {cpu}"
        );
        assert!(report.summary.contains("CPU: Test CPU 9000"));
        let mut with_peak = results.clone();
        with_peak.machine.insert(
            "fma peak".into(),
            "avx512f 388 GFLOP/s, avx2+fma 193 GFLOP/s (2 threads)".into(),
        );
        let md_peak = render(&with_peak, false).markdown;
        let cpu = line_of(&md_peak, "CPU: Test CPU 9000");
        assert!(
            cpu.ends_with(
                "float32 FMA peak: avx512f 388 GFLOP/s, avx2+fma 193 GFLOP/s (2 threads)."
            ),
            "{cpu}"
        );
        assert!(report.summary.contains("| minilm | 4200 | 6000 |"));
        // ONNX Runtime is named as such in the grid, and int8 is not kindling's f32 best.
        assert!(
            md.contains("| ONNX Runtime f32 | ONNX Runtime int8 |"),
            "{md}"
        );
        let headline = line_of(md, "| Inference minilm, 8 × 128");
        assert!(headline.contains("4200 (flex)"), "{headline}");
    }

    #[test]
    fn missing_int8_rows_show_a_dash_and_no_int8_rows_no_section() {
        let cell = (8, 128);
        let mut rows = vec![
            row("kindling", "flex", cell, 4200.0),
            row("pytorch", "eager", cell, 3500.0),
        ];
        let without = render(
            &Results {
                machine: BTreeMap::new(),
                rows: rows.clone(),
            },
            false,
        );
        assert!(!without.markdown.contains("## int8 inference"));
        // An ONNX Runtime int8 that failed, and no PyTorch int8: kindling int8 has a ratio to
        // eager only.
        rows.push(row("kindling", "flex+int8", cell, 7000.0));
        rows.push(Row {
            median_s: None,
            throughput: None,
            error: Some("process failed".into()),
            ..row("onnxruntime", "ort-int8", cell, 1.0)
        });
        let with = render(
            &Results {
                machine: BTreeMap::new(),
                rows,
            },
            false,
        );
        let minilm = cells(line_of(&with.markdown, "| minilm | 4200"));
        assert_eq!(&minilm[1..7], ["4200", "7000", "3500", "–", "–", "–"]);
        assert_eq!(minilm[7], "–");
        assert_eq!(minilm[8], format!("{:.2}× (met)", 7000.0 / 3500.0));
        assert!(line_of(&with.markdown, "CPU: unknown").contains("kindling unknown"));
    }

    #[test]
    fn tables_leave_out_columns_with_no_measurement_of_their_kind() {
        let train = |framework: &str, backend: &str| Row {
            kind: "train".into(),
            purpose: "train".into(),
            ..row(framework, backend, (8, 128), 10.0)
        };
        let results = Results {
            machine: BTreeMap::new(),
            rows: vec![
                row("kindling", "flex+int8", (8, 128), 7000.0),
                row("onnxruntime", "ort", (8, 128), 3900.0),
                train("kindling", "flex"),
                train("pytorch", "eager"),
            ],
        };
        let md = render(&results, false).markdown;
        let training = &md[md.find("## Training step").expect("a training section")..];
        let header = line_of(training, "| model |");
        assert_eq!(header, "| model | PyTorch eager | kindling flex |");
    }
}
