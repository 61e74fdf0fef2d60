//! Request bodies: parsed from JSON with errors that name the field, as TEI's routes take them.

use kindling::heads::Task;
use kindling::pipelines::{PipelineInput, PipelineOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Parses a body into `T`, or a 422 naming the field (`inputs`, `parameters.top_k`) or the place
/// of the syntax error.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("body: not valid JSON: {e}")))?;
    if !value.is_object() {
        let kind = match &value {
            Value::Array(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(ApiError::validation(format!(
            "body: expected a JSON object with `inputs`, got {kind}"
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::validation(format!("body: {inner}"))
        } else {
            ApiError::validation(format!("`{path}`: {inner}"))
        }
    })
}

/// `inputs`: one input or a list; the answer is one result or a list to match.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The inputs, in order.
    pub items: Vec<PipelineInput>,
    /// Whether `inputs` was a single input (answered with one result, not a list).
    pub single: bool,
}

/// One `inputs` item as JSON takes it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawInput {
    Text(String),
    Object(serde_json::Map<String, Value>),
}

fn string_field(
    object: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::validation(format!(
            "`{at}.{key}`: expected a string, got {other}"
        ))),
    }
}

fn parse_input(raw: RawInput, at: &str) -> Result<PipelineInput, ApiError> {
    let object = match raw {
        RawInput::Text(text) => return Ok(PipelineInput::Text(text)),
        RawInput::Object(object) => object,
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !["question", "context", "text", "text_pair"].contains(&k.as_str()))
    {
        return Err(ApiError::validation(format!(
            "`{at}.{unknown}`: unknown field; an input is a string, {{\"question\", \"context\"}} or {{\"text\", \"text_pair\"}}"
        )));
    }
    let question = string_field(&object, "question", at)?;
    let context = string_field(&object, "context", at)?;
    let text = string_field(&object, "text", at)?;
    let text_pair = string_field(&object, "text_pair", at)?;
    match (question, context, text, text_pair) {
        (Some(question), Some(context), None, None) => {
            Ok(PipelineInput::Question { question, context })
        }
        (Some(_), None, None, None) => Err(ApiError::validation(format!(
            "`{at}.context`: missing (a question needs its context)"
        ))),
        (None, Some(_), None, None) => Err(ApiError::validation(format!(
            "`{at}.question`: missing (a context needs its question)"
        ))),
        (None, None, Some(text), None) => Ok(PipelineInput::Text(text)),
        (None, None, Some(text), Some(text_pair)) => {
            Ok(PipelineInput::TextPair { text, text_pair })
        }
        (None, None, None, Some(_)) => Err(ApiError::validation(format!(
            "`{at}.text`: missing (a text_pair needs its text)"
        ))),
        _ => Err(ApiError::validation(format!(
            "`{at}`: an input is a string, {{\"question\", \"context\"}} or {{\"text\", \"text_pair\"}}, not a mix"
        ))),
    }
}

impl Inputs {
    /// Reads `inputs` (a string, an input object, or a non-empty list of them).
    pub fn from_value(value: Value) -> Result<Self, ApiError> {
        let list = |value: Value| -> Result<Vec<RawInput>, ApiError> {
            serde_json::from_value(value).map_err(|_| {
                ApiError::validation(
                    "`inputs`: expected a string, an input object or a list of them",
                )
            })
        };
        let (raw, single) = match value {
            Value::Array(items) => (list(Value::Array(items))?, false),
            other => (list(Value::Array(vec![other]))?, true),
        };
        if raw.is_empty() {
            return Err(ApiError::validation("`inputs`: the list is empty"));
        }
        let items = raw
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let at = if single {
                    "inputs".to_string()
                } else {
                    format!("inputs[{i}]")
                };
                parse_input(raw, &at)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { items, single })
    }

    /// The texts, for routes that take only texts (`/embed`, `/tokenize`).
    pub fn texts(&self) -> Result<Vec<&str>, ApiError> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, input)| {
                input.as_text().ok_or_else(|| {
                    ApiError::validation(format!("`{}`: expected a string", self.at(i)))
                })
            })
            .collect()
    }

    /// How an error names input `i`.
    pub fn at(&self, i: usize) -> String {
        if self.single {
            "inputs".into()
        } else {
            format!("inputs[{i}]")
        }
    }
}

