//! Plain text tokenized for masked-LM training, as `run_mlm.py` prepares it: grouped into
//! blocks of `block_size` tokens (`group_texts`), or one example per line (`--line_by_line`).

use kindling_data::{TextLine, Tokenizer};

use crate::error::TrainError;

/// `run_mlm.py` maps `group_texts` over batches of this many lines (`datasets`' default
/// `batch_size`), dropping each batch's remainder shorter than a block.
pub const GROUP_TEXTS_BATCH: usize = 1000;

/// One training sequence, special tokens included, not padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlmExample {
    /// Token ids.
    pub input_ids: Vec<u32>,
    /// Whether each token is a special token (never masked).
    pub special_tokens_mask: Vec<bool>,
    /// Character offsets of each token in its line (`(0, 0)` for special tokens), from which
    /// whole-word masking finds words, as `transformers` does from the offset mapping.
    pub offsets: Vec<(usize, usize)>,
}

impl MlmExample {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the example has no tokens.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// How text becomes training sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlmOptions {
    /// Tokens per sequence, special tokens included (`--max_seq_length`; callers cap it at the
    /// model's window).
    pub block_size: usize,
    /// One sequence per line, truncated to `block_size` (`--line_by_line`); otherwise every
    /// line is tokenized with its special tokens, concatenated and cut into blocks.
    pub line_by_line: bool,
}

/// Encoded masked-LM examples.
#[derive(Debug, Clone)]
pub struct MlmDataset {
    /// The sequences.
    pub examples: Vec<MlmExample>,
    /// The tokenizer's pad id (for batching line-by-line sequences).
    pub pad_id: u32,
}

fn encode(
    tokenizer: &tokenizers::Tokenizer,
    line: &TextLine,
    source: &str,
) -> Result<MlmExample, TrainError> {
    let encoding = tokenizer
        .encode_char_offsets(line.text.as_str(), true)
        .map_err(|e| TrainError::Data(format!("{source}:{}: cannot tokenize: {e}", line.line)))?;
    Ok(MlmExample {
        input_ids: encoding.get_ids().to_vec(),
        special_tokens_mask: encoding
            .get_special_tokens_mask()
            .iter()
            .map(|&m| m == 1)
            .collect(),
        offsets: encoding.get_offsets().to_vec(),
    })
}

impl MlmDataset {
    /// Tokenizes `lines` (read from `source`, named in errors) into sequences.
    ///
    /// Grouped (the default of `run_mlm.py`): each line is tokenized with its special tokens,
    /// every [`GROUP_TEXTS_BATCH`] lines are concatenated and cut into blocks of `block_size`,
    /// the remainder of each batch dropped. Line by line: each line is one sequence, truncated
    /// to `block_size`. No sequence at all (text shorter than one block) is an error.
    pub fn encode(
        tokenizer: &Tokenizer,
        lines: &[TextLine],
        options: MlmOptions,
        source: &str,
    ) -> Result<Self, TrainError> {
        if options.block_size < 2 {
            return Err(TrainError::Argument {
                field: "max_seq_length",
                value: options.block_size.to_string(),
                message: "must be at least 2",
            });
        }
        let truncate = options.line_by_line.then_some(options.block_size);
        let tokenizer = tokenizer.clone().with_max_length(truncate)?;
        let inner = tokenizer.inner();
        let mut examples = Vec::new();
        let mut total_tokens = 0usize;
        if options.line_by_line {
            for line in lines {
                examples.push(encode(inner, line, source)?);
            }
        } else {
            for chunk in lines.chunks(GROUP_TEXTS_BATCH) {
                let mut all = MlmExample {
                    input_ids: Vec::new(),
                    special_tokens_mask: Vec::new(),
                    offsets: Vec::new(),
                };
                for line in chunk {
                    let one = encode(inner, line, source)?;
                    all.input_ids.extend(one.input_ids);
                    all.special_tokens_mask.extend(one.special_tokens_mask);
                    all.offsets.extend(one.offsets);
                }
                total_tokens += all.len();
                let blocks = all.len() / options.block_size;
                for b in 0..blocks {
                    let range = b * options.block_size..(b + 1) * options.block_size;
                    examples.push(MlmExample {
                        input_ids: all.input_ids[range.clone()].to_vec(),
                        special_tokens_mask: all.special_tokens_mask[range.clone()].to_vec(),
                        offsets: all.offsets[range].to_vec(),
                    });
                }
            }
        }
        if examples.is_empty() {
            return Err(TrainError::Data(format!(
                "{source}: the text gives no training sequence: its {total_tokens} tokens are fewer than one block of {} (give a smaller max_seq_length, or line_by_line)",
                options.block_size
            )));
        }
        Ok(Self {
            examples,
            pad_id: tokenizer.pad_id(),
        })
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Token count of each sequence.
    pub fn lengths(&self) -> Vec<usize> {
        self.examples.iter().map(MlmExample::len).collect()
    }
}
