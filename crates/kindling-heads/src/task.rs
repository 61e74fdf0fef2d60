//! Tasks, as named by `transformers`' class names in a config's `architectures`.

use kindling_body::ModelType;

use crate::error::HeadError;

/// What a model does on top of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// No head: the body alone (`BertModel`, `XLMRobertaModel`, ...).
    Base,
    /// `*ForTokenClassification`.
    TokenClassification,
    /// `*ForSequenceClassification`.
    SequenceClassification,
    /// `*ForQuestionAnswering`.
    QuestionAnswering,
    /// `*ForMultipleChoice`.
    MultipleChoice,
    /// `*ForMaskedLM` (and `BertForPreTraining`, whose MLM head it shares).
    MaskedLm,
    /// Pooled sentence embeddings (sentence-transformers); no `transformers` class.
    SentenceEmbedding,
}

const SUFFIXES: [(&str, Task); 7] = [
    ("Model", Task::Base),
    ("ForTokenClassification", Task::TokenClassification),
    ("ForSequenceClassification", Task::SequenceClassification),
    ("ForQuestionAnswering", Task::QuestionAnswering),
    ("ForMultipleChoice", Task::MultipleChoice),
    ("ForMaskedLM", Task::MaskedLm),
    ("ForPreTraining", Task::MaskedLm),
];

/// `transformers`' pipeline task names, as `--task` takes them.
const PIPELINE_TASKS: [(&str, Task); 6] = [
    ("token-classification", Task::TokenClassification),
    ("text-classification", Task::SequenceClassification),
    ("question-answering", Task::QuestionAnswering),
    ("fill-mask", Task::MaskedLm),
    ("multiple-choice", Task::MultipleChoice),
    ("feature-extraction", Task::Base),
];

impl Task {
    /// The architecture and task of an `architectures` entry such as
    /// `XLMRobertaForTokenClassification`.
    pub fn parse_architecture(name: &str) -> Result<(ModelType, Self), HeadError> {
        ModelType::ALL
            .iter()
            .find_map(|model_type| {
                let rest = name.strip_prefix(model_type.class_stem())?;
                let task = SUFFIXES
                    .iter()
                    .find(|(suffix, _)| *suffix == rest)
                    .map(|(_, task)| *task)?;
                // ELECTRA's pre-training class is the discriminator: a body with a
                // replaced-token detector, not a masked LM.
                let task = match (model_type, rest) {
                    (ModelType::Electra, "ForPreTraining") => Task::Base,
                    _ => task,
                };
                Some((*model_type, task))
            })
            .ok_or_else(|| {
                HeadError::UnknownArchitecture(
                    name.to_string(),
                    "{Bert,Roberta,XLMRoberta,Camembert,DistilBert,Electra,DebertaV2}{Model,ForTokenClassification,ForSequenceClassification,ForQuestionAnswering,ForMultipleChoice,ForMaskedLM}".into(),
                )
            })
    }

    /// The task of an `architectures` entry such as `XLMRobertaForTokenClassification`.
    pub fn from_architecture(name: &str) -> Result<Self, HeadError> {
        Self::parse_architecture(name).map(|(_, task)| task)
    }

    /// The task of a `transformers` pipeline task name (`token-classification`,
    /// `text-classification`, `question-answering`, `fill-mask`, `multiple-choice`,
    /// `feature-extraction`).
    pub fn from_pipeline_name(name: &str) -> Result<Self, HeadError> {
        PIPELINE_TASKS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, task)| *task)
            .ok_or_else(|| {
                HeadError::Invalid(format!(
                    "unknown task `{name}` (known: {})",
                    PIPELINE_TASKS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The `transformers` pipeline task name of this task.
    pub fn pipeline_name(&self) -> &'static str {
        match self {
            Task::SentenceEmbedding => "feature-extraction",
            task => PIPELINE_TASKS
                .iter()
                .find(|(_, t)| t == task)
                .map_or("feature-extraction", |(n, _)| *n),
        }
    }

    /// The task a config's `architectures` names (the first entry), `Base` when it names none.
    pub fn from_architectures(architectures: Option<&[String]>) -> Result<Self, HeadError> {
        match architectures.and_then(|a| a.first()) {
            Some(name) => Self::from_architecture(name),
            None => Ok(Task::Base),
        }
    }

    /// The `transformers` class for this task on `model_type` (`XLMRobertaForTokenClassification`).
    pub fn class_name(&self, model_type: ModelType) -> String {
        let suffix = match self {
            Task::Base | Task::SentenceEmbedding => "Model",
            Task::TokenClassification => "ForTokenClassification",
            Task::SequenceClassification => "ForSequenceClassification",
            Task::QuestionAnswering => "ForQuestionAnswering",
            Task::MultipleChoice => "ForMultipleChoice",
            Task::MaskedLm => "ForMaskedLM",
        };
        format!("{}{suffix}", model_type.class_stem())
    }

    /// Whether the task's head has labels with names (`id2label`).
    pub fn has_label_names(&self) -> bool {
        matches!(
            self,
            Task::TokenClassification | Task::SequenceClassification
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_name_tasks() {
        assert_eq!(
            Task::from_architecture("XLMRobertaForTokenClassification").unwrap(),
            Task::TokenClassification
        );
        assert_eq!(Task::from_architecture("BertModel").unwrap(), Task::Base);
        assert_eq!(
            Task::from_architecture("RobertaForMaskedLM").unwrap(),
            Task::MaskedLm
        );
        assert_eq!(
            Task::TokenClassification.class_name(ModelType::XlmRoberta),
            "XLMRobertaForTokenClassification"
        );
    }

    #[test]
    fn new_bodies_name_tasks() {
        assert_eq!(
            Task::parse_architecture("DistilBertForMaskedLM").unwrap(),
            (ModelType::DistilBert, Task::MaskedLm)
        );
        assert_eq!(
            Task::parse_architecture("ElectraForPreTraining").unwrap(),
            (ModelType::Electra, Task::Base)
        );
        assert_eq!(
            Task::parse_architecture("BertForPreTraining").unwrap(),
            (ModelType::Bert, Task::MaskedLm)
        );
        assert_eq!(
            Task::from_pipeline_name("text-classification").unwrap(),
            Task::SequenceClassification
        );
        assert!(Task::from_pipeline_name("summarization").is_err());
    }

    #[test]
    fn unknown_architecture_is_an_error_naming_it() {
        let err = Task::from_architecture("GPT2LMHeadModel")
            .unwrap_err()
            .to_string();
        assert!(err.contains("GPT2LMHeadModel") && err.contains("ForTokenClassification"));
    }
}
