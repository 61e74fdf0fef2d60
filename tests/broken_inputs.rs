//! A table of broken inputs, one per way a user's file, config, data, label list, device string,
//! tensor shape or training argument can be wrong. Each must come back as a typed error whose
//! message names the file, line, tensor or field at fault, and none may panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use kindling::data::{
    LabelSet, TokenClassificationEncoder, Tokenizer, read_conll, read_dataset, read_jsonl,
    read_panx,
};
use kindling::device::parse_device;
use kindling::forward::{ForwardInput, IdsInput, run_forward};
use kindling::import::{BodyLoadOptions, Checkpoint, load_body};
use kindling::ner::NerPipeline;
use kindling::train::{TrainingArguments, checkpoint::checkpoint_weights};
use kindling_tests::{device, fixtures_dir};

/// A scratch directory with a copy of a body fixture's checkpoint in `model/`.
struct Scratch {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn empty() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        Self { _tmp: tmp, root }
    }

    fn with_body(case: &str) -> Self {
        let scratch = Self::empty();
        let dir = scratch.model();
        std::fs::create_dir_all(&dir).unwrap();
        let source = fixtures_dir().join("bodies").join(case).join("model");
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        scratch
    }

    fn model(&self) -> PathBuf {
        self.root.join("model")
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.model().join("config.json");
        let mut value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&path, value.to_string()).unwrap();
    }
}

/// A case's result as the table compares it: success, or the error's message.
trait Outcome {
    fn outcome(self) -> Result<(), String>;
}

impl<T, E: std::fmt::Display> Outcome for Result<T, E> {
    fn outcome(self) -> Result<(), String> {
        self.map(|_| ()).map_err(|e| e.to_string())
    }
}

fn load(dir: &Path) -> Result<(), String> {
    load_body(dir, &device("flex"), BodyLoadOptions::default()).outcome()
}

/// A word-level tokenizer with `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and a few words.
fn word_tokenizer_json() -> String {
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "unk_token": "[UNK]",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "Berlin": 4, "liegt": 5}}
    })
    .to_string()
}

/// Breaks something in a scratch directory and runs the code that must reject it.
type BreakAndRun = Box<dyn Fn(&Scratch) -> Result<(), String>>;