/// `POST /predict`'s body.
#[derive(Debug, Deserialize)]
pub struct PredictRequest {
    /// One input or a list.
    pub inputs: Value,
    /// The pipeline's call options.
    #[serde(default)]
    pub parameters: Parameters,
}

/// `POST /embed`'s body.
#[derive(Debug, Deserialize)]
pub struct EmbedRequest {
    /// One text or a list.
    pub inputs: Value,
    /// L2-normalize the vectors (TEI's default: yes).
    #[serde(default = "yes")]
    pub normalize: bool,
}

/// `POST /tokenize`'s body.
#[derive(Debug, Deserialize)]
pub struct TokenizeRequest {
    /// One text or a list.
    pub inputs: Value,
    /// Add the special tokens, as the pipelines do.
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
}

fn yes() -> bool {
    true
}

/// The pipeline call options a request may set, named as the `transformers` pipelines'
/// keyword arguments; each task takes its own ([`Parameters::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Text classification: the `k` best labels (a list); fill-mask: candidates; QA: answers.
    pub top_k: Option<usize>,
    /// Token classification: only `simple`, what the pipeline does.
    pub aggregation_strategy: Option<String>,
    /// QA: allow the empty answer.
    pub handle_impossible_answer: Option<bool>,
    /// QA: the longest answer, in tokens.
    pub max_answer_len: Option<usize>,
    /// QA: tokens per window.
    pub max_seq_len: Option<usize>,
    /// QA: overlap between windows.
    pub doc_stride: Option<usize>,
    /// QA: the longest question, in tokens.
    pub max_question_len: Option<usize>,
    /// QA: widen answers to whole words.
    pub align_to_words: Option<bool>,
}

impl Parameters {
    /// The names of the parameters that are set.
    fn set(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut mark = |on: bool, name| {
            if on {
                set.push(name)
            }
        };
        mark(self.top_k.is_some(), "top_k");
        mark(self.aggregation_strategy.is_some(), "aggregation_strategy");
        mark(
            self.handle_impossible_answer.is_some(),
            "handle_impossible_answer",
        );
        mark(self.max_answer_len.is_some(), "max_answer_len");
        mark(self.max_seq_len.is_some(), "max_seq_len");
        mark(self.doc_stride.is_some(), "doc_stride");
        mark(self.max_question_len.is_some(), "max_question_len");
        mark(self.align_to_words.is_some(), "align_to_words");
        set
    }

