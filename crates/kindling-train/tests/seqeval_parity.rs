//! Entity metrics against Python `seqeval` (default mode).
//!
//! Oracle: `tests/fixtures/seqeval_fixture.py` with seqeval 1.2.2 (pinned in
//! `tests/fixtures/requirements.txt`), which wrote `tests/fixtures/seqeval/cases.json`. Every
//! score must equal seqeval's within 1e-12 (NaN where seqeval's is NaN, `null` in the file),
//! supports exactly, and the text table character for character.

use kindling_train::metrics::{EntityReport, Scores, entities, evaluate, token_accuracy};
use serde_json::Value;

const TOL: f64 = 1e-12;

fn cases() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/seqeval/cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("cases.json is JSON")
}

fn sentences(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .expect("a list of sentences")
        .iter()
        .map(|s| {
            s.as_array()
                .expect("a sentence")
                .iter()
                .map(|t| t.as_str().expect("a tag").to_owned())
                .collect()
        })
        .collect()
}

fn close(what: &str, got: f64, want: &Value) -> Result<(), String> {
    match want.as_f64() {
        None if want.is_null() && got.is_nan() => Ok(()),
        Some(w) if (got - w).abs() <= TOL => Ok(()),
        _ => Err(format!("{what}: got {got}, seqeval {want}")),
    }
}

fn check_scores(what: &str, got: &Scores, want: &Value) -> Result<(), String> {
    close(
        &format!("{what} precision"),
        got.precision,
        &want["precision"],
    )?;
    close(&format!("{what} recall"), got.recall, &want["recall"])?;
    close(&format!("{what} f1"), got.f1, &want["f1"])?;
    match want["support"].as_u64() {
        Some(s) if s == got.support as u64 => Ok(()),
        _ => Err(format!(
            "{what} support: got {}, seqeval {}",
            got.support, want["support"]
        )),
    }
}

fn check_report(got: &EntityReport, want: &Value) -> Result<(), String> {
    check_scores("micro", &got.micro, &want["micro"])?;
    check_scores("macro", &got.macro_avg, &want["macro"])?;
    check_scores("weighted", &got.weighted, &want["weighted"])?;
    let want_types = want["per_type"].as_object().expect("per_type");
    let got_names: Vec<_> = got.per_type.keys().collect();
    let want_names: Vec<_> = want_types.keys().collect();
    if got_names != want_names {
        return Err(format!("types: got {got_names:?}, seqeval {want_names:?}"));
    }
    for (name, scores) in &got.per_type {
        check_scores(name, scores, &want_types[name])?;
    }
    if let Some(table) = want["report"].as_str() {
        let ours = got.to_string();
        if ours != table {
            return Err(format!("table:\n{ours}\nseqeval:\n{table}"));
        }
    }
    Ok(())
}

fn check_entities(tags: &[Vec<String>], want: &Value) -> Result<(), String> {
    for (i, (sentence, want)) in tags.iter().zip(want.as_array().unwrap()).enumerate() {
        let got: Vec<Value> = entities(sentence)
            .into_iter()
            .map(|e| serde_json::json!([e.kind, e.start, e.end]))
            .collect();
        if &Value::Array(got.clone()) != want {
            return Err(format!(
                "entities of sentence {i}: got {got:?}, seqeval {want}"
            ));
        }
    }
    Ok(())
}

fn check_case(case: &Value) -> Result<(), String> {
    let gold = sentences(&case["gold"]);
    let pred = sentences(&case["pred"]);
    let want = &case["expected"];
    let report = evaluate(&gold, &pred).map_err(|e| e.to_string())?;
    check_report(&report, want)?;
    let accuracy = token_accuracy(&gold, &pred).map_err(|e| e.to_string())?;
    if !want["accuracy"].is_null() {
        close("accuracy", accuracy, &want["accuracy"])?;
    }
    check_entities(&gold, &case["entities"]["gold"])?;
    check_entities(&pred, &case["entities"]["pred"])
}

#[test]
fn every_case_matches_seqeval() {
    let doc = cases();
    assert_eq!(doc["oracle"], "seqeval 1.2.2");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check_case(case)
                .err()
                .map(|e| format!("{}: {e}", case["name"].as_str().unwrap_or("?")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from seqeval:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn json_report_has_micro_scores_and_per_type() {
    let doc = cases();
    let case = &doc["cases"][0];
    let report = evaluate(&sentences(&case["gold"]), &sentences(&case["pred"])).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "precision",
        "recall",
        "f1",
        "support",
        "per_type",
        "macro",
        "weighted",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    assert_eq!(json["f1"], case["expected"]["micro"]["f1"]);
}
