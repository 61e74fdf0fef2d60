//! Filling masked tokens, like the `transformers` 5 fill-mask pipeline: the text is tokenized
//! whole (no truncation), the masked-LM head's logits at each mask position are turned into
//! probabilities over the vocabulary (softmax), and the `top_k` best tokens are returned as
//! `{score, token, token_str, sequence}`; `sequence` is the input with that token in place of
//! the mask, decoded by the tokenizer (special tokens skipped when there is one mask, kept when
//! there are several, so the other masks stay visible), and `token_str` the token decoded
//! alone. One mask gives a list of candidates; several give one list per mask, in text order.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::softmax;
use kindling_body::{AnyBody, Body};
use kindling_data::{Tokenizer, TokenizerConfig};
use kindling_heads::{AnyHead, AnyOutput, Model, Task};
use serde::Serialize;

use super::{
    EncodedRow, LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions, padded_input,
    read_values,
};
use crate::error::KindlingError;

/// `transformers`' default number of candidates.
pub const DEFAULT_TOP_K: usize = 5;

/// One candidate for a mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillMaskCandidate {
    /// Its probability at the mask position.
    pub score: f32,
    /// Its token id.
    pub token: u32,
    /// The token decoded alone.
    pub token_str: String,
    /// The input with the token in place of the mask, decoded.
    pub sequence: String,
}

/// What one input gives: candidates for its one mask, or for each of its masks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FillMaskOutput {
    /// The text has one mask.
    Single(Vec<FillMaskCandidate>),
    /// The text has several masks: one list per mask, in text order.
    PerMask(Vec<Vec<FillMaskCandidate>>),
}

/// A masked-LM checkpoint ready to fill masks.
pub struct FillMaskPipeline {
    model: Model<AnyBody, AnyHead>,
    tokenizer: Tokenizer,
    config: TokenizerConfig,
    mask_token: String,
    mask_id: u32,
    top_k: usize,
    window: usize,
    device: Device,
}

impl FillMaskPipeline {
    /// The pipeline over a loaded checkpoint, which must have a masked-LM head and a tokenizer
    /// with a mask token; `options.top_k` candidates per mask (5 when `None`).
    pub fn from_loaded(
        loaded: LoadedCheckpoint,
        options: &PipelineOptions,
    ) -> Result<Self, KindlingError> {
        if !matches!(loaded.model.head, AnyHead::MaskedLm(_)) {
            return Err(loaded.wrong_head("fill-mask needs a masked-LM head"));
        }
        let config = TokenizerConfig::for_tokenizer(&loaded.tokenizer)?;
        let (mask_token, mask_id) =
            loaded
                .tokenizer
                .mask_token(&config)
                .ok_or_else(|| KindlingError::File {
                    path: loaded.tokenizer.path().to_path_buf(),
                    message: "the tokenizer does not define a mask token (`mask_token` in tokenizer_config.json, or `[MASK]` / `<mask>` in the vocabulary)".into(),
                })?;
        let window = options
            .max_seq_len
            .unwrap_or(usize::MAX)
            .min(loaded.window());
        let tokenizer = if options.truncation {
            loaded.tokenizer.clone().with_max_length(Some(window))?
        } else {
            loaded.tokenizer.clone()
        };
        Ok(Self {
            config,
            mask_token,
            mask_id,
            top_k: options.top_k.unwrap_or(DEFAULT_TOP_K).max(1),
            window,
            device: loaded.device,
            tokenizer,
            model: loaded.model,
        })
    }

    /// The mask token texts must contain (`[MASK]`, `<mask>`).
    pub fn mask_token(&self) -> &str {
        &self.mask_token
    }

    /// Candidates for the masks of one text.
    pub fn fill(&self, text: &str) -> Result<FillMaskOutput, KindlingError> {
        self.run(&PipelineInput::Text(text.to_string()))
    }

    /// Tokenizes one text and finds its masks.
    fn masked(&self, text: &str) -> Result<MaskedText, KindlingError> {
        let encoding = self
            .tokenizer
            .inner()
            .encode_char_offsets(text, true)
            .map_err(|e| kindling_data::DataError::Encode {
                index: 0,
                message: e.to_string(),
            })?;
        let ids = encoding.get_ids().to_vec();
        let masks: Vec<usize> = ids
            .iter()
            .enumerate()
            .filter(|(_, id)| **id == self.mask_id)
            .map(|(i, _)| i)
            .collect();
        if masks.is_empty() {
            return Err(KindlingError::Input {
                source_name: "fill-mask".into(),
                field: "inputs".into(),
                message: format!(
                    "No mask_token ({}) found on the input: {text:?}",
                    self.mask_token
                ),
            });
        }
        let n = ids.len();
        if n > self.window {
            return Err(KindlingError::Input {
                source_name: "fill-mask".into(),
                field: "inputs".into(),
                message: format!(
                    "the text is {n} tokens long; the model takes at most {}",
                    self.window
                ),
            });
        }
        Ok(MaskedText {
            row: [EncodedRow::from_encoding(&encoding)],
            ids,
            masks,
        })
    }

