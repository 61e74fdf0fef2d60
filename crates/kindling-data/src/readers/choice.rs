//! Multiple-choice examples in JSON lines: the `datasets` SWAG fields (`sent1`, `sent2`,
//! `ending0`..`endingN`, `label`), as `run_swag.py` reads them, or the generic form
//! `{"context" | "question", "choices": [...], "label"}`.

use std::path::Path;

use serde_json::{Map, Value};

use super::{numbered_lines, read_text};
use crate::error::DataError;
use crate::example::Origin;

/// One multiple-choice question.
///
/// Choice `i` is encoded as the pair (`context`, `header` + `" "` + `endings[i]`), as
/// `run_swag.py` pairs `sent1` with `f"{sent2} {ending}"`; with an empty `header` the second
/// segment is the ending alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceExample {
    /// The first segment of every pair (SWAG's `sent1`, or `context` / `question`).
    pub context: String,
    /// The start of every second segment (SWAG's `sent2`; the `question` when a `context` is
    /// also given; else empty).
    pub header: String,
    /// The candidate endings (at least 2).
    pub endings: Vec<String>,
    /// The right ending's index; `None` for an unlabelled example (`label: -1`, as SWAG's test
    /// split has).
    pub label: Option<usize>,
    /// Where it was read from.
    pub origin: Option<Origin>,
}

impl ChoiceExample {
    /// The second segment of choice `i`.
    pub fn second_segment(&self, i: usize) -> String {
        let ending = self.endings.get(i).map_or("", String::as_str);
        if self.header.is_empty() {
            ending.to_string()
        } else {
            format!("{} {ending}", self.header)
        }
    }
}

struct Line<'a> {
    path: &'a Path,
    line: usize,
    record: &'a Map<String, Value>,
}

