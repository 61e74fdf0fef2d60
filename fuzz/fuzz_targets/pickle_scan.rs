//! The pickle guard's opcode walk over arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling_fuzz::pickle_scan(data));
