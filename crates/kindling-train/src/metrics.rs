//! Entity-level precision, recall and F1, equal to Python `seqeval` 1.2.2.
//!
//! This is seqeval's default mode (`precision_score`, `recall_score`, `f1_score`,
//! `classification_report` without `mode='strict'`), the conlleval-compatible one that the
//! Hugging Face token-classification examples and the book's chapter 4 report:
//!
//! - Tags are read like seqeval's `get_entities`: the first character is the chunk tag (`B`,
//!   `I`, `E`, `S`, `O`, ...), the type is what follows the first `-` after it (`PER` in
//!   `B-PER`, `PER-X` in `B-PER-X`), or the rest of the tag when there is no `-`, or `_` when
//!   that is empty. An `I-` after `O` or after another type starts an entity; `B-` and `S-`
//!   always start one; `E-` and `S-` end one.
//! - All sentences are scored together: an entity is a type plus its span in its sentence,
//!   and no entity runs across a sentence boundary.
//! - A division by zero gives 0.0, as seqeval's default `zero_division="warn"` does.
//!
//! The oracle is `tests/fixtures/seqeval_fixture.py` (seqeval 1.2.2), checked by
//! `tests/seqeval_parity.rs` to 1e-12.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::iter;

use serde::Serialize;

use crate::error::TrainError;

/// One entity: a run of tokens of one type, as seqeval's `get_entities` finds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Entity {
    /// The entity type: `PER` for `B-PER`, `_` for a tag without one.
    pub kind: String,
    /// Index of its first token.
    pub start: usize,
    /// Index of its last token (inclusive, as in seqeval).
    pub end: usize,
}

/// Precision, recall and F1 of one entity type or one average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Correct predicted entities over predicted entities.
    pub precision: f64,
    /// Correct predicted entities over gold entities.
    pub recall: f64,
    /// Harmonic mean of precision and recall (for the macro and weighted averages: the
    /// average of the per-type F1 scores, as seqeval computes it).
    pub f1: f64,
    /// Number of gold entities.
    pub support: usize,
}

/// seqeval's classification report: scores per entity type and their averages.
///
/// As JSON (`serde_json::to_string(&report)`), the micro average is at the top level:
/// `{"precision", "recall", "f1", "support", "per_type": {"PER": {...}}, "macro": {...},
/// "weighted": {...}}`. [`Display`](fmt::Display) prints seqeval's text table
/// (`classification_report(digits=4)`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityReport {
    /// Scores of each entity type found in the gold or the predicted tags, by type name.
    pub per_type: BTreeMap<String, Scores>,
    /// Micro average: every entity counted once, whatever its type. Its F1 is "the" F1.
    #[serde(flatten)]
    pub micro: Scores,
    /// Unweighted mean over the types. NaN (`null` in JSON) when neither side has any entity,
    /// as in seqeval (numpy's mean of nothing).
    #[serde(rename = "macro")]
    pub macro_avg: Scores,
    /// Mean over the types weighted by their support; all 0.0 when there is no gold entity.
    pub weighted: Scores,
}

/// The entities of one sentence's tags, in order, like seqeval's `get_entities(tags)`.
///
/// An empty tag (on which seqeval fails) is read as `O`.
///
/// ```
/// use kindling_train::metrics::entities;
///
/// let tags = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC"];
/// let found: Vec<_> = entities(&tags).into_iter().map(|e| (e.kind, e.start, e.end)).collect();
/// assert_eq!(found, [("PER".into(), 0, 1), ("LOC".into(), 3, 3), ("LOC".into(), 4, 4)]);
/// ```
pub fn entities<S: AsRef<str>>(tags: &[S]) -> Vec<Entity> {
    chunks(tags.iter().map(AsRef::as_ref))
}

