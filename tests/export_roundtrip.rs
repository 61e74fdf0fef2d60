//! Export: a body written back to the Hugging Face layout loads again with nothing missing and
//! nothing unused, and gives the same outputs. The exported directories are left in
//! `KINDLING_EXPORT_DIR` (when set) for `tests/fixtures/check_export.py`, which loads them with
//! `transformers` and compares with the fixture outputs (run by `cargo xtask test`).

use std::path::PathBuf;

use kindling::body::{Body, BodyInput, OutputOptions};
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::import::{BodyLoadOptions, load_body, save_body};
use kindling_tests::{device, fixtures_dir};

fn ids(device: &Device) -> BodyInput {
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(vec![0i64, 5, 9, 7, 2, 3, 4, 1], [2, 4]),
        device,
    );
    let mask = Tensor::<2, Int>::from_data(
        TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 0], [2, 4]),
        device,
    );
    BodyInput::new(ids, mask)
}

#[test]
fn every_fixture_body_round_trips_through_the_hf_layout() {
    let device = device("flex");
    let keep = std::env::var_os("KINDLING_EXPORT_DIR").map(PathBuf::from);
    let scratch = tempfile::tempdir().unwrap();
    let root = keep.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures_dir().join("bodies")).unwrap() {
        let case = entry.unwrap().path();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (body, _, checkpoint) =
            load_body(case.join("model"), &device, BodyLoadOptions::default()).unwrap();
        let out_dir = root.join("bodies").join(&name);
        save_body(&body, &checkpoint.config, &out_dir, None).unwrap();

        let (again, report, reread) =
            load_body(&out_dir, &device, BodyLoadOptions::default()).unwrap();
        assert!(report.is_exact(), "{name}: {report}");
        assert_eq!(
            report.prefix, None,
            "{name}: base-model export has no prefix"
        );
        assert_eq!(reread.config.hidden_size(), checkpoint.config.hidden_size());
        assert_eq!(reread.config.model_type, checkpoint.config.model_type);

        let a = body.forward(ids(&device), OutputOptions::default());
        let b = again.forward(ids(&device), OutputOptions::default());
        let a = a.last_hidden_state.into_data().try_to_vec::<f32>().unwrap();
        let b = b.last_hidden_state.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a, b, "{name}: outputs differ after the round trip");
        count += 1;
    }
    assert!(count >= 7);
}

#[test]
fn export_writes_no_temporary_files_and_a_loadable_config() {
    let device = device("flex");
    let tmp = tempfile::tempdir().unwrap();
    let (body, _, checkpoint) = load_body(
        fixtures_dir().join("bodies/xlmr_token_cls/model"),
        &device,
        BodyLoadOptions::default(),
    )
    .unwrap();
    save_body(&body, &checkpoint.config, tmp.path(), None).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["config.json", "model.safetensors"]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "xlm-roberta");
    assert_eq!(config["architectures"][0], "XLMRobertaModel");
    assert_eq!(config["dtype"], "float32");
    // The task checkpoint's labels stay in the config.
    assert_eq!(config["id2label"]["1"], "B-PER");
}
