//! Loading and saving whole models (body + head) in the Hugging Face layout.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use kindling_body::{AnyBody, Body, HfConfig};
use kindling_heads::{AnyHead, Head, HeadError, HeadSpec, Model, Task};

use crate::checkpoint::Checkpoint;
use crate::error::ImportError;
use crate::export::write_checkpoint;
use crate::load::{
    body_module_path, body_prefix, check_sizes, expected_parameters, load_module, unprefixed,
};
use crate::quantized::{apply_int8, wants_int8};
use crate::report::LoadReport;
use crate::tensors::TensorMap;

const BODY: &str = "body.";
const HEAD: &str = "head.";

/// Maps checkpoint names to module paths of a mounted model, and back: body names through the
/// body's own naming (under its prefix when the file uses one), the rest through the head's.
struct ModelNames<'a, B, H> {
    prefix: Option<String>,
    body: &'a B,
    head: &'a H,
}

impl<B: Body, H: Head> ModelNames<'_, B, H> {
    fn module_path(&self, name: &str) -> Option<String> {
        if let Some(path) = body_module_path(self.body, name, self.prefix.as_deref()) {
            return Some(format!("{BODY}{path}"));
        }
        if self.prefix.is_some() && unprefixed(name, self.prefix.as_deref()).is_some() {
            // A prefixed name the body does not know is no head tensor either.
            return None;
        }
        self.head.module_path(name).map(|p| format!("{HEAD}{p}"))
    }

    fn file_name(&self, path: &str, prefix: &str) -> String {
        if let Some(rest) = path.strip_prefix(BODY) {
            format!("{prefix}.{}", self.body.hf_name(rest))
        } else if let Some(rest) = path.strip_prefix(HEAD) {
            self.head.hf_name(rest)
        } else {
            path.to_string()
        }
    }
}

/// Mounts `head` on the body of an opened checkpoint and loads every tensor either takes.
///
/// This is how a custom head is mounted on a pretrained body: build the head, and whatever of it
/// the checkpoint holds (under the head's Hugging Face names) is loaded; the rest is reported
/// newly initialized. `with_pooler` decides whether the body keeps its pooler.
pub fn load_model_with_head<H: Head>(
    checkpoint: &Checkpoint,
    tensors: &TensorMap,
    head: H,
    with_pooler: bool,
    device: &Device,
) -> Result<(Model<AnyBody, H>, LoadReport), ImportError> {
    let prefix = body_prefix(checkpoint, tensors);
    check_sizes(checkpoint, tensors, prefix.as_deref())?;
    let body = checkpoint
        .config
        .body_config()
        .with_add_pooling_layer(with_pooler || head.needs_pooler())
        .init(device);
    let mut model = Model::new(body, head)?;
    let export_prefix = model.body.state_dict_prefix().to_string();
    let mut report = {
        let names = ModelNames {
            prefix: prefix.clone(),
            body: &model.body,
            head: &model.head,
        };
        // Mapping reads the head's naming only; the loader owns the model mutably below.
        let to_path: BTreeMap<String, Option<String>> = tensors
            .keys()
            .map(|k| (k.clone(), names.module_path(k)))
            .collect();
        let expected_names: BTreeMap<String, String> = expected_parameters(&model)
            .into_keys()
            .map(|path| {
                let file = names.file_name(&path, &export_prefix);
                (path, file)
            })
            .collect();
        load_module(
            &mut model,
            tensors,
            |name| to_path.get(name).cloned().flatten(),
            |path| {
                expected_names
                    .get(path)
                    .cloned()
                    .unwrap_or_else(|| path.to_string())
            },
            device,
        )?
    };
    report.prefix = prefix.map(|p| format!("{p}."));
    Ok((model, report))
}

/// Options for [`load_model`].
#[derive(Debug, Clone, Default)]
pub struct ModelLoadOptions {
    /// The task; the checkpoint's `architectures` when `None`.
    pub task: Option<Task>,
    /// Label names for a fresh classification head (or to check against the checkpoint's).
    pub labels: Option<Vec<String>>,
    /// Quantize every linear layer to int8 for inference (per-channel weights, per-row dynamic
    /// activations: see `kindling_kernels::quantize_linears`); the flex device only.
    pub int8: bool,
}

impl ModelLoadOptions {
    /// The checkpoint as it is (its own head and labels), with the linear layers in int8 when
    /// `int8` is set: what evaluation and the pipelines load.
    pub fn for_inference(int8: bool) -> Self {
        Self {
            int8,
            ..Self::default()
        }
    }
}

