//! Putting checkpoint tensors into Burn modules, with `transformers`-style reporting.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::DType;
use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{ApplyError, FloatCastAdapter, ModuleAdapter, ModuleSnapshot};
use kindling_body::{AnyBody, Body};

use crate::adapter::FastPyTorchToBurnAdapter;
use crate::checkpoint::Checkpoint;
use crate::error::{ImportError, SizeMismatch};
use crate::quantized::{apply_int8, wants_int8};
use crate::report::LoadReport;
use crate::tensors::TensorMap;

/// The float dtype parameters take on `device` (checkpoint floats are cast to it on load).
pub fn target_float_dtype(device: &Device) -> DType {
    DType::from(device.settings().float_dtype)
}

/// The parameters a module expects, by module path in PyTorch naming (`weight`/`bias`, linear
/// weights `[out, in]`), with their shapes.
///
/// Read from the parameters' lazy shapes: collecting a snapshot would first draw every
/// parameter's random initial values, which the checkpoint then overwrites (on a 90 MB body
/// that drawing was two thirds of the load time).
pub(crate) fn expected_parameters<M: Module>(module: &M) -> BTreeMap<String, Vec<usize>> {
    let mut visitor = ExpectedParameters::default();
    module.visit(&mut visitor);
    visitor.found
}

/// Collects [`expected_parameters`]: the path of modules entered and, for each float
/// parameter, its name as `burn_store`'s PyTorch adapter writes it.
#[derive(Default)]
struct ExpectedParameters {
    /// `(field name, container type)` of every module entered.
    stack: Vec<(String, String)>,
    found: BTreeMap<String, Vec<usize>>,
}

impl ModuleVisitor for ExpectedParameters {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // As `burn_store`'s collector names it: enum variants are not part of the path, and the
        // module type is the innermost struct or enum entered (a field is entered with its
        // owner's type, so for `layer_norm.gamma` that is `Struct:LayerNorm`).
        let mut path: Vec<&str> = self
            .stack
            .iter()
            .filter(|(_, kind)| !kind.starts_with("Enum:"))
            .map(|(name, _)| name.as_str())
            .collect();
        let owner = self
            .stack
            .iter()
            .rev()
            .map(|(_, kind)| kind.as_str())
            .find(|kind| kind.starts_with("Struct:") || kind.starts_with("Enum:"));
        let Some(field) = path.last_mut() else {
            return;
        };
        let mut shape = param.lazy_shape().to_vec();
        let is_norm = matches!(
            owner,
            Some("Struct:LayerNorm" | "Struct:BatchNorm" | "Struct:GroupNorm" | "Struct:RmsNorm")
        );
        match (owner, *field) {
            (_, "gamma") if is_norm => *field = "weight",
            (_, "beta") if is_norm => *field = "bias",
            (Some("Struct:Linear"), "weight") if shape.len() == 2 => shape.reverse(),
            _ => {}
        }
        self.found.insert(path.join("."), shape);
    }
}

/// Buffers older `transformers` versions saved with the weights (`embeddings.position_ids`,
/// `embeddings.token_type_ids`); they are recomputed, so loading skips them silently, as
/// `transformers` does.
fn is_buffer(name: &str) -> bool {
    name.ends_with("embeddings.position_ids") || name.ends_with("embeddings.token_type_ids")
}

