//! The ordered list of tags a model predicts, and tag ↔ id lookup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::error::DataError;
use crate::example::NerExample;

/// The label HF gives positions that carry no label (special tokens, padding, later
/// sub-words); the loss ignores them.
pub const IGNORE_INDEX: i64 = -100;

/// An ordered list of labels; a label's id is its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    labels: Vec<String>,
    ids: HashMap<String, i64>,
}

impl LabelSet {
    /// The PAN-X tags in the order of the XTREME data set (and the book):
    /// `O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC`.
    pub fn panx() -> Self {
        Self::build(
            ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }

    /// A label set in the given order (e.g. a checkpoint's `id2label`).
    ///
    /// Errors when the list is empty or names a label twice.
    pub fn from_list<S: Into<String>>(
        labels: impl IntoIterator<Item = S>,
    ) -> Result<Self, DataError> {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.is_empty() {
            return Err(DataError::EmptyLabelSet);
        }
        let mut seen = BTreeSet::new();
        for label in &labels {
            if !seen.insert(label.as_str()) {
                return Err(DataError::DuplicateLabel {
                    label: label.clone(),
                });
            }
        }
        Ok(Self::build(labels))
    }

    /// The labels found in `examples`, ordered: `O` first, then per entity type (sorted by
    /// name) `B-` before `I-` before other prefixes (`E-`, `S-`, sorted). When a type is seen
    /// with `B-` or `I-`, both are included, so every `B-` has its `I-`. Tags without a
    /// prefix other than `O` count as a type of their own.
    ///
    /// With no examples (or only `O`), the set is `[O]`.
    pub fn infer(examples: &[NerExample]) -> Self {
        // type -> prefixes; prefix "" means the bare tag.
        let mut types: BTreeMap<&str, BTreeSet<(u8, &str)>> = BTreeMap::new();
        let rank = |prefix: &str| match prefix {
            "B" => 0u8,
            "I" => 1,
            _ => 2,
        };
        for tag in examples.iter().flat_map(|e| e.tags.iter()) {
            if tag == "O" {
                continue;
            }
            match tag.split_once('-') {
                Some((prefix, kind)) if !prefix.is_empty() && !kind.is_empty() => {
                    let set = types.entry(kind).or_default();
                    set.insert((rank(prefix), prefix));
                    if prefix == "B" || prefix == "I" {
                        set.insert((0, "B"));
                        set.insert((1, "I"));
                    }
                }
                _ => {
                    types.entry(tag.as_str()).or_default().insert((2, ""));
                }
            }
        }
        let mut labels = vec!["O".to_string()];
        for (kind, prefixes) in types {
            for (_, prefix) in prefixes {
                if prefix.is_empty() {
                    labels.push(kind.to_string());
                } else {
                    labels.push(format!("{prefix}-{kind}"));
                }
            }
        }
        Self::build(labels)
    }

    fn build(labels: Vec<String>) -> Self {
        let ids = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as i64))
            .collect();
        Self { labels, ids }
    }

    /// The labels, in id order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no labels (never true for a set built by this type).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The id of `tag`, if it is in the set.
    pub fn id(&self, tag: &str) -> Option<i64> {
        self.ids.get(tag).copied()
    }

    /// The label with id `id`, if any.
    pub fn label(&self, id: i64) -> Option<&str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.labels.get(i))
            .map(String::as_str)
    }

    /// The id of `tag` read at `file:line`; a tag outside the set is an error naming both.
    /// (To accept any tag, build the set with [`LabelSet::infer`] first.)
    pub fn encode(&self, tag: &str, file: &Path, line: usize) -> Result<i64, DataError> {
        self.id(tag).ok_or_else(|| DataError::UnknownLabel {
            tag: tag.to_string(),
            path: file.to_path_buf(),
            line,
            known: self.labels.join(", "),
        })
    }

    /// The ids of an example's tags. A tag outside the set is an error naming the file and
    /// line it was read from, or the example's index `index` when it came from no file.
    pub fn encode_example(
        &self,
        example: &NerExample,
        index: usize,
    ) -> Result<Vec<i64>, DataError> {
        example
            .tags
            .iter()
            .enumerate()
            .map(|(word, tag)| match &example.origin {
                Some(origin) => self.encode(tag, &origin.path, origin.line_of(word)),
                None => self
                    .id(tag)
                    .ok_or_else(|| DataError::UnknownLabelInExample {
                        tag: tag.clone(),
                        example: index,
                        known: self.labels.join(", "),
                    }),
            })
            .collect()
    }

    /// For each id, the id to give a word's later sub-words when every sub-word is labelled:
    /// the matching `I-` label for a `B-` label (when the set has it), else the id itself.
    /// This is `b_to_i_label` of `transformers`' `run_ner.py`.
    pub fn b_to_i(&self) -> Vec<i64> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                label
                    .strip_prefix("B-")
                    .and_then(|kind| self.id(&format!("I-{kind}")))
                    .unwrap_or(i as i64)
            })
            .collect()
    }

    /// `id2label` as a checkpoint's `config.json` writes it (`{"0": "O", …}`).
    pub fn id2label(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone()))
            .collect()
    }

    /// `label2id` as a checkpoint's `config.json` writes it (`{"O": 0, …}`).
    pub fn label2id(&self) -> BTreeMap<String, i64> {
        self.ids.iter().map(|(l, i)| (l.clone(), *i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::Origin;

    fn example(tags: &[&str]) -> NerExample {
        NerExample::new(
            tags.iter().map(|_| "w".to_string()).collect(),
            tags.iter().map(|t| t.to_string()).collect(),
            None,
        )
    }

    #[test]
    fn panx_order() {
        let set = LabelSet::panx();
        assert_eq!(
            set.labels(),
            ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
        );
        assert_eq!(set.id("B-LOC"), Some(5));
        assert_eq!(set.label(6), Some("I-LOC"));
        assert_eq!(set.label(7), None);
        assert_eq!(set.label(-1), None);
        assert_eq!(set.b_to_i(), [0, 2, 2, 4, 4, 6, 6]);
    }

    #[test]
    fn infer_orders_o_types_b_then_i() {
        let set = LabelSet::infer(&[
            example(&["I-PER", "O", "B-ORG"]),
            example(&["B-LOC", "MISC", "E-LOC"]),
        ]);
        assert_eq!(
            set.labels(),
            [
                "O", "B-LOC", "I-LOC", "E-LOC", "MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"
            ]
        );
        assert_eq!(LabelSet::infer(&[]).labels(), ["O"]);
    }

    #[test]
    fn from_list_rejects_duplicates_and_empty() {
        assert!(matches!(
            LabelSet::from_list(["O", "B-X", "O"]),
            Err(DataError::DuplicateLabel { label }) if label == "O"
        ));
        assert!(matches!(
            LabelSet::from_list(Vec::<String>::new()),
            Err(DataError::EmptyLabelSet)
        ));
        let set = LabelSet::from_list(["O", "B-X"]).unwrap();
        assert_eq!(set.b_to_i(), [0, 1]);
        assert_eq!(set.id2label()["1"], "B-X");
        assert_eq!(set.label2id()["B-X"], 1);
    }

    #[test]
    fn unknown_tag_names_file_and_line() {
        let set = LabelSet::panx();
        let err = set
            .encode("B-MISC", Path::new("data/x.txt"), 12)
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("data/x.txt:12: tag `B-MISC`"), "{msg}");

        let mut ex = example(&["O", "B-PER", "B-MISC"]);
        ex.origin = Some(Origin {
            path: "train.txt".into(),
            line: 40,
            line_per_word: true,
        });
        let msg = set.encode_example(&ex, 3).unwrap_err().to_string();
        assert!(msg.starts_with("train.txt:42: "), "{msg}");

        ex.origin = None;
        let msg = set.encode_example(&ex, 3).unwrap_err().to_string();
        assert!(msg.starts_with("example 3: tag `B-MISC`"), "{msg}");

        ex.tags[2] = "I-LOC".into();
        assert_eq!(set.encode_example(&ex, 3).unwrap(), [0, 1, 6]);
    }
}
