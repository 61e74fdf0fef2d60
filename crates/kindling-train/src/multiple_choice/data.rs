//! Multiple-choice examples encoded as `run_swag.py` encodes them: the context paired with
//! each ending (`tokenizer(first_sentences, second_sentences, truncation=True)`), and batches
//! `[batch, choices, seq]` padded to their longest sequence (`DataCollatorForMultipleChoice`).

use kindling_data::{ChoiceExample, IGNORE_INDEX, Tokenizer};

use crate::error::TrainError;

/// One choice's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChoice {
    /// Token ids of the pair, special tokens included.
    pub input_ids: Vec<i64>,
    /// Segment ids (0 for the context, 1 for the ending, where the tokenizer sets them).
    pub token_type_ids: Vec<i64>,
}

/// One encoded question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedQuestion {
    /// One sequence per choice.
    pub choices: Vec<EncodedChoice>,
    /// The right choice, or -100 when unlabelled.
    pub label: i64,
}

/// Encoded multiple-choice data.
#[derive(Debug, Clone)]
pub struct ChoiceDataset {
    /// The questions.
    pub questions: Vec<EncodedQuestion>,
    /// Choices per question (the same for all).
    pub num_choices: usize,
    /// The tokenizer's pad id.
    pub pad_id: u32,
    /// How many choice sequences were cut to `max_length`.
    pub truncated: usize,
}

/// A padded batch: `[batch][choices][seq]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceBatch {
    /// Token ids.
    pub input_ids: Vec<Vec<Vec<i64>>>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<Vec<Vec<i64>>>,
    /// Segment ids, 0 on padding.
    pub token_type_ids: Vec<Vec<Vec<i64>>>,
    /// The right choice per row (-100 when unlabelled).
    pub labels: Vec<i64>,
}

impl ChoiceDataset {
    /// Encodes `examples`: choice `i` of an example is the pair (`context`, its
    /// [`ChoiceExample::second_segment`]), truncated longest-first to `max_length` tokens.
    pub fn encode(
        tokenizer: &Tokenizer,
        examples: &[ChoiceExample],
        max_length: usize,
    ) -> Result<Self, TrainError> {
        let tokenizer = tokenizer.clone().with_max_length(Some(max_length))?;
        let inner = tokenizer.inner();
        let num_choices = examples.first().map_or(0, |e| e.endings.len());
        let mut truncated = 0usize;
        let mut questions = Vec::with_capacity(examples.len());
        for (index, example) in examples.iter().enumerate() {
            let place = example.origin.as_ref().map_or_else(
                || format!("example {index}"),
                |o| format!("{}:{}", o.path.display(), o.line),
            );
            if example.endings.len() != num_choices {
                return Err(TrainError::Data(format!(
                    "{place}: {} choices, but the first example has {num_choices}",
                    example.endings.len()
                )));
            }
            let mut choices = Vec::with_capacity(num_choices);
            for i in 0..num_choices {
                let pair = (example.context.as_str(), example.second_segment(i));
                let encoding = inner
                    .encode_char_offsets(pair, true)
                    .map_err(|e| TrainError::Data(format!("{place}: cannot tokenize: {e}")))?;
                if !encoding.get_overflowing().is_empty() {
                    truncated += 1;
                }
                choices.push(EncodedChoice {
                    input_ids: encoding.get_ids().iter().map(|&v| v as i64).collect(),
                    token_type_ids: encoding.get_type_ids().iter().map(|&v| v as i64).collect(),
                });
            }
            questions.push(EncodedQuestion {
                choices,
                label: example.label.map_or(IGNORE_INDEX, |l| l as i64),
            });
        }
        Ok(Self {
            questions,
            num_choices,
            pad_id: tokenizer.pad_id(),
            truncated,
        })
    }

    /// Number of questions.
    pub fn len(&self) -> usize {
        self.questions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }

    /// The longest choice of each question (for length grouping).
    pub fn lengths(&self) -> Vec<usize> {
        self.questions
            .iter()
            .map(|q| {
                q.choices
                    .iter()
                    .map(|c| c.input_ids.len())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The questions at `indices`, padded to their longest choice.
    pub fn batch(&self, indices: &[usize]) -> Result<ChoiceBatch, TrainError> {
        let questions = indices
            .iter()
            .map(|&i| {
                self.questions.get(i).ok_or_else(|| {
                    TrainError::Input(kindling_data::DataError::ExampleIndex {
                        index: i,
                        len: self.len(),
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let longest = questions
            .iter()
            .flat_map(|q| q.choices.iter().map(|c| c.input_ids.len()))
            .max()
            .unwrap_or(0);
        let pad = |row: &[i64], value: i64| {
            let mut out = row.to_vec();
            out.resize(longest, value);
            out
        };
        let mut batch = ChoiceBatch {
            input_ids: Vec::new(),
            attention_mask: Vec::new(),
            token_type_ids: Vec::new(),
            labels: Vec::new(),
        };
        for q in questions {
            batch.input_ids.push(
                q.choices
                    .iter()
                    .map(|c| pad(&c.input_ids, self.pad_id as i64))
                    .collect(),
            );
            batch.attention_mask.push(
                q.choices
                    .iter()
                    .map(|c| {
                        let mut mask = vec![1; c.input_ids.len()];
                        mask.resize(longest, 0);
                        mask
                    })
                    .collect(),
            );
            batch.token_type_ids.push(
                q.choices
                    .iter()
                    .map(|c| pad(&c.token_type_ids, 0))
                    .collect(),
            );
            batch.labels.push(q.label);
        }
        Ok(batch)
    }
}