/// Loads `tensors` into `module`.
///
/// `to_module_path` maps a file name to the module path it fills (in PyTorch naming), or `None`
/// for tensors that belong to nothing in this module; `to_file_name` maps a module path back,
/// for naming the parameters the file lacked. A tensor whose shape does not fit is an error;
/// tensors the module does not take and parameters the file lacks are reported.
pub fn load_module<M: Module>(
    module: &mut M,
    tensors: &TensorMap,
    to_module_path: impl Fn(&str) -> Option<String>,
    to_file_name: impl Fn(&str) -> String,
    device: &Device,
) -> Result<LoadReport, ImportError> {
    let expected = expected_parameters(module);
    let mut report = LoadReport::default();
    let mut chosen: BTreeMap<String, (String, PackTensor)> = BTreeMap::new();
    let mut cast_from = BTreeSet::new();
    let target = target_float_dtype(device);

    for (name, hf) in tensors {
        if is_buffer(name) {
            continue;
        }
        let Some(path) = to_module_path(name) else {
            report.unused.push(name.clone());
            continue;
        };
        let Some(shape) = expected.get(&path) else {
            report.unused.push(name.clone());
            continue;
        };
        let found = hf.tensor.shape.to_vec();
        if &found != shape {
            return Err(ImportError::ShapeMismatch {
                tensor: name.clone(),
                path: hf.file.clone(),
                expected: shape.clone(),
                found,
            });
        }
        if !hf.tensor.dtype.is_float() {
            return Err(ImportError::BadTensor {
                tensor: name.clone(),
                path: hf.file.clone(),
                message: format!(
                    "dtype {:?} where a float parameter is expected",
                    hf.tensor.dtype
                ),
            });
        }
        if hf.tensor.dtype != target {
            cast_from.insert(format!("{:?}", hf.tensor.dtype));
        }
        if let Some((first, _)) = chosen.get(&path) {
            return Err(ImportError::Duplicate {
                tensor: path.clone(),
                first: first.clone(),
                second: name.clone(),
            });
        }
        let mut tensor = hf.tensor.clone();
        tensor.name = path.clone();
        chosen.insert(path, (name.clone(), tensor));
    }

    report.newly_initialized = expected
        .keys()
        .filter(|path| !chosen.contains_key(*path))
        .map(|path| to_file_name(path))
        .collect();
    report.loaded = chosen.values().map(|(name, _)| name.clone()).collect();
    report.cast_from = cast_from.into_iter().collect();

    let names_by_path: BTreeMap<String, String> = chosen
        .iter()
        .map(|(path, (name, _))| (path.clone(), name.clone()))
        .collect();
    let adapter = FastPyTorchToBurnAdapter.chain(FloatCastAdapter::to(target));
    let to_apply: Vec<PackTensor> = chosen.into_values().map(|(_, t)| t).collect();
    // Enum variants (a head chosen at run time, a classifier style) are not part of the names.
    let result = module.apply(to_apply, None, Some(Box::new(adapter)), true);
    if let Some(error) = result.errors.into_iter().next() {
        let file_of = |path: &str| {
            let name = names_by_path
                .get(path)
                .cloned()
                .unwrap_or_else(|| path.to_string());
            let file = tensors
                .get(&name)
                .map(|t| t.file.clone())
                .unwrap_or_default();
            (name, file)
        };
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => {
                let (tensor, file) = file_of(&path);
                ImportError::ShapeMismatch {
                    tensor,
                    path: file,
                    expected: expected.to_vec(),
                    found: found.to_vec(),
                }
            }
            other => {
                let path = match &other {
                    ApplyError::DTypeMismatch { path, .. }
                    | ApplyError::AdapterError { path, .. }
                    | ApplyError::LoadError { path, .. }
                    | ApplyError::ShapeMismatch { path, .. } => path.clone(),
                };
                let (tensor, file) = file_of(&path);
                ImportError::BadTensor {
                    tensor,
                    path: file,
                    message: other.to_string(),
                }
            }
        });
    }
    Ok(report)
}

/// Whether a body gets a pooler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolerChoice {
    /// A pooler exactly when the checkpoint has pooler weights.
    #[default]
    Auto,
    /// Always a pooler (fresh when the checkpoint has none, as `AutoModel` does).
    Always,
    /// Never a pooler (pooler tensors in the file are reported unused).
    Never,
}

/// Options for [`load_body`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLoadOptions {
    /// Whether the body gets a pooler.
    pub pooler: PoolerChoice,
    /// Quantize every linear layer to int8 for inference (as `ModelLoadOptions::int8`).
    pub int8: bool,
}

/// The prefix a checkpoint's body tensors carry (`bert`, `roberta`, `distilbert`, `electra`),
/// if they carry one.
pub fn body_prefix(checkpoint: &Checkpoint, tensors: &TensorMap) -> Option<String> {
    let prefix = checkpoint.config.model_type.state_dict_prefix();
    let dotted = format!("{prefix}.");
    tensors
        .keys()
        .any(|k| k.starts_with(&dotted))
        .then(|| prefix.to_string())
}

