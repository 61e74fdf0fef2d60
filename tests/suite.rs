//! kindling's workspace-level tests, one module per concern: parity with `transformers` on
//! every built backend (bodies, heads, training, pipelines), import and export, hostile inputs,
//! the server. One binary (see `Cargo.toml`); filter by module, e.g. `-- serve::`.

mod body_parity;
mod broken_inputs;
mod export_roundtrip;
mod fill_mask;
mod fuzz_regressions;
mod head_matrix;
mod head_parity;
mod import_errors;
mod int8;
mod minilm;
mod pickle_guard;
mod pipeline_batching;
mod question_answering;
mod serve;
mod task_training;
mod text_classification;
mod text_classification_training;
mod training_parity;
