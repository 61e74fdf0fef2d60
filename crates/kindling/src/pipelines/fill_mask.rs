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
use kindling_body::{AnyBody, BodyInput};
use kindling_data::{Tokenizer, TokenizerConfig};
use kindling_heads::{AnyHead, AnyOutput, Model, Task};
use serde::Serialize;

use super::{LoadedCheckpoint, Pipeline, PipelineInput, PipelineOptions};
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
        Ok(Self {
            config,
            mask_token,
            mask_id,
            top_k: options.top_k.unwrap_or(DEFAULT_TOP_K).max(1),
            window,
            device: loaded.device,
            tokenizer: loaded.tokenizer,
            model: loaded.model,
        })
    }

    /// The mask token texts must contain (`[MASK]`, `<mask>`).
    pub fn mask_token(&self) -> &str {
        &self.mask_token
    }

    /// Candidates for the masks of one text.
    pub fn fill(&self, text: &str) -> Result<FillMaskOutput, KindlingError> {
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
        let row = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, n]), &self.device)
        };
        let types = encoding.get_type_ids().iter().map(|&t| t as i64).collect();
        let input = BodyInput::new(
            row(ids.iter().map(|&v| v as i64).collect()),
            Tensor::<2, Int>::ones([1, n], &self.device),
        )
        .with_token_type_ids(row(types));
        let AnyOutput::MaskedLm(out) = self.model.forward(input) else {
            unreachable!("checked at load")
        };
        let [_, _, vocab] = out.logits.dims();
        let probs: Vec<f32> = softmax(out.logits, 2)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| KindlingError::Input {
                source_name: "fill-mask".into(),
                field: "logits".into(),
                message: format!("{e:?}"),
            })?;
        let single = masks.len() == 1;
        let pad = self.tokenizer.pad_id();
        let mut per_mask = Vec::with_capacity(masks.len());
        for &position in &masks {
            let row = &probs[position * vocab..(position + 1) * vocab];
            let mut order: Vec<usize> = (0..vocab).collect();
            // Highest first; equal scores by id, as a stable sort leaves them.
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let mut candidates = Vec::with_capacity(self.top_k);
            for &token in order.iter().take(self.top_k) {
                let token = token as u32;
                let mut filled = ids.clone();
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

impl Pipeline for FillMaskPipeline {
    type Output = FillMaskOutput;

    fn task(&self) -> Task {
        Task::MaskedLm
    }

    fn run(&self, input: &PipelineInput) -> Result<FillMaskOutput, KindlingError> {
        let text = input.as_text().ok_or_else(|| KindlingError::Input {
            source_name: "fill-mask".into(),
            field: "inputs".into(),
            message: "takes one text per input".into(),
        })?;
        self.fill(text)
    }
}
