//! `config.json` parsing: typed fields, per-model defaults, and the derived body config.
#![no_main]

use std::path::Path;

use kindling::body::BertFamilyConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = BertFamilyConfig::from_json_str(text, Path::new("config.json")) {
        let _ = config.labels();
        let _ = config.max_sequence_length();
        let _ = config.position_ids();
        let _ = config.classifier_dropout_prob();
        let _ = config.body_config();
    }
});
