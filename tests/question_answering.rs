//! Question answering against its oracles: windows and training targets equal what
//! `transformers`' tokenizer and `run_qa.py` give (`windows.json`); the answers picked from
//! window logits equal `utils_qa.postprocess_qa_predictions`' (`postprocess.json`); EM and F1
//! equal the official SQuAD v1.1 and v2.0 scripts (`metrics.json`); the pipeline's JSON equals
//! transformers 4.57.6's `QuestionAnsweringPipeline` on tiny random checkpoints (answers and
//! offsets identical, scores within 1e-4, on every built backend); 20 optimizer steps follow
//! PyTorch's losses within 1e-3 relative; and bad data gives errors naming the file, the
//! question and the field.
//!
//! Oracle: `tests/fixtures/question_answering_fixture.py` (transformers 5.24.0 and tokenizers
//! 0.23.3 as pinned in `tests/fixtures/requirements.txt`; the pipeline and the v2.0 metric from
//! transformers 4.57.6 with tokenizers 0.22.1), files in `tests/fixtures/question_answering/`.

use std::path::{Path, PathBuf};

use kindling::body::BodyInput;
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::data::{QaAnswer, QaExample, Tokenizer, read_squad};
use kindling::heads::{AnyLabels, ModelInput, SpanLabels};
use kindling::import::{ModelLoadOptions, load_model};
use kindling::pipelines::{PipelineInput, PipelineOptions, load_pipeline};
use kindling::train::question_answering::{
    PostProcessOptions, QaEvaluator, QaFeature, Windowing, postprocess_predictions, squad_v1,
    squad_v2,
};
use kindling::train::{TrainError, TrainingData, train};
use kindling_tests::{assert_losses_follow, fixture_training_args, fixtures_dir, test_device};
use serde_json::Value;

fn fixture() -> PathBuf {
    fixtures_dir().join("question_answering")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_file(fixture().join("tokenizer.json"), None, None).unwrap()
}

