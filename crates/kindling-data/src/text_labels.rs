//! Text-classification labels: which kind of problem the labels describe (one class, several
//! classes, real values), the class names in id order, and each example's label encoded for the
//! loss `transformers` uses for that kind.

use crate::error::DataError;
use crate::readers::{RawLabel, RawValue, TextClassificationExample};

/// The kind of labels, as `transformers`' `problem_type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLabelKind {
    /// One class per text (`single_label_classification`, cross-entropy).
    SingleLabel,
    /// Any set of classes per text (`multi_label_classification`, binary cross-entropy).
    MultiLabel,
    /// One real value per output (`regression`, mean squared error).
    Regression,
}

/// One example's label, encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodedLabel {
    /// A class id.
    Class(i64),
    /// 0/1 per class.
    MultiHot(Vec<f32>),
    /// One target per output.
    Values(Vec<f32>),
}

/// The label kind and the class names (id order) of a text-classification data set.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLabelScheme {
    /// Single-label, multi-label or regression.
    pub kind: TextLabelKind,
    /// Class names in id order (for regression: one name per output).
    pub labels: Vec<String>,
}

/// Whether `labels` are `transformers`' placeholders `LABEL_0, LABEL_1, …` (a config without
/// real names).
pub fn is_default_label_names(labels: &[String]) -> bool {
    labels
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("LABEL_{i}"))
}

fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("LABEL_{i}")).collect()
}

/// A value read as a class id: a JSON integer, or a name that is a plain integer.
fn as_id(value: &RawValue) -> Option<i64> {
    match value {
        RawValue::Integer(i) => Some(*i),
        RawValue::Name(s) => s.trim().parse::<i64>().ok(),
        RawValue::Float(_) => None,
    }
}