/// The head's output width as the checkpoint stores it, when it has the head.
fn checkpoint_label_count(task: Task, tensors: &TensorMap) -> Option<(String, Vec<usize>)> {
    let names: &[&str] = match task {
        Task::TokenClassification => &["classifier.weight"],
        Task::SequenceClassification => &["classifier.out_proj.weight", "classifier.weight"],
        _ => &[],
    };
    names.iter().find_map(|n| {
        tensors
            .get(*n)
            .map(|t| (n.to_string(), t.tensor.shape.to_vec()))
    })
}

/// Loads a checkpoint directory as a model: `architectures` (or `options.task`) picks the head,
/// the checkpoint's `id2label` names its labels.
///
/// The same call loads a full task checkpoint (body and head) and mounts a fresh head on a
/// body-only or other-task checkpoint (`options.task` + `options.labels`); the report lists the
/// newly initialized head tensors, as `transformers` does. The returned checkpoint's config
/// describes the mounted model (architectures, labels), ready for [`save_model`].
pub fn load_model(
    dir: impl AsRef<Path>,
    device: &Device,
    options: ModelLoadOptions,
) -> Result<(Model<AnyBody, AnyHead>, LoadReport, Checkpoint), ImportError> {
    let mut checkpoint = Checkpoint::open(dir)?;
    let tensors = checkpoint.read_tensors()?;
    let file_task = Task::from_architectures(checkpoint.config.common.architectures.as_deref())?;
    let task = options.task.unwrap_or(file_task);
    if task == Task::Base {
        return Err(HeadError::Invalid(format!(
            "{} holds a base model ({}); name a task to mount a head on it",
            checkpoint.dir.display(),
            task.class_name(checkpoint.config.model_type)
        ))
        .into());
    }
    let mut spec = HeadSpec::new(task);
    spec.labels = options.labels.clone();
    let labels = spec.resolve_labels(&checkpoint.config);
    if let (Some(given), Some((tensor, shape))) =
        (&options.labels, checkpoint_label_count(task, &tensors))
        && shape.first() != Some(&given.len())
        && file_task == task
    {
        return Err(HeadError::LabelCount {
            given: given.len(),
            checkpoint: shape.first().copied().unwrap_or_default(),
            tensor,
            shape,
        }
        .into());
    }
    let head = AnyHead::from_config(&checkpoint.config, &spec, device)?
        .ok_or_else(|| HeadError::Invalid("no head for the base task".into()))?;
    let (model, report) = load_model_with_head(&checkpoint, &tensors, head, false, device)?;
    let model = if wants_int8(options.int8, checkpoint.quantization()?, &tensors, device) {
        let names = ModelNames {
            prefix: body_prefix(&checkpoint, &tensors),
            body: &model.body,
            head: &model.head,
        };
        let paths: BTreeMap<&str, Option<String>> = tensors
            .keys()
            .map(|k| (k.as_str(), names.module_path(k)))
            .collect();
        apply_int8(model, &tensors, |name| paths.get(name).cloned().flatten())?
    } else {
        model
    };
    drop(tensors);
    describe_model(
        &mut checkpoint.config,
        task,
        task.has_label_names().then_some(&labels),
    );
    Ok((model, report, checkpoint))
}

/// Sets `architectures`, `id2label` and `label2id` of `config` to describe a model for `task`.
pub fn describe_model(config: &mut HfConfig, task: Task, labels: Option<&Vec<String>>) {
    config.common.architectures = Some(vec![task.class_name(config.model_type)]);
    if let Some(labels) = labels {
        config.common.set_labels(labels);
    }
}

/// Writes a mounted model as a `transformers` task checkpoint: `config.json` (as given: use
/// [`describe_model`] to set architectures and labels) and `model.safetensors` with the body
/// under its prefix (`bert.`, `roberta.`, `distilbert.`, `electra.`) and the head under its
/// Hugging Face names, plus a copy of `tokenizer`. `AutoModelFor<Task>.from_pretrained(dir)`
/// loads it with nothing missing.
pub fn save_model<B: Body, H: Head>(
    model: &Model<B, H>,
    config: &HfConfig,
    dir: &Path,
    tokenizer: Option<&Path>,
) -> Result<(), ImportError> {
    let names = ModelNames {
        prefix: None,
        body: &model.body,
        head: &model.head,
    };
    let prefix = model.body.state_dict_prefix();
    write_checkpoint(
        model,
        |path| names.file_name(path, prefix),
        &model.body,
        config,
        dir,
        tokenizer,
    )
}