    /// The parameters `task` takes.
    pub fn accepted(task: Task) -> &'static [&'static str] {
        match task {
            Task::TokenClassification => &["aggregation_strategy"],
            Task::SequenceClassification | Task::MaskedLm => &["top_k"],
            Task::QuestionAnswering => &[
                "top_k",
                "handle_impossible_answer",
                "max_answer_len",
                "max_seq_len",
                "doc_stride",
                "max_question_len",
                "align_to_words",
            ],
            _ => &[],
        }
    }

    /// A 422 for a parameter `task` does not take or a value it cannot run with.
    pub fn check(&self, task: Task) -> Result<(), ApiError> {
        let accepted = Self::accepted(task);
        if let Some(name) = self.set().into_iter().find(|n| !accepted.contains(n)) {
            return Err(ApiError::validation(format!(
                "`parameters.{name}`: not a parameter of {} (it takes: {})",
                task.pipeline_name(),
                if accepted.is_empty() {
                    "none".to_string()
                } else {
                    accepted.join(", ")
                }
            )));
        }
        if let Some(strategy) = &self.aggregation_strategy
            && strategy != "simple"
        {
            return Err(ApiError::validation(format!(
                "`parameters.aggregation_strategy`: `{strategy}` is not supported (only `simple`)"
            )));
        }
        for (name, value) in [
            ("top_k", self.top_k),
            ("max_answer_len", self.max_answer_len),
            ("max_seq_len", self.max_seq_len),
        ] {
            if value == Some(0) {
                return Err(ApiError::validation(format!(
                    "`parameters.{name}`: should be >= 1 (got 0)"
                )));
            }
        }
        Ok(())
    }

    /// The pipeline options these parameters give for `task`.
    pub fn options(&self, task: Task, truncation: bool) -> PipelineOptions {
        let defaults = PipelineOptions::default();
        PipelineOptions {
            task: Some(task),
            top_k: self.top_k,
            max_seq_len: self.max_seq_len,
            doc_stride: self.doc_stride,
            max_answer_len: self.max_answer_len.unwrap_or(defaults.max_answer_len),
            max_question_len: self.max_question_len.unwrap_or(defaults.max_question_len),
            handle_impossible_answer: self.handle_impossible_answer.unwrap_or(false),
            align_to_words: self.align_to_words.unwrap_or(true),
            truncation,
            // The model was quantized (or not) when the server loaded it.
            int8: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(json: &str) -> Result<Inputs, ApiError> {
        Inputs::from_value(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn inputs_take_texts_pairs_and_questions() {
        let one = inputs(r#""hello""#).unwrap();
        assert!(one.single);
        assert_eq!(one.items, vec![PipelineInput::Text("hello".into())]);
        let many =
            inputs(r#"["a", {"text": "b", "text_pair": "c"}, {"question": "q", "context": "c"}]"#)
                .unwrap();
        assert!(!many.single);
        assert_eq!(many.items.len(), 3);
        assert!(matches!(many.items[1], PipelineInput::TextPair { .. }));
        assert!(matches!(many.items[2], PipelineInput::Question { .. }));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let err = inputs(r#"["a", {"question": "q"}]"#).unwrap_err();
        assert!(
            err.message.contains("`inputs[1].context`"),
            "{}",
            err.message
        );
        let err = inputs(r#"[]"#).unwrap_err();
        assert!(err.message.contains("empty"), "{}", err.message);
        let err = inputs(r#"[1]"#).unwrap_err();
        assert!(err.message.contains("`inputs`"), "{}", err.message);
        let err = inputs(r#"{"text": 3}"#).unwrap_err();
        assert!(err.message.contains("`inputs.text`"), "{}", err.message);
    }

    #[test]
    fn bodies_name_the_missing_or_wrong_field() {
        let err = parse_body::<PredictRequest>(br#"{"parameters": {}}"#).unwrap_err();
        assert!(err.message.contains("inputs"), "{}", err.message);
        let err = parse_body::<PredictRequest>(br#"{"inputs": "a", "parameters": {"top_k": "x"}}"#)
            .unwrap_err();
        assert!(
            err.message.contains("`parameters.top_k`"),
            "{}",
            err.message
        );
        let err = parse_body::<PredictRequest>(br#"{"inputs": "a", "parameters": {"topk": 1}}"#)
            .unwrap_err();
        assert!(err.message.contains("topk"), "{}", err.message);
        let err = parse_body::<PredictRequest>(b"{\"inputs\": ").unwrap_err();
        assert!(err.message.contains("not valid JSON"), "{}", err.message);
    }

    #[test]
    fn parameters_belong_to_their_task() {
        let top = Parameters {
            top_k: Some(2),
            ..Parameters::default()
        };
        assert!(top.check(Task::SequenceClassification).is_ok());
        let err = top.check(Task::TokenClassification).unwrap_err();
        assert!(err.message.contains("parameters.top_k"), "{}", err.message);
        let zero = Parameters {
            top_k: Some(0),
            ..Parameters::default()
        };
        assert!(zero.check(Task::MaskedLm).is_err());
    }
}
