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

const STEMS: [&str; 4] = ["XLMRoberta", "Camembert", "Roberta", "Bert"];
const SUFFIXES: [(&str, Task); 7] = [
    ("Model", Task::Base),
    ("ForTokenClassification", Task::TokenClassification),
    ("ForSequenceClassification", Task::SequenceClassification),
    ("ForQuestionAnswering", Task::QuestionAnswering),
    ("ForMultipleChoice", Task::MultipleChoice),
    ("ForMaskedLM", Task::MaskedLm),
    ("ForPreTraining", Task::MaskedLm),
];

impl Task {
    /// The task of an `architectures` entry such as `XLMRobertaForTokenClassification`.
    pub fn from_architecture(name: &str) -> Result<Self, HeadError> {
        STEMS
            .iter()
            .find_map(|stem| name.strip_prefix(stem))
            .and_then(|rest| {
                SUFFIXES
                    .iter()
                    .find(|(suffix, _)| *suffix == rest)
                    .map(|(_, task)| *task)
            })
            .ok_or_else(|| {
                HeadError::UnknownArchitecture(
                    name.to_string(),
                    "{Bert,Roberta,XLMRoberta,Camembert}{Model,ForTokenClassification,ForSequenceClassification,ForQuestionAnswering,ForMultipleChoice,ForMaskedLM}".into(),
                )
            })
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
    fn unknown_architecture_is_an_error_naming_it() {
        let err = Task::from_architecture("GPT2LMHeadModel")
            .unwrap_err()
            .to_string();
        assert!(err.contains("GPT2LMHeadModel") && err.contains("ForTokenClassification"));
    }
}
