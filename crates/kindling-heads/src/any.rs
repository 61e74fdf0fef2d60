//! A head chosen at run time, from a checkpoint's `architectures` or the user's task.

use burn::prelude::*;
use kindling_body::{BodyOutput, HfConfig, ProblemType};

use crate::error::HeadError;
use crate::head::{Head, HeadContext};
use crate::masked_lm::{MaskedLmHead, MaskedLmOutput};
use crate::multiple_choice::{MultipleChoiceHead, MultipleChoiceOutput};
use crate::question_answering::{QuestionAnsweringHead, QuestionAnsweringOutput, SpanLabels};
use crate::recipe::HeadRecipe;
use crate::sentence_embedding::{Pooling, SentenceEmbeddingHead, SentenceEmbeddingOutput};
use crate::sequence_classification::{
    SequenceClassificationHead, SequenceClassificationOutput, SequenceLabels,
};
use crate::task::Task;
use crate::token_classification::{TokenClassificationHead, TokenClassificationOutput};

/// What head to build.
#[derive(Debug, Clone)]
pub struct HeadSpec {
    /// The task.
    pub task: Task,
    /// Label names in class order (token and sequence classification); the config's
    /// `id2label` when `None`.
    pub labels: Option<Vec<String>>,
    /// Loss family for sequence classification; the config's when `None`.
    pub problem_type: Option<ProblemType>,
    /// Pooling for sentence embeddings.
    pub pooling: Pooling,
    /// L2-normalize sentence embeddings.
    pub normalize: bool,
}

impl HeadSpec {
    /// A spec for `task` with the config's labels.
    pub fn new(task: Task) -> Self {
        Self {
            task,
            labels: None,
            problem_type: None,
            pooling: Pooling::Mean,
            normalize: true,
        }
    }

    /// Sets the label names.
    pub fn with_labels(mut self, labels: Vec<String>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// The label names the head will have: given, else the config's, else `transformers`'
    /// default `LABEL_0`, `LABEL_1`.
    pub fn resolve_labels(&self, config: &HfConfig) -> Vec<String> {
        self.labels
            .clone()
            .or_else(|| config.labels())
            .unwrap_or_else(|| vec!["LABEL_0".into(), "LABEL_1".into()])
    }
}

// One per task, and the Module derive wants the variants unboxed.
#[allow(clippy::large_enum_variant)]
/// Any of kindling's heads.
#[derive(Module, Debug)]
pub enum AnyHead {
    /// Token classification.
    TokenClassification(TokenClassificationHead),
    /// Sequence classification.
    SequenceClassification(SequenceClassificationHead),
    /// Question answering.
    QuestionAnswering(QuestionAnsweringHead),
    /// Multiple choice.
    MultipleChoice(MultipleChoiceHead),
    /// Masked LM.
    MaskedLm(MaskedLmHead),
    /// Sentence embedding.
    SentenceEmbedding(SentenceEmbeddingHead),
}

/// Outputs of [`AnyHead`].
// One value per forward pass; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyOutput {
    /// Token classification logits.
    TokenClassification(TokenClassificationOutput),
    /// Sequence classification logits.
    SequenceClassification(SequenceClassificationOutput),
    /// Span logits.
    QuestionAnswering(QuestionAnsweringOutput),
    /// Choice logits.
    MultipleChoice(MultipleChoiceOutput),
    /// Vocabulary logits.
    MaskedLm(MaskedLmOutput),
    /// Embeddings.
    SentenceEmbedding(SentenceEmbeddingOutput),
}

impl AnyOutput {
    /// Every output under its `transformers` name (`logits`, `start_logits`, `end_logits`,
    /// `sentence_embedding`), with its rank-erased data.
    pub fn named(&self) -> Vec<(&'static str, burn::tensor::TensorData)> {
        match self {
            AnyOutput::TokenClassification(o) => vec![("logits", o.logits.to_data())],
            AnyOutput::SequenceClassification(o) => vec![("logits", o.logits.to_data())],
            AnyOutput::QuestionAnswering(o) => vec![
                ("start_logits", o.start_logits.to_data()),
                ("end_logits", o.end_logits.to_data()),
            ],
            AnyOutput::MultipleChoice(o) => vec![("logits", o.logits.to_data())],
            AnyOutput::MaskedLm(o) => vec![("logits", o.logits.to_data())],
            AnyOutput::SentenceEmbedding(o) => {
                vec![("sentence_embedding", o.sentence_embedding.to_data())]
            }
        }
    }
}

/// Labels of [`AnyHead`]; the variant must match the head's.
// One value per batch, moved into the loss: boxing the two-tensor variant saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyLabels {
    /// Per-token label ids (token classification, masked LM).
    Tokens(Tensor<2, Int>),
    /// Sequence labels.
    Sequence(SequenceLabels),
    /// Answer spans.
    Spans(SpanLabels),
    /// The right choice per example.
    Choice(Tensor<1, Int>),
}

