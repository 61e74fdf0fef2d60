//! int8 inference (`--dtype int8`): every linear layer quantized per output channel, every
//! row of its input per row, on the flex device.
//!
//! Oracle: `tests/fixtures/int8_fixture.py` measures PyTorch's own dynamic int8
//! (`quantize_dynamic`, torch 2.9.0) against float32 on the real all-MiniLM-L6-v2
//! (`tests/fixtures/minilm/int8.json`); kindling's int8 error to transformers' float32
//! hidden states (`minilm/expected.safetensors`) must be no larger.

use kindling::body::kernels::{QuantizeError, quantize_linears};
use kindling::body::{Body, BodyInput, EncoderBodyConfig, OutputOptions};
use kindling::burn::prelude::*;
use kindling::import::{BodyLoadOptions, load_body};
use kindling_tests::{device, fixtures_dir, max_abs_diff, minilm_dir, read_safetensors};
use serde_json::Value;

fn small_body(device: &Device) -> kindling::body::EncoderBody {
    EncoderBodyConfig::new(120, 48, 2, 4, 96).init(device)
}

fn small_input(device: &Device) -> BodyInput {
    let ids = Tensor::<2, Int>::from_data([[2, 5, 7, 9, 11, 0], [3, 40, 80, 119, 1, 6]], device);
    let mask = Tensor::<2, Int>::from_data([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], device);
    BodyInput::new(ids, mask)
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn every_linear_is_quantized_and_the_output_stays_close_to_float() {
    let device = device("flex");
    let body = small_body(&device);
    let expected = values(
        body.forward(small_input(&device), OutputOptions::default())
            .last_hidden_state,
    );
    let (body, report) = quantize_linears(body).unwrap();
    // Per layer: query, key, value, attention output, intermediate, output; plus the pooler.
    assert_eq!(report.quantized.len(), 2 * 6 + 1, "{:?}", report.quantized);
    assert!(
        report
            .quantized
            .iter()
            .all(|p| p.ends_with(".weight") && !p.contains("embeddings")),
        "{:?}",
        report.quantized
    );
    // int8 values and per-column vectors: well under half the float32 bytes.
    assert!(report.int8_bytes * 2 < report.float_bytes, "{report:?}");
    let query = &body.encoder.layer[0].attention.self_attention.query;
    assert!(!query.weight.is_initialized(), "the float weight was kept");
    let got = values(
        body.forward(small_input(&device), OutputOptions::default())
            .last_hidden_state,
    );
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("small body int8 vs f32: max |Δ| = {worst:.4}");
    // Layer-normed outputs of magnitude ~1: a broken kernel is off by ~1, int8 by ~1e-2.
    assert!(worst < 0.1, "max |Δ| {worst}");
    assert!(worst > 0.0, "the int8 kernels did not run");
    // Asking for the weight (another backend, an export) gives the dequantized float back.
    assert_eq!(query.weight.val().dims(), [48, 48]);
}

#[test]
fn a_device_without_the_int8_kernels_is_an_error_naming_the_weight() {
    #[cfg(feature = "ndarray")]
    {
        let body = small_body(&device("ndarray"));
        match quantize_linears(body) {
            Err(QuantizeError::Unsupported { path, .. }) => {
                assert!(path.ends_with(".weight"), "{path}")
            }
            other => panic!("expected Unsupported, got {:?}", other.map(|(_, r)| r)),
        }
    }
    let err = kindling::device::with_dtype(device("flex"), "int8").map(|(_, int8)| int8);
    assert!(matches!(err, Ok(true)), "{err:?}");
    #[cfg(feature = "ndarray")]
    {
        let err = kindling::device::with_dtype(device("ndarray"), "int8").unwrap_err();
        assert!(err.to_string().contains("flex"), "{err}");
    }
}

#[test]
#[ignore = "needs KINDLING_MINILM_DIR (cargo xtask test provides it)"]
fn minilm_in_int8_is_no_further_from_float_than_pytorchs_int8() {
    let device = device("flex");
    let dir = minilm_dir();
    let (body, _, _) = load_body(&dir, &device, BodyLoadOptions::default()).unwrap();
    let (body, report) = quantize_linears(body).unwrap();
    assert_eq!(report.quantized.len(), 6 * 6 + 1);
    let (input, batch) = crate::minilm::sentence_batch(&dir, &device);
    let (b, s) = batch.shape();
    let last = body
        .forward(input, OutputOptions::default())
        .last_hidden_state;
    let expected = read_safetensors(&fixtures_dir().join("minilm/expected.safetensors"));
    let mask = crate::minilm::attention_mask(&batch);
    let data = last.into_data().convert::<f32>();
    let diff = max_abs_diff(
        "last_hidden_state",
        &data,
        &expected["last_hidden_state"],
        Some(&mask),
        1,
    );
    let ours = data.try_to_vec::<f32>().unwrap();
    let theirs = &expected["last_hidden_state"].values;
    let hidden = body.hidden_size();
    let embedding = |v: &[f32], row: usize| {
        let mut pooled = vec![0.0f64; hidden];
        let mut count = 0.0;
        for (t, keep) in mask[row].iter().enumerate() {
            if *keep == 1 {
                count += 1.0;
                for (d, p) in pooled.iter_mut().enumerate() {
                    *p += f64::from(v[(row * s + t) * hidden + d]);
                }
            }
        }
        let norm = pooled
            .iter()
            .map(|p| (p / count).powi(2))
            .sum::<f64>()
            .sqrt();
        pooled.iter().map(|p| p / count / norm).collect::<Vec<_>>()
    };
    let cosine = (0..b)
        .map(|row| {
            let (x, y) = (embedding(&ours, row), embedding(theirs, row));
            x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>()
        })
        .fold(1.0f64, f64::min);
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("minilm/int8.json")).unwrap(),
    )
    .unwrap();
    let torch_diff = oracle["last_hidden_state_max_abs_diff"].as_f64().unwrap();
    let torch_cosine = oracle["embedding_min_cosine"].as_f64().unwrap();
    println!(
        "all-MiniLM-L6-v2 int8: last_hidden_state max |Δ| {diff:.4} (PyTorch int8 {torch_diff:.4}), \
         min embedding cosine {cosine:.6} (PyTorch int8 {torch_cosine:.6})"
    );
    assert!(
        f64::from(diff) <= torch_diff,
        "max |Δ| {diff} > PyTorch's {torch_diff}"
    );
    assert!(
        cosine >= torch_cosine,
        "cosine {cosine} < PyTorch's {torch_cosine}"
    );
}

