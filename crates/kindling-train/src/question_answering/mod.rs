//! Extractive question answering (SQuAD v1.1 / v2.0) as a training task, as `run_qa.py` does
//! it: questions read with [`kindling_data::read_squad`], cut into overlapping windows over
//! their contexts ([`Windowing`]), trained on the span of each window's answer (the classifier
//! token where the window does not hold it), and evaluated by picking one answer per question
//! from all its windows ([`postprocess_predictions`]) and scoring it with the official SQuAD
//! metrics ([`squad_v1`], [`squad_v2`]).

mod features;
mod job;
mod metrics;
mod postprocess;

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::{AnyBody, BodyInput};
use kindling_data::QaExample;
use kindling_heads::{AnyHead, AnyLabels, AnyOutput, Model, ModelInput, SpanLabels};

pub use features::{QaFeature, Windowing};
pub use job::{eval_job, train_job};
pub use metrics::{exact_match, f1_v1, f1_v2, normalize_answer, squad_v1, squad_v2};
pub use postprocess::{Candidate, PostProcessOptions, QaPrediction, postprocess_predictions};

use crate::error::TrainError;
use crate::trainer::{Evaluation, Evaluator, TrainingData};

/// The longest window `run_qa.py` uses by default (`max_seq_length`), special tokens included.
pub const DEFAULT_MAX_LENGTH: usize = 384;

/// Questions cut into windows, each with its span target.
#[derive(Debug, Clone)]
pub struct QaDataset {
    /// The questions.
    pub examples: Vec<QaExample>,
    /// Their windows, in question order.
    pub features: Vec<QaFeature>,
    /// The (start, end) token target of every window.
    pub positions: Vec<(usize, usize)>,
    /// The id batches are padded with.
    pub pad_id: u32,
}

