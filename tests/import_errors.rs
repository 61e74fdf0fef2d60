//! Bad checkpoints give clear errors that name the file, the field or the tensor.

use std::path::{Path, PathBuf};

use kindling::burn::prelude::Device;
use kindling::import::{BodyLoadOptions, ImportError, load_body};
use kindling_tests::{device, fixtures_dir};

/// A scratch copy of a fixture checkpoint.
fn copy_fixture(case: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("model");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures_dir().join("bodies").join(case).join("model")).unwrap()
    {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    (tmp, dir)
}

fn load_err(dir: &Path) -> ImportError {
    let device: Device = device("flex");
    match load_body(dir, &device, BodyLoadOptions::default()) {
        Ok(_) => panic!("{} loaded, but should not", dir.display()),
        Err(e) => e,
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn truncated_safetensors_names_the_file() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    let file = dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&dir);
    let msg = err.to_string();
    assert!(matches!(err, ImportError::Weights { .. }), "{msg}");
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn truncated_header_names_the_file() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    std::fs::write(dir.join("model.safetensors"), [1u8, 2, 3]).unwrap();
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn unknown_model_type_names_file_value_and_supported() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| c["model_type"] = "gpt-neo-encoder".into());
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("config.json"), "{msg}");
    assert!(msg.contains("gpt-neo-encoder"), "{msg}");
    assert!(
        msg.contains("bert, roberta, xlm-roberta, camembert"),
        "{msg}"
    );
}

#[test]
fn missing_model_type_is_an_error() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| {
        c.as_object_mut().unwrap().remove("model_type");
    });
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("missing required field `model_type`"), "{msg}");
    assert!(msg.contains("config.json"), "{msg}");
}

#[test]
fn unsupported_activation_names_the_field() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| c["hidden_act"] = "quick_gelu".into());
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("`hidden_act`"), "{msg}");
    assert!(msg.contains("quick_gelu"), "{msg}");
}

#[test]
fn wrongly_typed_field_names_the_field() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| c["num_hidden_layers"] = "two".into());
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("`num_hidden_layers`"), "{msg}");
}

#[test]
fn heads_not_dividing_hidden_size_is_an_error() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| c["num_attention_heads"] = 5.into());
    let msg = load_err(&dir).to_string();
    assert!(
        msg.contains("`hidden_size`") && msg.contains("num_attention_heads"),
        "{msg}"
    );
}

#[test]
fn hidden_size_disagreeing_with_weights_names_tensor_and_shapes() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    edit_config(&dir, |c| c["hidden_size"] = 64.into());
    let err = load_err(&dir);
    let msg = err.to_string();
    // Found from the weights file's header before the body is built.
    match &err {
        ImportError::ConfigMismatch(mismatch) => {
            assert_eq!(mismatch.field, "hidden_size", "{msg}");
            assert_eq!(mismatch.value, 64, "{msg}");
            assert!(mismatch.expected.contains(&64), "{msg}");
            assert!(mismatch.found.contains(&32), "{msg}");
            assert!(msg.contains(mismatch.tensor.as_str()));
        }
        other => panic!("expected a config/weights size mismatch, got {other}"),
    }
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn hostile_sizes_are_refused_before_anything_is_allocated() {
    // hidden_size 1,572,864 and 100,000 layers over a tiny file: an error naming the field and
    // a tensor, at once (it used to grow to 14.5 GB and abort).
    for (field, value, named) in [
        ("hidden_size", 1_572_864u64, "hidden_size"),
        ("num_hidden_layers", 100_000, "num_hidden_layers"),
        ("intermediate_size", 1_572_864, "intermediate_size"),
    ] {
        let (_tmp, dir) = copy_fixture("bert_gelu_pair");
        edit_config(&dir, |c| {
            c[field] = value.into();
            if field == "hidden_size" {
                c["num_attention_heads"] = 1.into();
            }
        });
        let err = load_err(&dir);
        let msg = err.to_string();
        let ImportError::ConfigMismatch(mismatch) = &err else {
            panic!("{field}: expected a size mismatch, got {msg}")
        };
        assert_eq!(mismatch.field, named, "{msg}");
        assert!(msg.contains("model.safetensors"), "{msg}");
    }
}

#[test]
fn directory_without_weights_says_what_it_looked_for() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = load_err(&dir);
    assert!(matches!(err, ImportError::NoWeights { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("pytorch_model.bin"),
        "{msg}"
    );
}

#[test]
fn directory_without_config_is_an_error() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("no config.json"), "{msg}");
}

#[test]
fn missing_directory_is_an_error() {
    let msg = load_err(Path::new("/nonexistent/kindling/model")).to_string();
    assert!(msg.contains("/nonexistent/kindling/model"), "{msg}");
}

#[test]
fn config_that_is_not_json_names_the_file() {
    let (_tmp, dir) = copy_fixture("bert_gelu_pair");
    std::fs::write(dir.join("config.json"), "{ not json").unwrap();
    let msg = load_err(&dir).to_string();
    assert!(
        msg.contains("config.json") && msg.contains("not a valid JSON"),
        "{msg}"
    );
}

#[test]
fn shard_index_naming_a_missing_shard_is_an_error() {
    let (_tmp, dir) = copy_fixture("roberta_silu");
    let shard = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-of-00006.safetensors"))
        .expect("a shard");
    std::fs::remove_file(&shard).unwrap();
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("model.safetensors.index.json"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn corrupt_pytorch_bin_names_the_file() {
    let (_tmp, dir) = copy_fixture("bert_odd_heads_gelu_new");
    std::fs::write(
        dir.join("pytorch_model.bin"),
        b"this is not a zip or a pickle",
    )
    .unwrap();
    let msg = load_err(&dir).to_string();
    assert!(msg.contains("pytorch_model.bin"), "{msg}");
}
