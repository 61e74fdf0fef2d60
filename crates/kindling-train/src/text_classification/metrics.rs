//! Text-classification metrics, equal to scikit-learn's and SciPy's:
//!
//! - single-label: `accuracy_score`, `f1_score(average="macro")` (over the labels present in
//!   the gold or the predicted classes, as scikit-learn takes them), `f1_score(average="micro")`
//!   and `matthews_corrcoef` (the multi-class form);
//! - multi-label (0/1 indicator rows): `accuracy_score` (exact match of the whole row) and
//!   `f1_score` macro (over every label column) and micro;
//! - regression: `scipy.stats.pearsonr`, `scipy.stats.spearmanr` (Pearson of average ranks)
//!   and `mean_squared_error`.
//!
//! A division by zero gives 0.0, as scikit-learn's default `zero_division="warn"` does; a
//! constant input makes a correlation NaN, as SciPy returns it. Oracle:
//! `tests/fixtures/text_classification_fixture.py` (scikit-learn, SciPy), checked by
//! `tests/text_classification.rs`.

use std::collections::{BTreeMap, BTreeSet};

/// Metric names and values, named as `transformers`' example scripts name them (without the
/// `eval_` prefix).
pub type Metrics = BTreeMap<String, f64>;

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// Share of examples whose predicted class is the gold one (`accuracy_score`).
pub fn accuracy(gold: &[i64], predicted: &[i64]) -> f64 {
    let right = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    ratio(right as f64, gold.len() as f64)
}

/// `(tp, fp, fn)` of class `class`.
fn counts(gold: &[i64], predicted: &[i64], class: i64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (&g, &p) in gold.iter().zip(predicted) {
        match (g == class, p == class) {
            (true, true) => tp += 1.0,
            (false, true) => fp += 1.0,
            (true, false) => fn_ += 1.0,
            (false, false) => {}
        }
    }
    (tp, fp, fn_)
}

fn f1_of(tp: f64, fp: f64, fn_: f64) -> f64 {
    ratio(2.0 * tp, 2.0 * tp + fp + fn_)
}

/// Unweighted mean of the per-class F1 over the classes in `gold` or `predicted`
/// (`f1_score(average="macro")`).
pub fn f1_macro(gold: &[i64], predicted: &[i64]) -> f64 {
    let classes: BTreeSet<i64> = gold.iter().chain(predicted).copied().collect();
    let sum: f64 = classes
        .iter()
        .map(|&c| {
            let (tp, fp, fn_) = counts(gold, predicted, c);
            f1_of(tp, fp, fn_)
        })
        .sum();
    ratio(sum, classes.len() as f64)
}