/// One broken input: the body fixture to start from (`""`: an empty directory), a name, what
/// to break and run, and the words its error message must contain.
struct Case {
    fixture: &'static str,
    name: &'static str,
    run: BreakAndRun,
    needles: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let c = |fixture: &'static str,
             name: &'static str,
             run: BreakAndRun,
             needles: &'static [&'static str]| Case {
        fixture,
        name,
        run,
        needles,
    };
    vec![
        // ---- checkpoint directories and weight files
        c(
            "",
            "checkpoint directory missing",
            Box::new(|s| load(&s.root.join("nope"))),
            &["nope", "does not exist"],
        ),
        c(
            "",
            "no weight file",
            Box::new(|s| {
                s.write("model/config.json", r#"{"model_type": "bert"}"#);
                load(&s.model())
            }),
            &["no weights in", "model"],
        ),
        c(
            "bert_gelu_pair",
            "no config.json",
            Box::new(|s| {
                std::fs::remove_file(s.model().join("config.json")).unwrap();
                load(&s.model())
            }),
            &["config.json"],
        ),
        c(
            "bert_gelu_pair",
            "config.json is not JSON",
            Box::new(|s| {
                s.write(
                    "model/config.json",
                    "{\"model_type\": \"bert\",\n  \"hidden_size\": 32,,}",
                );
                load(&s.model())
            }),
            &["config.json", "line 2"],
        ),
        c(
            "bert_gelu_pair",
            "config field of the wrong type",
            Box::new(|s| {
                s.edit_config(|v| v["hidden_size"] = "big".into());
                load(&s.model())
            }),
            &["config.json", "hidden_size"],
        ),
        c(
            "bert_gelu_pair",
            "heads do not divide the hidden size",
            Box::new(|s| {
                s.edit_config(|v| v["num_attention_heads"] = 5.into());
                load(&s.model())
            }),
            &["config.json", "num_attention_heads"],
        ),
        c(
            "bert_gelu_pair",
            "zero vocabulary size",
            Box::new(|s| {
                s.edit_config(|v| v["vocab_size"] = 0.into());
                load(&s.model())
            }),
            &["config.json", "vocab_size"],
        ),
        c(
            "bert_gelu_pair",
            "unknown activation",
            Box::new(|s| {
                s.edit_config(|v| v["hidden_act"] = "swish-ish".into());
                load(&s.model())
            }),
            &["config.json", "hidden_act", "swish-ish"],
        ),
        c(
            "bert_gelu_pair",
            "empty model.safetensors",
            Box::new(|s| {
                s.write("model/model.safetensors", b"");
                load(&s.model())
            }),
            &["model.safetensors"],
        ),
        c(
            "bert_gelu_pair",
            "safetensors header length beyond the file",
            Box::new(|s| {
                let mut bytes = u64::MAX.to_le_bytes().to_vec();
                bytes.extend_from_slice(b"{}");
                s.write("model/model.safetensors", bytes);
                load(&s.model())
            }),
            &["model.safetensors"],
        ),
        c(
            "bert_gelu_pair",
            "safetensors header not JSON",
            Box::new(|s| {
                let header = b"{\"a\": [1, 2";
                let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
                bytes.extend_from_slice(header);
                s.write("model/model.safetensors", bytes);
                load(&s.model())
            }),
            &["model.safetensors"],
        ),
        c(
            "bert_gelu_pair",
            "tensor offsets outside the data",
            Box::new(|s| {
                let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#;
                let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
                bytes.extend_from_slice(header);
                bytes.extend_from_slice(&[0u8; 8]);
                s.write("model/model.safetensors", bytes);
                load(&s.model())
            }),
            &["model.safetensors"],
        ),
        c(
            "bert_gelu_pair",
            "tensor of the wrong shape",
            Box::new(|s| {
                let path = s.model().join("model.safetensors");
                let bytes = std::fs::read(&path).unwrap();
                let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
                let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = file
                    .tensors()
                    .into_iter()
                    .filter(|(n, _)| n != "embeddings.LayerNorm.weight")
                    .collect();
                let wrong = vec![0u8; 4 * 7];
                tensors.push((
                    "embeddings.LayerNorm.weight".into(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![7], &wrong)
                        .unwrap(),
                ));
                safetensors::serialize_to_file(tensors, None, &path).unwrap();
                load(&s.model())
            }),
            &["embeddings.LayerNorm.weight", "model.safetensors", "[7]"],
        ),
        c(
            "bert_gelu_pair",
            "integer tensor for a float weight",
            Box::new(|s| {
                let path = s.model().join("model.safetensors");
                let bytes = std::fs::read(&path).unwrap();
                let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
                let original = file.tensor("embeddings.LayerNorm.weight").unwrap();
                let shape = original.shape().to_vec();
                let ints = vec![0u8; 8 * shape.iter().product::<usize>()];
                let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = file
                    .tensors()
                    .into_iter()
                    .filter(|(n, _)| n != "embeddings.LayerNorm.weight")
                    .collect();
                tensors.push((
                    "embeddings.LayerNorm.weight".into(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::I64, shape, &ints)
                        .unwrap(),
                ));
                safetensors::serialize_to_file(tensors, None, &path).unwrap();
                load(&s.model())
            }),
            &["embeddings.LayerNorm.weight", "model.safetensors"],
        ),
        c(
            "roberta_silu",
            "shard index not JSON",
            Box::new(|s| {
                s.write("model/model.safetensors.index.json", "{weight_map: 1}");
                load(&s.model())
            }),
            &["model.safetensors.index.json"],
        ),
        c(
            "roberta_silu",
            "shard index names a missing shard",
            Box::new(|s| {
                std::fs::remove_file(s.model().join("model-00002-of-00006.safetensors")).unwrap();
                load(&s.model())
            }),
            &[
                "model.safetensors.index.json",
                "model-00002-of-00006.safetensors",
            ],
        ),
        c(
            "roberta_silu",
            "shard index escapes the directory",
            Box::new(|s| {
                s.write(
                    "model/model.safetensors.index.json",
                    r#"{"weight_map": {"embeddings.word_embeddings.weight": "../../etc/passwd"}}"#,
                );
                load(&s.model())
            }),
            &["model.safetensors.index.json", "../../etc/passwd"],
        ),
        c(
            "bert_odd_heads_gelu_new",
            "pytorch_model.bin of random bytes",
            Box::new(|s| {
                s.write(
                    "model/pytorch_model.bin",
                    (0..4096u32)
                        .map(|i| (i.wrapping_mul(2654435761u32) >> 24) as u8)
                        .collect::<Vec<_>>(),
                );
                load(&s.model())
            }),
            &["pytorch_model.bin"],
        ),
        c(
            "bert_odd_heads_gelu_new",
            "pytorch_model.bin cut in half",
            Box::new(|s| {
                let path = s.model().join("pytorch_model.bin");
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
                load(&s.model())
            }),
            &["pytorch_model.bin"],
        ),
        c(
            "bert_odd_heads_gelu_new",
            "pytorch_model.bin whose pickle calls os.system",
            Box::new(|s| {
                let evil = fixtures_dir().join("pickles/os_system_protocol2/pytorch_model.bin");
                std::fs::copy(evil, s.model().join("pytorch_model.bin")).unwrap();
                load(&s.model())
            }),
            &["pytorch_model.bin", "posix.system"],
        ),
        // ---- model inputs (shapes and ranges)
        c(
            "bert_gelu_pair",
            "ragged input rows",
            Box::new(|s| {
                let input: IdsInput =
                    serde_json::from_str(r#"{"input_ids": [[2, 5, 3], [2, 3]]}"#).unwrap();
                run_forward(&s.model(), ForwardInput::Ids(input), &device("flex")).outcome()
            }),
            &["input_ids", "row 1"],
        ),
        c(
            "bert_gelu_pair",
            "token id outside the vocabulary",
            Box::new(|s| {
                let input: IdsInput =
                    serde_json::from_str(r#"{"input_ids": [[2, 100000, 3]]}"#).unwrap();
                run_forward(&s.model(), ForwardInput::Ids(input), &device("flex")).outcome()
            }),
            &["input_ids", "100000"],
        ),
        c(
            "bert_gelu_pair",
            "sequence longer than the position table",
            Box::new(|s| {
                let input = IdsInput {
                    input_ids: vec![vec![5i64; 4096]].into(),
                    attention_mask: None,
                    token_type_ids: None,
                };
                run_forward(&s.model(), ForwardInput::Ids(input), &device("flex")).outcome()
            }),
            &["input_ids", "4096"],
        ),
        c(
            "bert_gelu_pair",
            "attention mask of another shape",
            Box::new(|s| {
                let input: IdsInput = serde_json::from_str(
                    r#"{"input_ids": [[2, 5, 3]], "attention_mask": [[1, 1]]}"#,
                )
                .unwrap();
                run_forward(&s.model(), ForwardInput::Ids(input), &device("flex")).outcome()
            }),
            &["attention_mask"],
        ),
        c(
            "bert_gelu_pair",
            "text input without tokenizer.json",
            Box::new(|s| {
                run_forward(
                    &s.model(),
                    ForwardInput::Texts(vec!["hi".into()]),
                    &device("flex"),
                )
                .outcome()
            }),
            &["tokenizer.json"],
        ),
        c(
            "bert_gelu_pair",
            "NER pipeline on a body without a head",
            Box::new(|s| NerPipeline::load(&s.model(), &device("flex")).outcome()),
            &["model"],
        ),
        // ---- data files
        c(
            "",
            "data file missing",
            Box::new(|s| read_conll(s.root.join("train.txt")).outcome()),
            &["train.txt"],
        ),
        c(
            "",
            "data file not UTF-8",
            Box::new(|s| {
                let path = s.write("train.txt", b"Berlin B-LOC\n\xff\xfe O\n");
                read_conll(path).outcome()
            }),
            &["train.txt"],
        ),
        c(
            "",
            "CoNLL line with one column",
            Box::new(|s| {
                let path = s.write("train.txt", "Berlin B-LOC\nliegt O\nSpree\n");
                read_conll(path).outcome()
            }),
            &["train.txt", "3"],
        ),
        c(
            "",
            "PAN-X line without a tab",
            Box::new(|s| {
                let path = s.write("train.panx", "de:Berlin\tB-LOC\nde:liegt O\n");
                read_panx(path).outcome()
            }),
            &["train.panx:2", "tab"],
        ),
        c(
            "",
            "PAN-X line without a language",
            Box::new(|s| {
                let path = s.write("train.panx", "Berlin\tB-LOC\n");
                read_panx(path).outcome()
            }),
            &["train.panx:1", "lang"],
        ),
        c(
            "",
            "JSON lines: broken JSON on line 2",
            Box::new(|s| {
                let path = s.write(
                    "train.jsonl",
                    "{\"tokens\": [\"a\"], \"ner_tags\": [\"O\"]}\n{\"tokens\": [\"a\"\n",
                );
                read_jsonl(path, None).outcome()
            }),
            &["train.jsonl:2"],
        ),
        c(
            "",
            "JSON lines: tokens and tags of different lengths",
            Box::new(|s| {
                let path = s.write(
                    "train.jsonl",
                    "{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [\"O\"]}\n",
                );
                read_jsonl(path, None).outcome()
            }),
            &["train.jsonl:1", "2 tokens", "1 tags"],
        ),
        c(
            "",
            "JSON lines: label id outside the list",
            Box::new(|s| {
                let path = s.write("train.jsonl", "{\"tokens\": [\"a\"], \"ner_tags\": [0]}\n{\"tokens\": [\"a\"], \"ner_tags\": [9]}\n");
                read_jsonl(path, Some(&LabelSet::panx())).outcome()
            }),
            &["train.jsonl:2", "9"],
        ),
        c(
            "",
            "JSON lines: label ids without a label list",
            Box::new(|s| {
                let path = s.write("train.jsonl", "{\"tokens\": [\"a\"], \"ner_tags\": [0]}\n");
                read_jsonl(path, None).outcome()
            }),
            &["train.jsonl"],
        ),
        c(
            "",
            "a JSON array instead of JSON lines",
            Box::new(|s| {
                let path = s.write(
                    "train.json",
                    "[{\"tokens\": [\"a\"], \"ner_tags\": [\"O\"]}]",
                );
                read_dataset(path, None).outcome()
            }),
            &["train.json"],
        ),
        // ---- labels
        c(
            "",
            "tag outside the label set",
            Box::new(|s| {
                let path = s.write("train.txt", "Berlin B-LOC\nliegt B-FOO\n");
                let examples = read_conll(path).map_err(|e| e.to_string())?;
                let tok = s.write("tokenizer.json", word_tokenizer_json());
                let tokenizer = Tokenizer::from_file(tok, None, None).map_err(|e| e.to_string())?;
                let encoder =
                    TokenClassificationEncoder::new(tokenizer, LabelSet::panx(), None, false)
                        .map_err(|e| e.to_string())?;
                encoder.encode(&examples).outcome()
            }),
            &["train.txt:2", "B-FOO"],
        ),
        c(
            "",
            "label list with a duplicate",
            Box::new(|_| LabelSet::from_list(["O", "B-LOC", "O"]).outcome()),
            &["`O`", "twice"],
        ),
        c(
            "",
            "empty label list",
            Box::new(|_| LabelSet::from_list(Vec::<String>::new()).outcome()),
            &["empty"],
        ),
        // ---- tokenizers
        c(
            "",
            "tokenizer.json not JSON",
            Box::new(|s| {
                let path = s.write("tokenizer.json", "{\"model\": ");
                Tokenizer::from_file(path, None, None).outcome()
            }),
            &["tokenizer.json"],
        ),
        c(
            "",
            "tokenizer without a pad token",
            Box::new(|s| {
                let json = word_tokenizer_json().replace("[PAD]", "[NOTPAD]");
                let path = s.write("tokenizer.json", json);
                Tokenizer::from_file(path, None, None).outcome()
            }),
            &["tokenizer.json", "pad"],
        ),
        // ---- devices
        c(
            "",
            "unknown device",
            Box::new(|_| parse_device("gpu").outcome()),
            &["gpu", "flex, ndarray"],
        ),
        c(
            "",
            "device index not a number",
            Box::new(|_| parse_device("cuda:x").outcome()),
            &["cuda:x", "`x`"],
        ),
        // ---- training
        c(
            "",
            "zero batch size",
            Box::new(|_| {
                TrainingArguments {
                    batch_size: 0,
                    ..Default::default()
                }
                .validate()
                .outcome()
            }),
            &["batch_size", "0"],
        ),
        c(
            "",
            "NaN learning rate",
            Box::new(|_| {
                TrainingArguments {
                    learning_rate: f64::NAN,
                    ..Default::default()
                }
                .validate()
                .outcome()
            }),
            &["learning_rate", "NaN"],
        ),
        c(
            "",
            "warmup ratio above 1",
            Box::new(|_| {
                TrainingArguments {
                    warmup_ratio: 1.5,
                    ..Default::default()
                }
                .validate()
                .outcome()
            }),
            &["warmup_ratio", "1.5"],
        ),
        c(
            "",
            "beta2 of 1",
            Box::new(|_| {
                let mut args = TrainingArguments::default();
                args.adamw.beta2 = 1.0;
                args.validate().outcome()
            }),
            &["adam_beta2"],
        ),
        c(
            "",
            "resume checkpoint with corrupt weights",
            Box::new(|s| {
                s.write("run/checkpoint/model.bpk", b"not a burnpack file");
                checkpoint_weights(&s.root.join("run/checkpoint")).outcome()
            }),
            &["model.bpk"],
        ),
        c(
            "bert_gelu_pair",
            "checkpoint directory is a file",
            Box::new(|s| {
                let file = s.write("file.txt", "x");
                Checkpoint::open(&file).outcome()
            }),
            &["file.txt"],
        ),
    ]
}

#[test]
fn every_broken_input_is_a_clear_error_not_a_panic() {
    let mut failures = Vec::new();
    let cases = cases();
    for Case {
        fixture,
        name,
        run,
        needles,
    } in &cases
    {
        let scratch = if fixture.is_empty() {
            Scratch::empty()
        } else {
            Scratch::with_body(fixture)
        };
        match catch_unwind(AssertUnwindSafe(|| run(&scratch))) {
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{name}: PANICKED: {what}"));
            }
            Ok(Ok(())) => failures.push(format!("{name}: accepted, but should be an error")),
            Ok(Err(message)) => {
                let missing: Vec<_> = needles.iter().filter(|n| !message.contains(**n)).collect();
                if missing.is_empty() {
                    println!("ok  {name}: {message}");
                } else {
                    failures.push(format!("{name}: message lacks {missing:?}: {message}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken inputs misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
