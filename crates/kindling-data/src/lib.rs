#![warn(missing_docs)]
//! Datasets and batching for kindling.
//!
//! - Reading NER data: [`read_conll`] (CoNLL / IOB2 columns), [`read_jsonl`] (JSON lines as
//!   `datasets` exports them), [`read_panx`] (XTREME PAN-X `lang:token<TAB>tag` files), and
//!   [`read_dataset`] choosing among them. Each gives [`NerExample`]s; errors name the file
//!   and line.
//! - Other tasks' data: [`read_text_lines`] (plain text for masked-LM training) and
//!   [`read_multiple_choice`] (SWAG-style or generic multiple-choice JSON lines).
//! - Reading text-classification data: [`read_text_classification`] (CSV / TSV with a header,
//!   JSON lines; columns named by [`TableColumns`]) into [`TextClassificationExample`]s, whose
//!   labels a [`TextLabelScheme`] reads as single-label, multi-label or regression targets.
//! - Labels: [`LabelSet`] (the PAN-X tags, a checkpoint's list, or inferred from data).
//! - Tokenization through a checkpoint's `tokenizer.json` ([`Tokenizer`], the `tokenizers`
//!   crate, so ids equal `transformers`' fast tokenizers), word labels aligned to sub-words
//!   ([`align_labels_to_subwords`], -100 where no label applies), truncation reported
//!   ([`TruncationReport`]).
//! - Batching: [`TokenClassificationEncoder`] encodes every example once
//!   ([`EncodedDataset`]); [`batch_order`] gives seeded, optionally length-grouped batches of
//!   indices; [`EncodedDataset::batch`] pads them ([`TokenClassificationBatch`]).
//! - The bundled sample: [`generate_ner_sample`] and [`write_ner_sample`], the deterministic
//!   synthetic multilingual NER data under `data/ner-sample`.

mod align;
mod batch;
mod encoder;
mod error;
mod example;
mod labels;
mod order;
mod readers;
mod rng;
mod synthetic;
mod text_labels;
mod tokenizer;
mod tokenizer_config;

pub use align::align_labels_to_subwords;
pub use batch::{EncodedExample, TokenClassificationBatch};
pub use encoder::{EncodedDataset, TokenClassificationEncoder, TruncationReport};
pub use error::DataError;
pub use example::{NerExample, Origin};
pub use labels::{IGNORE_INDEX, LabelSet};
pub use order::batch_order;
pub use readers::{
    ChoiceExample, DatasetFormat, QaAnswer, QaExample, RawLabel, RawValue, TableColumns,
    TableFormat, TableOrigin, TextClassificationExample, TextLine, detect_format, format_panx,
    read_conll, read_dataset, read_jsonl, read_multiple_choice, read_panx, read_squad,
    read_text_classification, read_text_lines, write_panx,
};
pub use rng::SeededRng;
pub use synthetic::{
    NER_SAMPLE_DIR, NER_SAMPLE_LANGUAGES, SampleSplit, generate_ner_sample, generate_ner_split,
    ner_sample_files, ner_sample_seed, write_ner_sample,
};
pub use text_labels::{EncodedLabel, TextLabelKind, TextLabelScheme, is_default_label_names};
pub use tokenizer::{EncodedBatch, Tokenizer};
pub use tokenizer_config::{TokenizerConfig, clean_up_tokenization};

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
