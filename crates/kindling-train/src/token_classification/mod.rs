//! Token classification (NER) as a training task: batches of aligned sub-word labels, and
//! evaluation with seqeval-exact entity metrics on the labelled (first) sub-word of each word,
//! as `transformers`' `run_ner.py` computes them.

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::{AnyBody, BodyInput};
use kindling_data::{EncodedDataset, LabelSet, TokenClassificationBatch, batch_order};
use kindling_heads::{AnyHead, AnyLabels, AnyOutput, Model, ModelInput};

use crate::error::TrainError;
use crate::metrics::{EntityReport, evaluate};
use crate::trainer::{Evaluation, Evaluator, TrainingData};

fn tensor(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows.first().map_or(0, Vec::len));
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [b, s]), device)
}

/// A padded batch as model input and token labels.
pub fn batch_tensors(
    batch: &TokenClassificationBatch,
    device: &Device,
) -> (ModelInput, Tensor<2, Int>) {
    let input = BodyInput::new(
        tensor(&batch.input_ids, device),
        tensor(&batch.attention_mask, device),
    )
    .with_token_type_ids(tensor(&batch.token_type_ids, device));
    (input.into(), tensor(&batch.labels, device))
}

/// Encoded NER examples as training data for a token-classification model.
pub struct TokenClassificationData<'a> {
    /// The encoded examples.
    pub data: &'a EncodedDataset,
}

impl TrainingData for TokenClassificationData<'_> {
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
        let batch = self.data.batch(indices)?;
        let (input, labels) = batch_tensors(&batch, device);
        Ok((input, AnyLabels::Tokens(labels)))
    }
}

/// Gold and predicted tags per example, at the labelled sub-words, with the mean loss.
#[derive(Debug, Clone)]
pub struct TagPredictions {
    /// Gold tags, one list per example.
    pub gold: Vec<Vec<String>>,
    /// Predicted tags, aligned with `gold`.
    pub predicted: Vec<Vec<String>>,
    /// Mean loss over batches.
    pub loss: f64,
    /// Predicted tag of each word of each example, by word index (`None` for words the
    /// window cut or that have no token).
    pub words: Vec<Vec<Option<String>>>,
}

/// Runs `model` over `data` and reads off tags at every labelled position.
pub fn predict_tags(
    model: &Model<AnyBody, AnyHead>,
    data: &EncodedDataset,
    labels: &LabelSet,
    batch_size: usize,
    device: &Device,
) -> Result<TagPredictions, TrainError> {
    let mut gold = vec![Vec::new(); data.len()];
    let mut predicted = vec![Vec::new(); data.len()];
    let mut words: Vec<Vec<Option<String>>> = vec![Vec::new(); data.len()];
    let mut loss_sum = 0.0;
    let mut batches = 0usize;
    for indices in batch_order(data.len(), batch_size.max(1), None, None)? {
        let batch = data.batch(&indices)?;
        let (input, label_tensor) = batch_tensors(&batch, device);
        let (output, loss) = model.forward_with_labels(input, AnyLabels::Tokens(label_tensor))?;
        let value = loss.into_scalar::<f64>();
        if value.is_finite() {
            loss_sum += value;
            batches += 1;
        }
        let AnyOutput::TokenClassification(output) = output else {
            return Err(TrainError::Data(
                "the model is not a token classifier".into(),
            ));
        };
        let [rows, seq, _] = output.logits.dims();
        let best: Vec<i64> = output
            .logits
            .argmax(2)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| TrainError::Data(format!("reading predictions: {e:?}")))?;
        for (row, &example) in batch.example_indices.iter().enumerate().take(rows) {
            for (pos, &label) in batch.labels[row].iter().enumerate().take(seq) {
                if label < 0 {
                    continue;
                }
                let name = |id: i64| labels.label(id).unwrap_or("O").to_string();
                let tag = name(best[row * seq + pos]);
                gold[example].push(name(label));
                predicted[example].push(tag.clone());
                if let Some(Some(word)) = batch.word_ids[row].get(pos) {
                    let word = *word as usize;
                    let slots = &mut words[example];
                    if slots.len() <= word {
                        slots.resize(word + 1, None);
                    }
                    // The first labelled sub-word speaks for the word.
                    if slots[word].is_none() {
                        slots[word] = Some(tag);
                    }
                }
            }
        }
    }
    Ok(TagPredictions {
        gold,
        predicted,
        words,
        loss: if batches > 0 {
            loss_sum / batches as f64
        } else {
            f64::NAN
        },
    })
}

impl TagPredictions {
    /// Entity-level scores (seqeval's default mode).
    pub fn report(&self) -> Result<EntityReport, TrainError> {
        evaluate(&self.gold, &self.predicted)
    }
}

/// Evaluates a token classifier on encoded examples with seqeval-exact entity F1.
pub struct TokenClassificationEvaluator<'a> {
    /// The evaluation examples.
    pub data: &'a EncodedDataset,
    /// Tag names.
    pub labels: &'a LabelSet,
    /// Examples per batch.
    pub batch_size: usize,
}

impl Evaluator<AnyHead> for TokenClassificationEvaluator<'_> {
    fn evaluate(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<Evaluation, TrainError> {
        let predictions = predict_tags(model, self.data, self.labels, self.batch_size, device)?;
        let report = predictions.report()?;
        Ok(Evaluation {
            loss: predictions.loss,
            metrics: [
                ("precision", report.micro.precision),
                ("recall", report.micro.recall),
                ("f1", report.micro.f1),
                (
                    "accuracy",
                    crate::metrics::token_accuracy(&predictions.gold, &predictions.predicted)?,
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        })
    }
}

mod job;

pub use job::{eval_job, evaluate_by_language, label_set, train_job};
