//! Reading data sets: NER as CoNLL / IOB2 columns, JSON lines as `datasets` exports them, and
//! XTREME PAN-X files; plain text for masked-LM training; multiple-choice JSON lines; for text
//! classification, CSV / TSV with a header and JSON lines ([`read_text_classification`]); for
//! question answering, SQuAD JSON and its JSON lines ([`read_squad`]).

mod choice;
mod conll;
mod jsonl;
mod panx;
mod squad;
mod table;
mod text;

use std::path::Path;

pub use choice::{ChoiceExample, read_multiple_choice};
pub use conll::read_conll;
pub use jsonl::read_jsonl;
pub use panx::{format_panx, read_panx, write_panx};
pub use squad::{QaAnswer, QaExample, read_squad};
pub use table::{
    RawLabel, RawValue, TableColumns, TableFormat, TableOrigin, TextClassificationExample,
    read_text_classification,
};
pub use text::{TextLine, read_text_lines};

use crate::error::DataError;
use crate::example::NerExample;
use crate::labels::LabelSet;

/// The file formats [`read_dataset`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    /// Whitespace-separated columns, token first, tag last ([`read_conll`]).
    Conll,
    /// One JSON object per line ([`read_jsonl`]).
    Jsonl,
    /// `lang:token<TAB>tag` lines ([`read_panx`]).
    Panx,
}

/// Which reader a file needs: `.jsonl` / `.json` are JSON lines; a file whose first non-blank
/// line looks like `xx:token<TAB>tag` (a 2- or 3-letter lowercase language code) is PAN-X;
/// anything else is CoNLL.
pub fn detect_format(path: impl AsRef<Path>) -> Result<DatasetFormat, DataError> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("jsonl" | "json")) {
        return Ok(DatasetFormat::Jsonl);
    }
    let text = read_text(path)?;
    let first = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty());
    Ok(match first {
        Some(line) if looks_like_panx(line) => DatasetFormat::Panx,
        _ => DatasetFormat::Conll,
    })
}

/// Reads a data set in whichever format [`detect_format`] finds. `labels` is passed to
/// [`read_jsonl`] (needed when its tags are label ids) and ignored for the other formats.
pub fn read_dataset(
    path: impl AsRef<Path>,
    labels: Option<&LabelSet>,
) -> Result<Vec<NerExample>, DataError> {
    let path = path.as_ref();
    match detect_format(path)? {
        DatasetFormat::Conll => read_conll(path),
        DatasetFormat::Jsonl => read_jsonl(path, labels),
        DatasetFormat::Panx => read_panx(path),
    }
}

fn looks_like_panx(line: &str) -> bool {
    let Some((left, tag)) = line.split_once('\t') else {
        return false;
    };
    let Some((lang, token)) = left.split_once(':') else {
        return false;
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && !token.is_empty()
        && !tag.trim().is_empty()
}

/// The whole file as text, with the path in the error.
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The file's lines with 1-based numbers and any `\r` of CRLF endings removed.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panx_lines_are_recognised() {
        assert!(looks_like_panx("de:Berlin\tB-LOC"));
        assert!(looks_like_panx("en:http://x\tO"));
        assert!(!looks_like_panx("Berlin\tB-LOC"));
        assert!(!looks_like_panx("Berlin B-LOC"));
        assert!(!looks_like_panx("DE:Berlin\tB-LOC"));
        assert!(!looks_like_panx("de:\tO"));
    }
}
