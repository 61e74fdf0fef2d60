//! The BERT-family body: embeddings (projected to the hidden size where ELECTRA's are
//! narrower), a stack of encoder layers, and an optional pooler.

use burn::config::Config;
use burn::nn::Linear;
use burn::prelude::*;

use crate::activation::HiddenAct;
use crate::attention::AttentionMask;
use crate::body::{Body, BodyInput, BodyOutput, OutputOptions};
use crate::config::{ModelType, PositionIds};
use crate::embeddings::Embeddings;
use crate::init::hf_linear;
use crate::kernels;
use crate::layer::EncoderLayer;
use crate::names;
use crate::pooler::Pooler;

/// The Burn config an [`EncoderBody`] is built from; usually made from a Hugging Face config
/// with [`HfConfig::body_config`](crate::HfConfig::body_config).
#[derive(Config, Debug)]
pub struct EncoderBodyConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads (must divide `hidden_size`).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[config(default = "HiddenAct::Gelu")]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and sub-layer outputs.
    #[config(default = 0.1)]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[config(default = 0.1)]
    pub attention_probs_dropout_prob: f64,
    /// Rows in the position table.
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Rows in the token-type table.
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon (BERT's 1e-12, not Burn's 1e-5).
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Standard deviation of the normal initializer.
    #[config(default = 0.02)]
    pub initializer_range: f64,
    /// Padding token id (its embedding row starts at zero).
    #[config(default = "Some(0)")]
    pub pad_token_id: Option<usize>,
    /// The position-id rule (BERT's absolute or RoBERTa's from-padding).
    #[config(default = "PositionIds::Absolute")]
    pub position_ids: PositionIds,
    /// Whether the body has a pooler.
    #[config(default = true)]
    pub add_pooling_layer: bool,
    /// ELECTRA's `embedding_size`: embeddings this wide, projected to `hidden_size` by
    /// `embeddings_project` when it differs; `None` is the hidden size.
    #[config(default = "None")]
    pub embedding_size: Option<usize>,
    /// The architecture, for its tensor names and prefix.
    #[config(default = "ModelType::Bert")]
    pub model_type: ModelType,
}

/// The stack of encoder layers (`encoder.*`).
#[derive(Module, Debug)]
pub struct EncoderStack {
    /// `encoder.layer.N`.
    pub layer: Vec<EncoderLayer>,
}

/// The BERT / RoBERTa / XLM-R / CamemBERT / ELECTRA encoder body.
///
/// Field names follow the Hugging Face state dict, so `embeddings.word_embeddings.weight` in a
/// checkpoint is `self.embeddings.word_embeddings.weight` here.
#[derive(Module, Debug)]
pub struct EncoderBody {
    /// Token, position and token-type embeddings.
    pub embeddings: Embeddings,
    /// ELECTRA: `embedding_size -> hidden_size`, when the two differ.
    pub embeddings_project: Option<Linear>,
    /// The layer stack.
    pub encoder: EncoderStack,
    /// Dense + tanh on the first token, when the checkpoint has one.
    pub pooler: Option<Pooler>,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Longest accepted sequence (position table less the padding offset).
    pub max_sequence_length: usize,
    /// The architecture, for its tensor names and prefix.
    #[module(skip)]
    pub model_type: ModelType,
}

/// The top-level modules of an [`EncoderBody`], as its Hugging Face names begin.
const TOP_LEVEL: [&str; 4] = ["embeddings.", "embeddings_project.", "encoder.", "pooler."];

impl EncoderBodyConfig {
    /// Builds a freshly initialized body (normal(0, `initializer_range`) weights, zero biases).
    pub fn init(&self, device: &Device) -> EncoderBody {
        let embedding_size = self.embedding_size.unwrap_or(self.hidden_size);
        let embeddings = Embeddings::new(
            self.vocab_size,
            embedding_size,
            self.max_position_embeddings,
            self.type_vocab_size,
            self.pad_token_id,
            self.position_ids,
            self.layer_norm_eps,
            self.hidden_dropout_prob,
            self.initializer_range,
            device,
        );
        let layer = (0..self.num_hidden_layers)
            .map(|_| {
                EncoderLayer::new(
                    self.hidden_size,
                    self.num_attention_heads,
                    self.intermediate_size,
                    self.hidden_act,
                    self.layer_norm_eps,
                    self.hidden_dropout_prob,
                    self.attention_probs_dropout_prob,
                    self.initializer_range,
                    device,
                )
            })
            .collect();
        let pooler = self
            .add_pooling_layer
            .then(|| Pooler::new(self.hidden_size, self.initializer_range, device));
        let embeddings_project = (embedding_size != self.hidden_size).then(|| {
            hf_linear(
                embedding_size,
                self.hidden_size,
                self.initializer_range,
                device,
            )
        });
        EncoderBody {
            embeddings,
            embeddings_project,
            encoder: EncoderStack { layer },
            pooler,
            hidden_size: self.hidden_size,
            max_sequence_length: self.max_position_embeddings - self.position_ids.offset(),
            model_type: self.model_type,
        }
    }
}

impl EncoderBody {
    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }
}

impl Body for EncoderBody {
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput {
        // Attention as one operation serves inference, and training where kindling's kernel
        // has its backward (Flex); attention outputs and other training take the decomposed
        // path.
        let device = input.device();
        let fused = !options.output_attentions
            && (!device.is_autodiff() || kernels::has_fast_attention(&device));
        let mask = AttentionMask::new(input.attention_mask.clone(), fused);
        let mut hidden =
            self.embeddings
                .forward(input.input_ids, input.token_type_ids, input.position_ids);
        if let Some(project) = &self.embeddings_project {
            hidden = kernels::linear(hidden, project);
        }

        let mut out = BodyOutput::from_layers(&self.encoder.layer, hidden, options, |layer, h| {
            layer.forward(h, &mask)
        });
        out.pooler_output = self
            .pooler
            .as_ref()
            .map(|p| p.forward(out.last_hidden_state.clone()));
        out
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    fn max_sequence_length(&self) -> usize {
        self.max_sequence_length
    }

    fn input_embeddings(&self) -> Tensor<2> {
        self.embeddings.word_embeddings.weight.val()
    }

    fn state_dict_prefix(&self) -> &'static str {
        self.model_type.state_dict_prefix()
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        TOP_LEVEL
            .iter()
            .any(|top| hf_name.starts_with(top))
            .then(|| names::hf_to_kindling(hf_name))
    }

    fn hf_name(&self, module_path: &str) -> String {
        names::kindling_to_hf(module_path)
    }
}
