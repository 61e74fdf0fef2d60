//! Plain text for masked-LM training: one document (or line) per line, blank lines skipped,
//! as `run_mlm.py` reads a `.txt` file with `datasets`' `text` loader.

use std::path::Path;

use super::{numbered_lines, read_text};
use crate::error::DataError;

/// One non-blank line of a text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    /// The line, without its line ending.
    pub text: String,
    /// Its 1-based line number in the file.
    pub line: usize,
}

/// Reads a plain-text file: every non-blank line is one text (its line ending and any `\r`
/// removed, otherwise unchanged). A file with no non-blank line is an error naming it, as is
/// a file that is not UTF-8.
pub fn read_text_lines(path: impl AsRef<Path>) -> Result<Vec<TextLine>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let lines: Vec<TextLine> = numbered_lines(&text)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(line, l)| TextLine {
            text: l.to_string(),
            line,
        })
        .collect();
    if lines.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            what: "text lines",
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_skipped_and_numbers_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, "one two\r\n\n  \nthree\n").unwrap();
        let lines = read_text_lines(&path).unwrap();
        assert_eq!(
            lines,
            vec![
                TextLine {
                    text: "one two".into(),
                    line: 1
                },
                TextLine {
                    text: "three".into(),
                    line: 4
                }
            ]
        );
    }

    #[test]
    fn an_empty_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.txt");
        std::fs::write(&path, "\n \n").unwrap();
        let err = read_text_lines(&path).unwrap_err().to_string();
        assert!(err.contains("empty.txt") && err.contains("empty"), "{err}");
    }
}
