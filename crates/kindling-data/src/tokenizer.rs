//! A checkpoint's `tokenizer.json`, batched as `transformers` batches it.

use std::path::{Path, PathBuf};

use tokenizers::{TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::DataError;

/// A batch of tokenized rows, padded on the right to the longest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// Token ids, `[batch][seq]`.
    pub input_ids: Vec<Vec<u32>>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<Vec<u32>>,
    /// Segment ids (0 for single sentences).
    pub token_type_ids: Vec<Vec<u32>>,
    /// The word each token came from (`None` for special tokens and padding).
    pub word_ids: Vec<Vec<Option<u32>>>,
    /// Character (not byte) offsets of each token in its text, as `transformers` gives them
    /// (`(0, 0)` for special tokens and padding).
    pub offsets: Vec<Vec<(usize, usize)>>,
    /// How many rows were cut to fit the window.
    pub truncated_rows: usize,
}

impl EncodedBatch {
    /// `(batch, seq)`.
    pub fn shape(&self) -> (usize, usize) {
        (
            self.input_ids.len(),
            self.input_ids.first().map_or(0, Vec::len),
        )
    }
}

/// A `tokenizer.json` ready to batch.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pad_id: u32,
    max_length: Option<usize>,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("pad_id", &self.pad_id)
            .field("max_length", &self.max_length)
            .finish()
    }
}

/// Runs one `tokenizers` encode, turning its errors, and the panics a malformed
/// `tokenizer.json` can still cause inside it, into [`DataError::Encode`] for row `index`.
fn guarded(
    index: usize,
    encode: impl FnOnce() -> tokenizers::Result<tokenizers::Encoding>,
) -> Result<tokenizers::Encoding, DataError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode)) {
        Ok(Ok(encoding)) => Ok(encoding),
        Ok(Err(e)) => Err(DataError::Encode {
            index,
            message: e.to_string(),
        }),
        Err(panic) => Err(DataError::Encode {
            index,
            message: format!(
                "the tokenizer failed: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("panic inside tokenizers")
            ),
        }),
    }
}

/// Checks that every special token a template post-processor places is defined in its
/// `special_tokens`. `tokenizers` recognizes a template by its fields even when `type` is wrong
/// or missing, and accepts templates as piece lists or as strings (`"[CLS] $A [SEP]"`), so all
/// of those are checked; `Sequence` processors are searched recursively.
fn check_template_special_tokens(processor: &serde_json::Value) -> Result<(), String> {
    if let Some(processors) = processor.get("processors").and_then(|p| p.as_array()) {
        processors
            .iter()
            .try_for_each(check_template_special_tokens)?;
    }
    let defined = processor.get("special_tokens");
    for template in ["single", "pair"] {
        let placed: Vec<String> = match processor.get(template) {
            Some(serde_json::Value::Array(pieces)) => pieces
                .iter()
                .filter_map(|piece| piece.pointer("/SpecialToken/id")?.as_str())
                .map(str::to_string)
                .collect(),
            Some(serde_json::Value::String(text)) => text
                .split_whitespace()
                .filter(|piece| !piece.starts_with('$'))
                .map(|piece| {
                    piece
                        .rsplit_once(':')
                        .map_or(piece, |(id, _)| id)
                        .to_string()
                })
                .collect(),
            _ => continue,
        };
        for id in placed {
            if defined.and_then(|d| d.get(&id)).is_none() {
                return Err(format!(
                    "post_processor.{template} places special token `{id}`, which post_processor.special_tokens does not define"
                ));
            }
        }
    }
    Ok(())
}

impl Tokenizer {
    /// Loads `tokenizer.json`.
    ///
    /// The pad id is the file's padding setting, else its `[PAD]` / `<pad>` token, else
    /// `fallback_pad_id` (a model config's `pad_token_id`). `max_length` (the model's window,
    /// special tokens included) truncates longer rows. Padding and truncation stored in the file
    /// are replaced by these, as `transformers` replaces them by its call arguments.
    pub fn from_file(
        path: impl AsRef<Path>,
        fallback_pad_id: Option<u32>,
        max_length: Option<usize>,
    ) -> Result<Self, DataError> {
        let path = path.as_ref();
        let invalid = |message: String| DataError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        // `tokenizers` panics (an `expect`) when the `decoder` value is not valid JSON (a syntax
        // error, an escape that is no Unicode code point; found by fuzzing), so the whole file
        // is parsed here first, strings decoded; with valid JSON its loader reports every
        // problem as an error.
        let json = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        // It also indexes a template's special tokens without checking they are defined, and
        // panics at the first encode when one is not (found by fuzzing).
        check_template_special_tokens(&json["post_processor"]).map_err(invalid)?;
        let inner =
            tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
        Self::with_path(inner, path.to_path_buf(), fallback_pad_id, max_length)
    }

