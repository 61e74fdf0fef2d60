//! `model.safetensors`: header, offsets, dtypes and shapes, loaded into a body built from a fixed
//! config (so tensors are read, cast and shape-checked as in a real load).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::safetensors_file(data));
