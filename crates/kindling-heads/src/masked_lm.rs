//! Masked language modeling (`*ForMaskedLM`): transform, layer norm, and a decoder tied to the
//! body's word embeddings.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use kindling_body::{BodyOutput, HiddenAct, hf_layer_norm, hf_linear, kernels, names};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::loss::{IGNORE_INDEX, cross_entropy_with_ignore};

/// Whose tensor names and activation the head follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskedLmLayout {
    /// BERT: `cls.predictions.transform.{dense,LayerNorm}`, `cls.predictions.bias`; the
    /// transform uses the config's `hidden_act`.
    Bert,
    /// RoBERTa / XLM-R / CamemBERT: `lm_head.{dense,layer_norm,bias}`; always exact GELU.
    Roberta,
    /// DistilBERT: `vocab_transform`, `vocab_layer_norm`, `vocab_projector` (its bias, and its
    /// weight when untied); the config's `activation`.
    DistilBert,
    /// ELECTRA's generator: `generator_predictions.{dense,LayerNorm}` (hidden to
    /// `embedding_size`), `generator_lm_head` (its bias, and its weight when untied); exact
    /// GELU.
    Electra,
    /// DeBERTa-v2 with `legacy: false`: `lm_predictions.lm_head.{dense,LayerNorm,bias}`, the
    /// config's `hidden_act`, always tied (the head multiplies by the word embeddings; it has
    /// no decoder). `legacy: true` checkpoints use [`Bert`](Self::Bert)'s `cls.predictions`.
    DebertaV2,
    /// ModernBERT: `head.{dense,norm}` (biases only under `classifier_bias` / `norm_bias`),
    /// `classifier_activation`, and `decoder` tied to the token embeddings, with its bias
    /// (`decoder.bias`) under `decoder_bias`.
    ModernBert,
}

/// Vocabulary logits per token.
///
/// The decoder is tied to the body's word embeddings, as in `transformers`: the mount hands the
/// embedding table to the head ([`HeadContext::input_embeddings`]), so training updates one
/// matrix. A checkpoint with `tie_word_embeddings: false` gets its own `decoder`.
#[derive(Module, Debug)]
pub struct MaskedLmHead {
    /// `hidden -> hidden` transform.
    pub dense: Linear,
    /// Norm after the transform's activation.
    pub layer_norm: LayerNorm,
    /// Output bias `[vocab]`; `None` for ModernBERT's `decoder_bias: false`.
    pub bias: Option<Param<Tensor<1>>>,
    /// An untied decoder (`hidden -> vocab`, no bias); `None` when tied to the embeddings.
    pub decoder: Option<Linear>,
    /// Tensor names and activation.
    #[module(skip)]
    pub layout: MaskedLmLayout,
    /// The transform's activation.
    #[module(skip)]
    pub activation: HiddenAct,
    /// The body width this head reads.
    pub hidden_size: usize,
}

/// Outputs of [`MaskedLmHead`].
#[derive(Debug, Clone)]
pub struct MaskedLmOutput {
    /// `[batch, seq, vocab]`.
    pub logits: Tensor<3>,
}

impl MaskedLmHead {
    /// A fresh head with `transformers`' initialization (zero bias; tied unless `untied`).
    /// `width` is the transform's output and the decoder's input: the embedding width (ELECTRA's
    /// `embedding_size`; the hidden size elsewhere).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layout: MaskedLmLayout,
        hidden_size: usize,
        width: usize,
        vocab_size: usize,
        hidden_act: HiddenAct,
        layer_norm_eps: f64,
        initializer_range: f64,
        untied: bool,
        device: &Device,
    ) -> Self {
        let activation = match layout {
            MaskedLmLayout::Bert
            | MaskedLmLayout::DistilBert
            | MaskedLmLayout::DebertaV2
            | MaskedLmLayout::ModernBert => hidden_act,
            MaskedLmLayout::Roberta | MaskedLmLayout::Electra => HiddenAct::Gelu,
        };
        let untied = untied && layout != MaskedLmLayout::DebertaV2;
        let decoder = untied.then(|| {
            let mut linear = hf_linear(width, vocab_size, initializer_range, device);
            linear.bias = None;
            linear
        });
        Self {
            dense: hf_linear(hidden_size, width, initializer_range, device),
            layer_norm: hf_layer_norm(width, layer_norm_eps, device),
            bias: Some(Param::from_tensor(Tensor::zeros([vocab_size], device))),
            decoder,
            layout,
            activation,
            hidden_size,
        }
    }

    /// Drops the biases a ModernBERT config turns off: `head.dense`'s (`classifier_bias`),
    /// `head.norm`'s (`norm_bias`) and the decoder's (`decoder_bias`).
    pub fn with_biases(mut self, dense: bool, norm: bool, output: bool) -> Self {
        if !dense {
            self.dense.bias = None;
        }
        if !norm {
            self.layer_norm.beta = None;
        }
        if !output {
            self.bias = None;
        }
        self
    }

    fn prefix(&self) -> &'static str {
        match self.layout {
            MaskedLmLayout::Bert => "cls.predictions",
            MaskedLmLayout::Roberta => "lm_head",
            MaskedLmLayout::DebertaV2 => "lm_predictions.lm_head",
            MaskedLmLayout::DistilBert | MaskedLmLayout::Electra | MaskedLmLayout::ModernBert => "",
        }
    }

    /// DistilBERT's and ELECTRA's names, which sit at the top of the head:
    /// `(module path, Hugging Face name)` per parameter.
    fn flat_names(&self) -> &'static [(&'static str, &'static str)] {
        match self.layout {
            MaskedLmLayout::DistilBert => &[
                ("dense.weight", "vocab_transform.weight"),
                ("dense.bias", "vocab_transform.bias"),
                ("layer_norm.weight", "vocab_layer_norm.weight"),
                ("layer_norm.bias", "vocab_layer_norm.bias"),
                ("bias", "vocab_projector.bias"),
                ("decoder.weight", "vocab_projector.weight"),
            ],
            MaskedLmLayout::Electra => &[
                ("dense.weight", "generator_predictions.dense.weight"),
                ("dense.bias", "generator_predictions.dense.bias"),
                (
                    "layer_norm.weight",
                    "generator_predictions.LayerNorm.weight",
                ),
                ("layer_norm.bias", "generator_predictions.LayerNorm.bias"),
                ("bias", "generator_lm_head.bias"),
                ("decoder.weight", "generator_lm_head.weight"),
            ],
            MaskedLmLayout::ModernBert => &[
                ("dense.weight", "head.dense.weight"),
                ("dense.bias", "head.dense.bias"),
                ("layer_norm.weight", "head.norm.weight"),
                ("layer_norm.bias", "head.norm.bias"),
                ("bias", "decoder.bias"),
                ("decoder.weight", "decoder.weight"),
            ],
            MaskedLmLayout::Bert | MaskedLmLayout::Roberta | MaskedLmLayout::DebertaV2 => &[],
        }
    }
}