/// Entity-level scores of predicted tags against gold tags, sentence by sentence, exactly as
/// seqeval's default mode computes them.
///
/// Fails when the two sides differ in their number of sentences, or a sentence in its number
/// of tags.
///
/// ```
/// use kindling_train::metrics::evaluate;
///
/// let tags = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
/// let gold = vec![tags("O O O B-MISC I-MISC I-MISC O"), tags("B-PER I-PER O")];
/// let pred = vec![tags("O O B-MISC I-MISC I-MISC I-MISC O"), tags("B-PER I-PER O")];
/// let report = evaluate(&gold, &pred)?;
/// assert_eq!(report.micro.f1, 0.5);
/// assert_eq!(report.per_type["PER"].f1, 1.0);
/// # Ok::<(), kindling_train::TrainError>(())
/// ```
pub fn evaluate<S: AsRef<str>>(
    gold: &[Vec<S>],
    pred: &[Vec<S>],
) -> Result<EntityReport, TrainError> {
    check_lengths(gold, pred)?;
    // seqeval joins the sentences with an `O` between them and chunks the whole.
    let gold = by_type(chunks(joined(gold)));
    let pred = by_type(chunks(joined(pred)));
    let mut counts = BTreeMap::new();
    for kind in gold.keys().chain(pred.keys()) {
        if counts.contains_key(kind) {
            continue;
        }
        let empty = HashSet::new();
        let (g, p) = (
            gold.get(kind).unwrap_or(&empty),
            pred.get(kind).unwrap_or(&empty),
        );
        let counts_of_kind = Counts {
            correct: g.intersection(p).count(),
            predicted: p.len(),
            gold: g.len(),
        };
        counts.insert(kind.clone(), counts_of_kind);
    }
    Ok(report(&counts))
}

/// Fraction of tokens whose predicted tag equals the gold tag, over all sentences (seqeval's
/// `accuracy_score`). 0.0 when there are no tokens (where seqeval divides by zero).
pub fn token_accuracy<S: AsRef<str>>(gold: &[Vec<S>], pred: &[Vec<S>]) -> Result<f64, TrainError> {
    check_lengths(gold, pred)?;
    let (mut correct, mut total) = (0usize, 0usize);
    for (g, p) in gold.iter().zip(pred) {
        total += g.len();
        correct += g
            .iter()
            .zip(p)
            .filter(|(g, p)| g.as_ref() == p.as_ref())
            .count();
    }
    Ok(if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64
    })
}

impl EntityReport {
    /// seqeval's `classification_report(..., digits)` text table.
    pub fn table(&self, digits: usize) -> String {
        let name_width = self.per_type.keys().map(|k| k.chars().count()).max();
        let width = name_width
            .unwrap_or(0)
            .max("weighted avg".len())
            .max(digits);
        let mut out = format!(
            "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
            "", "precision", "recall", "f1-score", "support"
        );
        let row = |out: &mut String, name: &str, s: &Scores| {
            let num = |x: f64| {
                if x.is_nan() {
                    "nan".to_owned()
                } else {
                    format!("{x:.digits$}")
                }
            };
            out.push_str(&format!(
                "{name:>width$}  {:>9} {:>9} {:>9} {:>9}\n",
                num(s.precision),
                num(s.recall),
                num(s.f1),
                s.support
            ));
        };
        for (name, scores) in &self.per_type {
            row(&mut out, name, scores);
        }
        out.push('\n');
        row(&mut out, "micro avg", &self.micro);
        row(&mut out, "macro avg", &self.macro_avg);
        row(&mut out, "weighted avg", &self.weighted);
        out
    }
}

impl fmt::Display for EntityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table(4))
    }
}

/// Entity counts of one type.
#[derive(Debug, Clone, Copy)]
struct Counts {
    correct: usize,
    predicted: usize,
    gold: usize,
}

fn check_lengths<S: AsRef<str>>(gold: &[Vec<S>], pred: &[Vec<S>]) -> Result<(), TrainError> {
    if gold.len() != pred.len() {
        return Err(TrainError::SentenceCount {
            gold: gold.len(),
            pred: pred.len(),
        });
    }
    match gold.iter().zip(pred).position(|(g, p)| g.len() != p.len()) {
        Some(index) => Err(TrainError::SentenceLength {
            index,
            gold: gold[index].len(),
            pred: pred[index].len(),
        }),
        None => Ok(()),
    }
}

