//! The bundled NER sample: a deterministic, synthetic, multilingual data set in PAN-X's tag
//! set, so the whole pipeline runs (and F1 means something) where PAN-X cannot be fetched.
//!
//! Sentences come from per-language templates (Wikipedia lead sentences, news, sports tables,
//! lists; some without entities, some with adjacent entities) filled from per-language lists
//! of people, organizations and places (local and international, many multi-word). Words are
//! tagged `B-`/`I-` `PER`, `ORG`, `LOC` or `O`. The training split draws its names only from
//! four in five entries of each list; validation and test draw from every entry, so about a
//! fifth of their names never occur in training and a model has to tag them from context.
//!
//! Everything is drawn from the crate's seeded ChaCha8 stream, so a seed always gives the same
//! sentences; `tests/sample.rs` checks that the committed files under `data/ner-sample` are
//! exactly what [`ner_sample_files`] produces.

mod de;
mod en;
mod fr;
mod it;

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::example::NerExample;
use crate::readers::format_panx;
use crate::rng::SeededRng;

/// The languages of the bundled sample, in the order their seeds are numbered.
pub const NER_SAMPLE_LANGUAGES: [&str; 4] = ["de", "fr", "it", "en"];

/// The directory of the bundled sample, relative to the workspace root.
pub const NER_SAMPLE_DIR: &str = "data/ner-sample";

/// A split of the bundled sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleSplit {
    /// Training sentences (names from four in five entries of each list).
    Train,
    /// Validation sentences (names from every entry).
    Validation,
    /// Test sentences (names from every entry).
    Test,
}

impl SampleSplit {
    /// All splits, in seed order.
    pub const ALL: [SampleSplit; 3] = [Self::Train, Self::Validation, Self::Test];

    /// The file stem: `train`, `validation`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }

    /// Sentences per language in the bundled sample: 600, 100, 100.
    pub fn sample_size(self) -> usize {
        match self {
            Self::Train => 600,
            Self::Validation => 100,
            Self::Test => 100,
        }
    }

    fn index(self) -> u64 {
        match self {
            Self::Train => 0,
            Self::Validation => 1,
            Self::Test => 2,
        }
    }
}

/// The seed of one file of the bundled sample: `1000 * (l + 1) + s`, with `l` the language's
/// position in [`NER_SAMPLE_LANGUAGES`] and `s` the split's in [`SampleSplit::ALL`] (de/train
/// is 1000, en/test 4002). `None` for a language the sample does not have.
pub fn ner_sample_seed(lang: &str, split: SampleSplit) -> Option<u64> {
    let l = NER_SAMPLE_LANGUAGES.iter().position(|&x| x == lang)?;
    Some(1000 * (l as u64 + 1) + split.index())
}

/// `n` synthetic sentences in `lang` (`de`, `fr`, `it`, `en`), names drawn from every entry
/// of the lists. The same seed gives the same sentences.
pub fn generate_ner_sample(seed: u64, lang: &str, n: usize) -> Result<Vec<NerExample>, DataError> {
    generate_ner_split(seed, lang, SampleSplit::Test, n)
}

/// `n` synthetic sentences in `lang` for `split`: [`SampleSplit::Train`] leaves out every fifth
/// entry of each name list, so the other splits hold names training never saw.
pub fn generate_ner_split(
    seed: u64,
    lang: &str,
    split: SampleSplit,
    n: usize,
) -> Result<Vec<NerExample>, DataError> {
    let language = language(lang)?;
    let mut generator = Generator {
        language,
        rng: SeededRng::new(seed),
        train: split == SampleSplit::Train,
    };
    Ok((0..n).map(|_| generator.sentence()).collect())
}

/// Every file of the bundled sample as (path relative to the sample directory, PAN-X text):
/// `{de,fr,it,en}/{train,validation,test}.txt`.
pub fn ner_sample_files() -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut files = Vec::new();
    for lang in NER_SAMPLE_LANGUAGES {
        for split in SampleSplit::ALL {
            let seed = ner_sample_seed(lang, split).ok_or_else(|| DataError::UnknownLanguage {
                lang: lang.to_string(),
            })?;
            let examples = generate_ner_split(seed, lang, split, split.sample_size())?;
            let path = Path::new(lang).join(format!("{}.txt", split.name()));
            files.push((path, format_panx(&examples)?));
        }
    }
    Ok(files)
}

