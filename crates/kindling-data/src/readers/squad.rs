//! Extractive question-answering examples: SQuAD v1.1 / v2.0 JSON
//! (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`) and the flat JSON lines
//! `datasets` writes for SQuAD (`{"id", "title", "context", "question", "answers": {"text": [...],
//! "answer_start": [...]}}`), as `run_qa.py` reads them.
//!
//! Answer starts are character offsets into the context, as in SQuAD; every answer is checked
//! against the context, so a wrong offset is an error naming the question rather than a
//! silently wrong training label.

use std::path::Path;

use serde_json::{Map, Value};

use super::{numbered_lines, read_text};
use crate::error::DataError;

/// One gold answer: its text and where it starts in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaAnswer {
    /// The answer's text, a span of the context.
    pub text: String,
    /// Its first character's index in the context (characters, not bytes, as Python counts).
    pub answer_start: usize,
}

impl QaAnswer {
    /// The character index just past the answer.
    pub fn answer_end(&self) -> usize {
        self.answer_start + self.text.chars().count()
    }
}

/// One question about a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaExample {
    /// The question's id (SQuAD's `id`; the 1-based position in the file when absent).
    pub id: String,
    /// The article's title (empty when the data has none).
    pub title: String,
    /// The passage the answer is a span of.
    pub context: String,
    /// The question.
    pub question: String,
    /// The gold answers; empty for an unanswerable question (SQuAD v2's `is_impossible`).
    pub answers: Vec<QaAnswer>,
    /// Where the question was read from.
    pub origin: String,
}