impl AnyHead {
    /// Builds a fresh head for `spec` on a body described by `config`, with the recipe of
    /// the config's architecture ([`HeadRecipe`]) and `transformers`' initialization.
    /// `Task::Base` has no head: `None`.
    pub fn from_config(
        config: &HfConfig,
        spec: &HeadSpec,
        device: &Device,
    ) -> Result<Option<Self>, HeadError> {
        let hidden = config.hidden_size();
        let std = config.initializer_range();
        let labels = spec.resolve_labels(config);
        if spec.task.has_label_names() && labels.is_empty() {
            return Err(HeadError::Invalid(
                "a classification head needs at least one label".into(),
            ));
        }
        if spec.task == Task::Base {
            return Ok(None);
        }
        let recipe = HeadRecipe::for_config(config)?;
        let prediction_head = || {
            recipe
                .prediction_head
                .map(|head| head.init(hidden, std, device))
        };
        Ok(Some(match spec.task {
            Task::Base => return Ok(None),
            Task::TokenClassification => AnyHead::TokenClassification(
                TokenClassificationHead::new(
                    hidden,
                    labels.len(),
                    recipe.token_dropout,
                    std,
                    device,
                )
                .with_prediction_head(prediction_head()),
            ),
            Task::SequenceClassification => AnyHead::SequenceClassification(
                SequenceClassificationHead::new(
                    recipe.sequence_style,
                    hidden,
                    labels.len(),
                    recipe.sequence_dropout,
                    std,
                    device,
                )
                .with_problem_type(spec.problem_type.or(config.common.problem_type)),
            ),
            Task::QuestionAnswering => AnyHead::QuestionAnswering(
                QuestionAnsweringHead::new(hidden, std, device)
                    .with_dropout(recipe.qa_dropout)
                    .with_prediction_head(prediction_head()),
            ),
            Task::MultipleChoice => {
                AnyHead::MultipleChoice(MultipleChoiceHead::new(recipe.choice, hidden, std, device))
            }
            Task::MaskedLm => {
                let head = recipe.prediction_head;
                let lm = MaskedLmHead::new(
                    recipe.masked_lm,
                    hidden,
                    config.embedding_size(),
                    config.vocab_size(),
                    head.map_or(config.hidden_act(), |h| h.activation),
                    head.map_or(config.layer_norm_eps(), |h| h.norm_eps),
                    std,
                    !config.tie_word_embeddings(),
                    device,
                );
                AnyHead::MaskedLm(match head {
                    Some(h) => lm.with_biases(h.dense_bias, h.norm_bias, h.decoder_bias),
                    None => lm,
                })
            }
            Task::SentenceEmbedding => AnyHead::SentenceEmbedding(SentenceEmbeddingHead::new(
                hidden,
                spec.pooling,
                spec.normalize,
            )),
        }))
    }

    /// The task this head serves.
    pub fn task(&self) -> Task {
        match self {
            AnyHead::TokenClassification(_) => Task::TokenClassification,
            AnyHead::SequenceClassification(_) => Task::SequenceClassification,
            AnyHead::QuestionAnswering(_) => Task::QuestionAnswering,
            AnyHead::MultipleChoice(_) => Task::MultipleChoice,
            AnyHead::MaskedLm(_) => Task::MaskedLm,
            AnyHead::SentenceEmbedding(_) => Task::SentenceEmbedding,
        }
    }
}

macro_rules! each_head {
    ($self:expr, $head:ident => $body:expr) => {
        match $self {
            AnyHead::TokenClassification($head) => $body,
            AnyHead::SequenceClassification($head) => $body,
            AnyHead::QuestionAnswering($head) => $body,
            AnyHead::MultipleChoice($head) => $body,
            AnyHead::MaskedLm($head) => $body,
            AnyHead::SentenceEmbedding($head) => $body,
        }
    };
}

impl Head for AnyHead {
    type Output = AnyOutput;
    type Labels = AnyLabels;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Self::Output {
        match self {
            AnyHead::TokenClassification(h) => {
                AnyOutput::TokenClassification(h.forward(body, context))
            }
            AnyHead::SequenceClassification(h) => {
                AnyOutput::SequenceClassification(h.forward(body, context))
            }
            AnyHead::QuestionAnswering(h) => AnyOutput::QuestionAnswering(h.forward(body, context)),
            AnyHead::MultipleChoice(h) => AnyOutput::MultipleChoice(h.forward(body, context)),
            AnyHead::MaskedLm(h) => AnyOutput::MaskedLm(h.forward(body, context)),
            AnyHead::SentenceEmbedding(h) => AnyOutput::SentenceEmbedding(h.forward(body, context)),
        }
    }

    fn loss(&self, output: &Self::Output, labels: Self::Labels) -> Result<Tensor<1>, HeadError> {
        match (self, output, labels) {
            (
                AnyHead::TokenClassification(h),
                AnyOutput::TokenClassification(o),
                AnyLabels::Tokens(l),
            ) => h.loss(o, l),
            (
                AnyHead::SequenceClassification(h),
                AnyOutput::SequenceClassification(o),
                AnyLabels::Sequence(l),
            ) => h.loss(o, l),
            (
                AnyHead::QuestionAnswering(h),
                AnyOutput::QuestionAnswering(o),
                AnyLabels::Spans(l),
            ) => h.loss(o, l),
            (AnyHead::MultipleChoice(h), AnyOutput::MultipleChoice(o), AnyLabels::Choice(l)) => {
                h.loss(o, l)
            }
            (AnyHead::MaskedLm(h), AnyOutput::MaskedLm(o), AnyLabels::Tokens(l)) => h.loss(o, l),
            (head, _, labels) => Err(HeadError::LabelKind(format!(
                "{:?} takes no {labels:?}",
                head.task()
            ))),
        }
    }

    fn hidden_size(&self) -> usize {
        each_head!(self, h => h.hidden_size())
    }

    fn needs_pooler(&self) -> bool {
        each_head!(self, h => h.needs_pooler())
    }

    fn needs_input_embeddings(&self) -> bool {
        each_head!(self, h => h.needs_input_embeddings())
    }

    fn hf_name(&self, module_path: &str) -> String {
        each_head!(self, h => h.hf_name(module_path))
    }

    fn module_path(&self, hf_name: &str) -> Option<String> {
        each_head!(self, h => h.module_path(hf_name))
    }
}
