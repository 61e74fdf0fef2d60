//! `pytorch_model.bin` files are pickles: kindling reads them as data and refuses any whose
//! pickle names a global beyond the tensor-rebuild and storage types `torch.save` writes.
//!
//! Oracle: `tests/fixtures/pickles_fixture.py` writes each case with `torch.save` and checks
//! that `torch.load(weights_only=True)` refuses the same "refuse" cases (and that the "load"
//! cases hold the weights of `bodies/bert_odd_heads_gelu_new`).

use std::path::Path;

use kindling::body::{Body, BodyInput, OutputOptions};
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::import::{BodyLoadOptions, ImportError, load_body};
use kindling_tests::{device, fixtures_dir};
use serde_json::Value;

fn last_hidden_state(dir: &Path, device: &Device) -> TensorData {
    let (body, report, _) = load_body(dir, device, BodyLoadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(report.newly_initialized.is_empty(), "{report:?}");
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(vec![2i64, 17, 45, 9, 3, 2, 88, 3, 0, 0], [2, 5]),
        device,
    );
    let mask = ids.clone().not_equal_elem(0).int();
    body.forward(BodyInput::new(ids, mask), OutputOptions::default())
        .last_hidden_state
        .into_data()
}

#[test]
fn every_pickle_case_loads_or_is_refused_as_torch_does() {
    let device = device("flex");
    let reference = last_hidden_state(
        &fixtures_dir().join("bodies/bert_odd_heads_gelu_new/model"),
        &device,
    );
    let root = fixtures_dir().join("pickles");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/fixtures/pickles")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "pickle fixtures missing: {cases:?}");
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let marker = Path::new(case["marker"].as_str().expect("marker"));
        match case["expect"].as_str() {
            Some("load") => {
                let ours = last_hidden_state(&dir, &device);
                assert_eq!(ours, reference, "{name}: weights differ from the body case");
                println!("{name}: loaded, same outputs as bodies/bert_odd_heads_gelu_new");
            }
            Some("refuse") => {
                let global = case["global"].as_str().expect("global");
                match load_body(&dir, &device, BodyLoadOptions::default()) {
                    Err(err @ ImportError::UnsafePickle { .. }) => {
                        let msg = err.to_string();
                        assert!(msg.contains(global), "{name}: {msg}");
                        assert!(msg.contains("pytorch_model.bin"), "{name}: {msg}");
                        println!("{name}: refused: {msg}");
                    }
                    Err(other) => panic!("{name}: wrong error: {other}"),
                    Ok(_) => panic!("{name}: a pickle naming {global} was loaded"),
                }
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
        assert!(
            !marker.exists(),
            "{name}: the payload's marker {} exists",
            marker.display()
        );
    }
}
