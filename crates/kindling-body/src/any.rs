//! A body chosen at run time from a checkpoint's `model_type`.

use burn::prelude::*;

use crate::body::{Body, BodyInput, BodyOutput, OutputOptions};
use crate::deberta::{DebertaV2Body, DebertaV2BodyConfig};
use crate::distilbert::{DistilBertBody, DistilBertBodyConfig};
use crate::encoder::{EncoderBody, EncoderBodyConfig};
use crate::modernbert::{ModernBertBody, ModernBertBodyConfig};

// One per model, and the Module derive wants the variants unboxed.
#[allow(clippy::large_enum_variant)]
/// Any of kindling's bodies: what string-keyed entry points (`load_model`, `forward`, the
/// trainer, the pipelines) build. Code that knows its body stays generic over [`Body`].
#[derive(Module, Debug)]
pub enum AnyBody {
    /// BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA.
    Encoder(EncoderBody),
    /// DistilBERT.
    DistilBert(DistilBertBody),
    /// DeBERTa-v2/v3.
    DebertaV2(DebertaV2Body),
    /// ModernBERT.
    ModernBert(ModernBertBody),
}

/// The Burn config of an [`AnyBody`].
#[derive(Debug, Clone)]
pub enum AnyBodyConfig {
    /// A BERT-family encoder.
    Encoder(EncoderBodyConfig),
    /// A DistilBERT body.
    DistilBert(DistilBertBodyConfig),
    /// A DeBERTa-v2/v3 body.
    DebertaV2(DebertaV2BodyConfig),
    /// A ModernBERT body.
    ModernBert(ModernBertBodyConfig),
}

impl AnyBodyConfig {
    /// Sets whether the body gets a pooler (only BERT-family encoders have one; asking another
    /// body for one is refused when a head is mounted).
    pub fn with_add_pooling_layer(self, pooler: bool) -> Self {
        match self {
            Self::Encoder(c) => Self::Encoder(c.with_add_pooling_layer(pooler)),
            other => other,
        }
    }

    /// Whether the body can have a pooler at all.
    pub fn supports_pooler(&self) -> bool {
        matches!(self, Self::Encoder(_))
    }

    /// Builds a freshly initialized body.
    pub fn init(&self, device: &Device) -> AnyBody {
        match self {
            Self::Encoder(c) => AnyBody::Encoder(c.init(device)),
            Self::DistilBert(c) => AnyBody::DistilBert(c.init(device)),
            Self::DebertaV2(c) => AnyBody::DebertaV2(c.init(device)),
            Self::ModernBert(c) => AnyBody::ModernBert(c.init(device)),
        }
    }
}

macro_rules! each_body {
    ($self:expr, $body:ident => $expr:expr) => {
        match $self {
            AnyBody::Encoder($body) => $expr,
            AnyBody::DistilBert($body) => $expr,
            AnyBody::DebertaV2($body) => $expr,
            AnyBody::ModernBert($body) => $expr,
        }
    };
}

impl AnyBody {
    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        each_body!(self, b => b.num_layers())
    }
}

impl From<EncoderBody> for AnyBody {
    fn from(body: EncoderBody) -> Self {
        Self::Encoder(body)
    }
}

impl From<DistilBertBody> for AnyBody {
    fn from(body: DistilBertBody) -> Self {
        Self::DistilBert(body)
    }
}

impl From<ModernBertBody> for AnyBody {
    fn from(body: ModernBertBody) -> Self {
        Self::ModernBert(body)
    }
}

impl From<DebertaV2Body> for AnyBody {
    fn from(body: DebertaV2Body) -> Self {
        Self::DebertaV2(body)
    }
}

impl Body for AnyBody {
    fn forward(&self, input: BodyInput, options: OutputOptions) -> BodyOutput {
        each_body!(self, b => b.forward(input, options))
    }

    fn hidden_size(&self) -> usize {
        each_body!(self, b => b.hidden_size())
    }

    fn has_pooler(&self) -> bool {
        each_body!(self, b => b.has_pooler())
    }

    fn max_sequence_length(&self) -> usize {
        each_body!(self, b => b.max_sequence_length())
    }

    fn input_embeddings(&self) -> Tensor<2> {
        each_body!(self, b => b.input_embeddings())
    }

    fn state_dict_prefix(&self) -> &'static str {
        each_body!(self, b => b.state_dict_prefix())
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        each_body!(self, b => b.module_path(hf_name))
    }

    fn hf_name(&self, module_path: &str) -> String {
        each_body!(self, b => b.hf_name(module_path))
    }
}