impl Line<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> DataError {
        DataError::InvalidField {
            path: self.path.to_path_buf(),
            line: self.line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn missing(&self, field: &str, hint: &str) -> DataError {
        DataError::MissingField {
            path: self.path.to_path_buf(),
            line: self.line,
            field: field.to_string(),
            hint: hint.to_string(),
        }
    }

    /// A string field; `None` when absent or null.
    fn text(&self, field: &str) -> Result<Option<String>, DataError> {
        match self.record.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(field, format!("expected a string, found {other}"))),
        }
    }

    fn label(&self, endings: &[String]) -> Result<Option<usize>, DataError> {
        let value = self.record.get("label").ok_or_else(|| {
            self.missing(
                "label",
                " (the index of the right choice; -1 for an unlabelled example)",
            )
        })?;
        let index = match value {
            Value::Number(n) => match n.as_i64() {
                Some(-1) => return Ok(None),
                Some(i) if i >= 0 => i as usize,
                _ => return Err(self.invalid("label", format!("{n} is not a choice index"))),
            },
            // A label given as the right choice's text.
            Value::String(s) => match s.parse::<i64>() {
                Ok(-1) => return Ok(None),
                Ok(i) if i >= 0 => i as usize,
                _ => endings.iter().position(|e| e == s).ok_or_else(|| {
                    self.invalid(
                        "label",
                        format!("`{s}` is neither a choice index nor one of the choices"),
                    )
                })?,
            },
            other => {
                return Err(
                    self.invalid("label", format!("expected a choice index, found {other}"))
                );
            }
        };
        if index >= endings.len() {
            return Err(self.invalid(
                "label",
                format!(
                    "choice {index} is out of range: the example has {} choices",
                    endings.len()
                ),
            ));
        }
        Ok(Some(index))
    }

    fn example(&self) -> Result<ChoiceExample, DataError> {
        let (context, header, endings) = if let Some(sent1) = self.text("sent1")? {
            let header = self.text("sent2")?.unwrap_or_default();
            let mut endings = Vec::new();
            while let Some(ending) = self.text(&format!("ending{}", endings.len()))? {
                endings.push(ending);
            }
            if endings.is_empty() {
                return Err(
                    self.missing("ending0", " (SWAG endings are `ending0`, `ending1`, ...)")
                );
            }
            (sent1, header, endings)
        } else {
            let context = self.text("context")?;
            let question = self.text("question")?;
            let (context, header) = match (context, question) {
                (Some(c), Some(q)) => (c, q),
                (Some(c), None) => (c, String::new()),
                (None, Some(q)) => (q, String::new()),
                (None, None) => {
                    return Err(self.missing(
                        "sent1",
                        " (give the SWAG fields `sent1`, `sent2`, `ending0`.., or `context` / `question` with `choices`)",
                    ));
                }
            };
            let choices = self
                .record
                .get("choices")
                .ok_or_else(|| self.missing("choices", " (a list of candidate strings)"))?;
            let Value::Array(items) = choices else {
                return Err(self.invalid(
                    "choices",
                    format!("expected a list of strings, found {choices}"),
                ));
            };
            let endings = items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => {
                        Err(self.invalid("choices", format!("choice {i} is not a string: {other}")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            (context, header, endings)
        };
        if endings.len() < 2 {
            let field = if self.record.contains_key("choices") {
                "choices"
            } else {
                "ending1"
            };
            return Err(self.invalid(
                field,
                format!("{} choice(s); at least 2 are needed", endings.len()),
            ));
        }
        let label = self.label(&endings)?;
        Ok(ChoiceExample {
            context,
            header,
            endings,
            label,
            origin: Some(Origin {
                path: self.path.to_path_buf(),
                line: self.line,
                line_per_word: false,
            }),
        })
    }
}

/// Reads multiple-choice JSON lines (blank lines skipped). Every example must have the same
/// number of choices as the first, since a batch is `[batch, choices, seq]`. Errors name the
/// file, the line and the field (a missing `label`, `choices` that are not strings, a label
/// outside the choices, an empty file).
pub fn read_multiple_choice(path: impl AsRef<Path>) -> Result<Vec<ChoiceExample>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    if text.trim_start().starts_with('[') {
        return Err(DataError::NotJsonLines {
            path: path.to_path_buf(),
        });
    }
    let mut examples: Vec<ChoiceExample> = Vec::new();
    for (line_no, line) in numbered_lines(&text) {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            line: line_no,
            source,
        })?;
        let Value::Object(record) = &value else {
            return Err(DataError::InvalidField {
                path: path.to_path_buf(),
                line: line_no,
                field: "(line)".into(),
                message: format!("expected a JSON object, found {value}"),
            });
        };
        let reader = Line {
            path,
            line: line_no,
            record,
        };
        let example = reader.example()?;
        if let Some(first) = examples.first()
            && first.endings.len() != example.endings.len()
        {
            let field = if record.contains_key("choices") {
                "choices"
            } else {
                "ending0"
            };
            return Err(reader.invalid(
                field,
                format!(
                    "{} choices, but the first example has {}; every example needs the same number",
                    example.endings.len(),
                    first.endings.len()
                ),
            ));
        }
        examples.push(example);
    }
    if examples.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            what: "multiple-choice examples",
        });
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<ChoiceExample>, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc.jsonl");
        std::fs::write(&path, text).unwrap();
        read_multiple_choice(&path)
    }

    #[test]
    fn swag_fields_are_read() {
        let got = read(
            r#"{"sent1": "A man sits.", "sent2": "He", "ending0": "reads.", "ending1": "flies.", "ending2": "sleeps.", "ending3": "eats.", "label": 2, "video-id": "x"}"#,
        )
        .unwrap();
        assert_eq!(got[0].context, "A man sits.");
        assert_eq!(got[0].endings.len(), 4);
        assert_eq!(got[0].label, Some(2));
        assert_eq!(got[0].second_segment(1), "He flies.");
    }

    #[test]
    fn the_generic_form_is_read() {
        let got = read(concat!(
            r#"{"question": "Sky colour?", "choices": ["blue", "green"], "label": 0}"#,
            "\n\n",
            r#"{"context": "c", "question": "q", "choices": ["a", "b"], "label": "b"}"#,
            "\n",
            r#"{"context": "c", "choices": ["a", "b"], "label": -1}"#
        ))
        .unwrap();
        assert_eq!(got[0].context, "Sky colour?");
        assert_eq!(got[0].second_segment(0), "blue");
        assert_eq!(got[1].second_segment(1), "q b");
        assert_eq!(got[1].label, Some(1));
        assert_eq!(got[2].label, None);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            (
                r#"{"sent1": "a", "ending0": "x", "ending1": "y"}"#,
                "`label`",
            ),
            (r#"{"context": "a", "label": 0}"#, "`choices`"),
            (r#"{"choices": ["a", "b"], "label": 0}"#, "`sent1`"),
            (
                r#"{"context": "a", "choices": ["a", 3], "label": 0}"#,
                "`choices`",
            ),
            (
                r#"{"context": "a", "choices": ["a", "b"], "label": 2}"#,
                "`label`",
            ),
            (r#"{"sent1": "a", "ending0": "x", "label": 0}"#, "`ending1`"),
        ];
        for (line, field) in cases {
            let err = read(&format!("\n{line}\n")).unwrap_err().to_string();
            assert!(err.contains("mc.jsonl:2:") && err.contains(field), "{err}");
        }
        let err = read("\n\n").unwrap_err().to_string();
        assert!(err.contains("mc.jsonl") && err.contains("empty"), "{err}");
        let err = read(concat!(
            r#"{"context": "a", "choices": ["a", "b"], "label": 0}"#,
            "\n",
            r#"{"context": "a", "choices": ["a", "b", "c"], "label": 0}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("mc.jsonl:2:") && err.contains("same number"),
            "{err}"
        );
    }
}