/// Writes the bundled sample under `dir` (normally `<workspace>/data/ner-sample`), creating
/// the language directories, and returns the files written. The README beside them is written
/// by hand.
pub fn write_ner_sample(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, DataError> {
    let dir = dir.as_ref();
    let mut written = Vec::new();
    for (relative, text) in ner_sample_files()? {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DataError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// What one language brings: names and templates.
///
/// Templates are space-separated items: a literal token; `[a|b_c|]` one of the alternatives
/// (`_` joins the words of an alternative; an empty one adds nothing); or a slot: `{PER}` a
/// person (first and last name, or the last name alone), `{ORG}`, `{CITY}`, `{REGION}` (a
/// country, region or landscape), `{LOC}` (either), and the untagged fillers `{YEAR}`, `{MONTH}`, `{DAY}`, `{NUM}`
/// (2–99), `{SMALL}` (0–5) and `{POP}` (a population).
struct Language {
    code: &'static str,
    first_names: &'static [&'static str],
    last_names: &'static [&'static str],
    organizations: &'static [&'static str],
    cities: &'static [&'static str],
    regions: &'static [&'static str],
    months: &'static [&'static str; 12],
    templates: &'static [&'static str],
}

fn language(lang: &str) -> Result<&'static Language, DataError> {
    Ok(match lang {
        "de" => &de::GERMAN,
        "fr" => &fr::FRENCH,
        "it" => &it::ITALIAN,
        "en" => &en::ENGLISH,
        _ => {
            return Err(DataError::UnknownLanguage {
                lang: lang.to_string(),
            });
        }
    })
}

struct Generator {
    language: &'static Language,
    rng: SeededRng,
    train: bool,
}

