#![warn(missing_docs)]
//! A linear-chain CRF tagging head: a custom kindling head that is more than a linear layer.
//!
//! [`CrfTagger`] scores every token for every tag (the *emissions*, a linear layer on the body's
//! hidden states, as in token classification) and adds a learned score for every pair of
//! neighbouring tags (the *transitions*), plus a score for the first and the last tag. A tag
//! path's score is the sum of its emissions and transitions; the loss is the negative
//! log-likelihood of the gold path, `log Z - score(gold)`, where the log-partition `log Z`
//! (the log-sum-exp over all paths) comes from the forward algorithm, and prediction is the
//! best path, found by Viterbi decoding.
//!
//! **Which tokens the chain runs over.** The loss takes the token-classification labels as
//! they are (`[batch, seq]`, `-100` on special tokens, padding and later sub-words), and the
//! chain runs over the labelled tokens only: positions labelled `-100` (or padded, by the
//! attention mask) are left out as if they were not there, so a transition links a word's first
//! sub-word to the next word's first sub-word. Decoding takes the same choice of positions as a
//! mask ([`CrfTagger::decode`]).
//!
//! Used by the `custom_head` example, which mounts it on a pretrained XLM-R body and trains it.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use kindling::body::{BodyOutput, hf_linear};
use kindling::burn;
use kindling::heads::loss::IGNORE_INDEX;
use kindling::heads::{Head, HeadContext, HeadError};

/// A linear-chain CRF over per-token emission scores.
#[derive(Module, Debug)]
pub struct CrfTagger {
    /// Dropout on the hidden states.
    pub dropout: Dropout,
    /// `hidden -> num_tags`: each token's score for each tag.
    pub emissions: Linear,
    /// `[num_tags, num_tags]`: the score of tag `j` following tag `i` is `transitions[i, j]`.
    pub transitions: Param<Tensor<2>>,
    /// `[num_tags]`: the score of starting a sentence with each tag.
    pub start_transitions: Param<Tensor<1>>,
    /// `[num_tags]`: the score of ending a sentence with each tag.
    pub end_transitions: Param<Tensor<1>>,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`CrfTagger`]: the emissions, and the mask the loss and decoding need (a head's
/// loss sees only its outputs and the labels, so the mask travels with the outputs).
#[derive(Debug, Clone)]
pub struct CrfOutput {
    /// `[batch, seq, num_tags]` emission scores.
    pub emissions: Tensor<3>,
    /// `[batch, seq]`, 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
}

/// The positions each sentence's chain runs over: where `keep` (`[batch, seq]`, nonzero =
/// keep) and the attention mask are both set, in order.
pub fn chain_positions(keep: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Vec<Vec<usize>> {
    let [_, seq] = keep.dims();
    let keep: Vec<i64> = keep.into_data().iter::<i64>().collect();
    let mask: Vec<i64> = attention_mask.into_data().iter::<i64>().collect();
    keep.chunks(seq.max(1))
        .zip(mask.chunks(seq.max(1)))
        .map(|(keep, mask)| (0..seq).filter(|&i| keep[i] != 0 && mask[i] != 0).collect())
        .collect()
}

/// Gathers the emissions `[batch, seq, num_tags]` at each chain's positions, left-aligned:
/// `[batch, len, num_tags]`, `len` the longest chain (at least 1). Past a chain's end the values
/// are those of position 0; everything downstream masks them out by the chain lengths.
pub fn compact(emissions: Tensor<3>, positions: &[Vec<usize>]) -> Tensor<3> {
    let [batch, _, tags] = emissions.dims();
    let len = positions.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let index: Vec<i64> = positions
        .iter()
        .flat_map(|p| {
            (0..len).flat_map(move |i| std::iter::repeat_n(p.get(i).map_or(0, |&x| x as i64), tags))
        })
        .collect();
    let device = emissions.device();
    emissions.gather(1, ints(index, [batch, len, tags], &device))
}

/// `log(sum(exp(x)))` along `dim`, keeping the dimension, computed stably.
fn log_sum_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let max = x.clone().max_dim(dim);
    max.clone() + (x - max).exp().sum_dim(dim).log()
}

/// The index and value of the largest of `scores` (the first, on ties).
fn argmax(scores: impl Iterator<Item = f32>) -> (usize, f32) {
    scores
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, s)| {
            if s > best.1 { (i, s) } else { best }
        })
}