fn example(id: &str, question: &str, context: &str, answer: &Value) -> QaExample {
    let texts = answer["text"].as_array().unwrap();
    let starts = answer["answer_start"].as_array().unwrap();
    QaExample {
        id: id.into(),
        title: String::new(),
        context: context.into(),
        question: question.into(),
        answers: texts
            .iter()
            .zip(starts)
            .map(|(t, s)| QaAnswer {
                text: t.as_str().unwrap().into(),
                answer_start: s.as_u64().unwrap() as usize,
            })
            .collect(),
        origin: id.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// windows
// ---------------------------------------------------------------------------------------------

#[test]
fn windows_and_targets_equal_the_tokenizer_and_run_qa() {
    let tokenizer = tokenizer();
    let cases = read_json(&fixture().join("windows.json"));
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut multi = 0;
    for (i, case) in cases.iter().enumerate() {
        let max_length = case["max_length"].as_u64().unwrap() as usize;
        let stride = case["doc_stride"].as_u64().unwrap() as usize;
        let windowing = Windowing::new(&tokenizer, max_length, stride).unwrap();
        let ex = example(
            "case",
            case["question"].as_str().unwrap(),
            case["context"].as_str().unwrap(),
            &case["answer"],
        );
        let features: Vec<QaFeature> = windowing.features(std::slice::from_ref(&ex)).unwrap();
        let name = format!("case {i} ({max_length}/{stride})");
        let ids: Vec<Vec<u32>> = serde_json::from_value(case["input_ids"].clone()).unwrap();
        let types: Vec<Vec<u32>> = serde_json::from_value(case["token_type_ids"].clone()).unwrap();
        let offsets: Vec<Vec<(usize, usize)>> =
            serde_json::from_value(case["offsets"].clone()).unwrap();
        let sequences: Vec<Vec<Option<usize>>> =
            serde_json::from_value(case["sequence_ids"].clone()).unwrap();
        assert_eq!(features.len(), ids.len(), "{name}: windows");
        multi += usize::from(ids.len() > 2);
        for (w, feature) in features.iter().enumerate() {
            assert_eq!(feature.input_ids, ids[w], "{name} window {w}: ids");
            assert_eq!(feature.token_type_ids, types[w], "{name} window {w}: types");
            assert_eq!(
                feature.encoding.get_offsets(),
                &offsets[w][..],
                "{name} window {w}: offsets"
            );
            let context: Vec<Option<(usize, usize)>> = sequences[w]
                .iter()
                .zip(&offsets[w])
                .map(|(s, o)| (*s == Some(1)).then_some(*o))
                .collect();
            assert_eq!(feature.context_offsets, context, "{name} window {w}");
            let (start, end) = feature.span_positions(ex.answers.first());
            assert_eq!(
                start as u64,
                case["start_positions"][w].as_u64().unwrap(),
                "{name} window {w}: start"
            );
            assert_eq!(
                end as u64,
                case["end_positions"][w].as_u64().unwrap(),
                "{name} window {w}: end"
            );
        }
    }
    assert!(multi >= 4, "only {multi} cases with 3 or more windows");
}

#[test]
fn a_question_too_long_for_its_window_is_an_error_naming_it() {
    let windowing = Windowing::new(&tokenizer(), 16, 8).unwrap();
    let ex = QaExample {
        id: "x".into(),
        title: String::new(),
        context: "Anna lives in Paris. Bruno works as a Baker. Chiara has a Cat.".into(),
        question: "Where does Anna live and what does Bruno work as?".into(),
        answers: Vec::new(),
        origin: "dev.json: data[0].paragraphs[0].qas[3]".into(),
    };
    let err = windowing.features(&[ex]).unwrap_err().to_string();
    assert!(
        err.contains("qas[3]") && err.contains("doc_stride"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// post-processing and metrics
// ---------------------------------------------------------------------------------------------

#[test]
fn answers_equal_utils_qa_postprocessing() {
    let fx = read_json(&fixture().join("postprocess.json"));
    let windowing = Windowing::new(
        &tokenizer(),
        fx["max_length"].as_u64().unwrap() as usize,
        fx["doc_stride"].as_u64().unwrap() as usize,
    )
    .unwrap();
    let examples: Vec<QaExample> = fx["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let none = serde_json::json!({"text": [], "answer_start": []});
            example(
                e["id"].as_str().unwrap(),
                e["question"].as_str().unwrap(),
                e["context"].as_str().unwrap(),
                &none,
            )
        })
        .collect();
    let features = windowing.features(&examples).unwrap();
    let per_example: Vec<u64> = serde_json::from_value(fx["windows_per_example"].clone()).unwrap();
    for (i, n) in per_example.iter().enumerate() {
        let ours = features.iter().filter(|f| f.example == i).count() as u64;
        assert_eq!(ours, *n, "windows of example {i}");
    }
    let start: Vec<Vec<f32>> = serde_json::from_value(fx["start_logits"].clone()).unwrap();
    let end: Vec<Vec<f32>> = serde_json::from_value(fx["end_logits"].clone()).unwrap();
    for v2 in [false, true] {
        for max_answer in [30usize, 2] {
            let key = format!("{}_max_answer_{max_answer}", if v2 { "v2" } else { "v1" });
            let options = PostProcessOptions {
                version_2_with_negative: v2,
                max_answer_length: max_answer,
                ..PostProcessOptions::default()
            };
            let ours = postprocess_predictions(&examples, &features, &start, &end, &options);
            let texts: Vec<String> = ours.iter().map(|p| p.text.clone()).collect();
            let want: Vec<String> =
                serde_json::from_value(fx[&key]["predictions"].clone()).unwrap();
            assert_eq!(texts, want, "{key}");
            if v2 {
                assert!(
                    texts.iter().any(String::is_empty),
                    "{key}: no null answer won"
                );
                let diffs: Vec<f64> =
                    serde_json::from_value(fx[&key]["score_diff"].clone()).unwrap();
                for (p, d) in ours.iter().zip(&diffs) {
                    let got = f64::from(p.score_diff.unwrap());
                    assert!((got - d).abs() < 1e-4, "{key}: score diff {got} vs {d}");
                }
            }
        }
    }
}

#[test]
fn metrics_equal_the_official_squad_scripts() {
    let fx = read_json(&fixture().join("metrics.json"));
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let gold: Vec<Vec<String>> = serde_json::from_value(case["gold"].clone()).unwrap();
        let predictions: Vec<String> = serde_json::from_value(case["predictions"].clone()).unwrap();
        let v2 = squad_v2(&predictions, &gold);
        let want = case["v2"].as_object().unwrap();
        assert_eq!(
            v2.keys().collect::<Vec<_>>(),
            {
                let mut k: Vec<&String> = want.keys().collect();
                k.sort();
                k
            },
            "{name}: v2 metric names"
        );
        for (metric, value) in want {
            let (got, value) = (v2[metric], value.as_f64().unwrap());
            assert!(
                (got - value).abs() < 1e-9,
                "{name} v2 {metric}: {got} vs {value}"
            );
        }
        if let Some(want) = case["v1"].as_object() {
            let v1 = squad_v1(&predictions, &gold);
            for (metric, value) in want {
                let (got, value) = (v1[metric], value.as_f64().unwrap());
                assert!(
                    (got - value).abs() < 1e-9,
                    "{name} v1 {metric}: {got} vs {value}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the pipeline
// ---------------------------------------------------------------------------------------------

fn options_for(call: &Value) -> PipelineOptions {
    let mut options = PipelineOptions::default();
    if let Some(k) = call.get("top_k") {
        options.top_k = Some(k.as_u64().unwrap() as usize);
    }
    if let Some(v) = call.get("handle_impossible_answer") {
        options.handle_impossible_answer = v.as_bool().unwrap();
    }
    if let Some(v) = call.get("max_answer_len") {
        options.max_answer_len = v.as_u64().unwrap() as usize;
    }
    if let Some(v) = call.get("max_seq_len") {
        options.max_seq_len = Some(v.as_u64().unwrap() as usize);
    }
    if let Some(v) = call.get("doc_stride") {
        options.doc_stride = Some(v.as_u64().unwrap() as usize);
    }
    if let Some(v) = call.get("align_to_words") {
        options.align_to_words = v.as_bool().unwrap();
    }
    options
}

fn assert_same_answers(what: &str, ours: &Value, theirs: &Value) {
    match (ours, theirs) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: {ours} vs {theirs}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_answers(&format!("{what}[{i}]"), x, y);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for key in ["start", "end", "answer"] {
                assert_eq!(a[key], b[key], "{what}: {ours} vs {theirs}");
            }
            let (x, y) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-4, "{what}: score {x} vs {y}");
            assert_eq!(a.len(), 4, "{what}: {ours}");
        }
        _ => panic!("{what}: {ours} vs {theirs}"),
    }
}

test_device!(pipeline_json_equals_transformers);

fn pipeline_json_equals_transformers(device: &Device) {
    for case in ["bert", "distilbert"] {
        let dir = fixture().join("pipeline").join(case);
        let expected = read_json(&dir.join("expected.json"));
        let inputs: Vec<PipelineInput> = expected["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| PipelineInput::Question {
                question: x["question"].as_str().unwrap().into(),
                context: x["context"].as_str().unwrap().into(),
            })
            .collect();
        for (name, call) in expected["calls"].as_object().unwrap() {
            let pipeline = load_pipeline(&dir.join("model"), device, &options_for(call)).unwrap();
            let ours = Value::Array(pipeline.run_json(&inputs).unwrap());
            assert_same_answers(&format!("{case}/{name}"), &ours, &expected["outputs"][name]);
        }
    }
}

#[test]
fn the_pipeline_refuses_bad_inputs() {
    let device = kindling_tests::device("flex");
    let dir = fixture().join("pipeline/bert/model");
    let pipeline = load_pipeline(&dir, &device, &PipelineOptions::default()).unwrap();
    let err = pipeline
        .run_json(&[PipelineInput::Text("no question".into())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("question"), "{err}");
    let err = pipeline
        .run_json(&[PipelineInput::Question {
            question: "Who?".into(),
            context: String::new(),
        }])
        .unwrap_err()
        .to_string();
    assert!(err.contains("context"), "{err}");
    let options = PipelineOptions {
        max_seq_len: Some(20),
        doc_stride: Some(30),
        ..PipelineOptions::default()
    };
    let err = load_pipeline(&dir, &device, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("doc_stride"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// data errors
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_squad_files_name_the_file_question_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            "wrong_offset.json",
            r#"{"data": [{"title": "t", "paragraphs": [{"context": "Anna lives in Paris.", "qas": [
                {"id": "a", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 14}]},
                {"id": "b", "question": "Who?", "answers": [{"text": "Anna", "answer_start": 2}]}]}]}]}"#,
            vec!["wrong_offset.json", "qas[1]", "answers[0]", "`Anna`"],
        ),
        (
            "no_question.jsonl",
            "{\"id\": \"1\", \"context\": \"abc\", \"question\": \"q\", \"answers\": {\"text\": [\"a\"], \"answer_start\": [0]}}\n{\"id\": \"2\", \"context\": \"abc\"}\n",
            vec!["no_question.jsonl", "line 2", "`question`"],
        ),
        (
            "past_end.jsonl",
            "{\"context\": \"short\", \"question\": \"q\", \"answers\": {\"text\": [\"shorter\"], \"answer_start\": [0]}}\n",
            vec!["past_end.jsonl", "line 1", "runs past"],
        ),
        ("empty.json", "\n", vec!["empty.json", "empty"]),
    ];
    for (name, text, needles) in cases {
        let err = read_squad(write(name, text)).unwrap_err().to_string();
        for needle in needles {
            assert!(err.contains(needle), "{name}: `{needle}` not in: {err}");
        }
    }
}

