//! Text-classification data: CSV / TSV with a header row, and JSON lines, read into
//! [`TextClassificationExample`]s whose labels are kept as written ([`RawLabel`]) until a
//! [`TextLabelScheme`] turns them into class ids, multi-hot rows or regression targets.
//!
//! Errors name the file, the 1-based line (the header is line 1) and the column.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{numbered_lines, read_text};
use crate::error::DataError;

/// Which columns hold the text, the optional second text and the label (`--text-column`,
/// `--text-pair-column`, `--label-column`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumns {
    /// The text column (`text` by default).
    pub text: String,
    /// The second text of sentence-pair tasks, if any.
    pub text_pair: Option<String>,
    /// The label column (`label` by default).
    pub label: String,
}

impl Default for TableColumns {
    fn default() -> Self {
        Self {
            text: "text".into(),
            text_pair: None,
            label: "label".into(),
        }
    }
}

/// One scalar label value as the file writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// A name (any CSV cell, a JSON string).
    Name(String),
    /// A JSON integer.
    Integer(i64),
    /// A JSON number with a fraction or exponent.
    Float(f64),
}

/// A label as the file writes it, before it is read against a label set.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLabel {
    /// One value: a class name, a class id or a regression target.
    One(RawValue),
    /// A list (multi-label): a JSON array, in JSON lines or in a CSV cell (`["a", "b"]`).
    List(Vec<RawValue>),
}

/// Where an example was read from: file, 1-based line, and the label column's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOrigin {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (the CSV header is line 1).
    pub line: usize,
    /// The label column.
    pub column: String,
}

/// One text (or text pair) with its label, as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TextClassificationExample {
    /// The text.
    pub text: String,
    /// The second text of a pair, when a pair column is set.
    pub text_pair: Option<String>,
    /// The label as written.
    pub label: RawLabel,
    /// Where it was read from (`None` for examples built in memory).
    pub origin: Option<TableOrigin>,
}

/// The file formats [`read_text_classification`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

impl TableFormat {
    /// The format of a file by its extension: `.tsv`/`.tab` → TSV, `.jsonl`/`.json` → JSON
    /// lines, anything else CSV.
    pub fn of(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("tsv" | "tab") => TableFormat::Tsv,
            Some("jsonl" | "json" | "ndjson") => TableFormat::Jsonl,
            _ => TableFormat::Csv,
        }
    }
}

fn field_error(path: &Path, line: usize, column: &str, message: impl Into<String>) -> DataError {
    DataError::Field {
        path: path.to_path_buf(),
        line,
        column: column.to_string(),
        message: message.into(),
    }
}

/// Reads a text-classification file in the format its extension names ([`TableFormat::of`]).
///
/// An empty file (no header, or no rows) is an error, as is a header or object without one of
/// the `columns`; blank JSON lines are skipped.
pub fn read_text_classification(
    path: impl AsRef<Path>,
    columns: &TableColumns,
) -> Result<Vec<TextClassificationExample>, DataError> {
    let path = path.as_ref();
    let examples = match TableFormat::of(path) {
        TableFormat::Csv => read_delimited(path, b',', columns)?,
        TableFormat::Tsv => read_delimited(path, b'\t', columns)?,
        TableFormat::Jsonl => read_json_lines(path, columns)?,
    };
    if examples.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            what: "examples",
        });
    }
    Ok(examples)
}

/// A CSV cell as a label: a JSON array when it starts with `[`, else a name.
fn cell_label(cell: &str, path: &Path, line: usize, column: &str) -> Result<RawLabel, DataError> {
    let cell = cell.trim();
    if cell.starts_with('[') {
        let value: Value = serde_json::from_str(cell).map_err(|e| {
            field_error(
                path,
                line,
                column,
                format!("not a JSON list of labels: {e}"),
            )
        })?;
        return json_label(&value, path, line, column);
    }
    if cell.is_empty() {
        return Err(field_error(path, line, column, "the label is empty"));
    }
    Ok(RawLabel::One(RawValue::Name(cell.to_string())))
}