/// `[batch, len]` floats: 1 where `i < lengths[b]`, else 0.
fn length_mask(lengths: &[usize], len: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = lengths
        .iter()
        .flat_map(|&n| (0..len).map(move |i| if i < n { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(values, [lengths.len(), len]), device)
}

fn ints<const D: usize>(values: Vec<i64>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl CrfTagger {
    /// A fresh head: the emission layer initialized like `transformers`' classifiers (normal,
    /// standard deviation `initializer_range`), the transition scores uniform in ±0.1 (as
    /// `pytorch-crf` does).
    pub fn new(
        hidden_size: usize,
        num_tags: usize,
        dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let uniform = Distribution::Uniform(-0.1, 0.1);
        Self {
            dropout: DropoutConfig::new(dropout).init(),
            emissions: hf_linear(hidden_size, num_tags, initializer_range, device),
            transitions: Param::from_tensor(Tensor::random([num_tags, num_tags], uniform, device)),
            start_transitions: Param::from_tensor(Tensor::random([num_tags], uniform, device)),
            end_transitions: Param::from_tensor(Tensor::random([num_tags], uniform, device)),
            hidden_size,
        }
    }

    /// Number of tags.
    pub fn num_tags(&self) -> usize {
        self.transitions.val().dims()[0]
    }

    /// The gold tags at each chain's positions, checked to be tag ids.
    fn gold_tags(
        &self,
        labels: Tensor<2, Int>,
        positions: &[Vec<usize>],
    ) -> Result<Vec<Vec<usize>>, HeadError> {
        let [_, seq] = labels.dims();
        let labels: Vec<i64> = labels.into_data().iter::<i64>().collect();
        let num_tags = self.num_tags();
        positions
            .iter()
            .enumerate()
            .map(|(b, chain)| {
                chain
                    .iter()
                    .map(|&i| {
                        let label = labels[b * seq + i];
                        usize::try_from(label)
                            .ok()
                            .filter(|&t| t < num_tags)
                            .ok_or_else(|| {
                                HeadError::Invalid(format!(
                                    "label {label} at [{b}, {i}] is neither a tag id \
                                     (0..{num_tags}) nor {IGNORE_INDEX}"
                                ))
                            })
                    })
                    .collect()
            })
            .collect()
    }

    /// The forward algorithm: `log Z` per sentence, `[batch]`, for left-aligned emissions
    /// `[batch, len, num_tags]` of chains of the given lengths (a chain of length 0 gives a
    /// meaningless finite value).
    ///
    /// `alpha[b, j]` is the log-sum-exp of the scores of all paths over the first `i + 1`
    /// positions that end in tag `j`; each step adds a position:
    /// `alpha'[j] = log-sum-exp_k(alpha[k] + transitions[k, j]) + emissions[i, j]`.
    pub fn log_partition(&self, emissions: Tensor<3>, lengths: &[usize]) -> Tensor<1> {
        let [batch, len, tags] = emissions.dims();
        let device = emissions.device();
        let active = length_mask(lengths, len, &device);
        let transitions = self.transitions.val().unsqueeze::<3>(); // [1, from, to]
        let emission = |i: usize| emissions.clone().slice([0..batch, i..i + 1, 0..tags]);
        let mut alpha =
            self.start_transitions.val().unsqueeze::<2>() + emission(0).reshape([batch, tags]);
        for i in 1..len {
            // [batch, from, 1] + [1, from, to] + [batch, 1, to], summed out over `from`.
            let scores = alpha.clone().unsqueeze_dim::<3>(2) + transitions.clone() + emission(i);
            let next = log_sum_exp(scores, 1).reshape([batch, tags]);
            // Chains that have ended keep their alpha.
            let on = active.clone().slice([0..batch, i..i + 1]);
            alpha = next * on.clone() + alpha * (on.neg() + 1.0);
        }
        let end = self.end_transitions.val().unsqueeze::<2>();
        log_sum_exp(alpha + end, 1).reshape([batch])
    }

    /// The score of the given tag paths, `[batch]`, for left-aligned emissions
    /// `[batch, len, num_tags]`: start + emissions + transitions + end.
    pub fn path_score(&self, emissions: Tensor<3>, tags: &[Vec<usize>]) -> Tensor<1> {
        let [batch, len, num_tags] = emissions.dims();
        let device = emissions.device();
        let lengths: Vec<usize> = tags.iter().map(Vec::len).collect();
        let active = length_mask(&lengths, len, &device);
        let tag_at = |b: usize, i: usize| tags[b].get(i).copied().unwrap_or(0) as i64;

        let index: Vec<i64> = (0..batch)
            .flat_map(|b| (0..len).map(move |i| tag_at(b, i)))
            .collect();
        let picked = emissions.gather(2, ints(index, [batch, len, 1], &device));
        let mut score = (picked.reshape([batch, len]) * active.clone())
            .sum_dim(1)
            .reshape([batch]);

        if len > 1 {
            // Pair (previous, current) as an index into the flattened transition matrix.
            let pairs: Vec<i64> = (0..batch)
                .flat_map(|b| {
                    (1..len).map(move |i| tag_at(b, i - 1) * num_tags as i64 + tag_at(b, i))
                })
                .collect();
            let flat = self.transitions.val().reshape([num_tags * num_tags]);
            let moves = flat
                .select(0, ints(pairs, [batch * (len - 1)], &device))
                .reshape([batch, len - 1]);
            let on = active.slice([0..batch, 1..len]);
            score = score + (moves * on).sum_dim(1).reshape([batch]);
        }

        let any: Vec<f32> = lengths
            .iter()
            .map(|&n| if n > 0 { 1.0 } else { 0.0 })
            .collect();
        let any = Tensor::<1>::from_data(TensorData::new(any, [batch]), &device);
        let first: Vec<i64> = (0..batch).map(|b| tag_at(b, 0)).collect();
        let last: Vec<i64> = (0..batch)
            .map(|b| tag_at(b, lengths[b].saturating_sub(1)))
            .collect();
        let start = self
            .start_transitions
            .val()
            .select(0, ints(first, [batch], &device));
        let end = self
            .end_transitions
            .val()
            .select(0, ints(last, [batch], &device));
        score + (start + end) * any
    }

    /// Viterbi decoding: the best tag path of each chain, for left-aligned emissions
    /// `[batch, len, num_tags]`. Runs on the CPU over the tensors' values.
    pub fn viterbi(&self, emissions: Tensor<3>, lengths: &[usize]) -> Vec<Vec<usize>> {
        let [batch, len, tags] = emissions.dims();
        let values = |t: TensorData| t.iter::<f32>().collect::<Vec<f32>>();
        let emissions = values(emissions.into_data());
        let transitions = values(self.transitions.val().into_data());
        let start = values(self.start_transitions.val().into_data());
        let end = values(self.end_transitions.val().into_data());
        let emit = |b: usize, i: usize, j: usize| emissions[(b * len + i) * tags + j];

        (0..batch)
            .map(|b| {
                let n = lengths[b];
                if n == 0 {
                    return Vec::new();
                }
                // best[j]: the best score of a path over positions 0..=i ending in tag j;
                // back[i][j]: the tag before j on that path.
                let mut best: Vec<f32> = (0..tags).map(|j| start[j] + emit(b, 0, j)).collect();
                let mut back = vec![vec![0usize; tags]; n];
                for (i, back) in back.iter_mut().enumerate().skip(1) {
                    best = (0..tags)
                        .map(|j| {
                            let (k, score) =
                                argmax((0..tags).map(|k| best[k] + transitions[k * tags + j]));
                            back[j] = k;
                            score + emit(b, i, j)
                        })
                        .collect();
                }
                let (mut tag, _) = argmax((0..tags).map(|j| best[j] + end[j]));
                let mut path = vec![tag; n];
                for i in (1..n).rev() {
                    tag = back[i][tag];
                    path[i - 1] = tag;
                }
                path
            })
            .collect()
    }

    /// The best tag path of each sentence over the positions where `keep` (`[batch, seq]`, for
    /// example `labels != -100`, or the first sub-word of each word) and the attention mask are
    /// both set; all non-padded positions when `keep` is `None`. One tag per kept position.
    pub fn decode(&self, output: &CrfOutput, keep: Option<Tensor<2, Int>>) -> Vec<Vec<usize>> {
        let keep = keep.unwrap_or_else(|| output.attention_mask.clone());
        let positions = chain_positions(keep, output.attention_mask.clone());
        let lengths: Vec<usize> = positions.iter().map(Vec::len).collect();
        self.viterbi(compact(output.emissions.clone(), &positions), &lengths)
    }
}

impl Head for CrfTagger {
    type Output = CrfOutput;
    /// `[batch, seq]` tag ids, `-100` where the chain skips the token.
    type Labels = Tensor<2, Int>;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let hidden = self.dropout.forward(body.last_hidden_state);
        CrfOutput {
            emissions: self.emissions.forward(hidden),
            attention_mask: context.attention_mask.clone(),
        }
    }

    /// The mean over sentences of the negative log-likelihood of the gold path, over the
    /// labelled tokens; sentences with no labelled token do not count (none at all gives NaN,
    /// like PyTorch's mean over nothing).
    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, seq, tags] = output.emissions.dims();
        if labels.dims() != [batch, seq] {
            return Err(HeadError::LabelShape {
                labels: labels.dims().to_vec(),
                outputs: vec![batch, seq, tags],
                message: "tag labels are [batch, seq]".into(),
            });
        }
        let keep = labels.clone().not_equal_elem(IGNORE_INDEX).int();
        let positions = chain_positions(keep, output.attention_mask.clone());
        let tags = self.gold_tags(labels, &positions)?;
        let lengths: Vec<usize> = positions.iter().map(Vec::len).collect();
        let emissions = compact(output.emissions.clone(), &positions);
        let log_z = self.log_partition(emissions.clone(), &lengths);
        let gold = self.path_score(emissions, &tags);

        let device = output.emissions.device();
        let counted: Vec<f32> = lengths
            .iter()
            .map(|&n| if n > 0 { 1.0 } else { 0.0 })
            .collect();
        let count: f32 = counted.iter().sum();
        let counted = Tensor::<1>::from_data(TensorData::new(counted, [batch]), &device);
        Ok(((log_z - gold) * counted).sum() / count)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tag path of length `n` over `tags` tags.
    fn all_paths(n: usize, tags: usize) -> Vec<Vec<usize>> {
        (0..tags.pow(n as u32))
            .map(|mut code| {
                (0..n)
                    .map(|_| {
                        let t = code % tags;
                        code /= tags;
                        t
                    })
                    .collect()
            })
            .collect()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data().iter::<f64>().collect()
    }

    /// A tagger with transition scores large enough to matter.
    fn tagger(tags: usize, device: &Device) -> CrfTagger {
        let mut crf = CrfTagger::new(4, tags, 0.0, 0.02, device);
        let normal = Distribution::Normal(0.0, 1.0);
        crf.transitions = Param::from_tensor(Tensor::random([tags, tags], normal, device));
        crf.start_transitions = Param::from_tensor(Tensor::random([tags], normal, device));
        crf.end_transitions = Param::from_tensor(Tensor::random([tags], normal, device));
        crf
    }

    #[test]
    fn forward_algorithm_and_viterbi_match_brute_force() {
        let device = Device::flex();
        let (tags, len) = (3, 4);
        let crf = tagger(tags, &device);
        let lengths = [4, 2, 1];
        let emissions = Tensor::<3>::random(
            [lengths.len(), len, tags],
            Distribution::Normal(0.0, 1.0),
            &device,
        );

        let log_z = values(crf.log_partition(emissions.clone(), &lengths));
        let best = crf.viterbi(emissions.clone(), &lengths);

        let e = values(emissions.clone());
        let trans = values(crf.transitions.val());
        let start = values(crf.start_transitions.val());
        let end = values(crf.end_transitions.val());
        for (b, &n) in lengths.iter().enumerate() {
            let paths = all_paths(n, tags);
            let score = |p: &[usize]| {
                let mut s = start[p[0]] + end[p[n - 1]];
                for i in 0..n {
                    s += e[(b * len + i) * tags + p[i]];
                    if i > 0 {
                        s += trans[p[i - 1] * tags + p[i]];
                    }
                }
                s
            };
            let scores: Vec<f64> = paths.iter().map(|p| score(p)).collect();
            let expected = scores.iter().map(|s| s.exp()).sum::<f64>().ln();
            assert!(
                (log_z[b] - expected).abs() < 1e-4,
                "{b}: {} vs {expected}",
                log_z[b]
            );

            let argmax = (0..paths.len())
                .max_by(|&i, &j| scores[i].total_cmp(&scores[j]))
                .unwrap();
            assert_eq!(best[b], paths[argmax], "sentence {b}");

            // The tensor path score agrees with the hand-computed one.
            let mut batch = vec![Vec::new(); lengths.len()];
            batch[b] = paths[argmax].clone();
            let got = values(crf.path_score(emissions.clone(), &batch))[b];
            assert!(
                (got - scores[argmax]).abs() < 1e-4,
                "{got} vs {}",
                scores[argmax]
            );
        }
    }

    #[test]
    fn ignored_positions_are_left_out_of_the_chain() {
        let device = Device::flex();
        let crf = tagger(3, &device);
        let emissions = Tensor::<3>::random([1, 6, 3], Distribution::Normal(0.0, 1.0), &device);
        // <s> w1 sub w2 </s> <pad>
        let mask = ints(vec![1, 1, 1, 1, 1, 0], [1, 6], &device);
        let labels = ints(vec![-100, 2, -100, 1, -100, -100], [1, 6], &device);
        let output = CrfOutput {
            emissions: emissions.clone(),
            attention_mask: mask,
        };
        let loss = crf.loss(&output, labels).unwrap().into_scalar::<f64>();

        // The same sentence with the skipped tokens removed.
        let kept = emissions.select(1, ints(vec![1, 3], [2], &device));
        let output = CrfOutput {
            emissions: kept,
            attention_mask: ints(vec![1, 1], [1, 2], &device),
        };
        let direct = crf
            .loss(&output, ints(vec![2, 1], [1, 2], &device))
            .unwrap()
            .into_scalar::<f64>();
        assert!((loss - direct).abs() < 1e-5, "{loss} vs {direct}");
        assert!(loss > 0.0);

        let decoded = crf.decode(&output, None);
        assert_eq!(decoded[0].len(), 2);
    }

    #[test]
    fn the_loss_gradient_matches_finite_differences() {
        let device = Device::flex().autodiff();
        let crf = tagger(3, &device);
        let base = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &device);
        let mask = ints(vec![1, 1, 1, 1, 1, 1, 1, 0], [2, 4], &device);
        let labels = ints(vec![-100, 2, 0, 1, 1, -100, 2, -100], [2, 4], &device);
        let loss_at = |emissions: Tensor<3>| {
            let output = CrfOutput {
                emissions,
                attention_mask: mask.clone(),
            };
            crf.loss(&output, labels.clone()).unwrap()
        };

        let emissions = base.clone().require_grad();
        let grads = loss_at(emissions.clone()).backward();
        let grad = values(emissions.grad(&grads).unwrap());

        let flat = values(base.clone());
        let eps = 1e-2;
        for k in 0..flat.len() {
            let shifted = |d: f64| {
                let mut v: Vec<f32> = flat.iter().map(|&x| x as f32).collect();
                v[k] += d as f32;
                let t = Tensor::<3>::from_data(TensorData::new(v, [2, 4, 3]), &device);
                loss_at(t).into_scalar::<f64>()
            };
            let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            assert!(
                (grad[k] - numeric).abs() < 2e-3,
                "d loss / d emissions[{k}]: autodiff {} vs numeric {numeric}",
                grad[k]
            );
        }
    }

    #[test]
    fn a_label_outside_the_tags_is_an_error() {
        let device = Device::flex();
        let crf = tagger(3, &device);
        let output = CrfOutput {
            emissions: Tensor::zeros([1, 2, 3], &device),
            attention_mask: Tensor::ones([1, 2], &device),
        };
        let err = crf.loss(&output, ints(vec![0, 7], [1, 2], &device));
        assert!(matches!(err, Err(HeadError::Invalid(_))));
    }
}
