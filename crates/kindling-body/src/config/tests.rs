//! `config.json` parsing: dispatch on `model_type`, family defaults, shared fields, round trip.

use std::path::Path;

use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> Result<HfConfig, ConfigError> {
    HfConfig::from_json_value(value, Path::new("config.json"))
}

#[test]
fn distilbert_fields_and_defaults() {
    let config = parse(json!({
        "model_type": "distilbert", "dim": 36, "n_heads": 6, "n_layers": 3, "hidden_dim": 72,
        "activation": "relu", "sinusoidal_pos_embds": true, "vocab_size": 99,
        "id2label": {"0": "O", "1": "B-PER"}, "tie_weights_": true
    }))
    .unwrap();
    assert_eq!(config.model_type, ModelType::DistilBert);
    assert_eq!(config.hidden_size(), 36);
    assert_eq!(config.num_hidden_layers(), 3);
    assert_eq!(config.hidden_act(), HiddenAct::Relu);
    assert_eq!(config.layer_norm_eps(), 1e-12);
    assert_eq!(config.type_vocab_size(), None);
    assert_eq!(config.common.pad_token_id, Some(0));
    assert_eq!(config.labels().unwrap(), ["O", "B-PER"]);
    let distil = config.distilbert().unwrap();
    assert!(distil.sinusoidal_pos_embds);
    assert_eq!(distil.seq_classif_dropout, 0.2);
    // Fields kindling does not type are kept for export.
    assert_eq!(config.extra_field("tie_weights_"), Some(&json!(true)));
}

#[test]
fn electra_embedding_size_and_defaults() {
    let config = parse(json!({"model_type": "electra", "hidden_size": 32,
        "num_attention_heads": 4, "intermediate_size": 64, "embedding_size": 16}))
    .unwrap();
    assert_eq!(config.hidden_size(), 32);
    assert_eq!(config.embedding_size(), 16);
    assert_eq!(config.position_ids(), PositionIds::Absolute);
    let defaults = parse(json!({"model_type": "electra"})).unwrap();
    assert_eq!(defaults.embedding_size(), 128);
    assert_eq!(defaults.hidden_size(), 256);
}

#[test]
fn shared_fields_and_extra_survive_a_round_trip() {
    let file = json!({
        "model_type": "roberta", "vocab_size": 50, "hidden_size": 8, "num_attention_heads": 2,
        "intermediate_size": 12, "num_hidden_layers": 1, "max_position_embeddings": 40,
        "architectures": ["RobertaForSequenceClassification"], "problem_type": "regression",
        "transformers_version": "5.24.0", "pad_token_id": 1
    });
    let config = parse(file).unwrap();
    assert_eq!(config.common.problem_type, Some(ProblemType::Regression));
    assert_eq!(config.common.bos_token_id, Some(0));
    let text = config.to_json_string();
    let again = HfConfig::from_json_str(&text, Path::new("config.json")).unwrap();
    assert_eq!(again, config);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["transformers_version"], "5.24.0");
    assert_eq!(value["model_type"], "roberta");
}

