//! What a custom head's author needs, in one line: `use kindling_heads::prelude::*;`.
//!
//! Burn itself (as `burn`, so `#[derive(Module)]` works without a direct Burn dependency) and
//! its prelude (`Tensor`, `Int`, `Device`, `Module`, `Config`, `TensorData`, ...), the layers
//! a head is usually built from, Burn's optimizers for a training loop, the body's input and
//! output, and the [`Head`] contract with its mount ([`Model`]) and loss helpers.
//!
//! ```
//! use kindling_heads::prelude::*;
//!
//! /// Mean of the hidden states over the unmasked tokens, then a linear score.
//! #[derive(Module, Debug)]
//! struct MeanScore {
//!     score: Linear,
//!     hidden_size: usize,
//! }
//!
//! impl Head for MeanScore {
//!     type Output = Tensor<2>;
//!     type Labels = Tensor<2>;
//!
//!     fn forward(&self, body: BodyOutput, context: &HeadContext) -> Tensor<2> {
//!         let mask = context.attention_mask.clone().float().unsqueeze_dim::<3>(2);
//!         let summed = (body.last_hidden_state * mask.clone()).sum_dim(1).squeeze_dim::<2>(1);
//!         let counts = mask.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1.0);
//!         self.score.forward(summed / counts)
//!     }
//!
//!     fn loss(&self, scores: &Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>, HeadError> {
//!         Ok((scores.clone() - targets).powi_scalar(2).mean())
//!     }
//!
//!     fn hidden_size(&self) -> usize {
//!         self.hidden_size
//!     }
//! }
//!
//! let device = Device::flex();
//! let body = EncoderBodyConfig::new(100, 16, 1, 2, 32).init(&device);
//! let head = MeanScore { score: LinearConfig::new(16, 1).init(&device), hidden_size: 16 };
//! let model = Model::new(body, head)?;
//! let ids = Tensor::<2, Int>::from_data([[2, 5, 7]], &device);
//! let scores = model.forward(BodyInput::new(ids.clone(), ids.ones_like()));
//! assert_eq!(scores.dims(), [1, 1]);
//! # Ok::<(), HeadError>(())
//! ```

pub use burn;
pub use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
pub use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer, SgdConfig};
pub use burn::prelude::*;
pub use burn::tensor::activation;
pub use kindling_body::{
    AnyBody, Body, BodyInput, BodyOutput, EncoderBodyConfig, HfConfig, OutputOptions,
};

pub use crate::loss::{IGNORE_INDEX, cross_entropy_with_ignore};
pub use crate::{
    AnyHead, AnyLabels, AnyOutput, Head, HeadContext, HeadError, Model, ModelInput, NoLabels,
    QuestionAnsweringHead, SentenceEmbeddingHead, SequenceClassificationHead,
    TokenClassificationHead,
};
