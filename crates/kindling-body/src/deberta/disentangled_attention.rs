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
    /// The (normalized) relative embeddings in reach of the sequence, `[rows, hidden]`: the
    /// rows of the `[2 · span, hidden]` table the indices read, from the first to the last.
    pub embeddings: Tensor<2>,
    /// The row each content-to-position score reads, by query then key.
    pub c2p: kernels::RelativeIndex,
    /// The row each position-to-content score reads, by key then query (`transformers`
    /// gathers over the keys' rows and transposes the result).
    pub p2c: kernels::RelativeIndex,
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
        let project = |own: &Option<Linear>, shared: &Linear| match (own, self.pos.share_att_key) {
            (Some(own), false) => kernels::linear(rel.clone(), own),
            _ => kernels::linear(rel.clone(), shared),
        };
        let mut terms = Vec::with_capacity(2);
        if self.pos.c2p {
            terms.push(kernels::RelativeTerm {
                content: query,
                positions: project(&self.pos_key_proj, &self.key_proj),
                index: &relative.c2p,
                by_key: false,
            });
        }
        if self.pos.p2c {
            terms.push(kernels::RelativeTerm {
                content: key,
                positions: project(&self.pos_query_proj, &self.query_proj),
                index: &relative.p2c,
                by_key: true,
            });
        }
        kernels::relative_scores(&terms, self.num_heads, scale)
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
        let [query, key, value] =
            kernels::linears(hidden, [&self.query_proj, &self.key_proj, &self.value_proj]);
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