impl Generator {
    fn sentence(&mut self) -> NerExample {
        let template = self.pick(self.language.templates);
        let mut tokens = Vec::new();
        let mut tags = Vec::new();
        let mut used: Vec<&'static str> = Vec::new();
        for item in template.split_whitespace() {
            if let Some(choices) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                let choices: Vec<&str> = choices.split('|').collect();
                let choice = self.pick(&choices);
                for word in choice.split('_').filter(|w| !w.is_empty()) {
                    tokens.push(word.to_string());
                    tags.push("O".to_string());
                }
            } else if let Some(slot) = item.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                match self.entity(slot, &mut used) {
                    Some((words, kind)) => {
                        for (i, word) in words.iter().enumerate() {
                            tokens.push(word.to_string());
                            tags.push(format!("{}-{kind}", if i == 0 { "B" } else { "I" }));
                        }
                    }
                    None => {
                        tokens.push(self.filler(slot));
                        tags.push("O".to_string());
                    }
                }
            } else {
                tokens.push(item.to_string());
                tags.push("O".to_string());
            }
        }
        // A sentence starting with a name like "de la Cruz" starts with a capital.
        if let Some(first) = tokens.first_mut() {
            let mut chars = first.chars();
            if let Some(c) = chars.next() {
                *first = c.to_uppercase().chain(chars).collect();
            }
        }
        NerExample::new(tokens, tags, Some(self.language.code.to_string()))
    }

    /// The words of an entity slot and its type, or `None` for a filler slot. Names already
    /// used in the sentence are avoided (a few tries).
    fn entity(
        &mut self,
        slot: &str,
        used: &mut Vec<&'static str>,
    ) -> Option<(Vec<&'static str>, &'static str)> {
        let l = self.language;
        let kind = match slot {
            "PER" => "PER",
            "ORG" => "ORG",
            "CITY" | "REGION" | "LOC" => "LOC",
            _ => return None,
        };
        let mut words = Vec::new();
        for _ in 0..8 {
            words.clear();
            let head = match slot {
                "PER" => {
                    let full = self.rng.percent(70);
                    let last = self.pick_pool(l.last_names);
                    if full {
                        let first = self.pick_pool(l.first_names);
                        words.extend(first.split(' '));
                    }
                    words.extend(last.split(' '));
                    last
                }
                "ORG" => self.pick_pool(l.organizations),
                "CITY" => self.pick_pool(l.cities),
                "REGION" => self.pick_pool(l.regions),
                _ => {
                    if self.rng.percent(50) {
                        self.pick_pool(l.cities)
                    } else {
                        self.pick_pool(l.regions)
                    }
                }
            };
            if slot != "PER" {
                words.extend(head.split(' '));
            }
            if !used.contains(&head) {
                used.push(head);
                break;
            }
        }
        Some((words, kind))
    }

    fn filler(&mut self, slot: &str) -> String {
        match slot {
            "YEAR" => self.rng.range(1890, 2023).to_string(),
            "MONTH" => self.pick(self.language.months).to_string(),
            "DAY" => self.rng.range(1, 28).to_string(),
            "NUM" => self.rng.range(2, 99).to_string(),
            "SMALL" => self.rng.range(0, 5).to_string(),
            "POP" => (self.rng.range(2, 99) * 1000 + self.rng.below(10) * 100).to_string(),
            other => other.to_string(),
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // Every list is non-empty (checked by the tests below).
        *self.rng.pick(items).unwrap_or(&items[0])
    }

    /// An entry of a name list; for training only entries whose index is not 4 mod 5.
    fn pick_pool(&mut self, items: &'static [&'static str]) -> &'static str {
        if self.train {
            let kept = items.len() - items.len() / 5;
            let k = self.rng.below(kept);
            // The k-th index that is not 4 mod 5.
            items[k / 4 * 5 + k % 4]
        } else {
            self.pick(items)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const SLOTS: [&str; 11] = [
        "PER", "ORG", "CITY", "REGION", "LOC", "YEAR", "MONTH", "DAY", "NUM", "SMALL", "POP",
    ];

    #[test]
    fn lists_are_rich_enough() {
        for lang in NER_SAMPLE_LANGUAGES {
            let l = language(lang).unwrap();
            assert!(l.templates.len() >= 15, "{lang}");
            assert!(l.first_names.len() >= 40, "{lang}");
            assert!(l.last_names.len() >= 40, "{lang}");
            assert!(l.organizations.len() >= 30, "{lang}");
            assert!(l.cities.len() + l.regions.len() >= 40, "{lang}");
            assert!(l.regions.len() >= 15, "{lang}");
            for list in [l.organizations, l.cities, l.regions] {
                assert!(
                    list.iter().filter(|x| x.contains(' ')).count() >= 3,
                    "{lang}"
                );
            }
            let places: BTreeSet<_> = l.cities.iter().chain(l.regions).collect();
            assert_eq!(places.len(), l.cities.len() + l.regions.len(), "{lang}");
            let no_entity = l
                .templates
                .iter()
                .filter(|t| {
                    !["{PER}", "{ORG}", "{CITY}", "{REGION}", "{LOC}"]
                        .iter()
                        .any(|s| t.contains(s))
                })
                .count();
            assert!(
                no_entity >= 3,
                "{lang}: {no_entity} templates without entities"
            );
            for list in [
                l.first_names,
                l.last_names,
                l.organizations,
                l.cities,
                l.regions,
            ] {
                let unique: BTreeSet<_> = list.iter().collect();
                assert!(list.len() >= 10, "{lang}");
                assert_eq!(unique.len(), list.len(), "{lang}: duplicate in {list:?}");
                for name in list {
                    assert!(
                        !name.is_empty() && !name.contains(['\t', '_']) && !name.contains("  "),
                        "{name}"
                    );
                    assert_eq!(name.trim(), *name);
                }
            }
        }
    }

    #[test]
    fn templates_use_known_slots() {
        for lang in NER_SAMPLE_LANGUAGES {
            for template in language(lang).unwrap().templates {
                for item in template.split_whitespace() {
                    if let Some(slot) = item.strip_prefix('{') {
                        let slot = slot.strip_suffix('}').unwrap_or("?");
                        assert!(SLOTS.contains(&slot), "{lang}: `{template}`");
                    }
                    if item.starts_with('[') {
                        assert!(item.ends_with(']'), "{lang}: `{template}`");
                    }
                    assert!(
                        !item.contains(['{', '}']) || item.starts_with('{'),
                        "{template}"
                    );
                }
            }
        }
    }

    #[test]
    fn sentences_are_well_formed_and_reproducible() {
        for lang in NER_SAMPLE_LANGUAGES {
            let a = generate_ner_sample(5, lang, 300).unwrap();
            assert_eq!(a, generate_ner_sample(5, lang, 300).unwrap());
            assert_ne!(a, generate_ner_sample(6, lang, 300).unwrap());
            let mut kinds = BTreeSet::new();
            let mut multi_word = 0;
            let mut adjacent = 0;
            let mut empty = 0;
            for ex in &a {
                assert_eq!(ex.lang.as_deref(), Some(lang));
                assert_eq!(ex.tokens.len(), ex.tags.len());
                assert!(
                    ex.tokens
                        .iter()
                        .all(|t| !t.is_empty() && !t.contains(char::is_whitespace))
                );
                for (i, tag) in ex.tags.iter().enumerate() {
                    if let Some(kind) = tag.strip_prefix("I-") {
                        let prev = &ex.tags[i - 1];
                        assert!(prev.ends_with(kind) && prev != "O", "{ex:?}");
                        multi_word += 1;
                    }
                    if tag.starts_with("B-") && i > 0 && ex.tags[i - 1] != "O" {
                        adjacent += 1;
                    }
                    kinds.insert(tag.clone());
                }
                if ex.tags.iter().all(|t| t == "O") {
                    empty += 1;
                }
            }
            assert_eq!(kinds.len(), 7, "{lang}: {kinds:?}");
            assert!(multi_word > 50 && adjacent > 5 && empty > 10, "{lang}");
        }
        assert!(matches!(
            generate_ner_sample(1, "xx", 1),
            Err(DataError::UnknownLanguage { .. })
        ));
    }

    /// The `LOC` spans of the examples, words joined by spaces.
    fn locations(examples: &[NerExample]) -> BTreeSet<String> {
        let mut spans = BTreeSet::new();
        for ex in examples {
            let mut current: Vec<&str> = Vec::new();
            for (token, tag) in ex
                .tokens
                .iter()
                .zip(&ex.tags)
                .chain([(&String::new(), &"O".to_string())])
            {
                if tag != "I-LOC" && !current.is_empty() {
                    spans.insert(current.join(" "));
                    current.clear();
                }
                if tag == "B-LOC" || tag == "I-LOC" {
                    current.push(token);
                }
            }
        }
        spans
    }

    #[test]
    fn training_leaves_out_every_fifth_name() {
        for lang in NER_SAMPLE_LANGUAGES {
            let l = language(lang).unwrap();
            let every_fifth = |list: &[&str]| -> Vec<String> {
                list.iter()
                    .enumerate()
                    .filter(|(i, _)| i % 5 == 4)
                    .map(|(_, c)| c.to_string())
                    .collect()
            };
            let mut held_out: BTreeSet<String> = every_fifth(l.cities).into_iter().collect();
            held_out.extend(every_fifth(l.regions));
            let train = locations(&generate_ner_split(9, lang, SampleSplit::Train, 1500).unwrap());
            let test = locations(&generate_ner_split(9, lang, SampleSplit::Test, 1500).unwrap());
            assert!(train.is_disjoint(&held_out), "{lang}");
            assert!(!test.is_disjoint(&held_out), "{lang}");
        }
    }

    #[test]
    fn seeds_are_distinct() {
        let mut seeds = BTreeSet::new();
        for lang in NER_SAMPLE_LANGUAGES {
            for split in SampleSplit::ALL {
                assert!(seeds.insert(ner_sample_seed(lang, split).unwrap()));
            }
        }
        assert_eq!(ner_sample_seed("de", SampleSplit::Train), Some(1000));
        assert_eq!(ner_sample_seed("en", SampleSplit::Test), Some(4002));
        assert_eq!(ner_sample_seed("xx", SampleSplit::Test), None);
    }
}
