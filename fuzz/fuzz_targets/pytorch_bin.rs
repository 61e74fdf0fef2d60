//! `pytorch_model.bin` (zip or legacy `torch.save`): the pickle guard, then burn-store's reader,
//! then a body load from a fixed config.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::pytorch_bin(data));
