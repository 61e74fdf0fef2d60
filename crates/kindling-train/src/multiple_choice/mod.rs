//! Multiple choice (SWAG-style) as a training task, as `run_swag.py` does it: each context
//! paired with each ending ([`ChoiceDataset`]), batches `[batch, choices, seq]` flattened for
//! the body ([`ModelInput::multiple_choice`]), and evaluation of the loss and `accuracy`
//! ([`MultipleChoiceEvaluator`]).
//!
//! A job reads examples with [`kindling_data::read_multiple_choice`], encodes them with
//! [`ChoiceDataset::encode`] and hands [`MultipleChoiceData`] and [`MultipleChoiceEvaluator`]
//! to [`crate::train`] with a model whose head is the multiple-choice head
//! (`Task::MultipleChoice`).

mod data;
mod job;

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::AnyBody;
use kindling_heads::{AnyHead, AnyLabels, AnyOutput, Model, ModelInput};

pub use data::{ChoiceBatch, ChoiceDataset, EncodedChoice, EncodedQuestion};
pub use job::{eval_job, train_job};

use crate::error::TrainError;
use crate::trainer::{Evaluation, Evaluator, TrainingData};

/// Reads multiple-choice JSON lines ([`kindling_data::read_multiple_choice`]) and encodes them
/// ([`ChoiceDataset::encode`]) with pairs truncated to `max_length` tokens.
pub fn read_choice_file(
    path: &std::path::Path,
    tokenizer: &kindling_data::Tokenizer,
    max_length: usize,
) -> Result<ChoiceDataset, TrainError> {
    let examples = kindling_data::read_multiple_choice(path)?;
    ChoiceDataset::encode(tokenizer, &examples, max_length)
}

fn tensor3(rows: &[Vec<Vec<i64>>], device: &Device) -> Tensor<3, Int> {
    let b = rows.len();
    let c = rows.first().map_or(0, Vec::len);
    let s = rows.first().and_then(|r| r.first()).map_or(0, Vec::len);
    let flat: Vec<i64> = rows.iter().flatten().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [b, c, s]), device)
}

/// A padded batch as model input (flattened to `[batch * choices, seq]`, with the number of
/// choices) and choice labels.
pub fn batch_tensors(batch: &ChoiceBatch, device: &Device) -> (ModelInput, AnyLabels) {
    let input = ModelInput::multiple_choice(
        tensor3(&batch.input_ids, device),
        tensor3(&batch.attention_mask, device),
        Some(tensor3(&batch.token_type_ids, device)),
    );
    let labels = Tensor::from_data(
        TensorData::new(batch.labels.clone(), [batch.labels.len()]),
        device,
    );
    (input, AnyLabels::Choice(labels))
}

/// Encoded multiple-choice questions as training data.
pub struct MultipleChoiceData<'a> {
    /// The questions.
    pub data: &'a ChoiceDataset,
}

impl TrainingData for MultipleChoiceData<'_> {
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
        Ok(batch_tensors(&self.data.batch(indices)?, device))
    }
}

/// The predicted choice of every question, with the mean loss.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoicePredictions {
    /// The best-scoring choice per question, in data order.
    pub predicted: Vec<usize>,
    /// The gold choice per question (-100 when unlabelled).
    pub gold: Vec<i64>,
    /// Mean loss per labelled question (each batch's mean weighted by its rows, as
    /// `transformers`' `Trainer` averages `eval_loss`).
    pub loss: f64,
}

impl ChoicePredictions {
    /// The fraction of labelled questions whose best choice is the gold one (NaN with none).
    pub fn accuracy(&self) -> f64 {
        let labelled: Vec<(usize, i64)> = self
            .predicted
            .iter()
            .copied()
            .zip(self.gold.iter().copied())
            .filter(|(_, g)| *g >= 0)
            .collect();
        if labelled.is_empty() {
            return f64::NAN;
        }
        labelled.iter().filter(|(p, g)| *p as i64 == *g).count() as f64 / labelled.len() as f64
    }
}

/// Runs `model` over `data` in batches of `batch_size`.
pub fn predict_choices(
    model: &Model<AnyBody, AnyHead>,
    data: &ChoiceDataset,
    batch_size: usize,
    device: &Device,
) -> Result<ChoicePredictions, TrainError> {
    let mut predicted = Vec::with_capacity(data.len());
    let mut gold = Vec::with_capacity(data.len());
    let (mut sum, mut rows) = (0.0, 0usize);
    for indices in kindling_data::batch_order(data.len(), batch_size.max(1), None, None)? {
        let batch = data.batch(&indices)?;
        let labelled = batch.labels.iter().filter(|&&l| l >= 0).count();
        let (input, labels) = batch_tensors(&batch, device);
        let (output, loss) = model.forward_with_labels(input, labels)?;
        let AnyOutput::MultipleChoice(output) = output else {
            return Err(TrainError::Data(
                "the model has no multiple-choice head".into(),
            ));
        };
        let value = loss.into_scalar::<f64>();
        if labelled > 0 && value.is_finite() {
            sum += value * labelled as f64;
            rows += labelled;
        }
        let best: Vec<i64> = output
            .logits
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| TrainError::Data(format!("reading predictions: {e:?}")))?;
        predicted.extend(best.iter().map(|&b| b.max(0) as usize));
        gold.extend(batch.labels.iter().copied());
    }
    Ok(ChoicePredictions {
        predicted,
        gold,
        loss: if rows > 0 {
            sum / rows as f64
        } else {
            f64::NAN
        },
    })
}

/// Loss and accuracy of a multiple-choice model.
pub struct MultipleChoiceEvaluator<'a> {
    /// The evaluation questions.
    pub data: &'a ChoiceDataset,
    /// Questions per batch.
    pub batch_size: usize,
}

impl MultipleChoiceEvaluator<'_> {
    /// The mean loss and the metrics `run_swag.py` reports: `accuracy`.
    pub fn metrics(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<(f64, BTreeMap<String, f64>), TrainError> {
        let predictions = predict_choices(model, self.data, self.batch_size, device)?;
        let mut metrics = BTreeMap::new();
        metrics.insert("accuracy".to_string(), predictions.accuracy());
        Ok((predictions.loss, metrics))
    }
}

impl Evaluator<AnyHead> for MultipleChoiceEvaluator<'_> {
    fn evaluate(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<Evaluation, TrainError> {
        let (loss, metrics) = self.metrics(model, device)?;
        Ok(Evaluation { loss, metrics })
    }
}
