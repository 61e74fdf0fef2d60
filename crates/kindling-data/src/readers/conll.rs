//! CoNLL / IOB2 column files.

use std::path::Path;

use super::{numbered_lines, read_text};
use crate::error::DataError;
use crate::example::{NerExample, Origin};

/// Reads a CoNLL-style file: one word per line as whitespace-separated columns, the token in
/// the first column and the tag in the last (CoNLL-2003's POS and chunk columns in between are
/// ignored); a blank line ends a sentence; `-DOCSTART-` lines are skipped (and end a
/// sentence). A line with fewer than 2 columns is an error naming the file and line.
pub fn read_conll(path: impl AsRef<Path>) -> Result<Vec<NerExample>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let mut examples = Vec::new();
    let mut current = Sentence::default();
    for (line_no, line) in numbered_lines(&text) {
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.is_empty() || columns[0] == "-DOCSTART-" {
            current.finish(path, &mut examples);
            continue;
        }
        match columns.as_slice() {
            [token, .., tag] => current.push(line_no, token, tag),
            _ => {
                return Err(DataError::ConllColumns {
                    path: path.to_path_buf(),
                    line: line_no,
                    found: columns.len(),
                });
            }
        }
    }
    current.finish(path, &mut examples);
    Ok(examples)
}

/// A sentence being read, one word per line.
#[derive(Default)]
pub(super) struct Sentence {
    first_line: usize,
    tokens: Vec<String>,
    tags: Vec<String>,
    lang: Option<String>,
}

impl Sentence {
    pub(super) fn push(&mut self, line: usize, token: &str, tag: &str) {
        if self.tokens.is_empty() {
            self.first_line = line;
        }
        self.tokens.push(token.to_string());
        self.tags.push(tag.to_string());
    }

    pub(super) fn set_lang(&mut self, lang: &str) {
        if self.lang.is_none() {
            self.lang = Some(lang.to_string());
        }
    }

    pub(super) fn finish(&mut self, path: &Path, out: &mut Vec<NerExample>) {
        if self.tokens.is_empty() {
            self.lang = None;
            return;
        }
        let sentence = std::mem::take(self);
        out.push(NerExample {
            tokens: sentence.tokens,
            tags: sentence.tags,
            lang: sentence.lang,
            origin: Some(Origin {
                path: path.to_path_buf(),
                line: sentence.first_line,
                line_per_word: true,
            }),
        });
    }
}
