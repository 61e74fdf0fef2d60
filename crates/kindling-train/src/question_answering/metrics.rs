//! Exact match and F1 as the official SQuAD evaluation scripts compute them: v1.1
//! (`exact_match`, `f1`, each the best over a question's gold answers, as percentages) and
//! v2.0 (`exact`, `f1`, `total`, the `HasAns_*` / `NoAns_*` splits and the best-threshold
//! figures, with every no-answer probability 0 as `run_qa.py` passes them).
//!
//! Answers are compared after SQuAD's normalization: lower case, ASCII punctuation removed,
//! the articles `a`, `an`, `the` removed, whitespace collapsed.

use std::collections::{BTreeMap, HashMap};

/// Python's `string.punctuation`.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// SQuAD's `normalize_answer`: lower case, no punctuation, no articles, single spaces.
pub fn normalize_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punct: String = lower
        .chars()
        .filter(|c| !PUNCTUATION.contains(*c))
        .collect();
    let no_articles = remove_articles(&no_punct);
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `re.sub(r"\b(a|an|the)\b", " ", text)`: every `a`, `an`, `the` between word boundaries
/// (Python's `\w` is Unicode-aware: letters, digits and `_`) becomes a space.
fn remove_articles(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let boundary_before = i == 0 || !is_word(chars[i - 1]);
        let mut replaced = false;
        if boundary_before {
            // regex alternation order: `a` is tried before `an`, so "an" matches only when
            // "a" alone has no boundary after it
            for article in ["a", "an", "the"] {
                let n = article.chars().count();
                if i + n <= chars.len()
                    && chars[i..i + n].iter().copied().eq(article.chars())
                    && (i + n == chars.len() || !is_word(chars[i + n]))
                {
                    out.push(' ');
                    i += n;
                    replaced = true;
                    break;
                }
            }
        }
        if !replaced {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn token_f1(prediction: &[&str], gold: &[&str]) -> f64 {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in gold {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0i64;
    for t in prediction {
        if let Some(c) = counts.get_mut(t)
            && *c > 0
        {
            *c -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// SQuAD v1.1's per-question `f1_score`.
pub fn f1_v1(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_answer(prediction), normalize_answer(gold));
    let p: Vec<&str> = p.split_whitespace().collect();
    let g: Vec<&str> = g.split_whitespace().collect();
    token_f1(&p, &g)
}

/// SQuAD v2.0's per-question `compute_f1`: when either side has no tokens, 1 if both have
/// none, else 0.
pub fn f1_v2(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_answer(prediction), normalize_answer(gold));
    let p: Vec<&str> = p.split_whitespace().collect();
    let g: Vec<&str> = g.split_whitespace().collect();
    if p.is_empty() || g.is_empty() {
        return f64::from(u8::from(p == g));
    }
    token_f1(&p, &g)
}

/// Exact match after normalization (both versions).
pub fn exact_match(prediction: &str, gold: &str) -> f64 {
    f64::from(u8::from(
        normalize_answer(prediction) == normalize_answer(gold),
    ))
}

fn best(prediction: &str, golds: &[String], score: impl Fn(&str, &str) -> f64) -> f64 {
    golds
        .iter()
        .map(|g| score(prediction, g))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// SQuAD v1.1: `exact_match` and `f1` (percent) of `predictions` against each question's gold
/// answers (questions without gold answers are skipped; NaN when none is left).
pub fn squad_v1(predictions: &[String], golds: &[Vec<String>]) -> BTreeMap<String, f64> {
    let (mut em, mut f1, mut n) = (0.0, 0.0, 0usize);
    for (prediction, gold) in predictions.iter().zip(golds) {
        if gold.is_empty() {
            continue;
        }
        em += best(prediction, gold, exact_match);
        f1 += best(prediction, gold, f1_v1);
        n += 1;
    }
    let pct = |x: f64| {
        if n == 0 {
            f64::NAN
        } else {
            100.0 * x / n as f64
        }
    };
    BTreeMap::from([("exact_match".into(), pct(em)), ("f1".into(), pct(f1))])
}

/// SQuAD v2.0 (the official script with every no-answer probability 0 and threshold 1, as the
/// `squad_v2` metric of `run_qa.py` gets them): `exact`, `f1`, `total`, `HasAns_exact`,
/// `HasAns_f1`, `HasAns_total`, `NoAns_*` when there are such questions, and `best_exact`,
/// `best_exact_thresh`, `best_f1`, `best_f1_thresh`. A question's gold answers that normalize
/// to nothing are dropped; with none left, the gold answer is the empty one (the question still
/// counts as having an answer, as in the script).
pub fn squad_v2(predictions: &[String], golds: &[Vec<String>]) -> BTreeMap<String, f64> {
    let mut exact = Vec::new();
    let mut f1 = Vec::new();
    let mut has_answer = Vec::new();
    for (prediction, gold) in predictions.iter().zip(golds) {
        // "has an answer" is decided before the filtering, as the script's `qid_to_has_ans`
        has_answer.push(!gold.is_empty());
        let mut gold: Vec<String> = gold
            .iter()
            .filter(|g| !normalize_answer(g).is_empty())
            .cloned()
            .collect();
        if gold.is_empty() {
            gold.push(String::new());
        }
        exact.push(best(prediction, &gold, exact_match));
        f1.push(best(prediction, &gold, f1_v2));
    }
    let mut out = BTreeMap::new();
    let total = exact.len();
    let pct = |v: &[f64], keep: &dyn Fn(usize) -> bool| {
        let picked: Vec<f64> = v
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, x)| *x)
            .collect();
        (
            100.0 * picked.iter().sum::<f64>() / picked.len() as f64,
            picked.len(),
        )
    };
    if total == 0 {
        return out;
    }
    out.insert("exact".into(), pct(&exact, &|_| true).0);
    out.insert("f1".into(), pct(&f1, &|_| true).0);
    out.insert("total".into(), total as f64);
    for (name, wanted) in [("HasAns", true), ("NoAns", false)] {
        let keep = |i: usize| has_answer[i] == wanted;
        let (e, n) = pct(&exact, &keep);
        if n == 0 {
            continue;
        }
        out.insert(format!("{name}_exact"), e);
        out.insert(format!("{name}_f1"), pct(&f1, &keep).0);
        out.insert(format!("{name}_total"), n as f64);
    }
    // `find_best_thresh` with every no-answer probability 0: starting from "answer nothing"
    // (the no-answer questions right), each question in turn is answered.
    let no_answers = has_answer.iter().filter(|h| !**h).count() as f64;
    for (name, scores) in [("exact", &exact), ("f1", &f1)] {
        let mut current = no_answers;
        let mut best_score = current;
        let mut best_thresh = 0.0;
        for (i, score) in scores.iter().enumerate() {
            let diff = if has_answer[i] {
                *score
            } else if !predictions[i].is_empty() {
                -1.0
            } else {
                0.0
            };
            current += diff;
            if current > best_score {
                best_score = current;
                best_thresh = 0.0;
            }
        }
        out.insert(format!("best_{name}"), 100.0 * best_score / total as f64);
        out.insert(format!("best_{name}_thresh"), best_thresh);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_follows_squad() {
        assert_eq!(normalize_answer("The  Eiffel-Tower!"), "eiffeltower");
        assert_eq!(normalize_answer("an apple a day"), "apple day");
        assert_eq!(normalize_answer("theatre"), "theatre");
        assert_eq!(normalize_answer("A"), "");
    }

    #[test]
    fn f1_counts_shared_tokens() {
        assert!((f1_v1("the big cat", "a big dog") - 0.5).abs() < 1e-12);
        assert_eq!(f1_v2("", ""), 1.0);
        assert_eq!(f1_v2("x", ""), 0.0);
    }
}