fn as_float(value: &RawValue) -> Option<f64> {
    match value {
        RawValue::Integer(i) => Some(*i as f64),
        RawValue::Float(f) => Some(*f),
        RawValue::Name(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
    }
}

fn display(value: &RawValue) -> String {
    match value {
        RawValue::Name(s) => s.clone(),
        RawValue::Integer(i) => i.to_string(),
        RawValue::Float(f) => f.to_string(),
    }
}

fn values(label: &RawLabel) -> &[RawValue] {
    match label {
        RawLabel::One(v) => std::slice::from_ref(v),
        RawLabel::List(items) => items,
    }
}

/// The error for example `index`'s label, naming its file, line and column when it has them.
fn label_error(example: &TextClassificationExample, index: usize, message: String) -> DataError {
    match &example.origin {
        Some(origin) => DataError::Field {
            path: origin.path.clone(),
            line: origin.line,
            column: origin.column.clone(),
            message,
        },
        None => DataError::ExampleLabel {
            example: index,
            message,
        },
    }
}

impl TextLabelScheme {
    /// The scheme for `examples` (the training set).
    ///
    /// `kind` is the checkpoint's `problem_type` when it has one; without it a list label
    /// means multi-label, a checkpoint with one label or numbers with a fraction mean
    /// regression, and anything else single-label. `known` are the checkpoint's labels
    /// (`id2label`): real names are kept in their order (data names must be among them);
    /// `transformers`' placeholders `LABEL_i` or none let the data decide: integer ids map to
    /// themselves, names become the sorted set of names (as `datasets`' `ClassLabel`).
    pub fn infer(
        examples: &[TextClassificationExample],
        kind: Option<TextLabelKind>,
        known: Option<&[String]>,
    ) -> Result<Self, DataError> {
        let known = known.filter(|k| !k.is_empty());
        let all = || examples.iter().flat_map(|e| values(&e.label));
        let kind = kind.unwrap_or_else(|| {
            if examples
                .iter()
                .any(|e| matches!(e.label, RawLabel::List(_)))
            {
                TextLabelKind::MultiLabel
            } else if known.is_some_and(|k| k.len() == 1)
                || (all().all(|v| as_float(v).is_some()) && all().any(|v| as_id(v).is_none()))
            {
                TextLabelKind::Regression
            } else {
                TextLabelKind::SingleLabel
            }
        });
        let labels = match kind {
            TextLabelKind::Regression => {
                let outputs = known.map(<[String]>::len).unwrap_or_else(|| {
                    examples
                        .first()
                        .map_or(1, |e| values(&e.label).len().max(1))
                });
                known.map_or_else(|| default_names(outputs), <[String]>::to_vec)
            }
            _ => match known.filter(|k| !is_default_label_names(k)) {
                Some(names) => names.to_vec(),
                None if all().all(|v| as_id(v).is_some()) => {
                    let classes = all()
                        .filter_map(as_id)
                        .map(|id| id.max(0) as usize + 1)
                        .max()
                        .unwrap_or(0)
                        .max(known.map_or(0, <[String]>::len))
                        .max(if kind == TextLabelKind::SingleLabel {
                            2
                        } else {
                            1
                        });
                    default_names(classes)
                }
                None => {
                    let mut names: Vec<String> = all().map(display).collect();
                    names.sort();
                    names.dedup();
                    names
                }
            },
        };
        if labels.is_empty() {
            return Err(DataError::EmptyLabelSet);
        }
        Ok(Self { kind, labels })
    }

    /// Number of model outputs (classes, or regression targets).
    pub fn num_labels(&self) -> usize {
        self.labels.len()
    }

    /// The `problem_type` string `transformers` writes for this kind.
    pub fn problem_type(&self) -> &'static str {
        match self.kind {
            TextLabelKind::SingleLabel => "single_label_classification",
            TextLabelKind::MultiLabel => "multi_label_classification",
            TextLabelKind::Regression => "regression",
        }
    }

    /// The id of one class value: its name, else (when it is an integer) the id itself.
    fn class_id(
        &self,
        value: &RawValue,
        example: &TextClassificationExample,
        index: usize,
    ) -> Result<i64, DataError> {
        if let RawValue::Name(name) = value
            && let Some(id) = self.labels.iter().position(|l| l == name)
        {
            return Ok(id as i64);
        }
        match as_id(value) {
            Some(id) if (0..self.labels.len() as i64).contains(&id) => Ok(id),
            Some(id) => Err(label_error(
                example,
                index,
                format!(
                    "label id {id} is outside the label set (0..{}: {})",
                    self.labels.len(),
                    self.labels.join(", ")
                ),
            )),
            None => Err(label_error(
                example,
                index,
                format!(
                    "label `{}` is not in the label set [{}]",
                    display(value),
                    self.labels.join(", ")
                ),
            )),
        }
    }

    /// Example `index`'s label for the loss; a label that does not fit the scheme is an error
    /// naming the file, line and column it was read from.
    pub fn encode(
        &self,
        example: &TextClassificationExample,
        index: usize,
    ) -> Result<EncodedLabel, DataError> {
        match (self.kind, &example.label) {
            (TextLabelKind::SingleLabel, RawLabel::One(value)) => self
                .class_id(value, example, index)
                .map(EncodedLabel::Class),
            (TextLabelKind::SingleLabel, RawLabel::List(_)) => Err(label_error(
                example,
                index,
                "a list of labels, but the task is single-label classification".into(),
            )),
            (TextLabelKind::MultiLabel, label) => {
                let mut hot = vec![0.0f32; self.labels.len()];
                for value in values(label) {
                    hot[self.class_id(value, example, index)? as usize] = 1.0;
                }
                Ok(EncodedLabel::MultiHot(hot))
            }
            (TextLabelKind::Regression, label) => {
                let targets = values(label)
                    .iter()
                    .map(|v| {
                        as_float(v).map(|f| f as f32).ok_or_else(|| {
                            label_error(
                                example,
                                index,
                                format!("regression needs a number, found `{}`", display(v)),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if targets.len() != self.labels.len() {
                    return Err(label_error(
                        example,
                        index,
                        format!(
                            "{} regression target(s), but the model has {} output(s)",
                            targets.len(),
                            self.labels.len()
                        ),
                    ));
                }
                Ok(EncodedLabel::Values(targets))
            }
        }
    }

    /// Every example's label, in order.
    pub fn encode_all(
        &self,
        examples: &[TextClassificationExample],
    ) -> Result<Vec<EncodedLabel>, DataError> {
        examples
            .iter()
            .enumerate()
            .map(|(i, e)| self.encode(e, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::TableOrigin;

    fn ex(label: RawLabel, line: usize) -> TextClassificationExample {
        TextClassificationExample {
            text: "t".into(),
            text_pair: None,
            label,
            origin: Some(TableOrigin {
                path: "train.csv".into(),
                line,
                column: "label".into(),
            }),
        }
    }

    fn name(s: &str) -> RawLabel {
        RawLabel::One(RawValue::Name(s.into()))
    }

    #[test]
    fn names_sorted_ids_identity_floats_regression_lists_multi() {
        let data = [ex(name("pos"), 2), ex(name("neg"), 3), ex(name("pos"), 4)];
        let s = TextLabelScheme::infer(&data, None, None).unwrap();
        assert_eq!(s.kind, TextLabelKind::SingleLabel);
        assert_eq!(s.labels, ["neg", "pos"]);
        assert_eq!(s.encode(&data[0], 0).unwrap(), EncodedLabel::Class(1));

        let ids = [ex(name("0"), 2), ex(RawLabel::One(RawValue::Integer(2)), 3)];
        let s = TextLabelScheme::infer(&ids, None, None).unwrap();
        assert_eq!(s.labels, ["LABEL_0", "LABEL_1", "LABEL_2"]);
        assert_eq!(s.encode(&ids[1], 1).unwrap(), EncodedLabel::Class(2));

        let floats = [ex(name("0.5"), 2), ex(name("3"), 3)];
        let s = TextLabelScheme::infer(&floats, None, None).unwrap();
        assert_eq!(s.kind, TextLabelKind::Regression);
        assert_eq!(
            s.encode(&floats[1], 1).unwrap(),
            EncodedLabel::Values(vec![3.0])
        );

        let multi = [
            ex(RawLabel::List(vec![RawValue::Name("b".into())]), 2),
            ex(RawLabel::List(vec![]), 3),
            ex(
                RawLabel::List(vec![RawValue::Name("a".into()), RawValue::Name("c".into())]),
                4,
            ),
        ];
        let s = TextLabelScheme::infer(&multi, None, None).unwrap();
        assert_eq!(s.kind, TextLabelKind::MultiLabel);
        assert_eq!(s.labels, ["a", "b", "c"]);
        assert_eq!(
            s.encode(&multi[2], 2).unwrap(),
            EncodedLabel::MultiHot(vec![1.0, 0.0, 1.0])
        );
    }

    #[test]
    fn checkpoint_names_win_and_unknown_names_are_errors_with_line_and_column() {
        let known = ["negative".to_string(), "positive".to_string()];
        let data = [
            ex(name("positive"), 2),
            ex(name("1"), 3),
            ex(name("meh"), 4),
        ];
        let s = TextLabelScheme::infer(&data, None, Some(&known)).unwrap();
        assert_eq!(s.labels, known);
        assert_eq!(s.encode(&data[1], 1).unwrap(), EncodedLabel::Class(1));
        let msg = s.encode(&data[2], 2).unwrap_err().to_string();
        assert!(
            msg.starts_with("train.csv:4: column `label`: label `meh` is not in"),
            "{msg}"
        );
        let msg = s.encode(&ex(name("7"), 9), 0).unwrap_err().to_string();
        assert!(
            msg.contains("train.csv:9") && msg.contains("label id 7"),
            "{msg}"
        );
        // placeholders let the data name the classes
        let placeholders = ["LABEL_0".to_string(), "LABEL_1".to_string()];
        let s = TextLabelScheme::infer(&data, None, Some(&placeholders)).unwrap();
        assert_eq!(s.labels, ["1", "meh", "positive"]);
    }
}
