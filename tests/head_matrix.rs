//! Any head on any body: every kindling head mounts on a fresh BERT, RoBERTa, XLM-R, DistilBERT,
//! ELECTRA and DeBERTa-v3/v2 body
//! (configs from the fixtures), runs forward with labels, and one backward step gives gradients
//! to the head and to the body, on every built backend. Bad mounts are clear errors.

use kindling::body::{Body, BodyInput, EncoderBodyConfig, FamilyConfig, HfConfig};
use kindling::burn::prelude::*;
use kindling::burn::tensor::TensorData;
use kindling::heads::{
    AnyHead, AnyLabels, AnyOutput, Head, HeadError, HeadSpec, Model, ModelInput, SequenceLabels,
    SpanLabels, Task, TokenClassificationHead,
};
use kindling::import::{ImportError, ModelLoadOptions, load_model};
use kindling_tests::{device, fixtures_dir, test_device};

const TASKS: [Task; 6] = [
    Task::TokenClassification,
    Task::SequenceClassification,
    Task::QuestionAnswering,
    Task::MultipleChoice,
    Task::MaskedLm,
    Task::SentenceEmbedding,
];

fn config(family: &str) -> HfConfig {
    HfConfig::from_file(
        fixtures_dir()
            .join("heads")
            .join(format!("{family}_token_cls"))
            .join("model/config.json"),
    )
    .unwrap()
}

