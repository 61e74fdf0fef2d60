//! XTREME PAN-X files: `lang:token<TAB>tag` lines.

use std::fmt::Write as _;
use std::path::Path;

use super::conll::Sentence;
use super::{numbered_lines, read_text};
use crate::error::DataError;
use crate::example::NerExample;

/// Reads an XTREME PAN-X file: one word per line as `lang:token<TAB>tag` (e.g.
/// `de:Berlin\tB-LOC`), a blank line between sentences. The language is the text before the
/// first `:` (tokens may themselves contain `:`); a sentence takes the language of its first
/// line. A line without a tab, without a `lang:` prefix, or with an empty token or tag is an
/// error naming the file and line.
pub fn read_panx(path: impl AsRef<Path>) -> Result<Vec<NerExample>, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let mut examples = Vec::new();
    let mut current = Sentence::default();
    for (line_no, line) in numbered_lines(&text) {
        if line.trim().is_empty() {
            current.finish(path, &mut examples);
            continue;
        }
        let malformed = |reason| DataError::PanxLine {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        let (left, tag) = line
            .split_once('\t')
            .ok_or_else(|| malformed("no tab between token and tag"))?;
        let tag = tag.trim();
        if tag.is_empty() || tag.contains(char::is_whitespace) {
            return Err(malformed("the tag after the tab is empty or has spaces"));
        }
        let (lang, token) = left
            .split_once(':')
            .ok_or_else(|| malformed("no `lang:` prefix before the token"))?;
        if lang.is_empty() || lang.contains(char::is_whitespace) {
            return Err(malformed("the language before `:` is empty or has spaces"));
        }
        if token.is_empty() {
            return Err(malformed("the token after `lang:` is empty"));
        }
        current.set_lang(lang);
        current.push(line_no, token, tag);
    }
    current.finish(path, &mut examples);
    Ok(examples)
}

/// The examples as PAN-X text: `lang:token<TAB>tag` per word, each sentence followed by a
/// blank line. Every example needs a language.
pub fn format_panx(examples: &[NerExample]) -> Result<String, DataError> {
    let mut out = String::new();
    for (index, example) in examples.iter().enumerate() {
        let lang = example
            .lang
            .as_deref()
            .ok_or(DataError::MissingLanguage { example: index })?;
        if example.tokens.len() != example.tags.len() {
            return Err(DataError::ExampleLengthMismatch {
                example: index,
                tokens: example.tokens.len(),
                tags: example.tags.len(),
            });
        }
        for (token, tag) in example.tokens.iter().zip(&example.tags) {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{lang}:{token}\t{tag}");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Writes the examples to `path` in PAN-X format (see [`format_panx`]).
pub fn write_panx(path: impl AsRef<Path>, examples: &[NerExample]) -> Result<(), DataError> {
    let path = path.as_ref();
    let text = format_panx(examples)?;
    std::fs::write(path, text).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}
