//! Unit tests of the chunker and the averages; `tests/seqeval_parity.rs` checks them all
//! against seqeval itself.

use super::*;

fn tags(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn found(s: &str) -> Vec<(String, usize, usize)> {
    entities(&tags(s))
        .into_iter()
        .map(|e| (e.kind, e.start, e.end))
        .collect()
}

fn e(kind: &str, start: usize, end: usize) -> (String, usize, usize) {
    (kind.to_owned(), start, end)
}

#[test]
fn iob2_entities() {
    assert_eq!(
        found("B-PER I-PER O B-LOC"),
        [e("PER", 0, 1), e("LOC", 3, 3)]
    );
    assert_eq!(found("O O O"), []);
    assert_eq!(found(""), []);
}

#[test]
fn i_tag_starts_an_entity() {
    // after O, at the start, after another type
    assert_eq!(found("O I-PER I-PER O"), [e("PER", 1, 2)]);
    assert_eq!(found("I-LOC O"), [e("LOC", 0, 0)]);
    assert_eq!(found("B-PER I-LOC I-LOC"), [e("PER", 0, 0), e("LOC", 1, 2)]);
    assert_eq!(found("I-PER I-LOC"), [e("PER", 0, 0), e("LOC", 1, 1)]);
}

#[test]
fn adjacent_entities_of_one_type() {
    assert_eq!(found("B-PER B-PER"), [e("PER", 0, 0), e("PER", 1, 1)]);
    assert_eq!(
        found("B-PER I-PER B-PER O"),
        [e("PER", 0, 1), e("PER", 2, 2)]
    );
}

#[test]
fn entities_at_the_end_and_single_tokens() {
    assert_eq!(found("O O B-ORG I-ORG"), [e("ORG", 2, 3)]);
    assert_eq!(
        found("B-PER O B-LOC O B-ORG"),
        [e("PER", 0, 0), e("LOC", 2, 2), e("ORG", 4, 4)]
    );
}

#[test]
fn iobes_tags() {
    assert_eq!(
        found("S-PER O B-LOC I-LOC E-LOC S-ORG"),
        [e("PER", 0, 0), e("LOC", 2, 4), e("ORG", 5, 5)]
    );
    // seqeval's default mode: an E after E starts a new chunk, an E after O too
    assert_eq!(found("E-PER E-PER"), [e("PER", 0, 0), e("PER", 1, 1)]);
    assert_eq!(found("O E-PER I-PER"), [e("PER", 1, 1), e("PER", 2, 2)]);
}

#[test]
fn tags_are_split_at_the_first_dash() {
    assert_eq!(
        found("B-PER-X I-PER-X I-PER"),
        [e("PER-X", 0, 1), e("PER", 2, 2)]
    );
    assert_eq!(found("B I O"), [e("_", 0, 1)]);
    assert_eq!(split_tag("B-PER"), ('B', "PER"));
    assert_eq!(split_tag("PER"), ('P', "ER"));
    assert_eq!(split_tag("-PER"), ('-', "PER"));
    assert_eq!(split_tag("O"), ('O', "_"));
    assert_eq!(split_tag(""), ('O', "_"));
}

#[test]
fn evaluate_counts_entities_over_all_sentences() {
    let gold = vec![tags("B-PER I-PER O"), tags("O B-LOC"), tags("B-PER")];
    let pred = vec![tags("B-PER I-PER O"), tags("O O"), tags("B-LOC")];
    let r = evaluate(&gold, &pred).unwrap();
    assert_eq!(r.per_type["PER"].support, 2);
    assert_eq!(r.per_type["PER"].precision, 1.0);
    assert_eq!(r.per_type["PER"].recall, 0.5);
    assert_eq!(r.per_type["LOC"].precision, 0.0);
    assert_eq!(r.micro.precision, 0.5);
    assert_eq!(r.micro.recall, 1.0 / 3.0);
    assert_eq!(r.micro.support, 3);
}

#[test]
fn an_entity_never_crosses_sentences() {
    let gold = vec![tags("O B-PER"), tags("I-PER O")];
    let r = evaluate(&gold, &gold).unwrap();
    assert_eq!(r.micro.support, 2);
}

#[test]
fn zero_division_gives_zero() {
    let gold = vec![tags("B-PER O")];
    let pred = vec![tags("O O")];
    let r = evaluate(&gold, &pred).unwrap();
    assert_eq!(
        (r.micro.precision, r.micro.recall, r.micro.f1),
        (0.0, 0.0, 0.0)
    );
    let r = evaluate(&pred, &gold).unwrap();
    assert_eq!(
        (r.weighted.precision, r.weighted.f1, r.weighted.support),
        (0.0, 0.0, 0)
    );
    let r = evaluate(&pred, &pred).unwrap();
    assert!(r.per_type.is_empty());
    assert_eq!(r.micro.f1, 0.0);
    assert!(r.macro_avg.f1.is_nan());
}

#[test]
fn mismatched_lengths_name_the_sentence() {
    let gold = vec![tags("O"), tags("B-PER O")];
    let err = evaluate(&gold, &[tags("O"), tags("B-PER")]).unwrap_err();
    assert!(matches!(
        err,
        TrainError::SentenceLength {
            index: 1,
            gold: 2,
            pred: 1
        }
    ));
    assert!(err.to_string().contains("sentence 1"), "{err}");
    let err = evaluate(&gold, &[tags("O")]).unwrap_err();
    assert!(matches!(
        err,
        TrainError::SentenceCount { gold: 2, pred: 1 }
    ));
    assert!(token_accuracy(&gold, &[tags("O")]).is_err());
}

#[test]
fn token_accuracy_counts_tokens() {
    let gold = vec![tags("B-PER I-PER O"), tags("O")];
    let pred = vec![tags("B-PER O O"), tags("B-LOC")];
    assert_eq!(token_accuracy(&gold, &pred).unwrap(), 0.5);
    assert_eq!(token_accuracy::<String>(&[], &[]).unwrap(), 0.0);
}

#[test]
fn json_has_micro_at_the_top() {
    let gold = vec![tags("B-PER I-PER O B-LOC")];
    let r = evaluate(&gold, &gold).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["precision"], 1.0);
    assert_eq!(v["recall"], 1.0);
    assert_eq!(v["f1"], 1.0);
    assert_eq!(v["support"], 2);
    assert_eq!(v["per_type"]["PER"]["f1"], 1.0);
    assert_eq!(v["macro"]["support"], 2);
    assert_eq!(v["weighted"]["f1"], 1.0);
}

#[test]
fn table_is_seqevals() {
    let gold = vec![tags("O O O B-MISC I-MISC I-MISC O"), tags("B-PER I-PER O")];
    let pred = vec![
        tags("O O B-MISC I-MISC I-MISC I-MISC O"),
        tags("B-PER I-PER O"),
    ];
    let r = evaluate(&gold, &pred).unwrap();
    // seqeval's own docstring example, with digits=2
    let want = "              precision    recall  f1-score   support

        MISC       0.00      0.00      0.00         1
         PER       1.00      1.00      1.00         1

   micro avg       0.50      0.50      0.50         2
   macro avg       0.50      0.50      0.50         2
weighted avg       0.50      0.50      0.50         2
";
    assert_eq!(r.table(2), want);
}