    /// The top-k candidates at each mask from the masks' probabilities.
    fn candidates(
        &self,
        masked: &MaskedText,
        probs: &[Vec<f32>],
    ) -> Result<FillMaskOutput, KindlingError> {
        let single = masked.masks.len() == 1;
        let pad = self.tokenizer.pad_id();
        let mut per_mask = Vec::with_capacity(masked.masks.len());
        for (&position, row) in masked.masks.iter().zip(probs) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            // Highest first; equal scores by id, as a stable sort leaves them.
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let mut candidates = Vec::with_capacity(self.top_k);
            for &token in order.iter().take(self.top_k) {
                let token = token as u32;
                let mut filled = masked.ids.clone();
                filled[position] = token;
                filled.retain(|&t| t != pad);
                candidates.push(FillMaskCandidate {
                    score: row[token as usize],
                    token,
                    token_str: self.tokenizer.decode(&[token], false, &self.config)?,
                    sequence: self.tokenizer.decode(&filled, single, &self.config)?,
                });
            }
            per_mask.push(candidates);
        }
        Ok(if single {
            FillMaskOutput::Single(per_mask.remove(0))
        } else {
            FillMaskOutput::PerMask(per_mask)
        })
    }
}

/// A tokenized text with its mask positions.
pub struct MaskedText {
    row: [EncodedRow; 1],
    ids: Vec<u32>,
    masks: Vec<usize>,
}

impl Pipeline for FillMaskPipeline {
    type Output = FillMaskOutput;

    fn task(&self) -> Task {
        Task::MaskedLm
    }

    type Prepared = MaskedText;
    /// The vocabulary probabilities at each mask of the row.
    type RowOutput = Vec<Vec<f32>>;

    fn prepare(&self, input: &PipelineInput) -> Result<MaskedText, KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "fill-mask".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.masked(text)
    }

    fn rows<'a>(&self, prepared: &'a MaskedText) -> &'a [EncodedRow] {
        &prepared.row
    }

    fn max_padded_length(&self) -> usize {
        self.model.body.max_sequence_length()
    }

    fn forward(&self, rows: &[&EncodedRow]) -> Result<Vec<Vec<Vec<f32>>>, KindlingError> {
        let (input, padded) = padded_input(
            rows,
            self.tokenizer.pad_id().into(),
            self.max_padded_length(),
            &self.device,
        );
        let AnyOutput::MaskedLm(out) = self.model.forward(input) else {
            unreachable!("checked at load")
        };
        let [batch, _, vocab] = out.logits.dims();
        // Only the masks' rows of the vocabulary logits leave the device.
        let positions: Vec<i64> = rows
            .iter()
            .enumerate()
            .flat_map(|(r, row)| {
                let mask = i64::from(self.mask_id);
                row.ids
                    .iter()
                    .enumerate()
                    .filter(move |(_, id)| **id == mask)
                    .map(move |(t, _)| (r * padded + t) as i64)
            })
            .collect();
        let count = positions.len();
        let flat = out.logits.reshape([batch * padded, vocab]);
        let index = Tensor::<1, Int>::from_data(TensorData::new(positions, [count]), &self.device);
        let probs = read_values(softmax(flat.select(0, index), 1), "fill-mask", "logits")?;
        let mut per_mask = probs.chunks(vocab.max(1)).map(<[f32]>::to_vec);
        Ok(rows
            .iter()
            .map(|row| {
                let masks = row.ids.iter().filter(|&&id| id == i64::from(self.mask_id));
                masks.filter_map(|_| per_mask.next()).collect()
            })
            .collect())
    }

    fn finish(
        &self,
        prepared: MaskedText,
        outputs: Vec<Vec<Vec<f32>>>,
    ) -> Result<FillMaskOutput, KindlingError> {
        let probs = outputs.into_iter().next().unwrap_or_default();
        self.candidates(&prepared, &probs)
    }
}
