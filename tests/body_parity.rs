//! Body parity with PyTorch `transformers`: every fixture checkpoint, loaded through the
//! importer, gives `last_hidden_state`, `pooler_output`, every hidden state and every attention
//! map within 1e-4 of PyTorch at non-padded positions, on every built backend.
//!
//! Oracle: `tests/fixtures/generate.py` (torch 2.9.0, transformers 5.x; see
//! `tests/fixtures/requirements.txt`), outputs in `bodies/<case>/expected.safetensors`.

use kindling::body::{Body, BodyInput, OutputOptions};
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::import::{BodyLoadOptions, load_body};
use kindling_tests::{
    TOLERANCE, case_names, fixtures_dir, max_abs_diff, read_safetensors, test_device,
};
use serde_json::Value;

fn rows(value: &Value, field: &str) -> Option<Vec<Vec<i64>>> {
    value.get(field).map(|v| {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("inputs.json `{field}`: {e}"))
    })
}

fn int_tensor(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [b, s]), device)
}

fn sorted(value: &Value, field: &str) -> Vec<String> {
    let mut list: Vec<String> = serde_json::from_value(value[field].clone()).unwrap_or_default();
    list.sort();
    list
}

/// Loads one fixture case and compares every output with PyTorch's.
fn check_case(name: &str, device: &Device) {
    let case_dir = fixtures_dir().join("bodies").join(name);
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir.join("case.json")).expect("case.json"),
    )
    .expect("case.json is JSON");
    let inputs: Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir.join("inputs.json")).expect("inputs.json"),
    )
    .expect("inputs.json is JSON");
    let expected = read_safetensors(&case_dir.join("expected.safetensors"));

    let (body, report, _) = load_body(case_dir.join("model"), device, BodyLoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // With the pooler chosen from the file, nothing of the body is left uninitialized, and the
    // head tensors of task checkpoints are reported unused, by their names in the file.
    assert!(
        report.newly_initialized.is_empty(),
        "{name}: newly initialized {:?}",
        report.newly_initialized
    );
    let mut unused = report.unused.clone();
    unused.sort();
    let expected_unused = sorted(&case, "unused_tensors_expected");
    assert_eq!(unused, expected_unused, "{name}: unused tensors");
    assert_eq!(
        body.has_pooler(),
        case["has_pooler"].as_bool().unwrap_or(false),
        "{name}: pooler presence"
    );

    let ids = rows(&inputs, "input_ids").expect("input_ids");
    let mask = rows(&inputs, "attention_mask").expect("attention_mask");
    let mut input = BodyInput::new(int_tensor(&ids, device), int_tensor(&mask, device));
    if let Some(types) = rows(&inputs, "token_type_ids") {
        input = input.with_token_type_ids(int_tensor(&types, device));
    }
    let out = body.forward(input, OutputOptions::all());

    let tol = TOLERANCE;
    let compare = |key: &str, actual: TensorData, query_axis: usize, masked: bool| {
        let exp = expected
            .get(key)
            .unwrap_or_else(|| panic!("{name}: fixture has no `{key}`"));
        let diff = max_abs_diff(
            key,
            &actual.convert::<f32>(),
            exp,
            masked.then_some(mask.as_slice()),
            query_axis,
        );
        println!("{name} {key}: max |Δ| = {diff:.3e}");
        assert!(diff <= tol, "{name} `{key}`: max |Δ| {diff:e} > {tol:e}");
    };
    compare(
        "last_hidden_state",
        out.last_hidden_state.into_data(),
        1,
        true,
    );
    match (out.pooler_output, expected.contains_key("pooler_output")) {
        (Some(pooled), true) => compare("pooler_output", pooled.into_data(), 0, false),
        (None, false) => {}
        (ours, _) => panic!(
            "{name}: pooler_output present here: {}, in the fixture: {}",
            ours.is_some(),
            ours.is_none()
        ),
    }
    let hidden = out.hidden_states.expect("hidden states requested");
    assert_eq!(hidden.len(), body.num_layers() + 1);
    for (i, h) in hidden.into_iter().enumerate() {
        compare(&format!("hidden_states.{i}"), h.into_data(), 1, true);
    }
    let attentions = out.attentions.expect("attentions requested");
    assert_eq!(attentions.len(), body.num_layers());
    for (i, a) in attentions.into_iter().enumerate() {
        compare(&format!("attentions.{i}"), a.into_data(), 2, true);
    }
}

/// Every case in `tests/fixtures/bodies`, so a newly generated case is tested without code.
fn all_cases(device: &Device) {
    let names = case_names("bodies");
    assert!(
        names.len() >= 7,
        "expected the seven body fixtures, found {names:?}"
    );
    for name in names {
        check_case(&name, device);
    }
}
test_device!(all_cases);

