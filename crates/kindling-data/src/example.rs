//! One sentence with a tag per word, as every reader returns it.

use std::path::PathBuf;

/// A sentence for named-entity recognition: its words, one tag per word (IOB2, e.g. `B-LOC`),
/// and, where the data says so, its language.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NerExample {
    /// The words, as the data set splits them.
    pub tokens: Vec<String>,
    /// One tag per word.
    pub tags: Vec<String>,
    /// The language (`de`, `fr`, …) when the data gives it.
    pub lang: Option<String>,
    /// Where the example was read from, so errors found later (a tag outside the label set)
    /// can name the file and line; `None` for examples built in memory.
    pub origin: Option<Origin>,
}

impl NerExample {
    /// An example built in memory (no origin).
    pub fn new(tokens: Vec<String>, tags: Vec<String>, lang: Option<String>) -> Self {
        Self {
            tokens,
            tags,
            lang,
            origin: None,
        }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the sentence has no words.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// Where an example was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line of the example's first word.
    pub line: usize,
    /// Whether the file has one word per line (CoNLL, PAN-X), so word `i` sits on line
    /// `line + i`; otherwise the whole example is on one line (JSON lines).
    pub line_per_word: bool,
}

impl Origin {
    /// The 1-based line holding word `word` of the example.
    pub fn line_of(&self, word: usize) -> usize {
        if self.line_per_word {
            self.line + word
        } else {
            self.line
        }
    }
}