fn json_scalar(
    value: &Value,
    path: &Path,
    line: usize,
    column: &str,
) -> Result<RawValue, DataError> {
    match value {
        Value::String(s) => Ok(RawValue::Name(s.clone())),
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => RawValue::Integer(i),
            None => RawValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::Bool(b) => Ok(RawValue::Integer(i64::from(*b))),
        other => Err(field_error(
            path,
            line,
            column,
            format!("expected a label name, id or number, found {other}"),
        )),
    }
}

fn json_label(
    value: &Value,
    path: &Path,
    line: usize,
    column: &str,
) -> Result<RawLabel, DataError> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| json_scalar(v, path, line, column))
            .collect::<Result<Vec<_>, _>>()
            .map(RawLabel::List),
        Value::Null => Err(field_error(path, line, column, "the label is null")),
        other => json_scalar(other, path, line, column).map(RawLabel::One),
    }
}

fn read_delimited(
    path: &Path,
    delimiter: u8,
    columns: &TableColumns,
) -> Result<Vec<TextClassificationExample>, DataError> {
    let text = read_text(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line() as usize);
        DataError::Table {
            path: path.to_path_buf(),
            line,
            message: match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("{len} fields, but the header has {expected_len}"),
                _ => e.to_string(),
            },
        }
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            what: "examples",
        });
    }
    let find = |name: &str| -> Result<usize, DataError> {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                path: path.to_path_buf(),
                line: 1,
                column: name.to_string(),
                found: header.join(", "),
            })
    };
    let text_at = find(&columns.text)?;
    let pair_at = columns.text_pair.as_deref().map(find).transpose()?;
    let label_at = find(&columns.label)?;
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let cell = |at: usize| record.get(at).unwrap_or("");
        let label = cell_label(cell(label_at), path, line, &columns.label)?;
        examples.push(TextClassificationExample {
            text: cell(text_at).to_string(),
            text_pair: pair_at.map(|at| cell(at).to_string()),
            label,
            origin: Some(TableOrigin {
                path: path.to_path_buf(),
                line,
                column: columns.label.clone(),
            }),
        });
    }
    Ok(examples)
}

fn read_json_lines(
    path: &Path,
    columns: &TableColumns,
) -> Result<Vec<TextClassificationExample>, DataError> {
    let text = read_text(path)?;
    if text.trim_start().starts_with('[') {
        return Err(DataError::NotJsonLines {
            path: path.to_path_buf(),
        });
    }
    let mut examples = Vec::new();
    for (line, row) in numbered_lines(&text) {
        if row.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(row).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            line,
            source,
        })?;
        let Value::Object(object) = value else {
            return Err(DataError::Table {
                path: path.to_path_buf(),
                line,
                message: "expected a JSON object".into(),
            });
        };
        let get = |name: &str| {
            object.get(name).ok_or_else(|| {
                let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
                found.sort_unstable();
                DataError::MissingColumn {
                    path: path.to_path_buf(),
                    line,
                    column: name.to_string(),
                    found: found.join(", "),
                }
            })
        };
        let string = |name: &str| -> Result<String, DataError> {
            match get(name)? {
                Value::String(s) => Ok(s.clone()),
                other => Err(field_error(
                    path,
                    line,
                    name,
                    format!("expected a string, found {other}"),
                )),
            }
        };
        let label = json_label(get(&columns.label)?, path, line, &columns.label)?;
        examples.push(TextClassificationExample {
            text: string(&columns.text)?,
            text_pair: columns.text_pair.as_deref().map(string).transpose()?,
            label,
            origin: Some(TableOrigin {
                path: path.to_path_buf(),
                line,
                column: columns.label.clone(),
            }),
        });
    }
    Ok(examples)
}
