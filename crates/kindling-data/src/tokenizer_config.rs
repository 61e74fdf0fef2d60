//! What `transformers` reads from `tokenizer_config.json` beside `tokenizer.json`: the mask
//! token and whether decoding cleans up spaces before punctuation.

use std::path::Path;

use serde_json::Value;

use crate::error::DataError;
use crate::tokenizer::Tokenizer;

/// The settings of a checkpoint's `tokenizer_config.json` that change what a pipeline returns.
/// A checkpoint without the file gets `transformers` 5's defaults (no clean-up; the mask token
/// found by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizerConfig {
    /// `mask_token` (a string, or an added-token object's `content`).
    pub mask_token: Option<String>,
    /// `clean_up_tokenization_spaces` (`false` when absent, as in `transformers` 5).
    pub clean_up_tokenization_spaces: bool,
    /// `clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output`: without it,
    /// `transformers` 5 skips the clean-up for BPE models.
    pub clean_up_for_bpe: bool,
    /// `model_max_length`: the most tokens the tokenizer hands a model (`None` when absent or
    /// `transformers`' "very large" placeholder).
    pub model_max_length: Option<usize>,
}

fn token_content(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl TokenizerConfig {
    /// Reads `tokenizer_config.json` in `dir`; the defaults when there is none. A file that is
    /// not a JSON object is an error naming it.
    pub fn read_dir(dir: &Path) -> Result<Self, DataError> {
        let path = dir.join("tokenizer_config.json");
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|source| DataError::Json {
            path: path.clone(),
            line: source.line(),
            source,
        })?;
        let flag = |name: &str| value.get(name).and_then(Value::as_bool).unwrap_or(false);
        Ok(Self {
            mask_token: token_content(value.get("mask_token")),
            clean_up_tokenization_spaces: flag("clean_up_tokenization_spaces"),
            clean_up_for_bpe: flag(
                "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output",
            ),
            model_max_length: value
                .get("model_max_length")
                .and_then(Value::as_u64)
                .filter(|&n| n < 1 << 40)
                .map(|n| n as usize),
        })
    }

    /// The settings beside a loaded tokenizer's `tokenizer.json` (defaults for one built in
    /// memory).
    pub fn for_tokenizer(tokenizer: &Tokenizer) -> Result<Self, DataError> {
        match tokenizer.path().parent() {
            Some(dir) if tokenizer.path().is_file() => Self::read_dir(dir),
            _ => Ok(Self::default()),
        }
    }
}

/// `transformers`' `clean_up_tokenization`: no space before `.`, `?`, `!`, `,` and English
/// contractions.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

impl Tokenizer {
    /// The mask token and its id: the config's `mask_token`, else `[MASK]` or `<mask>` when
    /// the vocabulary has it (BERT's and RoBERTa's defaults); `None` when there is none.
    pub fn mask_token(&self, config: &TokenizerConfig) -> Option<(String, u32)> {
        let inner = self.inner();
        config
            .mask_token
            .iter()
            .map(String::as_str)
            .chain(["[MASK]", "<mask>"])
            .find_map(|t| inner.token_to_id(t).map(|id| (t.to_string(), id)))
    }

    /// Decodes ids as a `transformers` 5 fast tokenizer does: the `tokenizers` decoder, then
    /// the clean-up of spaces when the config asks for it (skipped for BPE models unless the
    /// config insists).
    pub fn decode(
        &self,
        ids: &[u32],
        skip_special_tokens: bool,
        config: &TokenizerConfig,
    ) -> Result<String, DataError> {
        let text =
            self.inner()
                .decode(ids, skip_special_tokens)
                .map_err(|e| DataError::Tokenizer {
                    path: self.path().to_path_buf(),
                    message: format!("decoding: {e}"),
                })?;
        let bpe = matches!(self.inner().get_model(), tokenizers::ModelWrapper::BPE(_));
        Ok(
            if config.clean_up_tokenization_spaces && (!bpe || config.clean_up_for_bpe) {
                clean_up_tokenization(&text)
            } else {
                text
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_matches_transformers_rules() {
        assert_eq!(
            clean_up_tokenization("it is n't here , is it ? yes ."),
            "it isn't here, is it? yes."
        );
    }

    #[test]
    fn the_config_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            TokenizerConfig::read_dir(dir.path()).unwrap(),
            TokenizerConfig::default()
        );
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"mask_token": {"content": "<mask>", "lstrip": true}, "clean_up_tokenization_spaces": true}"#,
        )
        .unwrap();
        let config = TokenizerConfig::read_dir(dir.path()).unwrap();
        assert_eq!(config.mask_token.as_deref(), Some("<mask>"));
        assert!(config.clean_up_tokenization_spaces && !config.clean_up_for_bpe);
        std::fs::write(dir.path().join("tokenizer_config.json"), "{oops").unwrap();
        let err = TokenizerConfig::read_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokenizer_config.json"), "{err}");
    }
}
