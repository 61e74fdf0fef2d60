//! Text classification against its oracles: the metrics equal scikit-learn's and SciPy's
//! (`metrics.json`), the pipeline's JSON equals `transformers`' `TextClassificationPipeline`'s
//! on tiny random checkpoints with a real tokenizer (labels identical, scores within 1e-4, on
//! every built backend), and bad data files give errors naming the file, line and column.
//!
//! Oracle: `tests/fixtures/text_classification_fixture.py` (transformers 5.24.0, torch 2.9.0,
//! tokenizers 0.23.3, scikit-learn and SciPy as pinned in `tests/fixtures/requirements.txt`),
//! files in `tests/fixtures/text_classification/`.

use std::path::{Path, PathBuf};

use kindling::burn::prelude::Device;
use kindling::data::{
    RawLabel, RawValue, TableColumns, TextLabelKind, TextLabelScheme, read_text_classification,
};
use kindling::pipelines::text_classification::TextClassificationPipeline;
use kindling::pipelines::{PipelineInput, PipelineOptions, load_pipeline};
use kindling::train::text_classification::metrics::{
    classification_metrics, multi_label_metrics, regression_metrics,
};
use kindling_tests::{fixtures_dir, test_device};
use serde_json::Value;

fn fixture() -> PathBuf {
    fixtures_dir().join("text_classification")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------------------------

#[test]
fn metrics_equal_scikit_learn_and_scipy() {
    let cases = read_json(&fixture().join("metrics.json"));
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 15, "{} metric cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let ours = match kind {
            "single" => {
                let gold: Vec<i64> = serde_json::from_value(case["gold"].clone()).unwrap();
                let pred: Vec<i64> = serde_json::from_value(case["pred"].clone()).unwrap();
                classification_metrics(&gold, &pred)
            }
            "multi" => {
                let rows = |v: &Value| -> Vec<Vec<bool>> {
                    serde_json::from_value::<Vec<Vec<i64>>>(v.clone())
                        .unwrap()
                        .into_iter()
                        .map(|r| r.into_iter().map(|x| x == 1).collect())
                        .collect()
                };
                multi_label_metrics(&rows(&case["gold"]), &rows(&case["pred"]))
            }
            "regression" => {
                let gold: Vec<f64> = serde_json::from_value(case["gold"].clone()).unwrap();
                let pred: Vec<f64> = serde_json::from_value(case["pred"].clone()).unwrap();
                regression_metrics(&gold, &pred)
            }
            other => panic!("unknown kind {other}"),
        };
        let expected = case["expected"].as_object().unwrap();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: metric names"
        );
        for (metric, want) in expected {
            let got = ours[metric];
            match want.as_f64() {
                None => assert!(got.is_nan(), "{name}/{metric}: {got}, scipy gives NaN"),
                Some(want) => assert!(
                    (got - want).abs() <= 1e-12,
                    "{name}/{metric}: {got} vs {want}"
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pipeline
// ---------------------------------------------------------------------------------------------

fn inputs(expected: &Value) -> Vec<PipelineInput> {
    expected["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let text = x["text"].as_str().unwrap().to_string();
            match x.get("text_pair").and_then(Value::as_str) {
                Some(pair) => PipelineInput::TextPair {
                    text,
                    text_pair: pair.to_string(),
                },
                None => PipelineInput::Text(text),
            }
        })
        .collect()
}

/// Labels equal, scores within 1e-4, same nesting.
fn assert_same(case: &str, what: &str, ours: &Value, theirs: &Value) {
    match (ours, theirs) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{case}/{what}: {ours} vs {theirs}");
            for (x, y) in a.iter().zip(b) {
                assert_same(case, what, x, y);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), 2, "{case}/{what}: {ours}");
            assert_eq!(a["label"], b["label"], "{case}/{what}: {ours} vs {theirs}");
            let (x, y) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-4, "{case}/{what}: score {x} vs {y}");
        }
        _ => panic!("{case}/{what}: {ours} vs {theirs}"),
    }
}

