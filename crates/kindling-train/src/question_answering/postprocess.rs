//! From window logits to one answer per question, as `transformers`' question-answering
//! example (`utils_qa.postprocess_qa_predictions`) does it: the `n_best_size` best starts and
//! ends of every window, spans inside the context no longer than `max_answer_length` tokens,
//! scored by the sum of their logits; for SQuAD v2 the null answer (the classifier token's
//! score, lowest over the windows) wins when it beats the best span by more than
//! `null_score_diff_threshold`.

use super::features::QaFeature;
use kindling_data::QaExample;

/// How spans are picked (`run_qa.py`'s defaults through [`Default`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcessOptions {
    /// Questions may have no answer (SQuAD v2).
    pub version_2_with_negative: bool,
    /// Starts and ends considered per window.
    pub n_best_size: usize,
    /// The longest answer, in tokens.
    pub max_answer_length: usize,
    /// How much the null answer must beat the best span by to win.
    pub null_score_diff_threshold: f32,
}

impl Default for PostProcessOptions {
    fn default() -> Self {
        Self {
            version_2_with_negative: false,
            n_best_size: 20,
            max_answer_length: 30,
            null_score_diff_threshold: 0.0,
        }
    }
}

/// One candidate answer of a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The answer's text (empty for the null answer).
    pub text: String,
    /// Character span in the context.
    pub offsets: (usize, usize),
    /// Start logit + end logit.
    pub score: f32,
    /// Softmax of the scores over the question's candidates.
    pub probability: f32,
}

/// The answer chosen for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct QaPrediction {
    /// The question's id.
    pub id: String,
    /// The predicted answer (empty: no answer).
    pub text: String,
    /// SQuAD v2: the null score minus the best span's (`null_odds`); `None` for v1.
    pub score_diff: Option<f32>,
    /// The `n_best_size` candidates, best first.
    pub n_best: Vec<Candidate>,
}

/// The indices of the `n` largest values, largest first: numpy's
/// `np.argsort(x)[-1 : -n - 1 : -1]` (among equal values the later index first).
fn top_indices(values: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(b.cmp(&a)));
    order.truncate(n);
    order
}

/// Picks the answer of every example from its windows' logits; `start_logits[f]` and
/// `end_logits[f]` belong to `features[f]`.
pub fn postprocess_predictions(
    examples: &[QaExample],
    features: &[QaFeature],
    start_logits: &[Vec<f32>],
    end_logits: &[Vec<f32>],
    options: &PostProcessOptions,
) -> Vec<QaPrediction> {
    let mut per_example: Vec<Vec<usize>> = vec![Vec::new(); examples.len()];
    for (f, feature) in features.iter().enumerate() {
        if let Some(list) = per_example.get_mut(feature.example) {
            list.push(f);
        }
    }
    examples
        .iter()
        .zip(&per_example)
        .map(|(example, indices)| {
            predict_one(
                example,
                indices
                    .iter()
                    .map(|&f| (&features[f], &start_logits[f], &end_logits[f])),
                options,
            )
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Prelim {
    offsets: (usize, usize),
    score: f32,
    start_logit: f32,
    end_logit: f32,
}

fn predict_one<'a>(
    example: &QaExample,
    windows: impl Iterator<Item = (&'a QaFeature, &'a Vec<f32>, &'a Vec<f32>)>,
    options: &PostProcessOptions,
) -> QaPrediction {
    let mut min_null: Option<Prelim> = None;
    let mut prelim = Vec::new();
    for (feature, start, end) in windows {
        let (Some(&s0), Some(&e0)) = (start.first(), end.first()) else {
            continue;
        };
        let null_score = s0 + e0;
        if min_null.as_ref().is_none_or(|m| m.score > null_score) {
            min_null = Some(Prelim {
                offsets: (0, 0),
                score: null_score,
                start_logit: s0,
                end_logit: e0,
            });
        }
        let offsets = &feature.context_offsets;
        let ends = top_indices(end, options.n_best_size);
        for s in top_indices(start, options.n_best_size) {
            for &e in &ends {
                let (Some(Some(so)), Some(Some(eo))) = (offsets.get(s), offsets.get(e)) else {
                    continue;
                };
                if e < s || e - s + 1 > options.max_answer_length {
                    continue;
                }
                prelim.push(Prelim {
                    offsets: (so.0, eo.1),
                    score: start[s] + end[e],
                    start_logit: start[s],
                    end_logit: end[e],
                });
            }
        }
    }
    let null_score = min_null.as_ref().map(|m| m.score);
    if options.version_2_with_negative
        && let Some(null) = &min_null
    {
        prelim.push(*null);
    }
    // a stable sort, best first, as Python's `sorted(..., reverse=True)`
    prelim.sort_by(|a, b| b.score.total_cmp(&a.score));
    prelim.truncate(options.n_best_size);
    if options.version_2_with_negative
        && let Some(null) = &min_null
        && !prelim.iter().any(|p| p.offsets == (0, 0))
    {
        prelim.push(*null);
    }
    let chars: Vec<char> = example.context.chars().collect();
    let slice = |(a, b): (usize, usize)| -> String {
        chars[a.min(chars.len())..b.min(chars.len()).max(a.min(chars.len()))]
            .iter()
            .collect()
    };
    let mut n_best: Vec<(Candidate, f32, f32)> = prelim
        .iter()
        .map(|p| {
            (
                Candidate {
                    text: slice(p.offsets),
                    offsets: p.offsets,
                    score: p.score,
                    probability: 0.0,
                },
                p.start_logit,
                p.end_logit,
            )
        })
        .collect();
    if n_best.is_empty() || (n_best.len() == 1 && n_best[0].0.text.is_empty()) {
        n_best.insert(
            0,
            (
                Candidate {
                    text: "empty".into(),
                    offsets: (0, 0),
                    score: 0.0,
                    probability: 0.0,
                },
                0.0,
                0.0,
            ),
        );
    }
    let max = n_best
        .iter()
        .map(|c| c.0.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = n_best.iter().map(|c| (c.0.score - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    for (candidate, e) in n_best.iter_mut().zip(&exp) {
        candidate.0.probability = e / sum;
    }
    let (text, score_diff) = if !options.version_2_with_negative {
        (n_best[0].0.text.clone(), None)
    } else {
        // the best non-null candidate ("empty" stands in when every one is null)
        let best = n_best
            .iter()
            .find(|c| !c.0.text.is_empty())
            .unwrap_or(&n_best[0]);
        let diff = null_score.unwrap_or(0.0) - best.1 - best.2;
        let text = if diff > options.null_score_diff_threshold {
            String::new()
        } else {
            best.0.text.clone()
        };
        (text, Some(diff))
    };
    QaPrediction {
        id: example.id.clone(),
        text,
        score_diff,
        n_best: n_best.into_iter().map(|c| c.0).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_indices_are_numpy_argsort_reversed() {
        assert_eq!(top_indices(&[0.1, 3.0, 2.0, 3.0], 3), vec![3, 1, 2]);
        assert_eq!(top_indices(&[1.0], 5), vec![0]);
    }
}