// Quantized checkpoints. Oracle: `tests/fixtures/int8_checkpoint_fixture.py` quantizes the
// tiny BERT token classifier of `heads/bert_token_cls` with compressed-tensors 0.15.0's own
// `W8A8` scheme, saves it as transformers does (`int8_checkpoint/model`), and records the
// logits transformers computes from that directory: quantized (`logits_w8a8`) and dequantized
// (`logits_dequantized`).

mod checkpoint {
    use std::path::{Path, PathBuf};

    use kindling::body::kernels::int8_weights;
    use kindling::burn::prelude::*;
    use kindling::import::{ImportError, ModelLoadOptions, load_model, save_model};
    use kindling_tests::{device, fixtures_dir, max_abs_diff, read_safetensors};
    use serde_json::Value;

    use crate::head_parity::{mask_rows, model_input, read_json};

    fn fixture() -> PathBuf {
        fixtures_dir().join("int8_checkpoint")
    }

    fn logits(dir: &Path, device: &Device, options: ModelLoadOptions) -> (TensorData, usize) {
        let (model, report, _) = load_model(dir, device, options).unwrap();
        assert!(report.is_exact(), "{report}");
        let quantized = int8_weights(&model).len();
        let inputs = read_json(fixture().join("inputs.json"));
        let output = model.forward(model_input(&inputs, device)).named();
        let (_, logits) = output
            .into_iter()
            .find(|(k, _)| *k == "logits")
            .expect("logits");
        (logits.convert::<f32>(), quantized)
    }

    fn diff(key: &str, got: &TensorData) -> f32 {
        let expected = read_safetensors(&fixture().join("expected.safetensors"));
        let inputs = read_json(fixture().join("inputs.json"));
        max_abs_diff(key, got, &expected[key], Some(&mask_rows(&inputs)), 1)
    }