/// F1 of the counts summed over classes (`f1_score(average="micro")`; equal to the accuracy
/// for single-label data).
pub fn f1_micro(gold: &[i64], predicted: &[i64]) -> f64 {
    let classes: BTreeSet<i64> = gold.iter().chain(predicted).copied().collect();
    let (tp, fp, fn_) = classes
        .iter()
        .map(|&c| counts(gold, predicted, c))
        .fold((0.0, 0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    f1_of(tp, fp, fn_)
}

/// The Matthews correlation coefficient, multi-class (`matthews_corrcoef`): 0 when either
/// side predicts a single class.
pub fn matthews_corrcoef(gold: &[i64], predicted: &[i64]) -> f64 {
    let classes: Vec<i64> = gold
        .iter()
        .chain(predicted)
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |c: i64| classes.binary_search(&c).unwrap_or(0);
    let k = classes.len();
    let mut t_sum = vec![0.0f64; k];
    let mut p_sum = vec![0.0f64; k];
    let mut correct = 0.0;
    for (&g, &p) in gold.iter().zip(predicted) {
        t_sum[index(g)] += 1.0;
        p_sum[index(p)] += 1.0;
        if g == p {
            correct += 1.0;
        }
    }
    let n = gold.len() as f64;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_ytyp = correct * n - dot(&t_sum, &p_sum);
    let cov_ypyp = n * n - dot(&p_sum, &p_sum);
    let cov_ytyt = n * n - dot(&t_sum, &t_sum);
    if cov_ypyp * cov_ytyt == 0.0 {
        0.0
    } else {
        cov_ytyp / (cov_ytyt * cov_ypyp).sqrt()
    }
}

/// `accuracy`, `f1` (macro), `f1_micro` and `mcc` of single-label predictions.
pub fn classification_metrics(gold: &[i64], predicted: &[i64]) -> Metrics {
    Metrics::from([
        ("accuracy".into(), accuracy(gold, predicted)),
        ("f1".into(), f1_macro(gold, predicted)),
        ("f1_micro".into(), f1_micro(gold, predicted)),
        ("mcc".into(), matthews_corrcoef(gold, predicted)),
    ])
}

/// `accuracy` (exact match of whole rows), `f1` (macro over every label column) and
/// `f1_micro` of multi-label predictions, one indicator row per example.
pub fn multi_label_metrics(gold: &[Vec<bool>], predicted: &[Vec<bool>]) -> Metrics {
    let columns = gold.first().map_or(0, Vec::len);
    let exact = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let mut per_column = vec![(0.0f64, 0.0f64, 0.0f64); columns];
    for (g, p) in gold.iter().zip(predicted) {
        for (c, slot) in per_column.iter_mut().enumerate() {
            match (
                g.get(c).copied().unwrap_or(false),
                p.get(c).copied().unwrap_or(false),
            ) {
                (true, true) => slot.0 += 1.0,
                (false, true) => slot.1 += 1.0,
                (true, false) => slot.2 += 1.0,
                (false, false) => {}
            }
        }
    }
    let macro_f1 = ratio(
        per_column
            .iter()
            .map(|&(tp, fp, fn_)| f1_of(tp, fp, fn_))
            .sum(),
        columns as f64,
    );
    let (tp, fp, fn_) = per_column
        .iter()
        .fold((0.0, 0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    Metrics::from([
        ("accuracy".into(), ratio(exact as f64, gold.len() as f64)),
        ("f1".into(), macro_f1),
        ("f1_micro".into(), f1_of(tp, fp, fn_)),
    ])
}

/// Pearson's r (`scipy.stats.pearsonr`): NaN when either input is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 || x.len() != y.len() {
        return f64::NAN;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let xm: Vec<f64> = x.iter().map(|v| v - mx).collect();
    let ym: Vec<f64> = y.iter().map(|v| v - my).collect();
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let (nx, ny) = (norm(&xm), norm(&ym));
    if nx == 0.0 || ny == 0.0 {
        return f64::NAN;
    }
    let r: f64 = xm.iter().zip(&ym).map(|(a, b)| (a / nx) * (b / ny)).sum();
    r.clamp(-1.0, 1.0)
}

/// 1-based ranks, ties given their average rank (`scipy.stats.rankdata`).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation (`scipy.stats.spearmanr`): Pearson's r of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Mean squared error (`mean_squared_error`).
pub fn mean_squared_error(gold: &[f64], predicted: &[f64]) -> f64 {
    ratio(
        gold.iter()
            .zip(predicted)
            .map(|(g, p)| (g - p) * (g - p))
            .sum(),
        gold.len() as f64,
    )
}

/// `pearson`, `spearmanr` and `mse` of regression predictions (every output of every example,
/// flattened in order).
pub fn regression_metrics(gold: &[f64], predicted: &[f64]) -> Metrics {
    Metrics::from([
        ("pearson".into(), pearson(predicted, gold)),
        ("spearmanr".into(), spearman(predicted, gold)),
        ("mse".into(), mean_squared_error(gold, predicted)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_by_hand() {
        let gold = [0, 1, 2, 2];
        let pred = [0, 2, 2, 2];
        assert_eq!(accuracy(&gold, &pred), 0.75);
        // F1: class 0 = 1, class 1 = 0, class 2 = 2*2/(4+1) = 0.8
        assert!((f1_macro(&gold, &pred) - 1.8 / 3.0).abs() < 1e-15);
        assert!((f1_micro(&gold, &pred) - 0.75).abs() < 1e-15);
        assert_eq!(matthews_corrcoef(&[1, 1], &[1, 1]), 0.0);
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert!(pearson(&[1.0, 1.0], &[0.0, 1.0]).is_nan());
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 35.0]) - 1.0).abs() < 1e-15);
    }
}
