//! The committed sample under `data/ner-sample` is exactly what the generator produces
//! (`cargo xtask make-sample` rewrites it).

use std::path::PathBuf;

use kindling_data::{NER_SAMPLE_DIR, SampleSplit, ner_sample_files, read_panx};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(NER_SAMPLE_DIR)
}

#[test]
fn committed_sample_is_reproducible() {
    let dir = sample_dir();
    let files = ner_sample_files().unwrap();
    assert_eq!(files.len(), 12);
    for (relative, expected) in files {
        let path = dir.join(&relative);
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with `cargo xtask make-sample`",
                path.display()
            )
        });
        assert!(
            committed == expected.as_bytes(),
            "{} differs from the generator's output; regenerate with `cargo xtask make-sample`",
            path.display()
        );
    }
}

#[test]
fn committed_sample_reads_back() {
    let dir = sample_dir();
    for lang in ["de", "fr", "it", "en"] {
        for split in SampleSplit::ALL {
            let examples = read_panx(dir.join(lang).join(format!("{}.txt", split.name()))).unwrap();
            assert_eq!(examples.len(), split.sample_size());
            assert!(examples.iter().all(|e| e.lang.as_deref() == Some(lang)));
        }
    }
}