/// Where a question sits in its file, for errors: `file:line` for JSON lines, the JSON path
/// (`data[0].paragraphs[2].qas[1]`) for SQuAD files.
fn located(path: &Path, location: &str, field: &str, message: impl Into<String>) -> DataError {
    DataError::QuestionField {
        path: path.to_path_buf(),
        location: location.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

struct Record<'a> {
    path: &'a Path,
    location: String,
    record: &'a Map<String, Value>,
}

impl Record<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> DataError {
        located(self.path, &self.location, field, message)
    }

    /// A string field: `Ok(None)` when absent or null.
    fn text(&self, field: &str) -> Result<Option<String>, DataError> {
        match self.record.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(field, format!("expected a string, found {other}"))),
        }
    }

    fn required(&self, field: &str) -> Result<String, DataError> {
        self.text(field)?
            .ok_or_else(|| self.invalid(field, "missing (a string is needed)"))
    }

    fn offset(&self, field: &str, value: &Value) -> Result<usize, DataError> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| self.invalid(field, format!("{n} is not a character offset"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| self.invalid(field, format!("`{s}` is not a character offset"))),
            other => {
                Err(self.invalid(field, format!("expected a character offset, found {other}")))
            }
        }
    }

    /// SQuAD's `answers`: a list of `{text, answer_start}` objects.
    fn answer_list(&self, items: &[Value]) -> Result<Vec<QaAnswer>, DataError> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let field = format!("answers[{i}]");
                let Value::Object(answer) = item else {
                    return Err(self.invalid(
                        &field,
                        format!("expected {{\"text\", \"answer_start\"}}, found {item}"),
                    ));
                };
                let text = match answer.get("text") {
                    Some(Value::String(s)) => s.clone(),
                    other => {
                        return Err(self.invalid(
                            &format!("{field}.text"),
                            format!("expected a string, found {}", shown(other)),
                        ));
                    }
                };
                let start_field = format!("{field}.answer_start");
                let start = answer
                    .get("answer_start")
                    .ok_or_else(|| self.invalid(&start_field, "missing"))?;
                Ok(QaAnswer {
                    text,
                    answer_start: self.offset(&start_field, start)?,
                })
            })
            .collect()
    }

    /// `datasets`' `answers`: `{"text": [...], "answer_start": [...]}` of equal lengths.
    fn answer_columns(&self, columns: &Map<String, Value>) -> Result<Vec<QaAnswer>, DataError> {
        let list = |name: &str| match columns.get(name) {
            Some(Value::Array(items)) => Ok(items.as_slice()),
            other => Err(self.invalid(
                &format!("answers.{name}"),
                format!("expected a list, found {}", shown(other)),
            )),
        };
        let (texts, starts) = (list("text")?, list("answer_start")?);
        if texts.len() != starts.len() {
            return Err(self.invalid(
                "answers",
                format!(
                    "{} texts but {} answer_start values",
                    texts.len(),
                    starts.len()
                ),
            ));
        }
        texts
            .iter()
            .zip(starts)
            .enumerate()
            .map(|(i, (text, start))| {
                let Value::String(text) = text else {
                    return Err(self.invalid(
                        &format!("answers.text[{i}]"),
                        format!("expected a string, found {text}"),
                    ));
                };
                Ok(QaAnswer {
                    text: text.clone(),
                    answer_start: self.offset(&format!("answers.answer_start[{i}]"), start)?,
                })
            })
            .collect()
    }

    fn answers(&self) -> Result<Vec<QaAnswer>, DataError> {
        if self.record.get("is_impossible") == Some(&Value::Bool(true)) {
            return Ok(Vec::new());
        }
        match self.record.get("answers") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => self.answer_list(items),
            Some(Value::Object(columns)) => self.answer_columns(columns),
            Some(other) => Err(self.invalid(
                "answers",
                format!(
                    "expected a list of {{\"text\", \"answer_start\"}} or {{\"text\": [...], \"answer_start\": [...]}}, found {other}"
                ),
            )),
        }
    }

    /// The question with its context, every answer checked against the context.
    fn example(
        &self,
        context: String,
        title: String,
        default_id: String,
    ) -> Result<QaExample, DataError> {
        let id = match self.record.get("id") {
            None | Some(Value::Null) => default_id,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(self.invalid("id", format!("expected a string, found {other}")));
            }
        };
        let question = self.required("question")?;
        if question.trim().is_empty() {
            return Err(self.invalid("question", "is empty"));
        }
        if context.trim().is_empty() {
            return Err(self.invalid("context", "is empty: there is nothing to find an answer in"));
        }
        let answers = self.answers()?;
        let chars: Vec<char> = context.chars().collect();
        for (i, answer) in answers.iter().enumerate() {
            let end = answer.answer_end();
            if end > chars.len() {
                return Err(self.invalid(
                    &format!("answers[{i}]"),
                    format!(
                        "`{}` at character {} runs past the context's end ({} characters)",
                        answer.text,
                        answer.answer_start,
                        chars.len()
                    ),
                ));
            }
            let found: String = chars[answer.answer_start..end].iter().collect();
            if found != answer.text {
                return Err(self.invalid(
                    &format!("answers[{i}]"),
                    format!(
                        "the context holds `{found}` at character {}, not the answer `{}`",
                        answer.answer_start, answer.text
                    ),
                ));
            }
        }
        Ok(QaExample {
            id,
            title,
            context,
            question,
            answers,
            origin: format!("{}: {}", self.path.display(), self.location),
        })
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_string(), Value::to_string)
}

/// Reads question-answering examples from a SQuAD v1.1 / v2.0 JSON file or from flat JSON lines
/// (the `datasets` export of SQuAD), whichever the file holds. Errors name the file and the
/// question (its line, or its JSON path) and the field: a missing `question` or `context`, an
/// answer that is not the context's text at its `answer_start`, an empty file.
pub fn read_squad(path: impl AsRef<Path>) -> Result<Vec<QaExample>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let trimmed = text.trim_start();
    let examples = if trimmed.starts_with('{')
        && let Ok(Value::Object(root)) = serde_json::from_str::<Value>(&text)
        && root.contains_key("data")
    {
        read_nested(path, &root)?
    } else if trimmed.starts_with('[') {
        return Err(DataError::NotJsonLines {
            path: path.to_path_buf(),
        });
    } else {
        read_flat(path, &text)?
    };
    if examples.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            what: "questions (SQuAD JSON or JSON lines)",
        });
    }
    Ok(examples)
}

fn array<'a>(
    path: &Path,
    value: Option<&'a Value>,
    location: &str,
    field: &str,
) -> Result<&'a [Value], DataError> {
    match value {
        Some(Value::Array(items)) => Ok(items.as_slice()),
        other => Err(located(
            path,
            location,
            field,
            format!("expected a list, found {}", shown(other)),
        )),
    }
}

fn object<'a>(
    path: &Path,
    value: &'a Value,
    location: &str,
) -> Result<&'a Map<String, Value>, DataError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(located(
            path,
            location,
            "(entry)",
            format!("expected a JSON object, found {other}"),
        )),
    }
}

