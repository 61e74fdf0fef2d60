//! Batching does not change answers: every pipeline gives an input, batched with others of
//! other lengths (padded to the longest), exactly what it gives the input alone, because the
//! attention mask keeps padding out of every real position. This is what lets `serve` share
//! forward passes between clients and still answer like the offline pipeline.
//!
//! Exact on `flex`, `ndarray` and `wgpu`. LibTorch's CPU matrix products block by the batch
//! size, so there the last bits of a score move with the batch: on `tch` answers agree within
//! [`TCH_TOLERANCE`] (labels, spans and tokens exactly).

/// How far a score may move with the batch on LibTorch (measured: under 1e-6).
const TCH_TOLERANCE: f64 = 1e-5;

fn tolerance(device: &Device) -> f64 {
    if format!("{device:?}").to_lowercase().contains("libtorch") {
        TCH_TOLERANCE
    } else {
        0.0
    }
}

use kindling::burn::prelude::Device;
use kindling::pipelines::{
    BatchLimits, FeatureExtractionPipeline, FeatureKind, JsonPipeline, PipelineOptions,
    load_pipeline,
};
use kindling_tests::{json_difference, task_checkpoints, task_inputs, test_device};
use serde_json::Value;

fn alone_and_batched_agree(pipeline: &dyn JsonPipeline, task: &str, tolerance: f64) {
    let inputs = task_inputs(task);
    let alone: Vec<_> = inputs
        .iter()
        .map(|input| {
            pipeline
                .run_json(std::slice::from_ref(input))
                .unwrap()
                .remove(0)
        })
        .collect();
    let everything = BatchLimits {
        max_rows: 64,
        max_tokens: 1 << 20,
    };
    let batched: Vec<_> = pipeline
        .run_json_batch(&inputs, everything)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let (alone, batched) = (Value::Array(alone), Value::Array(batched));
    if let Some(difference) = json_difference(&batched, &alone, tolerance) {
        panic!("{task}: batched answers differ from answers alone at {difference}");
    }
}

fn every_task_answers_the_same_batched(device: &Device) {
    let scratch = tempfile::tempdir().unwrap();
    for (task, dir) in task_checkpoints(scratch.path()) {
        let pipeline = load_pipeline(&dir, device, &PipelineOptions::default()).unwrap();
        alone_and_batched_agree(pipeline.as_ref(), task, tolerance(device));
    }
    let (_, tagger) = &task_checkpoints(scratch.path())[0];
    for normalize in [true, false] {
        let embedder = FeatureExtractionPipeline::load_kind(
            tagger,
            device,
            FeatureKind::Embedding { normalize },
        )
        .unwrap();
        alone_and_batched_agree(&embedder, "feature-extraction", tolerance(device));
    }
    let features =
        FeatureExtractionPipeline::load(tagger, device, kindling::heads::Task::Base).unwrap();
    let short: Vec<_> = task_inputs("text-classification")
        .into_iter()
        .filter(|i| i.as_text().is_some_and(|t| t.len() < 100))
        .collect();
    let alone: Vec<_> = short
        .iter()
        .map(|i| {
            features
                .run_json(std::slice::from_ref(i))
                .unwrap()
                .remove(0)
        })
        .collect();
    let batched: Vec<_> = features
        .run_json_batch(
            &short,
            BatchLimits {
                max_rows: 64,
                max_tokens: 1 << 20,
            },
        )
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let (alone, batched) = (Value::Array(alone), Value::Array(batched));
    if let Some(difference) = json_difference(&batched, &alone, tolerance(device)) {
        panic!("token features differ batched at {difference}");
    }
}

test_device!(every_task_answers_the_same_batched);
