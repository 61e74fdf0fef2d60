//! DeBERTa's disentangled self-attention (`attention.self.*`): content-to-content scores plus
//! content-to-position (`c2p`) and position-to-content (`p2c`) scores read from projected
//! relative embeddings, all scaled by `1/√(head_dim · scale_factor)` with
//! `scale_factor = 1 + len(pos_att_type)`.
//!
//! The relative terms are an additive bias on the content scores
//! ([`AttentionMask::with_additive`]), so the content part runs through the same attention
//! path as every body (kindling's kernel where it runs); the query is pre-scaled by
//! `1/√scale_factor` so that path's `1/√head_dim` gives DeBERTa's scale.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;

use crate::attention::{AttentionMask, multi_head_attention};
use crate::init::hf_linear;
use crate::kernels;

/// Which relative terms a layer adds, and how its position projections are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosAttention {
    /// Content-to-position scores.
    pub c2p: bool,
    /// Position-to-content scores.
    pub p2c: bool,
    /// Whether `rel_embeddings` exist and the terms are computed at all.
    pub relative: bool,
    /// Reuse `query_proj` / `key_proj` for the positions.
    pub share_att_key: bool,
}

impl PosAttention {
    /// `1 + len(pos_att_type)`: the terms named in the config set the scale even without
    /// relative attention, as in `transformers`.
    pub fn scale_factor(&self) -> usize {
        1 + usize::from(self.c2p) + usize::from(self.p2c)
    }
}

/// `attention.self`: the content projections, the optional position projections, and the
/// dropouts (the field is `self_attention`; [`crate::names`] maps it).
#[derive(Module, Debug)]
pub struct DisentangledSelfAttention {
    /// Query projection (also the position query with `share_att_key`).
    pub query_proj: Linear,
    /// Key projection (also the position key with `share_att_key`).
    pub key_proj: Linear,
    /// Value projection.
    pub value_proj: Linear,
    /// Position keys for `c2p`, without `share_att_key`.
    pub pos_key_proj: Option<Linear>,
    /// Position queries for `p2c`, without `share_att_key`.
    pub pos_query_proj: Option<Linear>,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Dropout on the relative embeddings (`hidden_dropout_prob`).
    pub pos_dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// The relative terms.
    #[module(skip)]
    pub pos: PosAttention,
}

/// What every layer's relative terms read, built once per forward pass.
#[derive(Debug, Clone)]
pub struct RelativeContext {
    /// The (normalized) relative embeddings `[2 · span, hidden]`.
    pub embeddings: Tensor<2>,
    /// Table row per content-to-position score, `[batch, heads, seq, seq]`.
    pub c2p_index: Tensor<4, Int>,
    /// Table row per position-to-content score, `[batch, heads, seq, seq]`, indexed by key
    /// then query (the gather runs over the keys' rows; its result is transposed).
    pub p2c_index: Tensor<4, Int>,
}

impl DisentangledSelfAttention {
    /// Builds the projections with `transformers`' initialization.
    pub fn new(
        hidden_size: usize,
        num_heads: usize,
        pos: PosAttention,
        attention_dropout: f64,
        hidden_dropout: f64,
        initializer_range: f64,
        device: &Device,
    ) -> Self {
        let linear = || hf_linear(hidden_size, hidden_size, initializer_range, device);
        let own = pos.relative && !pos.share_att_key;
        Self {
            query_proj: linear(),
            key_proj: linear(),
            value_proj: linear(),
            pos_key_proj: (own && pos.c2p).then(linear),
            pos_query_proj: (own && pos.p2c).then(linear),
            dropout: DropoutConfig::new(attention_dropout).init(),
            pos_dropout: DropoutConfig::new(hidden_dropout).init(),
            num_heads,
            pos,
        }
    }

    /// `[rows, heads · head_dim]` to `[1, heads, rows, head_dim]`.
    fn split_positions(&self, x: Tensor<2>) -> Tensor<4> {
        let [rows, width] = x.dims();
        x.reshape([rows, self.num_heads, width / self.num_heads])
            .swap_dims(0, 1)
            .unsqueeze::<4>()
    }