fn read_nested(path: &Path, root: &Map<String, Value>) -> Result<Vec<QaExample>, DataError> {
    let array = |value, location: &str, field: &str| array(path, value, location, field);
    let object = |value, location: &str| object(path, value, location);
    let mut examples = Vec::new();
    for (a, article) in array(root.get("data"), "(top level)", "data")?
        .iter()
        .enumerate()
    {
        let article_at = format!("data[{a}]");
        let article = object(article, &article_at)?;
        let title = match article.get("title") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        for (p, paragraph) in array(article.get("paragraphs"), &article_at, "paragraphs")?
            .iter()
            .enumerate()
        {
            let paragraph_at = format!("{article_at}.paragraphs[{p}]");
            let paragraph = object(paragraph, &paragraph_at)?;
            let context = match paragraph.get("context") {
                Some(Value::String(s)) => s.clone(),
                other => {
                    return Err(located(
                        path,
                        &paragraph_at,
                        "context",
                        format!("expected a string, found {}", shown(other)),
                    ));
                }
            };
            for (q, qa) in array(paragraph.get("qas"), &paragraph_at, "qas")?
                .iter()
                .enumerate()
            {
                let location = format!("{paragraph_at}.qas[{q}]");
                let record = Record {
                    path,
                    location: location.clone(),
                    record: object(qa, &location)?,
                };
                let default_id = (examples.len() + 1).to_string();
                examples.push(record.example(context.clone(), title.clone(), default_id)?);
            }
        }
    }
    Ok(examples)
}

fn read_flat(path: &Path, text: &str) -> Result<Vec<QaExample>, DataError> {
    let mut examples = Vec::new();
    for (line_no, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            line: line_no,
            source,
        })?;
        let location = format!("line {line_no}");
        let Value::Object(map) = &value else {
            return Err(located(
                path,
                &location,
                "(line)",
                format!("expected a JSON object, found {value}"),
            ));
        };
        let record = Record {
            path,
            location,
            record: map,
        };
        let context = record.required("context")?;
        let title = record.text("title")?.unwrap_or_default();
        examples.push(record.example(context, title, line_no.to_string())?);
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<Vec<QaExample>, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_squad(&path)
    }

    #[test]
    fn squad_json_is_read_with_v2_impossible_questions() {
        let got = read(
            "dev.json",
            r#"{"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Anna lives in Paris.",
              "qas": [{"id": "a", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 14}]},
                      {"id": "b", "question": "Who?", "is_impossible": true, "answers": [],
                       "plausible_answers": [{"text": "Anna", "answer_start": 0}]}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].answers[0].answer_end(), 19);
        assert_eq!(got[0].title, "T");
        assert!(got[1].answers.is_empty());
    }

    #[test]
    fn flat_json_lines_are_read() {
        let got = read(
            "train.jsonl",
            "{\"id\": \"x\", \"context\": \"Ça va à Köln.\", \"question\": \"Wo?\", \"answers\": {\"text\": [\"Köln\"], \"answer_start\": [8]}}\n\n{\"context\": \"c d\", \"question\": \"q\", \"answers\": {\"text\": [], \"answer_start\": []}}\n",
        )
        .unwrap();
        assert_eq!(got[0].answers[0].answer_start, 8);
        assert_eq!(got[1].id, "3");
        assert!(got[1].answers.is_empty());
    }

    #[test]
    fn a_misplaced_answer_names_the_question_and_field() {
        let err = read(
            "bad.json",
            r#"{"data": [{"paragraphs": [{"context": "Anna lives in Paris.", "qas": [{"id": "a", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 3}]}]}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("data[0].paragraphs[0].qas[0]"), "{err}");
        assert!(err.contains("answers[0]"), "{err}");
        assert!(err.contains("not the answer `Paris`"), "{err}");
        let err = read(
            "bad.jsonl",
            "{\"context\": \"abc\", \"question\": \"q\", \"answers\": {\"text\": [\"abcd\"], \"answer_start\": [0]}}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 1") && err.contains("runs past"), "{err}");
        let err = read("missing.jsonl", "{\"context\": \"abc\"}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`question`"), "{err}");
        let err = read("empty.jsonl", "\n\n").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
