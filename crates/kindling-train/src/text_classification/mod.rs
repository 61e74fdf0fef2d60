//! Text classification (`text-classification`) as a training task: single-label, multi-label
//! and regression, as `transformers`' `run_classification.py` trains them.
//!
//! - [`read_split`]: a CSV / TSV / JSON-lines file read with the task's columns;
//! - [`TextLabelScheme::infer`](kindling_data::TextLabelScheme::infer) on the training split
//!   picks the label kind and the class names (the checkpoint's when it has real ones);
//! - [`TextClassificationDataset::encode`]: each text (or text pair) tokenized once, truncated
//!   to `max_length`, with its label encoded for the loss (`problem_type`);
//! - [`TextClassificationData`]: the [`TrainingData`] the trainer takes (batches padded to
//!   their longest row, `DataCollatorWithPadding`);
//! - [`TextClassificationEvaluator`] and [`evaluate_text_classification`]: the loss and the
//!   metrics of [`metrics`] (accuracy, F1, MCC; Pearson, Spearman, MSE for regression);
//! - [`train_job`] and [`eval_job`]: the `train --task text-classification` and `eval` jobs.

pub mod evaluator;
mod job;
pub mod metrics;

use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::{AnyBody, BodyInput, HfConfig, ProblemType};
use kindling_data::{
    EncodedLabel, TableColumns, TextClassificationExample, TextLabelKind, TextLabelScheme,
    Tokenizer, read_text_classification,
};
use kindling_heads::{AnyHead, AnyLabels, Model, ModelInput, SequenceLabels, Task};

use crate::error::TrainError;
use crate::trainer::TrainingData;

pub use evaluator::{
    TextClassificationEvaluator, TextClassificationReport, TextPredictions,
    evaluate_text_classification, predict_texts, selection_metric,
};
pub use job::{TextEval, eval_job, train_job};
pub use metrics::Metrics;

/// Reads one split of a text-classification data set (CSV / TSV with a header, or JSON lines,
/// by extension) with the task's column names.
pub fn read_split(
    path: impl AsRef<Path>,
    columns: &TableColumns,
) -> Result<Vec<TextClassificationExample>, TrainError> {
    Ok(read_text_classification(path, columns)?)
}

/// The data's label kind as a `transformers` problem type.
pub fn problem_type(kind: TextLabelKind) -> ProblemType {
    match kind {
        TextLabelKind::SingleLabel => ProblemType::SingleLabelClassification,
        TextLabelKind::MultiLabel => ProblemType::MultiLabelClassification,
        TextLabelKind::Regression => ProblemType::Regression,
    }
}

/// The label kind a `transformers` problem type names.
pub fn label_kind(problem_type: ProblemType) -> TextLabelKind {
    match problem_type {
        ProblemType::SingleLabelClassification => TextLabelKind::SingleLabel,
        ProblemType::MultiLabelClassification => TextLabelKind::MultiLabel,
        ProblemType::Regression => TextLabelKind::Regression,
    }
}

/// The label scheme of a training split for a checkpoint: the checkpoint's `problem_type`
/// and label names count only when it is a sequence classifier (a token classifier's tags or
/// a body's placeholders say nothing about these labels).
pub fn scheme_for_checkpoint(
    config: &HfConfig,
    train: &[TextClassificationExample],
) -> Result<TextLabelScheme, TrainError> {
    let own = Task::from_architectures(config.common.architectures.as_deref())
        .is_ok_and(|t| t == Task::SequenceClassification);
    let known = own.then(|| config.labels()).flatten();
    let kind = own
        .then_some(config.common.problem_type)
        .flatten()
        .map(label_kind);
    Ok(TextLabelScheme::infer(train, kind, known.as_deref())?)
}

/// Sets the sequence-classification head's `problem_type` to the scheme's kind, so its loss
/// is the one the labels need whatever the checkpoint said (a regression with several outputs
/// is not mistaken for multi-label); errors when the model has another head.
pub fn set_problem_type(
    model: &mut Model<AnyBody, AnyHead>,
    scheme: &TextLabelScheme,
) -> Result<(), TrainError> {
    match &mut model.head {
        AnyHead::SequenceClassification(head) => {
            head.problem_type = Some(problem_type(scheme.kind));
            Ok(())
        }
        other => Err(TrainError::Data(format!(
            "text classification needs a sequence-classification head, not {:?}",
            other.task()
        ))),
    }
}

/// One text (or pair), tokenized, with its encoded label.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedText {
    /// Token ids, special tokens included.
    pub input_ids: Vec<i64>,
    /// Segment ids (1 on the second text of a pair).
    pub token_type_ids: Vec<i64>,
    /// The label for the loss.
    pub label: EncodedLabel,
}

/// Encoded text-classification examples and their label scheme.
#[derive(Debug, Clone)]
pub struct TextClassificationDataset {
    /// The examples, in file order.
    pub examples: Vec<EncodedText>,
    /// The label kind and class names.
    pub scheme: TextLabelScheme,
    /// The padding id.
    pub pad_id: i64,
    /// How many examples were cut to `max_length`.
    pub truncated: usize,
}