impl QaDataset {
    /// Windows `examples` and computes every window's target from the question's first answer.
    pub fn encode(windowing: &Windowing, examples: Vec<QaExample>) -> Result<Self, TrainError> {
        let features = windowing.features(&examples)?;
        let positions = features
            .iter()
            .map(|f| f.span_positions(examples[f.example].answers.first()))
            .collect();
        Ok(Self {
            examples,
            features,
            positions,
            pad_id: windowing.pad_id(),
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The windows at `indices`, padded on the right, as model input.
    pub fn input(&self, indices: &[usize], device: &Device) -> Result<ModelInput, TrainError> {
        let rows = indices
            .iter()
            .map(|&i| {
                self.features
                    .get(i)
                    .ok_or(kindling_data::DataError::ExampleIndex {
                        index: i,
                        len: self.features.len(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(windows_input(&rows, self.pad_id, device).into())
    }

    /// The span targets of the windows at `indices`.
    pub fn labels(&self, indices: &[usize], device: &Device) -> AnyLabels {
        let column = |pick: fn(&(usize, usize)) -> usize| {
            let values: Vec<i64> = indices
                .iter()
                .map(|&i| pick(&self.positions[i]) as i64)
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [indices.len()]), device)
        };
        AnyLabels::Spans(SpanLabels {
            start_positions: column(|p| p.0),
            end_positions: column(|p| p.1),
        })
    }
}

/// Windows padded on the right with `pad_id` to the longest, as body input (ids, mask and
/// segment ids).
pub fn windows_input(rows: &[&QaFeature], pad_id: u32, device: &Device) -> BodyInput {
    let longest = rows.iter().map(|f| f.len()).max().unwrap_or(0);
    let (mut ids, mut mask, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let pad = longest - row.len();
        ids.extend(row.input_ids.iter().map(|&v| i64::from(v)));
        ids.extend(std::iter::repeat_n(i64::from(pad_id), pad));
        mask.extend(std::iter::repeat_n(1i64, row.len()));
        mask.extend(std::iter::repeat_n(0, pad));
        types.extend(row.token_type_ids.iter().map(|&v| i64::from(v)));
        types.extend(std::iter::repeat_n(0, pad));
    }
    let shape = [rows.len(), longest];
    let tensor = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, shape), device);
    BodyInput::new(tensor(ids), tensor(mask)).with_token_type_ids(tensor(types))
}

/// Windows with their span targets as training data for a question-answering model.
pub struct QaTrainingData<'a> {
    /// The windows.
    pub data: &'a QaDataset,
}

impl TrainingData for QaTrainingData<'_> {
    type Labels = AnyLabels;

    fn len(&self) -> usize {
        self.data.len()
    }

    fn lengths(&self) -> Vec<usize> {
        self.data.features.iter().map(QaFeature::len).collect()
    }

    fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<(ModelInput, AnyLabels), TrainError> {
        Ok((
            self.data.input(indices, device)?,
            self.data.labels(indices, device),
        ))
    }
}

/// Every window's start and end logits (over its own tokens), with the mean span loss.
#[derive(Debug, Clone)]
pub struct WindowLogits {
    /// Start logits per window.
    pub start: Vec<Vec<f32>>,
    /// End logits per window.
    pub end: Vec<Vec<f32>>,
    /// Mean loss per window (each batch's mean weighted by its windows).
    pub loss: f64,
}

fn rows(tensor: Tensor<2>, what: &str) -> Result<Vec<Vec<f32>>, TrainError> {
    let [_, seq] = tensor.dims();
    let flat: Vec<f32> = tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Data(format!("reading {what}: {e:?}")))?;
    Ok(flat.chunks(seq.max(1)).map(<[f32]>::to_vec).collect())
}

/// Runs `model` over every window of `data` in batches of `batch_size`.
pub fn predict_windows(
    model: &Model<AnyBody, AnyHead>,
    data: &QaDataset,
    batch_size: usize,
    device: &Device,
) -> Result<WindowLogits, TrainError> {
    let mut out = WindowLogits {
        start: Vec::with_capacity(data.len()),
        end: Vec::with_capacity(data.len()),
        loss: f64::NAN,
    };
    let (mut sum, mut count) = (0.0, 0usize);
    for indices in kindling_data::batch_order(data.len(), batch_size.max(1), None, None)? {
        let input = data.input(&indices, device)?;
        let (output, loss) = model.forward_with_labels(input, data.labels(&indices, device))?;
        let AnyOutput::QuestionAnswering(output) = output else {
            return Err(TrainError::Data(
                "the model has no question-answering head".into(),
            ));
        };
        let value = loss.into_scalar::<f64>();
        if value.is_finite() {
            sum += value * indices.len() as f64;
            count += indices.len();
        }
        for (i, (start, end)) in rows(output.start_logits, "start logits")?
            .into_iter()
            .zip(rows(output.end_logits, "end logits")?)
            .enumerate()
        {
            let n = data.features[indices[i]].len();
            out.start.push(start[..n].to_vec());
            out.end.push(end[..n].to_vec());
        }
    }
    if count > 0 {
        out.loss = sum / count as f64;
    }
    Ok(out)
}

/// The SQuAD metrics of `predictions` against the questions' gold answers: v2.0's when
/// `version_2_with_negative`, else v1.1's.
pub fn squad_metrics(
    examples: &[QaExample],
    predictions: &[QaPrediction],
    version_2_with_negative: bool,
) -> BTreeMap<String, f64> {
    let texts: Vec<String> = predictions.iter().map(|p| p.text.clone()).collect();
    let golds: Vec<Vec<String>> = examples
        .iter()
        .map(|e| e.answers.iter().map(|a| a.text.clone()).collect())
        .collect();
    if version_2_with_negative {
        squad_v2(&texts, &golds)
    } else {
        squad_v1(&texts, &golds)
    }
}

/// Loss, exact match and F1 of a question-answering model over held-out questions.
pub struct QaEvaluator<'a> {
    /// The held-out questions and their windows.
    pub data: &'a QaDataset,
    /// Windows per batch.
    pub batch_size: usize,
    /// How answers are picked.
    pub options: PostProcessOptions,
}

impl QaEvaluator<'_> {
    /// The predictions, with the mean loss and the metrics.
    pub fn run(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<(Vec<QaPrediction>, Evaluation), TrainError> {
        let logits = predict_windows(model, self.data, self.batch_size, device)?;
        let predictions = postprocess_predictions(
            &self.data.examples,
            &self.data.features,
            &logits.start,
            &logits.end,
            &self.options,
        );
        let metrics = squad_metrics(
            &self.data.examples,
            &predictions,
            self.options.version_2_with_negative,
        );
        let evaluation = Evaluation {
            loss: logits.loss,
            metrics,
        };
        Ok((predictions, evaluation))
    }
}

impl Evaluator<AnyHead> for QaEvaluator<'_> {
    fn evaluate(
        &self,
        model: &Model<AnyBody, AnyHead>,
        device: &Device,
    ) -> Result<Evaluation, TrainError> {
        Ok(self.run(model, device)?.1)
    }
}