    /// Wraps a `tokenizers` tokenizer built in memory; the pad id and `max_length` are found
    /// and applied as in [`Tokenizer::from_file`]. Errors name the path `<in memory>`.
    pub fn from_tokenizer(
        inner: tokenizers::Tokenizer,
        fallback_pad_id: Option<u32>,
        max_length: Option<usize>,
    ) -> Result<Self, DataError> {
        Self::with_path(
            inner,
            PathBuf::from("<in memory>"),
            fallback_pad_id,
            max_length,
        )
    }

    fn with_path(
        mut inner: tokenizers::Tokenizer,
        path: PathBuf,
        fallback_pad_id: Option<u32>,
        max_length: Option<usize>,
    ) -> Result<Self, DataError> {
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("<pad>"))
            .or_else(|| inner.token_to_id("[PAD]"))
            .or(fallback_pad_id)
            .ok_or_else(|| DataError::NoPadToken { path: path.clone() })?;
        inner.with_padding(None);
        Self {
            inner,
            pad_id,
            max_length: None,
            path,
        }
        .with_max_length(max_length)
    }

    /// The same tokenizer truncating rows to `max_length` tokens (special tokens included), or
    /// not truncating when `None`.
    pub fn with_max_length(mut self, max_length: Option<usize>) -> Result<Self, DataError> {
        let truncation = max_length.map(|max_length| TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        });
        self.inner
            .with_truncation(truncation)
            .map_err(|e| DataError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        self.max_length = max_length;
        Ok(self)
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The window rows are truncated to, if any.
    pub fn max_length(&self) -> Option<usize> {
        self.max_length
    }

    /// The `tokenizer.json` it was loaded from (`<in memory>` for one built in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Tokenizes texts with special tokens and pads the batch to its longest row.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<EncodedBatch, DataError> {
        let encodings = texts
            .iter()
            .enumerate()
            .map(|(index, text)| guarded(index, || self.inner.encode_char_offsets(*text, true)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pad(encodings))
    }

    /// One text, or a text pair (`text`, `text_pair`, segment ids 0 and 1), with special
    /// tokens, truncated longest-first to the window, unpadded (as `transformers` tokenizes
    /// text-classification inputs); `index` names the row in errors.
    pub fn encode_text(
        &self,
        index: usize,
        text: &str,
        text_pair: Option<&str>,
    ) -> Result<tokenizers::Encoding, DataError> {
        guarded(index, || match text_pair {
            Some(pair) => self.inner.encode_char_offsets((text, pair), true),
            None => self.inner.encode_char_offsets(text, true),
        })
    }

    /// Tokenizes pre-split words (one list of words per row), keeping which word each token
    /// came from, for word-level labels.
    pub fn encode_words_batch(&self, rows: &[Vec<String>]) -> Result<EncodedBatch, DataError> {
        let encodings = rows
            .iter()
            .enumerate()
            .map(|(index, words)| self.encode_words(index, words))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pad(encodings))
    }

    /// One row of pre-split words, with special tokens, unpadded; `index` names the row in
    /// errors. Truncated tokens are in the encoding's overflowing parts.
    pub(crate) fn encode_words(
        &self,
        index: usize,
        words: &[String],
    ) -> Result<tokenizers::Encoding, DataError> {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        guarded(index, || self.inner.encode_char_offsets(words, true))
    }

    fn pad(&self, encodings: Vec<tokenizers::Encoding>) -> EncodedBatch {
        let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut batch = EncodedBatch {
            input_ids: Vec::with_capacity(encodings.len()),
            attention_mask: Vec::with_capacity(encodings.len()),
            token_type_ids: Vec::with_capacity(encodings.len()),
            word_ids: Vec::with_capacity(encodings.len()),
            offsets: Vec::with_capacity(encodings.len()),
            truncated_rows: 0,
        };
        for encoding in encodings {
            if !encoding.get_overflowing().is_empty() {
                batch.truncated_rows += 1;
            }
            let n = encoding.len();
            let pad = longest - n;
            let mut ids = encoding.get_ids().to_vec();
            ids.extend(std::iter::repeat_n(self.pad_id, pad));
            let mut mask = encoding.get_attention_mask().to_vec();
            mask.extend(std::iter::repeat_n(0, pad));
            let mut types = encoding.get_type_ids().to_vec();
            types.extend(std::iter::repeat_n(0, pad));
            let mut words = encoding.get_word_ids().to_vec();
            words.extend(std::iter::repeat_n(None, pad));
            let mut offsets = encoding.get_offsets().to_vec();
            offsets.extend(std::iter::repeat_n((0, 0), pad));
            batch.input_ids.push(ids);
            batch.attention_mask.push(mask);
            batch.token_type_ids.push(types);
            batch.word_ids.push(words);
            batch.offsets.push(offsets);
        }
        batch
    }
}