/// A padded batch: model input and the labels of its loss.
#[derive(Debug, Clone, PartialEq)]
pub struct TextClassificationBatch {
    /// Token ids `[batch][seq]`, padded with the pad id.
    pub input_ids: Vec<Vec<i64>>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<Vec<i64>>,
    /// Segment ids, 0 on padding.
    pub token_type_ids: Vec<Vec<i64>>,
    /// The labels, one per row.
    pub labels: Vec<EncodedLabel>,
}

fn int_tensor(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows.first().map_or(0, Vec::len));
    Tensor::from_data(TensorData::new(rows.concat(), [b, s]), device)
}

impl TextClassificationBatch {
    /// The batch as model input and sequence labels on `device`: class ids for single-label
    /// data, `[batch, num_labels]` floats for multi-label and regression.
    pub fn tensors(
        &self,
        num_labels: usize,
        device: &Device,
    ) -> Result<(ModelInput, AnyLabels), TrainError> {
        let input = BodyInput::new(
            int_tensor(&self.input_ids, device),
            int_tensor(&self.attention_mask, device),
        )
        .with_token_type_ids(int_tensor(&self.token_type_ids, device));
        let rows = self.labels.len();
        let labels = match self.labels.first() {
            Some(EncodedLabel::Class(_)) => {
                let ids = self
                    .labels
                    .iter()
                    .map(|l| match l {
                        EncodedLabel::Class(id) => Ok(*id),
                        _ => Err(TrainError::Data("a batch mixes label kinds".into())),
                    })
                    .collect::<Result<Vec<i64>, _>>()?;
                SequenceLabels::Classes(Tensor::from_data(TensorData::new(ids, [rows]), device))
            }
            _ => {
                let mut values = Vec::with_capacity(rows * num_labels);
                for label in &self.labels {
                    match label {
                        EncodedLabel::MultiHot(v) | EncodedLabel::Values(v)
                            if v.len() == num_labels =>
                        {
                            values.extend_from_slice(v)
                        }
                        _ => {
                            return Err(TrainError::Data(format!(
                                "a batch label does not have {num_labels} values"
                            )));
                        }
                    }
                }
                SequenceLabels::Values(Tensor::from_data(
                    TensorData::new(values, [rows, num_labels]),
                    device,
                ))
            }
        };
        Ok((input.into(), AnyLabels::Sequence(labels)))
    }
}

impl TextClassificationDataset {
    /// Tokenizes every example (text, or text and `text_pair`) with `tokenizer`, truncating to
    /// `max_length` tokens (special tokens included; longest first for pairs), and encodes its
    /// label with `scheme`. A label that does not fit is an error naming its file, line and
    /// column.
    pub fn encode(
        examples: &[TextClassificationExample],
        scheme: &TextLabelScheme,
        tokenizer: &Tokenizer,
        max_length: usize,
    ) -> Result<Self, TrainError> {
        let tokenizer = tokenizer.clone().with_max_length(Some(max_length.max(2)))?;
        let mut encoded = Vec::with_capacity(examples.len());
        let mut truncated = 0;
        for (index, example) in examples.iter().enumerate() {
            let label = scheme.encode(example, index)?;
            let encoding =
                tokenizer.encode_text(index, &example.text, example.text_pair.as_deref())?;
            if !encoding.get_overflowing().is_empty() {
                truncated += 1;
            }
            encoded.push(EncodedText {
                input_ids: encoding.get_ids().iter().map(|&v| i64::from(v)).collect(),
                token_type_ids: encoding
                    .get_type_ids()
                    .iter()
                    .map(|&v| i64::from(v))
                    .collect(),
                label,
            });
        }
        Ok(Self {
            examples: encoded,
            scheme: scheme.clone(),
            pad_id: i64::from(tokenizer.pad_id()),
            truncated,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Token count of each example.
    pub fn lengths(&self) -> Vec<usize> {
        self.examples.iter().map(|e| e.input_ids.len()).collect()
    }

    /// The examples at `indices`, padded on the right to the longest.
    pub fn batch(&self, indices: &[usize]) -> Result<TextClassificationBatch, TrainError> {
        let rows = indices
            .iter()
            .map(|&i| {
                self.examples
                    .get(i)
                    .ok_or(kindling_data::DataError::ExampleIndex {
                        index: i,
                        len: self.examples.len(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let longest = rows.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
        let mut batch = TextClassificationBatch {
            input_ids: Vec::with_capacity(rows.len()),
            attention_mask: Vec::with_capacity(rows.len()),
            token_type_ids: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            let n = row.input_ids.len();
            let pad = longest - n;
            let mut ids = row.input_ids.clone();
            ids.extend(std::iter::repeat_n(self.pad_id, pad));
            let mut mask = vec![1i64; n];
            mask.extend(std::iter::repeat_n(0, pad));
            let mut types = row.token_type_ids.clone();
            types.extend(std::iter::repeat_n(0, pad));
            batch.input_ids.push(ids);
            batch.attention_mask.push(mask);
            batch.token_type_ids.push(types);
            batch.labels.push(row.label.clone());
        }
        Ok(batch)
    }
}

/// Encoded text-classification examples as training data for a sequence-classification model.
pub struct TextClassificationData<'a> {
    /// The encoded examples.
    pub data: &'a TextClassificationDataset,
}

impl TrainingData for TextClassificationData<'_> {
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
        self.data
            .batch(indices)?
            .tensors(self.data.scheme.num_labels(), device)
    }
}
