//! The readers on small files, the error cases naming file and line, and format detection.

use std::path::{Path, PathBuf};

use kindling_data::{
    DataError, DatasetFormat, LabelSet, NerExample, detect_format, format_panx, read_conll,
    read_dataset, read_jsonl, read_panx,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn words(example: &NerExample) -> (Vec<&str>, Vec<&str>) {
    (
        example.tokens.iter().map(String::as_str).collect(),
        example.tags.iter().map(String::as_str).collect(),
    )
}

#[test]
fn conll_reads_columns_sentences_and_skips_docstart() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "train.conll",
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n\n\
         Peter\tB-PER\r\nBlackburn\tI-PER\r\n\n-DOCSTART- O\nBerlin B-LOC",
    );
    let examples = read_conll(&path).unwrap();
    assert_eq!(examples.len(), 3);
    assert_eq!(
        words(&examples[0]),
        (
            vec!["EU", "rejects", "German"],
            vec!["B-ORG", "O", "B-MISC"]
        )
    );
    assert_eq!(
        words(&examples[1]),
        (vec!["Peter", "Blackburn"], vec!["B-PER", "I-PER"])
    );
    assert_eq!(words(&examples[2]), (vec!["Berlin"], vec!["B-LOC"]));
    assert_eq!(examples[0].lang, None);
    let origin = examples[1].origin.as_ref().unwrap();
    assert_eq!((origin.path.as_path(), origin.line), (path.as_path(), 8));
    assert_eq!(origin.line_of(1), 9);
}

#[test]
fn conll_line_with_one_column_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.txt", "Peter B-PER\n\nBerlin\n");
    let err = read_conll(&path).unwrap_err();
    assert!(matches!(
        err,
        DataError::ConllColumns {
            line: 3,
            found: 1,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("bad.txt:3:"), "{msg}");
}

#[test]
fn panx_reads_language_prefix_and_colons_in_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "dev",
        "de:Berlin\tB-LOC\nde:ist\tO\nde:schön\tO\n\nfr:Uhrzeit:\tO\nfr::\tO\nfr:Paris\tB-LOC\n",
    );
    let examples = read_panx(&path).unwrap();
    assert_eq!(examples.len(), 2);
    assert_eq!(
        words(&examples[0]),
        (vec!["Berlin", "ist", "schön"], vec!["B-LOC", "O", "O"])
    );
    assert_eq!(examples[0].lang.as_deref(), Some("de"));
    assert_eq!(examples[1].tokens, ["Uhrzeit:", ":", "Paris"]);
    assert_eq!(examples[1].lang.as_deref(), Some("fr"));
    assert_eq!(examples[1].origin.as_ref().unwrap().line, 5);
    // Written back, the file is the same (each sentence ends with a blank line).
    assert_eq!(
        format_panx(&examples).unwrap(),
        std::fs::read_to_string(&path).unwrap() + "\n"
    );
}

#[test]
fn panx_malformed_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line) in [
        ("de:Berlin\tB-LOC\nde:ist O\n", 2),
        ("de:Berlin\tB-LOC\n\n\nBerlin\tB-LOC\n", 4),
        ("de:\tO\n", 1),
        ("de:Berlin\t\n", 1),
        (":Berlin\tO\n", 1),
    ] {
        let path = write(dir.path(), "panx.txt", text);
        let err = read_panx(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, DataError::PanxLine { line: l, .. } if l == line),
            "{text:?}: {msg}"
        );
        assert!(msg.contains(&format!("panx.txt:{line}:")), "{msg}");
    }
}