/// The fixture set covers what the issue asks for (so a regenerated set cannot silently drop a
/// case).
#[test]
fn fixtures_cover_the_required_shapes() {
    let mut weights = std::collections::BTreeSet::new();
    let mut archs = std::collections::BTreeSet::new();
    let mut dtypes = std::collections::BTreeSet::new();
    for name in case_names("bodies") {
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures_dir().join("bodies").join(&name).join("case.json"))
                .unwrap(),
        )
        .unwrap();
        weights.insert(case["weights"].as_str().unwrap_or_default().to_string());
        dtypes.insert(case["dtype"].as_str().unwrap_or_default().to_string());
        let config = kindling::body::HfConfig::from_file(
            fixtures_dir()
                .join("bodies")
                .join(&name)
                .join("model/config.json"),
        )
        .unwrap();
        archs.insert(config.model_type.hf_name());
    }
    for w in ["safetensors", "sharded", "bin"] {
        assert!(weights.contains(w), "no `{w}` fixture: {weights:?}");
    }
    for a in [
        "bert",
        "roberta",
        "xlm-roberta",
        "distilbert",
        "electra",
        "deberta-v2",
        "modernbert",
    ] {
        assert!(archs.contains(a), "no `{a}` fixture: {archs:?}");
    }
    for d in ["float32", "float16", "bfloat16"] {
        assert!(dtypes.contains(d), "no `{d}` fixture: {dtypes:?}");
    }
}

/// DeBERTa's relative positions (log buckets, plain distances) equal `transformers'`
/// `build_relative_position` exactly, for the fixtures' settings and DeBERTa-v3's own (256
/// buckets over 512), up to and past the last bucket.
///
/// Oracle: `tests/fixtures/deberta_fixture.py` (`gen_positions`, transformers 5.24.0), in
/// `tests/fixtures/deberta_positions.json`.
#[test]
fn deberta_relative_positions_match_transformers() {
    use kindling::body::deberta::RelativePositions;
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("deberta_positions.json")).unwrap(),
    )
    .unwrap();
    let tables = file["tables"].as_array().expect("tables");
    assert!(tables.len() >= 10, "{} tables", tables.len());
    for table in tables {
        let buckets = table["position_buckets"].as_i64().unwrap();
        let max_position = table["max_relative_positions"].as_u64().unwrap() as usize;
        let seq = table["seq"].as_u64().unwrap() as usize;
        let expected: Vec<i64> =
            serde_json::from_value(table["bucket_by_distance"].clone()).unwrap();
        let buckets = usize::try_from(buckets).ok().filter(|&b| b > 0);
        let positions = RelativePositions {
            span: buckets.unwrap_or(max_position),
            buckets,
            max_position,
        };
        let ours = positions.distances(seq);
        for i in 0..seq {
            for j in 0..seq {
                assert_eq!(
                    ours[i * seq + j],
                    expected[i + seq - 1 - j],
                    "buckets {buckets:?} max {max_position}: r[{i}][{j}]"
                );
            }
        }
    }
}

/// A DeBERTa-v3 SentencePiece `tokenizer.json` (Unigram, Metaspace, `[CLS] $A [SEP]`) gives
/// exactly `transformers`' ids, masks and token types through kindling's tokenizer, single
/// texts padded as one batch and sentence pairs.
///
/// Oracle: `tests/fixtures/deberta_fixture.py` (`gen_tokenizer`: transformers 5.24.0's
/// `DebertaV2Tokenizer`, tokenizers 0.23.3), in `tests/fixtures/deberta_tokenizer/`.
#[test]
fn deberta_sentencepiece_tokenizer_matches_transformers() {
    use kindling::data::Tokenizer;
    let dir = fixtures_dir().join("deberta_tokenizer");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"), Some(0), None).unwrap();
    assert_eq!(tokenizer.pad_id(), 0);
    let texts: Vec<String> = serde_json::from_value(expected["texts"].clone()).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&refs).unwrap();
    let rows = |value: &Value| -> Vec<Vec<u32>> { serde_json::from_value(value.clone()).unwrap() };
    let single = &expected["single"];
    assert_eq!(batch.input_ids, rows(&single["input_ids"]));
    assert_eq!(batch.attention_mask, rows(&single["attention_mask"]));
    assert_eq!(batch.token_type_ids, rows(&single["token_type_ids"]));
    let pairs = &expected["pairs"];
    let (ids, types, mask) = (
        rows(&pairs["input_ids"]),
        rows(&pairs["token_type_ids"]),
        rows(&pairs["attention_mask"]),
    );
    for (k, (a, b)) in refs[..3].iter().zip(&refs[3..]).enumerate() {
        let encoding = tokenizer.inner().encode((*a, *b), true).unwrap();
        let n = mask[k].iter().filter(|&&m| m == 1).count();
        assert_eq!(encoding.get_ids(), &ids[k][..n], "pair {k}");
        assert_eq!(encoding.get_type_ids(), &types[k][..n], "pair {k}");
    }
}