    /// `[batch, seq, heads · head_dim]` to `[batch, heads, seq, head_dim]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, width] = x.dims();
        x.reshape([batch, seq, self.num_heads, width / self.num_heads])
            .swap_dims(1, 2)
    }

    /// The `c2p` and `p2c` scores `[batch, heads, seq, seq]`, already divided by
    /// `√(head_dim · scale_factor)`; `None` without relative terms.
    fn relative_scores(
        &self,
        query: &Tensor<3>,
        key: &Tensor<3>,
        relative: &RelativeContext,
    ) -> Option<Tensor<4>> {
        if !self.pos.relative || !(self.pos.c2p || self.pos.p2c) {
            return None;
        }
        let head_dim = query.dims()[2] / self.num_heads;
        let scale = ((head_dim * self.pos.scale_factor()) as f64).powf(-0.5);
        let rel = kernels::dropout(relative.embeddings.clone(), &self.pos_dropout);
        let [batch, heads, _, _] = relative.c2p_index.dims();
        let mut score: Option<Tensor<4>> = None;
        let mut add = |term: Tensor<4>| {
            score = Some(match score.take() {
                Some(s) => s + term,
                None => term,
            });
        };
        if self.pos.c2p {
            let proj = match (&self.pos_key_proj, self.pos.share_att_key) {
                (Some(own), false) => own,
                _ => &self.key_proj,
            };
            let pos_key = self.split_positions(kernels::linear(rel.clone(), proj));
            let rows = pos_key.dims()[2];
            let scores = self.split_heads(query.clone()).matmul(
                pos_key
                    .swap_dims(2, 3)
                    .expand([batch, heads, head_dim, rows]),
            );
            add(scores.gather(3, relative.c2p_index.clone()) * scale);
        }
        if self.pos.p2c {
            let proj = match (&self.pos_query_proj, self.pos.share_att_key) {
                (Some(own), false) => own,
                _ => &self.query_proj,
            };
            let pos_query = self.split_positions(kernels::linear(rel, proj));
            let rows = pos_query.dims()[2];
            let scores = self.split_heads(key.clone()).matmul(
                pos_query
                    .swap_dims(2, 3)
                    .expand([batch, heads, head_dim, rows]),
            );
            add(scores.gather(3, relative.p2c_index.clone()).swap_dims(2, 3) * scale);
        }
        score
    }

    /// `hidden [batch, seq, hidden]` to the context `[batch, seq, hidden]`, and the attention
    /// probabilities on the decomposed path. `mask` carries the key padding shared by every
    /// layer; this layer's relative scores are added to it. `query_mask` (`[batch, seq, 1]`,
    /// 1 at real tokens) gives padded queries what `transformers`' outer-product mask gives
    /// them: every key masked, so uniform probabilities and the mean of all values.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &AttentionMask,
        relative: Option<&RelativeContext>,
        query_mask: &Tensor<3>,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let query = kernels::linear(hidden.clone(), &self.query_proj);
        let key = kernels::linear(hidden.clone(), &self.key_proj);
        let value = kernels::linear(hidden, &self.value_proj);
        let bias = relative.and_then(|r| self.relative_scores(&query, &key, r));
        let factor = self.pos.scale_factor();
        let query = match factor {
            1 => query,
            f => query * (f as f64).powf(-0.5),
        };
        let [batch, seq, _] = value.dims();
        let mean_value = value.clone().mean_dim(1);
        let run = |mask: &AttentionMask| {
            multi_head_attention(query, key, value, mask, self.num_heads, &self.dropout)
        };
        let (context, probs) = match bias {
            Some(bias) => run(&mask.clone().with_additive(bias)),
            None => run(mask),
        };
        let padded = query_mask.clone().neg() + 1.0;
        let context = context * query_mask.clone() + mean_value * padded.clone();
        let probs = probs.map(|p| {
            let rows = query_mask.clone().reshape([batch, 1, seq, 1]);
            p * rows.clone() + (rows.neg() + 1.0) * (1.0 / seq as f64)
        });
        (context, probs)
    }
}