#[test]
fn jsonl_reads_label_ids_and_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "train.jsonl",
        concat!(
            r#"{"tokens": ["Jeff", "Dean", "ist", "in", "Berlin"], "ner_tags": [1, 2, 0, 0, 5], "langs": ["de", "de", "de", "de", "de"]}"#,
            "\n\n",
            r#"{"id": "7", "tokens": ["Paris"], "tags": ["B-LOC"], "lang": "fr"}"#,
            "\n",
            r#"{"tokens": [], "ner_tags": []}"#,
            "\n",
        ),
    );
    let panx = LabelSet::panx();
    let examples = read_jsonl(&path, Some(&panx)).unwrap();
    assert_eq!(examples.len(), 3);
    assert_eq!(examples[0].tags, ["B-PER", "I-PER", "O", "O", "B-LOC"]);
    assert_eq!(examples[0].lang.as_deref(), Some("de"));
    assert_eq!(words(&examples[1]), (vec!["Paris"], vec!["B-LOC"]));
    assert_eq!(examples[1].lang.as_deref(), Some("fr"));
    assert_eq!(examples[1].origin.as_ref().unwrap().line, 3);
    assert!(examples[2].is_empty() && examples[2].lang.is_none());
    // Ids need a label list.
    let err = read_jsonl(&path, None).unwrap_err();
    assert!(
        matches!(err, DataError::LabelIdsWithoutLabels { line: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("train.jsonl:1:"));
}

#[test]
fn jsonl_errors_name_file_line_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let panx = LabelSet::panx();
    let cases: [(&str, &str); 5] = [
        (
            r#"{"tokens": ["a", "b"], "ner_tags": [0, 7]}"#,
            "label id 7",
        ),
        (
            r#"{"tokens": ["a", "b"], "ner_tags": [0]}"#,
            "2 tokens but 1 tags",
        ),
        (
            r#"{"tokens": ["a"], "ner_tags": ["B-MISC"]}"#,
            "tag `B-MISC`",
        ),
        (r#"{"tokens": ["a"]}"#, "ner_tags"),
        (r#"{"tokens": ["a"], "ner_tags": [0]"#, "EOF"),
    ];
    for (line, expected) in cases {
        let path = write(
            dir.path(),
            "x.jsonl",
            &format!("{}\n{line}\n", r#"{"tokens": ["ok"], "ner_tags": [0]}"#),
        );
        let msg = read_jsonl(&path, Some(&panx)).unwrap_err().to_string();
        assert!(msg.contains("x.jsonl:2:"), "{msg}");
        assert!(msg.contains(expected), "{msg}");
    }
    let path = write(
        dir.path(),
        "array.json",
        r#"[{"tokens": [], "ner_tags": []}]"#,
    );
    assert!(matches!(
        read_jsonl(&path, None),
        Err(DataError::NotJsonLines { .. })
    ));
}

#[test]
fn missing_file_names_the_path() {
    let msg = read_conll("/nonexistent/kindling/train.txt")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("/nonexistent/kindling/train.txt: "),
        "{msg}"
    );
}

#[test]
fn read_dataset_picks_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let panx = write(dir.path(), "de.txt", "\n\nde:Berlin\tB-LOC\n");
    let conll = write(dir.path(), "en.txt", "Berlin NNP B-LOC\n");
    let jsonl = write(
        dir.path(),
        "it.json",
        r#"{"tokens": ["Roma"], "ner_tags": ["B-LOC"]}"#,
    );
    assert_eq!(detect_format(&panx).unwrap(), DatasetFormat::Panx);
    assert_eq!(detect_format(&conll).unwrap(), DatasetFormat::Conll);
    assert_eq!(detect_format(&jsonl).unwrap(), DatasetFormat::Jsonl);
    assert_eq!(
        read_dataset(&panx, None).unwrap()[0].lang.as_deref(),
        Some("de")
    );
    assert_eq!(read_dataset(&conll, None).unwrap()[0].tokens, ["Berlin"]);
    assert_eq!(read_dataset(&jsonl, None).unwrap()[0].tags, ["B-LOC"]);
}

#[test]
fn labels_from_a_file_are_checked_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "test.txt",
        "EU B-ORG\n\nPeter B-PER\nsays O\nhi B-MISC\n",
    );
    let examples = read_conll(&path).unwrap();
    let panx = LabelSet::panx();
    assert_eq!(panx.encode_example(&examples[0], 0).unwrap(), [3]);
    let msg = panx
        .encode_example(&examples[1], 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("test.txt:5: tag `B-MISC`"), "{msg}");
    // An inferred set accepts every tag of the data.
    let inferred = LabelSet::infer(&examples);
    assert_eq!(
        inferred.labels(),
        ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    );
    assert_eq!(inferred.encode_example(&examples[1], 1).unwrap(), [5, 0, 1]);
}