impl Head for MaskedLmHead {
    type Output = MaskedLmOutput;
    /// `[batch, seq]` token ids to predict, `-100` elsewhere.
    type Labels = Tensor<2, Int>;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        let [batch, seq, _] = body.last_hidden_state.dims();
        let x = self
            .activation
            .forward(kernels::linear_rowwise(body.last_hidden_state, &self.dense));
        // ELECTRA's transform narrows to the embedding width.
        let width = x.dims()[2];
        let x = self.layer_norm.forward(x).reshape([batch * seq, width]);
        let scores = match &self.decoder {
            Some(decoder) => kernels::linear_rowwise(x, decoder),
            None => {
                let embeddings = context
                    .input_embeddings
                    .clone()
                    .expect("the mount passes the input embeddings to a tied head");
                x.matmul(embeddings.transpose())
            }
        };
        let vocab = scores.dims()[1];
        let logits = match &self.bias {
            Some(bias) => scores + bias.val().reshape([1, vocab]),
            None => scores,
        };
        MaskedLmOutput {
            logits: logits.reshape([batch, seq, vocab]),
        }
    }

    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        let [batch, seq, vocab] = output.logits.dims();
        if labels.dims() != [batch, seq] {
            return Err(HeadError::LabelShape {
                labels: labels.dims().to_vec(),
                outputs: vec![batch, seq, vocab],
                message: "token labels are [batch, seq]".into(),
            });
        }
        cross_entropy_with_ignore(
            output.logits.clone().reshape([batch * seq, vocab]),
            labels.reshape([batch * seq]),
            IGNORE_INDEX,
        )
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn needs_input_embeddings(&self) -> bool {
        self.decoder.is_none()
    }

    fn hf_name(&self, module_path: &str) -> String {
        if let Some((_, hf)) = self.flat_names().iter().find(|(p, _)| *p == module_path) {
            return hf.to_string();
        }
        let prefix = self.prefix();
        let rest = match self.layout {
            MaskedLmLayout::Bert => match module_path {
                "bias" => return format!("{prefix}.bias"),
                p if p.starts_with("decoder.") => p.to_string(),
                p => format!("transform.{}", names::kindling_to_hf(p)),
            },
            MaskedLmLayout::DebertaV2 => names::kindling_to_hf(module_path),
            _ => module_path.to_string(),
        };
        format!("{prefix}.{rest}")
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        if matches!(
            self.layout,
            MaskedLmLayout::DistilBert | MaskedLmLayout::Electra | MaskedLmLayout::ModernBert
        ) {
            return self
                .flat_names()
                .iter()
                .find(|(_, hf)| *hf == hf_name)
                .map(|(path, _)| path.to_string());
        }
        let rest = hf_name.strip_prefix(self.prefix())?.strip_prefix('.')?;
        match self.layout {
            MaskedLmLayout::Bert => match rest {
                "bias" => Some("bias".into()),
                "decoder.weight" => Some("decoder.weight".into()),
                r => r.strip_prefix("transform.").map(names::hf_to_kindling),
            },
            MaskedLmLayout::DebertaV2 => Some(names::hf_to_kindling(rest)),
            _ => match rest {
                "decoder.bias" => None,
                r => Some(r.to_string()),
            },
        }
    }
}