fn ints<const D: usize>(values: Vec<i64>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A batch of 2 (multiple choice: 2 x 2 choices) rows of 5 tokens, the second padded.
fn batch(task: Task, pad: i64, device: &Device) -> ModelInput {
    let row = |n: i64| vec![0, 5 + n, 7, 9 + n, 2];
    let padded = |n: i64| vec![0, 6 + n, 2, pad, pad];
    let mask_full = vec![1, 1, 1, 1, 1];
    let mask_pad = vec![1, 1, 1, 0, 0];
    if task == Task::MultipleChoice {
        let ids = [row(0), padded(0), row(1), padded(1)].concat();
        let mask = [&mask_full, &mask_pad, &mask_full, &mask_pad]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        return ModelInput::multiple_choice(
            ints(ids, [2, 2, 5], device),
            ints(mask, [2, 2, 5], device),
            None,
        );
    }
    let ids = [row(0), padded(0)].concat();
    let mask = [mask_full, mask_pad].concat();
    BodyInput::new(ints(ids, [2, 5], device), ints(mask, [2, 5], device)).into()
}

fn labels(task: Task, device: &Device) -> Option<AnyLabels> {
    Some(match task {
        Task::TokenClassification | Task::MaskedLm => AnyLabels::Tokens(ints(
            vec![-100, 1, 0, 1, -100, -100, 1, -100, -100, -100],
            [2, 5],
            device,
        )),
        Task::SequenceClassification => {
            AnyLabels::Sequence(SequenceLabels::Classes(ints(vec![1, 0], [2], device)))
        }
        Task::QuestionAnswering => AnyLabels::Spans(SpanLabels {
            start_positions: ints(vec![1, 2], [2], device),
            end_positions: ints(vec![3, 2], [2], device),
        }),
        Task::MultipleChoice => AnyLabels::Choice(ints(vec![0, 1], [2], device)),
        Task::SentenceEmbedding | Task::Base => return None,
    })
}

fn every_head_on_every_body(device: &Device) {
    let device = &device.clone().autodiff();
    for family in [
        "bert",
        "roberta",
        "xlmr",
        "distilbert",
        "electra",
        "debertav3",
        "debertav2",
    ] {
        let config = config(family);
        let pad = config.common.pad_token_id.unwrap_or(0) as i64;
        for task in TASKS {
            let body = config
                .body_config()
                .with_add_pooling_layer(true)
                .init(device);
            let head = AnyHead::from_config(&config, &HeadSpec::new(task), device)
                .unwrap()
                .expect("a head");
            let model = Model::new(body, head).unwrap();
            let input = batch(task, pad, device);
            let (output, loss) = match labels(task, device) {
                Some(labels) => model.forward_with_labels(input, labels).unwrap(),
                None => {
                    let output = model.forward(input);
                    let AnyOutput::SentenceEmbedding(e) = &output else {
                        panic!("{family} {task:?}: unexpected output")
                    };
                    // A fixed projection: the plain sum of a normalized embedding of layer-normed
                    // states is constant at fresh initialization, so its gradient is zero.
                    let [_, width] = e.sentence_embedding.dims();
                    let weights = Tensor::<1, Int>::arange(0..width as i64, device)
                        .float()
                        .reshape([1, width]);
                    let loss = (e.sentence_embedding.clone() * weights).sum();
                    (output, loss)
                }
            };
            let value = loss.clone().into_scalar::<f64>();
            assert!(value.is_finite(), "{family} {task:?}: loss {value}");
            let grads = loss.backward();
            let body_grad = model
                .body
                .input_embeddings()
                .grad(&grads)
                .unwrap_or_else(|| panic!("{family} {task:?}: no gradient for the embeddings"));
            let norm = body_grad.abs().sum().into_scalar::<f64>();
            assert!(norm > 0.0, "{family} {task:?}: zero embedding gradient");
            for (name, _) in output.named() {
                assert!(!name.is_empty());
            }
        }
    }
}
test_device!(every_head_on_every_body);

#[test]
fn head_on_a_body_of_another_hidden_size_is_refused() {
    let device = device("flex");
    let body = EncoderBodyConfig::new(50, 16, 1, 2, 32).init(&device);
    let head = TokenClassificationHead::new(32, 3, 0.1, 0.02, &device);
    let err = Model::new(body, head).unwrap_err();
    assert!(
        matches!(err, HeadError::HiddenSize { head: 32, body: 16 }),
        "{err}"
    );
    assert!(err.to_string().contains("hidden size 32") && err.to_string().contains("16"));
}

#[test]
fn pooler_head_on_a_body_without_pooler_is_refused() {
    let device = device("flex");
    let body = EncoderBodyConfig::new(50, 16, 1, 2, 32)
        .with_add_pooling_layer(false)
        .init(&device);
    assert!(!body.has_pooler());
    let config = config("bert");
    let mut spec = HeadSpec::new(Task::MultipleChoice);
    spec.labels = None;
    let mut small = config.clone();
    if let FamilyConfig::Bert(bert) = &mut small.family {
        bert.hidden_size = 16;
    }
    let head = AnyHead::from_config(&small, &spec, &device)
        .unwrap()
        .unwrap();
    assert!(matches!(
        Model::new(body, head).unwrap_err(),
        HeadError::NoPooler
    ));
}

#[test]
fn label_list_disagreeing_with_the_checkpoint_head_is_refused() {
    let device = device("flex");
    let err = load_model(
        fixtures_dir().join("heads/xlmr_token_cls/model"),
        &device,
        ModelLoadOptions {
            task: None,
            labels: Some(vec!["O".into(), "B-X".into(), "I-X".into()]),
            int8: false,
        },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ImportError::Head(HeadError::LabelCount {
                given: 3,
                checkpoint: 7,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("classifier.weight"), "{msg}");
}

#[test]
fn unknown_architecture_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures_dir().join("heads/bert_token_cls/model");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let path = tmp.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["BertForNextSentencePrediction"]);
    std::fs::write(&path, config.to_string()).unwrap();
    let err = load_model(tmp.path(), &device("flex"), ModelLoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("BertForNextSentencePrediction"),
        "{err}"
    );
}

#[test]
fn fresh_head_on_a_body_checkpoint_is_reported_newly_initialized() {
    let device = device("flex");
    let labels: Vec<String> = ["O", "B-PER", "I-PER"].map(String::from).to_vec();
    let (model, report, checkpoint) = load_model(
        fixtures_dir().join("bodies/bert_gelu_pair/model"),
        &device,
        ModelLoadOptions {
            task: Some(Task::TokenClassification),
            labels: Some(labels.clone()),
            int8: false,
        },
    )
    .unwrap();
    let mut fresh = report.newly_initialized.clone();
    fresh.sort();
    assert_eq!(fresh, ["classifier.bias", "classifier.weight"]);
    // A token classifier has no pooler, as in transformers: the file's pooler is unused.
    assert_eq!(report.unused, ["pooler.dense.bias", "pooler.dense.weight"]);
    assert!(!model.body.has_pooler());
    assert_eq!(checkpoint.config.labels().unwrap(), labels);
    assert_eq!(
        checkpoint.config.common.architectures.as_deref().unwrap(),
        ["BertForTokenClassification"]
    );
    assert_eq!(model.head.hidden_size(), 32);
}

#[test]
fn a_base_checkpoint_without_a_task_is_an_error() {
    let err = load_model(
        fixtures_dir().join("bodies/bert_gelu_pair/model"),
        &device("flex"),
        ModelLoadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("name a task"), "{err}");
}
