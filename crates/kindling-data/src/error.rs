//! Errors of the data crate.

use std::path::PathBuf;

/// Why data could not be read, labelled, tokenized or batched.
///
/// Errors about a file name the file and the 1-based line (`path:line: …`).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// `tokenizer.json` could not be loaded.
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// Encoding a text failed.
    #[error("cannot tokenize input {index}: {message}")]
    Encode {
        /// Which input (0-based) failed.
        index: usize,
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// No pad id could be found for batching.
    #[error(
        "{path}: no padding token: the tokenizer has no padding settings and no `[PAD]` or `<pad>` token, and none was given"
    )]
    NoPadToken {
        /// The tokenizer file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A CoNLL line has a token but no tag column.
    #[error(
        "{path}:{line}: expected at least 2 whitespace-separated columns (token … tag), found {found}"
    )]
    ConllColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// How many columns the line has.
        found: usize,
    },
    /// A PAN-X line is not `lang:token<TAB>tag`.
    #[error("{path}:{line}: expected `lang:token<TAB>tag`: {reason}")]
    PanxLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: &'static str,
    },
    /// A field of a table or JSON line cannot be used (a label outside the set, a value of
    /// the wrong type, an empty label).
    #[error("{path}:{line}: column `{column}`: {message}")]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line (a CSV header is line 1).
        line: usize,
        /// The column (or JSON field).
        column: String,
        /// What is wrong with it.
        message: String,
    },
    /// A row of a table is malformed (a field count that differs from the header's, bad
    /// quoting, invalid UTF-8).
    #[error("{path}:{line}: {message}")]
    Table {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// A column the task needs is not in the file.
    #[error(
        "{path}:{line}: no column `{column}` (found: {found}); choose one with the column options"
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// 1-based line (1: the header of a CSV file).
        line: usize,
        /// The column looked for.
        column: String,
        /// The columns present, comma-separated.
        found: String,
    },
    /// The label of an example built in memory does not fit the label scheme.
    #[error("example {example}: {message}")]
    ExampleLabel {
        /// The example's index (0-based).
        example: usize,
        /// What is wrong with the label.
        message: String,
    },
    /// A JSON line is not a valid example object.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What `serde_json` said.
        #[source]
        source: serde_json::Error,
    },
    /// A `.json` file holds one JSON array instead of one object per line.
    #[error(
        "{path}: expected JSON lines (one object per line, as `datasets`' `to_json` writes them), found a JSON array"
    )]
    NotJsonLines {
        /// The file.
        path: PathBuf,
    },
    /// An example has a different number of tokens and tags.
    #[error("{path}:{line}: {tokens} tokens but {tags} tags")]
    LengthMismatch {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Number of tokens.
        tokens: usize,
        /// Number of tags.
        tags: usize,
    },
    /// Tags are given as label ids, but no label list says what they mean.
    #[error(
        "{path}:{line}: `ner_tags` holds label ids; a label list is needed to read them (e.g. the PAN-X labels)"
    )]
    LabelIdsWithoutLabels {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A label id is outside the label list.
    #[error("{path}:{line}: label id {id} is outside the label list (0..{labels})")]
    LabelIdOutOfRange {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The id found.
        id: i64,
        /// How many labels the list has.
        labels: usize,
    },
    /// A file holds no examples (empty, or only blank lines).
    #[error("{path}: the file is empty: it holds no {what}")]
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// What each line should hold (`text lines`, `examples`).
        what: &'static str,
    },
    /// A record lacks a field it needs.
    #[error("{path}:{line}: missing field `{field}`{hint}")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field.
        field: String,
        /// What the record may hold instead (empty when nothing).
        hint: String,
    },
    /// A record's field has a value it cannot take.
    #[error("{path}:{line}: field `{field}`: {message}")]
    InvalidField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A question-answering record's field has a value it cannot take (or is missing).
    #[error("{path}: {location}: field `{field}`: {message}")]
    QuestionField {
        /// The file.
        path: PathBuf,
        /// Where the question is: `line N` (JSON lines) or its JSON path
        /// (`data[0].paragraphs[2].qas[1]`, SQuAD JSON).
        location: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A tag read from a file is not in the label set.
    #[error("{path}:{line}: tag `{tag}` is not in the label set [{known}]")]
    UnknownLabel {
        /// The tag.
        tag: String,
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The labels of the set, comma-separated.
        known: String,
    },
    /// A tag of an example that came from no file is not in the label set.
    #[error("example {example}: tag `{tag}` is not in the label set [{known}]")]
    UnknownLabelInExample {
        /// The tag.
        tag: String,
        /// The example's index (0-based).
        example: usize,
        /// The labels of the set, comma-separated.
        known: String,
    },
    /// An example has a different number of tokens and tags.
    #[error("example {example}: {tokens} tokens but {tags} tags")]
    ExampleLengthMismatch {
        /// The example's index (0-based).
        example: usize,
        /// Number of tokens.
        tokens: usize,
        /// Number of tags.
        tags: usize,
    },
    /// A label list names a label twice.
    #[error("label `{label}` appears twice in the label list")]
    DuplicateLabel {
        /// The repeated label.
        label: String,
    },
    /// A label list is empty.
    #[error("the label list is empty")]
    EmptyLabelSet,
    /// A batch size of zero was asked for.
    #[error("the batch size must be at least 1")]
    ZeroBatchSize,
    /// Lengths for length-grouped batching do not match the examples.
    #[error("{lengths} lengths given for {examples} examples")]
    LengthsMismatch {
        /// How many lengths were given.
        lengths: usize,
        /// How many examples there are.
        examples: usize,
    },
    /// A batch names an example that does not exist.
    #[error("example index {index} is out of range ({len} examples)")]
    ExampleIndex {
        /// The index asked for.
        index: usize,
        /// How many examples there are.
        len: usize,
    },
    /// An example has no language, where one is needed (writing PAN-X).
    #[error("example {example} has no language; PAN-X lines need a `lang:` prefix")]
    MissingLanguage {
        /// The example's index (0-based).
        example: usize,
    },
    /// The synthetic generator has no templates for a language.
    #[error("no synthetic NER templates for language `{lang}` (known: de, fr, it, en)")]
    UnknownLanguage {
        /// The language asked for.
        lang: String,
    },
}
