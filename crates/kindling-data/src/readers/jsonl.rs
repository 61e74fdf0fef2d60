//! JSON lines as `datasets` exports them (`Dataset.to_json`).

use std::path::Path;

use serde::Deserialize;

use super::{numbered_lines, read_text};
use crate::error::DataError;
use crate::example::{NerExample, Origin};
use crate::labels::LabelSet;

/// One line: `{"tokens": [...], "ner_tags": [...], "langs": [...]}`; other fields are ignored.
#[derive(Deserialize)]
struct Record {
    tokens: Vec<String>,
    #[serde(alias = "tags")]
    ner_tags: Vec<Tag>,
    #[serde(default)]
    langs: Option<Vec<String>>,
    #[serde(default)]
    lang: Option<String>,
}

/// A tag as a label id (`datasets`' `ClassLabel`) or as its name.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tag {
    Id(i64),
    Name(String),
}

/// Reads JSON lines as `datasets` exports them: one object per line with `tokens` (strings)
/// and `ner_tags` (or `tags`): label ids, which need `labels` to name them (an id outside the
/// list is an error), or tag strings (checked against `labels` when given). The language is
/// the `lang` field, else the first of `langs` (PAN-X has one per token). Blank lines are
/// skipped. Errors name the file and line.
pub fn read_jsonl(
    path: impl AsRef<Path>,
    labels: Option<&LabelSet>,
) -> Result<Vec<NerExample>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    if text.trim_start().starts_with('[') {
        return Err(DataError::NotJsonLines {
            path: path.to_path_buf(),
        });
    }
    let mut examples = Vec::new();
    for (line_no, line) in numbered_lines(&text) {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            line: line_no,
            source,
        })?;
        if record.tokens.len() != record.ner_tags.len() {
            return Err(DataError::LengthMismatch {
                path: path.to_path_buf(),
                line: line_no,
                tokens: record.tokens.len(),
                tags: record.ner_tags.len(),
            });
        }
        let tags = record
            .ner_tags
            .into_iter()
            .map(|tag| tag_name(tag, labels, path, line_no))
            .collect::<Result<Vec<_>, _>>()?;
        let lang = record
            .lang
            .or_else(|| record.langs.and_then(|l| l.into_iter().next()));
        examples.push(NerExample {
            tokens: record.tokens,
            tags,
            lang,
            origin: Some(Origin {
                path: path.to_path_buf(),
                line: line_no,
                line_per_word: false,
            }),
        });
    }
    Ok(examples)
}

fn tag_name(
    tag: Tag,
    labels: Option<&LabelSet>,
    path: &Path,
    line: usize,
) -> Result<String, DataError> {
    match (tag, labels) {
        (Tag::Name(name), None) => Ok(name),
        (Tag::Name(name), Some(labels)) => labels.encode(&name, path, line).map(|_| name),
        (Tag::Id(_), None) => Err(DataError::LabelIdsWithoutLabels {
            path: path.to_path_buf(),
            line,
        }),
        (Tag::Id(id), Some(labels)) => {
            labels
                .label(id)
                .map(str::to_string)
                .ok_or_else(|| DataError::LabelIdOutOfRange {
                    path: path.to_path_buf(),
                    line,
                    id,
                    labels: labels.len(),
                })
        }
    }
}