/// A checkpoint name without the body prefix (`bert.`, ...) when the file uses one; `None` for
/// an unprefixed name in a prefixed file (it belongs to a head).
pub(crate) fn unprefixed<'a>(name: &'a str, prefix: Option<&str>) -> Option<&'a str> {
    match prefix {
        Some(prefix) => name.strip_prefix(prefix)?.strip_prefix('.'),
        None => Some(name),
    }
}

/// Maps a checkpoint name to a module path of `body` given the body prefix: prefixed names lose
/// the prefix; when the file uses a prefix, unprefixed names belong to a head. Names the body
/// does not own are `None`.
pub fn body_module_path<B: Body>(body: &B, name: &str, prefix: Option<&str>) -> Option<String> {
    body.module_path(unprefixed(name, prefix)?)
}

/// Opens a checkpoint directory and loads its body onto `device`.
///
/// Works on body-only (`BertModel`, `DistilBertModel`) checkpoints and on task checkpoints
/// (`*ForMaskedLM`, `*ForTokenClassification`, `ElectraForPreTraining`, ...): their head
/// tensors are reported unused.
pub fn load_body(
    dir: impl AsRef<std::path::Path>,
    device: &Device,
    options: BodyLoadOptions,
) -> Result<(AnyBody, LoadReport, Checkpoint), ImportError> {
    let checkpoint = Checkpoint::open(dir)?;
    let tensors = checkpoint.read_tensors()?;
    let (body, report) = load_body_from(&checkpoint, &tensors, device, options)?;
    let body = if wants_int8(options.int8, checkpoint.quantization()?, &tensors, device) {
        let prefix = body_prefix(&checkpoint, &tensors);
        let paths: BTreeMap<&str, Option<String>> = tensors
            .keys()
            .map(|k| (k.as_str(), body_module_path(&body, k, prefix.as_deref())))
            .collect();
        apply_int8(body, &tensors, |name| paths.get(name).cloned().flatten())?
    } else {
        body
    };
    Ok((body, report, checkpoint))
}

/// Loads the body of an opened checkpoint from tensors already read.
pub fn load_body_from(
    checkpoint: &Checkpoint,
    tensors: &TensorMap,
    device: &Device,
    options: BodyLoadOptions,
) -> Result<(AnyBody, LoadReport), ImportError> {
    let prefix = body_prefix(checkpoint, tensors);
    check_sizes(checkpoint, tensors, prefix.as_deref())?;
    let config = checkpoint.config.body_config();
    let has_pooler = config.supports_pooler()
        && tensors
            .keys()
            .any(|k| unprefixed(k, prefix.as_deref()) == Some("pooler.dense.weight"));
    let with_pooler = match options.pooler {
        PoolerChoice::Auto => has_pooler,
        PoolerChoice::Always => config.supports_pooler(),
        PoolerChoice::Never => false,
    };
    let mut body = config.with_add_pooling_layer(with_pooler).init(device);
    // The names are read before the loader holds the body mutably.
    let to_path: BTreeMap<&str, Option<String>> = tensors
        .keys()
        .map(|k| (k.as_str(), body_module_path(&body, k, prefix.as_deref())))
        .collect();
    let to_name: BTreeMap<String, String> = expected_parameters(&body)
        .into_keys()
        .map(|path| {
            let name = match &prefix {
                Some(p) => format!("{p}.{}", body.hf_name(&path)),
                None => body.hf_name(&path),
            };
            (path, name)
        })
        .collect();
    let mut report = load_module(
        &mut body,
        tensors,
        |name| to_path.get(name).cloned().flatten(),
        |path| {
            to_name
                .get(path)
                .cloned()
                .unwrap_or_else(|| path.to_string())
        },
        device,
    )?;
    report.prefix = prefix.map(|p| format!("{p}."));
    Ok((body, report))
}

