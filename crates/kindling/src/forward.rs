//! Running any checkpoint directory on token ids or text, outputs named as in `transformers`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use kindling_body::{AnyBody, Body, BodyInput, HfConfig, OutputOptions};
use kindling_data::Tokenizer;
use kindling_heads::{ModelInput, Task};
use kindling_import::{
    BodyLoadOptions, Checkpoint, LoadReport, ModelLoadOptions, load_body, load_model,
};
use serde::Deserialize;

use crate::error::KindlingError;

/// Rows of ids: `[batch][seq]`, or `[batch][choices][seq]` for multiple choice.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Rows {
    /// `[batch][seq]`.
    Flat(Vec<Vec<i64>>),
    /// `[batch][choices][seq]`.
    Choices(Vec<Vec<Vec<i64>>>),
}

impl Rows {
    /// Flattens choices into rows; returns the rows and the number of choices.
    fn flatten(
        self,
        source: &str,
        field: &str,
    ) -> Result<(Vec<Vec<i64>>, Option<usize>), KindlingError> {
        match self {
            Rows::Flat(rows) => Ok((rows, None)),
            Rows::Choices(examples) => {
                let choices = examples.first().map_or(0, Vec::len);
                if let Some(i) = examples.iter().position(|e| e.len() != choices) {
                    return Err(KindlingError::Input {
                        source_name: source.to_string(),
                        field: field.to_string(),
                        message: format!(
                            "example {i} has {} choices, example 0 has {choices}",
                            examples[i].len()
                        ),
                    });
                }
                Ok((examples.into_iter().flatten().collect(), Some(choices)))
            }
        }
    }
}

impl From<Vec<Vec<i64>>> for Rows {
    fn from(rows: Vec<Vec<i64>>) -> Self {
        Rows::Flat(rows)
    }
}

/// Token ids as `cargo xtask forward --input` reads them: one list per row, all rows the same
/// length (already padded); for multiple choice one list of rows per example.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdsInput {
    /// Token ids.
    pub input_ids: Rows,
    /// 1 for tokens, 0 for padding; all ones when absent.
    #[serde(default)]
    pub attention_mask: Option<Rows>,
    /// Segment ids; zeros when absent.
    #[serde(default)]
    pub token_type_ids: Option<Rows>,
}

impl IdsInput {
    /// Reads the JSON file.
    pub fn from_file(path: &Path) -> Result<Self, KindlingError> {
        let text = std::fs::read_to_string(path).map_err(|e| KindlingError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| KindlingError::File {
            path: path.to_path_buf(),
            message: format!("not an ids object (input_ids, attention_mask, token_type_ids): {e}"),
        })
    }
}

/// What to run the model on.
#[derive(Debug, Clone)]
pub enum ForwardInput {
    /// Ready token ids.
    Ids(IdsInput),
    /// Raw texts, tokenized with the checkpoint's `tokenizer.json`, padded to the longest.
    Texts(Vec<String>),
}

/// Which optional outputs to add.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    /// Also write `hidden_states.{i}` (embeddings output first).
    pub hidden_states: bool,
    /// Also write `attentions.{i}`.
    pub attentions: bool,
    /// The head to run, for checkpoints whose `config.json` names no `architectures` (old
    /// `pytorch_model.bin` checkpoints often lack it): the head tensors in the file load into
    /// it. `Some(Task::Base)` runs the body alone; `None` follows `architectures`.
    pub task: Option<Task>,
    /// Run the linear layers in int8 (see `kindling_kernels::quantize_linears`; flex only).
    pub int8: bool,
}

/// Outputs by `transformers` name, and what loading the checkpoint reported.
#[derive(Debug, Clone)]
pub struct ForwardOutputs {
    /// `last_hidden_state`, `pooler_output`, ... as f32 (and `input_ids`, `attention_mask` as
    /// i64 when the input was text).
    pub tensors: BTreeMap<String, TensorData>,
    /// The checkpoint load report.
    pub report: LoadReport,
}