#[test]
fn errors_name_the_field() {
    let err = parse(json!({"model_type": "distilbert", "dim": 10, "n_heads": 3}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`dim`") && err.contains("n_heads"), "{err}");
    let err = parse(json!({"model_type": "distilbert", "n_layers": "six"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("n_layers"), "{err}");
    let err = parse(json!({"model_type": "gpt2"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("gpt2") && err.contains("distilbert"), "{err}");
}

#[test]
fn size_probes_name_the_axis_their_field_sets() {
    let config = parse(
        json!({"model_type": "bert", "vocab_size": 50, "hidden_size": 8,
        "num_attention_heads": 2, "intermediate_size": 12}),
    )
    .unwrap();
    let probes = config.size_probes();
    let hidden = probes.iter().find(|p| p.field == "hidden_size").unwrap();
    assert_eq!(hidden.shape[hidden.axis], 8);
    let inter = probes
        .iter()
        .find(|p| p.field == "intermediate_size")
        .unwrap();
    assert_eq!((inter.axis, inter.shape[inter.axis]), (0, 12));
}

#[test]
fn deberta_fields_defaults_and_round_trip() {
    let config = parse(json!({
        "model_type": "deberta-v2", "vocab_size": 120, "hidden_size": 32,
        "num_attention_heads": 4, "intermediate_size": 64, "num_hidden_layers": 2,
        "relative_attention": true, "position_buckets": 8, "pos_att_type": "p2c|c2p",
        "norm_rel_ebd": "layer_norm", "share_att_key": true, "position_biased_input": false,
        "max_relative_positions": -1, "max_position_embeddings": 64, "legacy": false,
        "architectures": ["DebertaV2ForTokenClassification"], "transformers_version": "5.24.0"
    }))
    .unwrap();
    assert_eq!(config.model_type, ModelType::DebertaV2);
    assert_eq!(config.layer_norm_eps(), 1e-7);
    assert_eq!(config.type_vocab_size(), None);
    assert_eq!(config.common.pad_token_id, Some(0));
    let deberta = config.deberta().unwrap();
    assert!(deberta.pos_att().c2p() && deberta.pos_att().p2c());
    assert_eq!(deberta.relative_span(), 64);
    assert_eq!(deberta.buckets(), Some(8));
    assert!(deberta.norm_rel_embeddings() && !deberta.legacy);
    assert_eq!(deberta.conv_act, HiddenAct::Tanh);
    let again =
        HfConfig::from_json_str(&config.to_json_string(), Path::new("config.json")).unwrap();
    assert_eq!(again, config);
    let value: serde_json::Value = serde_json::from_str(&config.to_json_string()).unwrap();
    // Written as transformers writes it: a list.
    assert_eq!(value["pos_att_type"], json!(["p2c", "c2p"]));
    let probe = config
        .size_probes()
        .into_iter()
        .find(|p| p.tensor == "encoder.rel_embeddings.weight")
        .unwrap();
    assert_eq!(
        (probe.field, probe.shape),
        ("position_buckets", vec![16, 32])
    );
}

#[test]
fn deberta_errors_name_the_field() {
    let err = parse(json!({"model_type": "deberta-v2", "hidden_size": 32,
        "num_attention_heads": 4, "conv_kernel_size": 4}))
    .unwrap_err()
    .to_string();
    assert!(err.contains("conv_kernel_size"), "{err}");
    let err = parse(json!({"model_type": "deberta-v2", "pos_att_type": 3}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("pos_att_type"), "{err}");
    let err = parse(json!({"model_type": "deberta-v2", "hidden_size": 32,
        "num_attention_heads": 4, "pooler_hidden_size": 16}))
    .unwrap_err()
    .to_string();
    assert!(err.contains("pooler_hidden_size"), "{err}");
}

/// The Hub's legacy style: every third layer global from layer 0, the two legacy thetas.
#[test]
fn modernbert_legacy_style_and_defaults() {
    let config = parse(json!({
        "model_type": "modernbert", "vocab_size": 120, "hidden_size": 32,
        "num_hidden_layers": 5, "num_attention_heads": 4, "intermediate_size": 40,
        "global_attn_every_n_layers": 2, "global_rope_theta": 20000.0,
        "local_rope_theta": 500.0, "layer_norm_eps": 1e-5, "pad_token_id": 0
    }))
    .unwrap();
    let modern = config.modernbert().unwrap();
    assert_eq!(modern.layer_is_global(), [true, false, true, false, true]);
    assert_eq!(modern.rope_thetas(), (20000.0, 500.0));
    assert_eq!(modern.local_attention, 128);
    assert_eq!(modern.classifier_pooling, ClassifierPooling::Cls);
    assert_eq!(config.max_sequence_length(), 8192);
    assert_eq!(config.type_vocab_size(), None);
    // a field ModernBERT does not type stays for export, and the legacy style is written back
    assert_eq!(config.extra_field("layer_norm_eps"), Some(&json!(1e-5)));
    let written: serde_json::Value = serde_json::from_str(&config.to_json_string()).unwrap();
    assert_eq!(written["global_attn_every_n_layers"], json!(2));
    assert!(written.get("layer_types").is_none());
    // without the legacy fields: a global layer every third, ModernBERT's bases
    let plain = parse(json!({"model_type": "modernbert", "num_hidden_layers": 4})).unwrap();
    let plain = plain.modernbert().unwrap();
    assert_eq!(plain.layer_is_global(), [true, false, false, true]);
    assert_eq!(plain.rope_thetas(), (160_000.0, 10_000.0));
}

/// transformers 5's style: `layer_types` wins over a leftover `global_attn_every_n_layers`,
/// and the bases come from `rope_parameters`.
#[test]
fn modernbert_layer_types_and_rope_parameters() {
    let config = parse(json!({
        "model_type": "modernbert", "num_hidden_layers": 3, "global_attn_every_n_layers": 3,
        "layer_types": ["full_attention", "sliding_attention", "full_attention"],
        "rope_parameters": {
            "full_attention": {"rope_theta": 40000.0, "rope_type": "default"},
            "sliding_attention": {"rope_theta": 1000.0, "rope_type": "default"}
        }
    }))
    .unwrap();
    let modern = config.modernbert().unwrap();
    assert_eq!(modern.layer_is_global(), [true, false, true]);
    assert_eq!(modern.rope_thetas(), (40000.0, 1000.0));
}

#[test]
fn modernbert_refuses_what_it_does_not_compute() {
    let cases = [
        (
            json!({"model_type": "modernbert", "num_hidden_layers": 2,
                   "layer_types": ["full_attention"]}),
            "layer_types",
        ),
        (
            json!({"model_type": "modernbert", "num_hidden_layers": 1,
                   "layer_types": ["chunked_attention"]}),
            "layer_types",
        ),
        (
            json!({"model_type": "modernbert",
                   "rope_parameters": {"full_attention": {"rope_type": "yarn"}}}),
            "rope_parameters.full_attention.rope_type",
        ),
        (
            json!({"model_type": "modernbert", "rope_scaling": {"type": "linear"}}),
            "rope_scaling",
        ),
        (
            json!({"model_type": "modernbert", "hidden_size": 36, "num_attention_heads": 4}),
            "hidden_size",
        ),
        (
            json!({"model_type": "modernbert", "local_rope_theta": -1.0}),
            "local_rope_theta",
        ),
    ];
    for (value, field) in cases {
        match parse(value.clone()) {
            Err(ConfigError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{value}"),
            other => panic!("{value}: {other:?}"),
        }
    }
}