/// The tags of all sentences, each sentence followed by an `O`, as seqeval flattens them.
fn joined<S: AsRef<str>>(sentences: &[Vec<S>]) -> impl Iterator<Item = &str> {
    sentences
        .iter()
        .flat_map(|s| s.iter().map(AsRef::as_ref).chain(iter::once("O")))
}

/// Spans of each type (in the joined sequence).
fn by_type(entities: Vec<Entity>) -> BTreeMap<String, HashSet<(usize, usize)>> {
    let mut map: BTreeMap<String, HashSet<(usize, usize)>> = BTreeMap::new();
    for e in entities {
        map.entry(e.kind).or_default().insert((e.start, e.end));
    }
    map
}

/// seqeval's averages over per-type counts (`precision_recall_fscore_support`).
fn report(counts: &BTreeMap<String, Counts>) -> EntityReport {
    let per_type: BTreeMap<String, Scores> = counts
        .iter()
        .map(|(kind, c)| (kind.clone(), scores(*c)))
        .collect();
    let total = counts.values().fold(
        Counts {
            correct: 0,
            predicted: 0,
            gold: 0,
        },
        |a, c| Counts {
            correct: a.correct + c.correct,
            predicted: a.predicted + c.predicted,
            gold: a.gold + c.gold,
        },
    );
    let micro = scores(total);
    let n = per_type.len() as f64;
    let mean = |field: fn(&Scores) -> f64| per_type.values().map(field).sum::<f64>() / n;
    let macro_avg = Scores {
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
        support: total.gold,
    };
    let weighted = if total.gold == 0 {
        Scores {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
            support: 0,
        }
    } else {
        let w = total.gold as f64;
        let mean = |field: fn(&Scores) -> f64| {
            per_type
                .values()
                .map(|s| field(s) * s.support as f64)
                .sum::<f64>()
                / w
        };
        Scores {
            precision: mean(|s| s.precision),
            recall: mean(|s| s.recall),
            f1: mean(|s| s.f1),
            support: total.gold,
        }
    };
    EntityReport {
        per_type,
        micro,
        macro_avg,
        weighted,
    }
}

fn scores(c: Counts) -> Scores {
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let precision = ratio(c.correct, c.predicted);
    let recall = ratio(c.correct, c.gold);
    let denom = precision + recall;
    let f1 = if denom == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / denom
    };
    Scores {
        precision,
        recall,
        f1,
        support: c.gold,
    }
}

/// A tag split as seqeval splits it: its first character and its type.
fn split_tag(tag: &str) -> (char, &str) {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return ('O', "_");
    };
    let rest = chars.as_str();
    let kind = rest.split_once('-').map_or(rest, |(_, kind)| kind);
    (first, if kind.is_empty() { "_" } else { kind })
}

/// seqeval's `get_entities` on one sequence of tags: a port, rule for rule.
fn chunks<'a>(tags: impl Iterator<Item = &'a str>) -> Vec<Entity> {
    let mut out = Vec::new();
    let (mut prev_tag, mut prev_kind) = ('O', "");
    let mut begin = 0;
    for (i, tag) in tags.chain(iter::once("O")).enumerate() {
        let (tag, kind) = split_tag(tag);
        // At i = 0, `prev_tag` is `O`, which never ends a chunk.
        if end_of_chunk(prev_tag, tag, prev_kind, kind) {
            out.push(Entity {
                kind: prev_kind.to_owned(),
                start: begin,
                end: i - 1,
            });
        }
        if start_of_chunk(prev_tag, tag, prev_kind, kind) {
            begin = i;
        }
        (prev_tag, prev_kind) = (tag, kind);
    }
    out
}

/// seqeval's `end_of_chunk`: did a chunk end just before this tag?
fn end_of_chunk(prev_tag: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(prev_tag, 'E' | 'S')
        || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag != 'O' && prev_tag != '.' && prev_kind != kind)
}

/// seqeval's `start_of_chunk`: does a chunk start at this tag?
fn start_of_chunk(prev_tag: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_kind != kind)
}

#[cfg(test)]
mod tests;