fn rectangular(
    source: &str,
    field: &str,
    rows: &[Vec<i64>],
    shape: Option<(usize, usize)>,
) -> Result<(usize, usize), KindlingError> {
    let invalid = |message: String| KindlingError::Input {
        source_name: source.to_string(),
        field: field.to_string(),
        message,
    };
    let batch = rows.len();
    let seq = rows.first().map_or(0, Vec::len);
    if batch == 0 || seq == 0 {
        return Err(invalid("is empty".into()));
    }
    if let Some(row) = rows.iter().position(|r| r.len() != seq) {
        return Err(invalid(format!(
            "row {row} has {} entries, row 0 has {seq}; pad rows to one length",
            rows[row].len()
        )));
    }
    if let Some(expected) = shape
        && expected != (batch, seq)
    {
        return Err(invalid(format!(
            "is {batch}x{seq}, input_ids is {}x{}",
            expected.0, expected.1
        )));
    }
    Ok((batch, seq))
}

fn check_range(
    source: &str,
    field: &str,
    rows: &[Vec<i64>],
    limit: usize,
    what: &str,
) -> Result<(), KindlingError> {
    for (r, row) in rows.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            if v < 0 || v as usize >= limit {
                return Err(KindlingError::Input {
                    source_name: source.to_string(),
                    field: field.to_string(),
                    message: format!(
                        "value {v} at row {r}, position {c} is outside {what} 0..{limit}"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Checks ids against the body and makes the tensors.
fn model_input(
    body: &AnyBody,
    config: &HfConfig,
    input: IdsInput,
    source: &str,
    device: &Device,
) -> Result<ModelInput, KindlingError> {
    let (input_ids, num_choices) = input.input_ids.flatten(source, "input_ids")?;
    let attention_mask = match input.attention_mask {
        Some(rows) => Some(rows.flatten(source, "attention_mask")?.0),
        None => None,
    };
    let token_type_ids = match input.token_type_ids {
        Some(rows) => Some(rows.flatten(source, "token_type_ids")?.0),
        None => None,
    };
    let (batch, seq) = rectangular(source, "input_ids", &input_ids, None)?;
    if seq > body.max_sequence_length() {
        return Err(KindlingError::Input {
            source_name: source.to_string(),
            field: "input_ids".into(),
            message: format!(
                "rows have {seq} tokens; the model takes at most {}",
                body.max_sequence_length()
            ),
        });
    }
    check_range(
        source,
        "input_ids",
        &input_ids,
        config.vocab_size(),
        "the vocabulary",
    )?;
    let to_tensor = |rows: &[Vec<i64>]| {
        let flat: Vec<i64> = rows.iter().flatten().copied().collect();
        Tensor::<2, Int>::from_data(TensorData::new(flat, [batch, seq]), device)
    };
    let mask = match &attention_mask {
        Some(mask) => {
            rectangular(source, "attention_mask", mask, Some((batch, seq)))?;
            check_range(source, "attention_mask", mask, 2, "the mask values")?;
            to_tensor(mask)
        }
        None => Tensor::<2, Int>::ones([batch, seq], device),
    };
    let mut body_input = BodyInput::new(to_tensor(&input_ids), mask);
    // Bodies without token types (DistilBERT) take none, as their transformers forward does.
    if let (Some(types), Some(type_vocab)) = (&token_type_ids, config.type_vocab_size()) {
        rectangular(source, "token_type_ids", types, Some((batch, seq)))?;
        check_range(
            source,
            "token_type_ids",
            types,
            type_vocab,
            "the token types",
        )?;
        body_input = body_input.with_token_type_ids(to_tensor(types));
    }
    Ok(ModelInput {
        body: body_input,
        num_choices,
    })
}

fn f32_data<const D: usize>(tensor: Tensor<D>) -> TensorData {
    tensor.into_data().convert::<f32>()
}

/// Loads the checkpoint in `dir` onto `device` and runs it on `input`.
///
/// Writes `last_hidden_state`, `pooler_output` when the model has a pooler, the head's outputs
/// for task checkpoints, and with text input also the `input_ids` and `attention_mask` it made.
pub fn run_forward(
    dir: &Path,
    input: ForwardInput,
    device: &Device,
) -> Result<ForwardOutputs, KindlingError> {
    run_forward_with(dir, input, device, ForwardOptions::default())
}

/// [`run_forward`] with optional outputs.
///
/// A task checkpoint (its `architectures` names a head) runs body and head and also writes
/// the head's outputs (`logits`, or `start_logits` and `end_logits`).
pub fn run_forward_with(
    dir: &Path,
    input: ForwardInput,
    device: &Device,
    options: ForwardOptions,
) -> Result<ForwardOutputs, KindlingError> {
    let opened = Checkpoint::open(dir)?;
    let task = match options.task {
        Some(task) => task,
        None => Task::from_architectures(opened.config.common.architectures.as_deref())
            .map_err(kindling_import::ImportError::from)?,
    };
    let (model, report, checkpoint) = if matches!(task, Task::Base | Task::SentenceEmbedding) {
        let load = BodyLoadOptions {
            int8: options.int8,
            ..BodyLoadOptions::default()
        };
        let (body, report, checkpoint) = load_body(dir, device, load)?;
        (Err(body), report, checkpoint)
    } else {
        let load = ModelLoadOptions {
            task: Some(task),
            int8: options.int8,
            ..ModelLoadOptions::default()
        };
        let (model, report, checkpoint) = load_model(dir, device, load)?;
        (Ok(model), report, checkpoint)
    };
    let config = &checkpoint.config;
    let mut tensors = BTreeMap::new();
    let (ids, source) = match input {
        ForwardInput::Ids(ids) => (ids, "input ids".to_string()),
        ForwardInput::Texts(texts) => {
            let path = checkpoint
                .tokenizer
                .clone()
                .ok_or_else(|| KindlingError::File {
                    path: dir.join("tokenizer.json"),
                    message: "text input needs the checkpoint's tokenizer.json, which is missing"
                        .into(),
                })?;
            let tokenizer = Tokenizer::from_file(
                &path,
                config.common.pad_token_id.map(|p| p as u32),
                Some(config.max_sequence_length()),
            )?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let batch = tokenizer.encode_batch(&refs)?;
            let widen = |rows: &[Vec<u32>]| -> Vec<Vec<i64>> {
                rows.iter()
                    .map(|r| r.iter().map(|&v| v as i64).collect())
                    .collect()
            };
            let (b, s) = batch.shape();
            for (name, rows) in [
                ("input_ids", widen(&batch.input_ids)),
                ("attention_mask", widen(&batch.attention_mask)),
            ] {
                let flat: Vec<i64> = rows.iter().flatten().copied().collect();
                tensors.insert(name.to_string(), TensorData::new(flat, [b, s]));
            }
            let ids = IdsInput {
                input_ids: widen(&batch.input_ids).into(),
                attention_mask: Some(widen(&batch.attention_mask).into()),
                token_type_ids: Some(widen(&batch.token_type_ids).into()),
            };
            (ids, path.display().to_string())
        }
    };
    let body_options = OutputOptions {
        output_hidden_states: options.hidden_states,
        output_attentions: options.attentions,
    };
    let (out, head_outputs) = match &model {
        Err(body) => {
            let input = model_input(body, config, ids, &source, device)?;
            (body.forward(input.body, body_options), Vec::new())
        }
        Ok(model) => {
            let input = model_input(&model.body, config, ids, &source, device)?;
            let (body, output) = model.forward_with_body(input, body_options);
            (body, output.named())
        }
    };
    tensors.insert("last_hidden_state".into(), f32_data(out.last_hidden_state));
    if let Some(pooled) = out.pooler_output {
        tensors.insert("pooler_output".into(), f32_data(pooled));
    }
    for (i, h) in out.hidden_states.into_iter().flatten().enumerate() {
        tensors.insert(format!("hidden_states.{i}"), f32_data(h));
    }
    for (i, a) in out.attentions.into_iter().flatten().enumerate() {
        tensors.insert(format!("attentions.{i}"), f32_data(a));
    }
    for (name, data) in head_outputs {
        tensors.insert(name.to_string(), data.convert::<f32>());
    }
    Ok(ForwardOutputs { tensors, report })
}