const PIPELINE_CASES: [&str; 6] = [
    "bert_single",
    "bert_multi",
    "bert_regression",
    "bert_one_label",
    "distilbert_single",
    "distilbert_default_names",
];

test_device!(pipeline_json_equals_transformers);

fn pipeline_json_equals_transformers(device: &Device) {
    for case in PIPELINE_CASES {
        let dir = fixture().join("pipeline").join(case);
        let expected = read_json(&dir.join("expected.json"));
        let inputs = inputs(&expected);
        for (what, top_k) in [("best", None), ("all", Some(usize::MAX)), ("top2", Some(2))] {
            let options = PipelineOptions {
                top_k,
                ..PipelineOptions::default()
            };
            let pipeline = load_pipeline(&dir.join("model"), device, &options).unwrap();
            let ours = Value::Array(pipeline.run_json(&inputs).unwrap());
            println!("{case}/{what}: {ours}");
            assert_same(case, what, &ours, &expected[what]);
        }
    }
}

#[test]
fn pipeline_tokenizes_like_transformers() {
    let device = kindling_tests::device("flex");
    let dir = fixture().join("pipeline").join("bert_single");
    let expected = read_json(&dir.join("expected.json"));
    let tokenizer =
        kindling::data::Tokenizer::from_file(dir.join("model/tokenizer.json"), None, None).unwrap();
    for (x, ids) in expected["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["input_ids"].as_array().unwrap())
    {
        let enc = tokenizer
            .encode_text(0, x["text"].as_str().unwrap(), x["text_pair"].as_str())
            .unwrap();
        let ids: Vec<u32> = serde_json::from_value(ids.clone()).unwrap();
        assert_eq!(enc.get_ids(), ids.as_slice(), "{x}");
    }
    // a text pair's second segment has token type 1
    let pipeline = TextClassificationPipeline::load(&dir.join("model"), &device).unwrap();
    assert_eq!(pipeline.labels(), ["negative", "neutral", "positive"]);
    let err = kindling::pipelines::Pipeline::run(
        &pipeline,
        &PipelineInput::Question {
            question: "q".into(),
            context: "c".into(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("text pair"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// readers
// ---------------------------------------------------------------------------------------------

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn csv_tsv_and_json_lines_read_with_quoting_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "a.csv",
        "id,sentence,extra,target\n1,\"hello, world\",x,pos\n2,\"a \"\"quoted\"\"\nline\",y,neg\n",
    );
    let columns = TableColumns {
        text: "sentence".into(),
        text_pair: None,
        label: "target".into(),
    };
    let rows = read_text_classification(&csv, &columns).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text, "hello, world");
    assert_eq!(rows[1].text, "a \"quoted\"\nline");
    assert_eq!(rows[1].origin.as_ref().unwrap().line, 3);
    let scheme = TextLabelScheme::infer(&rows, None, None).unwrap();
    assert_eq!(scheme.labels, ["neg", "pos"]);

    let tsv = write(
        dir.path(),
        "b.tsv",
        "premise\thypothesis\tlabel\nit rains\tit is wet\t0.5\nsun\tdark\t4\n",
    );
    let pair = TableColumns {
        text: "premise".into(),
        text_pair: Some("hypothesis".into()),
        label: "label".into(),
    };
    let rows = read_text_classification(&tsv, &pair).unwrap();
    assert_eq!(rows[0].text_pair.as_deref(), Some("it is wet"));
    let scheme = TextLabelScheme::infer(&rows, None, None).unwrap();
    assert_eq!(scheme.kind, TextLabelKind::Regression);

    let jsonl = write(
        dir.path(),
        "c.jsonl",
        "{\"text\": \"é ü 日本\", \"label\": [\"x\", \"y\"]}\n\n{\"text\": \"b\", \"label\": []}\n",
    );
    let rows = read_text_classification(&jsonl, &TableColumns::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].label,
        RawLabel::List(vec![RawValue::Name("x".into()), RawValue::Name("y".into())])
    );
    let scheme = TextLabelScheme::infer(&rows, None, None).unwrap();
    assert_eq!(scheme.kind, TextLabelKind::MultiLabel);
    // a CSV cell may hold a JSON list too
    let multi = write(dir.path(), "m.csv", "text,label\na,\"[0, 2]\"\n");
    let rows = read_text_classification(&multi, &TableColumns::default()).unwrap();
    assert_eq!(
        rows[0].label,
        RawLabel::List(vec![RawValue::Integer(0), RawValue::Integer(2)])
    );
}

fn error(path: &Path, columns: &TableColumns) -> String {
    read_text_classification(path, columns)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_files_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cols = TableColumns::default();

    let missing = write(d, "missing.csv", "sentence,label\nhi,pos\n");
    let msg = error(&missing, &cols);
    assert!(
        msg.contains("missing.csv:1: no column `text` (found: sentence, label)"),
        "{msg}"
    );
    let missing_pair = TableColumns {
        text_pair: Some("second".into()),
        ..TableColumns::default()
    };
    let msg = error(&write(d, "p.csv", "text,label\nhi,pos\n"), &missing_pair);
    assert!(msg.contains("p.csv:1: no column `second`"), "{msg}");
    let msg = error(
        &write(
            d,
            "m.jsonl",
            "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n",
        ),
        &cols,
    );
    assert!(
        msg.contains("m.jsonl:2: no column `label` (found: text)"),
        "{msg}"
    );

    for (name, text) in [
        ("empty.csv", ""),
        ("header.csv", "text,label\n"),
        ("e.jsonl", "\n\n"),
    ] {
        let msg = error(&write(d, name, text), &cols);
        assert!(msg.contains(name) && msg.contains("empty"), "{msg}");
    }

    let msg = error(
        &write(d, "ragged.csv", "text,label\na,pos\nb,pos,extra\n"),
        &cols,
    );
    assert!(
        msg.contains("ragged.csv:3: 3 fields, but the header has 2"),
        "{msg}"
    );
    let msg = error(&write(d, "blank.csv", "text,label\na,pos\nb,\n"), &cols);
    assert!(
        msg.contains("blank.csv:3: column `label`: the label is empty"),
        "{msg}"
    );
    let msg = error(
        &write(d, "type.jsonl", "{\"text\": 5, \"label\": \"x\"}\n"),
        &cols,
    );
    assert!(
        msg.contains("type.jsonl:1: column `text`: expected a string"),
        "{msg}"
    );

    // labels outside the checkpoint's set, by name and by id
    let path = write(
        d,
        "v.csv",
        "text,label\na,negative\nb,positive\nc,great\nd,5\n",
    );
    let rows = read_text_classification(&path, &cols).unwrap();
    let known = ["negative".to_string(), "positive".to_string()];
    let scheme = TextLabelScheme::infer(&rows, None, Some(&known)).unwrap();
    let msg = scheme.encode(&rows[2], 2).unwrap_err().to_string();
    assert!(
        msg.contains(
            "v.csv:4: column `label`: label `great` is not in the label set [negative, positive]"
        ),
        "{msg}"
    );
    let msg = scheme.encode(&rows[3], 3).unwrap_err().to_string();
    assert!(
        msg.contains("v.csv:5: column `label`: label id 5 is outside"),
        "{msg}"
    );
    // a regression target that is no number
    let scheme = TextLabelScheme::infer(&rows, Some(TextLabelKind::Regression), None).unwrap();
    let msg = scheme.encode(&rows[0], 0).unwrap_err().to_string();
    assert!(
        msg.contains("v.csv:2: column `label`: regression needs a number"),
        "{msg}"
    );
}