/// Checks the sizes `config.json` gives against the weights file's header before anything is
/// allocated: a config whose sizes do not fit the file (a hostile `hidden_size` or layer count
/// over a small file) is an error naming the field and the tensor, returned at once. `prefix`
/// is the file's body prefix ([`body_prefix`]).
pub(crate) fn check_sizes(
    checkpoint: &Checkpoint,
    tensors: &TensorMap,
    prefix: Option<&str>,
) -> Result<(), ImportError> {
    let config = &checkpoint.config;
    let full = |name: &str| match prefix {
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    };
    for probe in config.size_probes() {
        let name = full(&probe.tensor);
        let Some(found) = tensors.get(&name) else {
            continue;
        };
        let found_shape = found.tensor.shape.to_vec();
        let fits = found_shape.len() == probe.shape.len()
            && found_shape.get(probe.axis) == probe.shape.get(probe.axis);
        if !fits {
            return Err(ImportError::ConfigMismatch(Box::new(SizeMismatch {
                field: probe.field.to_string(),
                value: probe.value,
                tensor: name,
                path: found.file.clone(),
                expected: probe.shape,
                found: found_shape,
            })));
        }
    }
    // The layer count: the file's highest layer index must be the config's last.
    let stack = config.layer_stack_name();
    let layers: BTreeSet<usize> = tensors
        .keys()
        .filter_map(|k| {
            unprefixed(k, prefix)?
                .strip_prefix(stack)?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .collect();
    let wanted = config.num_hidden_layers();
    if let Some(&last) = layers.iter().next_back()
        && last + 1 != wanted
    {
        let tensor = tensors
            .keys()
            .find(|k| k.contains(&format!("{stack}{last}.")))
            .cloned()
            .unwrap_or_default();
        let path = tensors
            .get(&tensor)
            .map(|t| t.file.clone())
            .unwrap_or_default();
        return Err(ImportError::ConfigMismatch(Box::new(SizeMismatch {
            field: config.num_hidden_layers_field().to_string(),
            value: wanted,
            tensor,
            path,
            expected: vec![wanted],
            found: vec![last + 1],
        })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_store::BurnToPyTorchAdapter;
    use kindling_body::HfConfig;
    use kindling_heads::{AnyHead, HeadSpec, Model, Task};

    /// `burn_store`'s own naming, which initializes every parameter on the way.
    fn collected<M: Module>(module: &M) -> BTreeMap<String, Vec<usize>> {
        module
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
            .into_iter()
            .map(|t| (t.name.clone(), t.shape.to_vec()))
            .collect()
    }

    fn config(model_type: &str) -> HfConfig {
        let json = serde_json::json!({
            "model_type": model_type, "vocab_size": 50, "hidden_size": 8,
            "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12,
            "max_position_embeddings": 40, "pad_token_id": 1,
            "id2label": {"0": "O", "1": "B-PER", "2": "I-PER"}
        });
        HfConfig::from_json_value(json, std::path::Path::new("config.json"))
            .expect("a valid config")
    }

    #[test]
    fn lazy_names_and_shapes_match_the_store_collector_without_initializing() {
        let device = Device::flex();
        for model_type in [
            "bert",
            "roberta",
            "distilbert",
            "electra",
            "deberta-v2",
            "modernbert",
        ] {
            let config = config(model_type);
            let body = config.body_config().init(&device);
            assert_eq!(
                expected_parameters(&body),
                collected(&body),
                "{model_type} body"
            );
            for task in [
                Task::TokenClassification,
                Task::SequenceClassification,
                Task::QuestionAnswering,
                Task::MultipleChoice,
                Task::MaskedLm,
                Task::SentenceEmbedding,
            ] {
                let head = AnyHead::from_config(&config, &HeadSpec::new(task), &device)
                    .expect("head")
                    .expect("a task with a head");
                let body = config.body_config().init(&device);
                let model = Model::new(body, head).expect("mount");
                let lazy = expected_parameters(&model);
                let initialized = match &model.body {
                    AnyBody::Encoder(b) => b.embeddings.word_embeddings.weight.is_initialized(),
                    AnyBody::DistilBert(b) => b.embeddings.word_embeddings.weight.is_initialized(),
                    AnyBody::DebertaV2(b) => b.embeddings.word_embeddings.weight.is_initialized(),
                    AnyBody::ModernBert(b) => b.embeddings.tok_embeddings.weight.is_initialized(),
                };
                assert!(!initialized, "reading names initialized a parameter");
                assert_eq!(lazy, collected(&model), "{model_type} {task:?}");
            }
        }
    }
}