#[test]
fn the_sample_reads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for split in ["train", "validation"] {
        let examples =
            read_squad(root.join(format!("data/question-answering-sample/{split}.json"))).unwrap();
        assert!(examples.len() >= 150, "{split}: {}", examples.len());
        assert!(examples.iter().all(|e| e.answers.len() == 1));
    }
}

// ---------------------------------------------------------------------------------------------
// training parity
// ---------------------------------------------------------------------------------------------

fn int_tensor(value: &Value, device: &Device) -> Tensor<2, Int> {
    let rows: Vec<Vec<i64>> = serde_json::from_value(value.clone()).unwrap();
    let (b, s) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [b, s]), device)
}

struct MicroBatches(Vec<Value>);

impl TrainingData for MicroBatches {
    type Labels = AnyLabels;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn lengths(&self) -> Vec<usize> {
        vec![1; self.0.len()]
    }

    fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<(ModelInput, AnyLabels), TrainError> {
        let batch = &self.0[indices[0]];
        let mut input = BodyInput::new(
            int_tensor(&batch["input_ids"], device),
            int_tensor(&batch["attention_mask"], device),
        );
        if let Some(types) = batch.get("token_type_ids") {
            input = input.with_token_type_ids(int_tensor(types, device));
        }
        let column = |key: &str| {
            let v: Vec<i64> = serde_json::from_value(batch[key].clone()).unwrap();
            let n = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
        };
        Ok((
            input.into(),
            AnyLabels::Spans(SpanLabels {
                start_positions: column("start_positions"),
                end_positions: column("end_positions"),
            }),
        ))
    }
}

fn steps_follow_pytorch(run: &str, plain: &Device) {
    let root = fixture().join("training").join(run);
    let expected = read_json(&root.join("expected.json"));
    let batches = read_json(&root.join("batches.json"));
    let data = MicroBatches(batches["micro_batches"].as_array().unwrap().clone());
    let args = fixture_training_args(&expected["args"]);
    let device = plain.clone().autodiff();
    let (model, _, _) =
        load_model(root.join("model"), &device, ModelLoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome) = train(
        model,
        &data,
        None::<&QaEvaluator>,
        &args,
        dir.path(),
        false,
        &device,
        |_| Ok(()),
    )
    .unwrap();
    assert_losses_follow(run, &outcome.state.step_losses, &expected);
}

test_device!(bert_span_head_twenty_steps_follow_pytorch);

fn bert_span_head_twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch("bert", plain);
}

test_device!(distilbert_span_head_twenty_steps_follow_pytorch);

fn distilbert_span_head_twenty_steps_follow_pytorch(plain: &Device) {
    steps_follow_pytorch("distilbert", plain);
}