    /// The safetensors header of a file: tensor name to (dtype, shape).
    fn header(path: &Path) -> Vec<(String, String, Vec<usize>)> {
        let bytes = std::fs::read(path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<_> = file
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, format!("{:?}", v.dtype()), v.shape().to_vec()))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_compressed_tensors_checkpoint_runs_in_int8_as_transformers_runs_it() {
        let dir = fixture().join("model");
        let (got, quantized) = logits(&dir, &device("flex"), ModelLoadOptions::default());
        // 2 layers x 6 linears, and the classifier.
        assert_eq!(quantized, 13, "the int8 weights were not kept");
        let worst = diff("logits_w8a8", &got);
        println!("W8A8 checkpoint on flex: logits max |Δ| to transformers {worst:.3e}");
        // The same int8 weights and activation rule on every kernel path (VNNI, AVX2 and
        // portable agree bit for bit); only the float summation order differs.
        assert!(
            worst <= 1e-4,
            "max |Δ| {worst:e} to transformers' W8A8 logits"
        );
    }

    #[test]
    fn another_backend_runs_the_dequantized_weights_in_float() {
        let dir = fixture().join("model");
        let (got, quantized) = logits(&dir, &device("ndarray"), ModelLoadOptions::default());
        assert_eq!(quantized, 0);
        let worst = diff("logits_dequantized", &got);
        println!("W8A8 checkpoint on ndarray: logits max |Δ| {worst:.3e}");
        assert!(
            worst <= 1e-4,
            "max |Δ| {worst:e} to transformers' dequantized logits"
        );
    }

    #[test]
    fn quantizing_and_saving_writes_what_compressed_tensors_writes() {
        let device = device("flex");
        let source = fixtures_dir().join("heads/bert_token_cls/model");
        let (model, _, checkpoint) =
            load_model(&source, &device, ModelLoadOptions::for_inference(true)).unwrap();
        let out = tempfile::tempdir().unwrap();
        save_model(&model, &checkpoint.config, out.path(), None).unwrap();
        let ours = out.path().join("model.safetensors");
        let theirs = fixture().join("model/model.safetensors");
        assert_eq!(
            header(&ours),
            header(&theirs),
            "names, dtypes or shapes differ"
        );
        // The same int8 values and the same scales, bit for bit.
        let (a, b) = (read_safetensors(&ours), read_safetensors(&theirs));
        for (name, expected) in &b {
            if name.ends_with(".weight_scale") || b.contains_key(&format!("{name}_scale")) {
                assert_eq!(a[name].values, expected.values, "`{name}`");
            }
        }
        let config = |dir: &Path| read_json(dir.join("config.json"))["quantization_config"].clone();
        let (mine, reference) = (config(out.path()), config(&fixture().join("model")));
        for key in [
            "config_groups",
            "format",
            "ignore",
            "quant_method",
            "quantization_status",
        ] {
            assert_eq!(mine[key], reference[key], "quantization_config.{key}");
        }
    }

    #[test]
    fn a_saved_quantized_checkpoint_loads_back_to_the_same_outputs() {
        let device = device("flex");
        let dir = fixture().join("model");
        let (model, _, checkpoint) =
            load_model(&dir, &device, ModelLoadOptions::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        save_model(&model, &checkpoint.config, out.path(), None).unwrap();
        let (before, _) = logits(&dir, &device, ModelLoadOptions::default());
        let (after, quantized) = logits(out.path(), &device, ModelLoadOptions::default());
        assert_eq!(quantized, 13);
        assert_eq!(
            before.try_to_vec::<f32>().unwrap(),
            after.try_to_vec::<f32>().unwrap()
        );
        // A float load of it (another backend) writes a float checkpoint again.
        let (float, _, checkpoint) = load_model(
            out.path(),
            &kindling_tests::device("ndarray"),
            ModelLoadOptions::default(),
        )
        .unwrap();
        let again = tempfile::tempdir().unwrap();
        save_model(&float, &checkpoint.config, again.path(), None).unwrap();
        let config = read_json(again.path().join("config.json"));
        assert!(config.get("quantization_config").is_none(), "{config}");
        assert!(
            header(&again.path().join("model.safetensors"))
                .iter()
                .all(|(_, dtype, _)| dtype == "F32")
        );
    }

    #[test]
    fn a_scheme_kindling_cannot_run_is_refused_naming_the_field() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        for file in ["config.json", "model.safetensors"] {
            std::fs::copy(fixture().join("model").join(file), dir.join(file)).unwrap();
        }
        let mut config: Value = read_json(dir.join("config.json"));
        config["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"] =
            "tensor".into();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let Err(error) = load_model(dir, &device("flex"), ModelLoadOptions::default()) else {
            panic!("a per-tensor scheme loaded");
        };
        assert!(
            matches!(error, ImportError::Quantization { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("config.json")
                && message.contains("config_groups.group_0.weights.strategy"),
            "{message}"
        );
    }
}
