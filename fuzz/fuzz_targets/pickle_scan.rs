//! The pickle guard's opcode walk over arbitrary bytes.
#![no_main]

use kindling::import::pickle_guard::scan_pickle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scan) = scan_pickle(data) {
        assert!(scan.end <= data.len());
    }
});
