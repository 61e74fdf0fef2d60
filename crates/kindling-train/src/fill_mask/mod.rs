//! Masked-LM domain adaptation (`fill-mask`) as a training task, as `run_mlm.py` does it:
//! plain text tokenized and grouped into blocks ([`MlmDataset`]), dynamic masking per batch
//! ([`MaskingCollator`]: 15%, 80/10/10, optional whole-word masking), and evaluation of the
//! loss and perplexity = exp(loss) on a fixed-seed masking of the evaluation set
//! ([`FillMaskEvaluator`]).
//!
//! A job reads text with [`kindling_data::read_text_lines`], encodes it with
//! [`MlmDataset::encode`], builds a [`MaskingCollator`] from the checkpoint's tokenizer, and
//! hands [`FillMaskData`] and [`FillMaskEvaluator`] to [`crate::train`] with a model whose head
//! is the masked-LM head (`Task::MaskedLm`).

mod collator;
mod data;
mod job;

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use kindling_body::{AnyBody, BodyInput};
use kindling_heads::{AnyHead, AnyLabels, Model, ModelInput};

pub use collator::{MaskedBatch, MaskingCollator};
pub use data::{GROUP_TEXTS_BATCH, MlmDataset, MlmExample, MlmOptions};
pub use job::{collator, eval_job, train_job};

use crate::error::TrainError;
use crate::trainer::{Evaluation, Evaluator, TrainingData};

/// Reads a plain-text file ([`kindling_data::read_text_lines`]) and encodes it
/// ([`MlmDataset::encode`]); errors name the file (and line).
pub fn read_mlm_file(
    path: &std::path::Path,
    tokenizer: &kindling_data::Tokenizer,
    options: MlmOptions,
) -> Result<MlmDataset, TrainError> {
    let lines = kindling_data::read_text_lines(path)?;
    MlmDataset::encode(tokenizer, &lines, options, &path.display().to_string())
}

/// The seed the evaluation set is masked with (`run_mlm.py` masks it once per evaluation with
/// the trainer's seed; a fixed masking makes evaluations comparable).
pub const EVAL_MASK_SEED: u64 = 42;

fn tensor(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows.first().map_or(0, Vec::len));
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [b, s]), device)
}

/// A masked batch as model input and masked-LM labels.
pub fn batch_tensors(batch: &MaskedBatch, device: &Device) -> (ModelInput, AnyLabels) {
    let input = BodyInput::new(
        tensor(&batch.input_ids, device),
        tensor(&batch.attention_mask, device),
    );
    (
        input.into(),
        AnyLabels::Tokens(tensor(&batch.labels, device)),
    )
}

/// A 64-bit seed drawn from the device's generator, which the trainer seeds per step: masks
/// are then a function of the run's seed and the step (a resumed run masks as an uninterrupted
/// one), and differ at every step (dynamic masking).
fn device_seed(device: &Device) -> Result<u64, TrainError> {
    let draws: Vec<f32> = Tensor::<1>::random([4], Distribution::Uniform(0.0, 1.0), device)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Data(format!("reading the masking seed: {e:?}")))?;
    Ok(draws.iter().fold(0x9E37_79B9_7F4A_7C15u64, |acc, &x| {
        let bits = (f64::from(x) * f64::from(1u32 << 24)) as u64;
        (acc ^ bits)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            .rotate_left(23)
    }))
}

/// Masked-LM training data: sequences masked afresh for every batch.
pub struct FillMaskData<'a> {
    /// The sequences.
    pub data: &'a MlmDataset,
    /// The masking.
    pub collator: &'a MaskingCollator,
}

impl TrainingData for FillMaskData<'_> {
    type Labels = AnyLabels;

    fn len(&self) -> usize {
        self.data.len()
    }

    fn lengths(&self) -> Vec<usize> {
        self.data.lengths()
    }

    fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<(ModelInput, AnyLabels), TrainError> {
        let rows = rows(self.data, indices)?;
        let batch = self.collator.collate(&rows, device_seed(device)?);
        Ok(batch_tensors(&batch, device))
    }
}

fn rows<'a>(data: &'a MlmDataset, indices: &[usize]) -> Result<Vec<&'a MlmExample>, TrainError> {
    indices
        .iter()
        .map(|&i| {
            data.examples.get(i).ok_or_else(|| {
                TrainError::Input(kindling_data::DataError::ExampleIndex {
                    index: i,
                    len: data.len(),
                })
            })
        })
        .collect()
}

/// Loss and perplexity on a fixed masking of the evaluation sequences.
pub struct FillMaskEvaluator {
    batches: Vec<MaskedBatch>,
}

impl FillMaskEvaluator {
    /// Masks `data` once, in batches of `batch_size` in order, batch `b` with seed
    /// `seed + b`.
    pub fn new(
        data: &MlmDataset,
        collator: &MaskingCollator,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, TrainError> {
        let order = kindling_data::batch_order(data.len(), batch_size.max(1), None, None)?;
        let batches = order
            .iter()
            .enumerate()
            .map(|(b, indices)| {
                rows(data, indices).map(|rows| collator.collate(&rows, seed.wrapping_add(b as u64)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { batches })
    }

    /// The masked batches.
    pub fn batches(&self) -> &[MaskedBatch] {
        &self.batches
    }

    /// The mean loss per sequence (each batch's mean weighted by its rows, as `transformers`'
    /// `Trainer` averages `eval_loss`; batches without a masked token are skipped) and the
    /// metrics `run_mlm.py` reports: `perplexity` = exp(loss).
    pub fn metrics(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<(f64, BTreeMap<String, f64>), TrainError> {
        let mut sum = 0.0;
        let mut rows = 0usize;
        for batch in &self.batches {
            if batch.labels.iter().flatten().all(|&l| l < 0) {
                continue;
            }
            let (input, labels) = batch_tensors(batch, device);
            let (_, loss) = model.forward_with_labels(input, labels)?;
            let value = loss.into_scalar::<f64>();
            if value.is_finite() {
                sum += value * batch.len() as f64;
                rows += batch.len();
            }
        }
        let loss = if rows > 0 {
            sum / rows as f64
        } else {
            f64::NAN
        };
        let mut metrics = BTreeMap::new();
        metrics.insert("perplexity".to_string(), loss.exp());
        Ok((loss, metrics))
    }
}

impl Evaluator<AnyHead> for FillMaskEvaluator {
    fn evaluate(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<Evaluation, TrainError> {
        let (loss, metrics) = self.metrics(model, device)?;
        Ok(Evaluation { loss, metrics })
    }
}

#[cfg(test)]
mod tests;
