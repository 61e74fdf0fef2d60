//! The README and the `docs/` pages against the code, so that what they tell a user to run runs.
//!
//! - Every line of a shell block (```` ```sh ````, or a ```` ```text ```` line starting with
//!   `cargo`) and every inline `` `cargo xtask …` `` is checked as the command it is, without
//!   running the expensive ones (training, benchmarks): `cargo xtask <command> --flag …` must
//!   name a command whose `--help` lists every flag (and the `--device`/`--dtype` values);
//!   `cargo run|test|bench -p P --example|--test|--bench T` a package and target of the
//!   workspace (and `--features` features it has); a script a file that is executable; a fuzz
//!   target one of `fuzz/`'s. A line this runner does not know is a failure, so a new kind of
//!   command gets a check when it is documented.
//! - The Rust blocks are doc-tests of `kindling-tests` (`tests/common/mod.rs` includes the
//!   pages); here: every page with a Rust block is included there.
//! - `cargo xtask test` passes `--include-ignored`, so nothing in the workspace may be ignored
//!   for another reason than a prerequisite that command provides, and no doc block may be
//!   `ignore` (rustdoc would then compile it): use `no_run`, or `text` for what is not Rust.
//! - The `Head` contract as `docs/custom-heads.md` shows it has the trait's signatures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The reasons a test may be `#[ignore]`d for: prerequisites `cargo xtask test` provisions
/// (and then runs the test with `--include-ignored`).
const IGNORE_REASONS: &[&str] = &["needs KINDLING_MINILM_DIR (cargo xtask test provides it)"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `README.md`, every `docs/*.md` and every crate's `crates/*/README.md`, as (path relative
/// to the root, text).
fn pages() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    names.extend(sorted_paths("docs", |name| {
        name.ends_with(".md").then_some("")
    }));
    names.extend(sorted_paths("crates", |name| {
        root()
            .join("crates")
            .join(name)
            .join("README.md")
            .is_file()
            .then_some("/README.md")
    }));
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root().join(&n)).unwrap();
            (n, text)
        })
        .collect()
}

/// `dir/<entry><suffix>` for each entry of `dir` (relative to the root) that `suffix_of` keeps,
/// sorted.
fn sorted_paths(dir: &str, suffix_of: impl Fn(&str) -> Option<&'static str>) -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| suffix_of(&name).map(|suffix| format!("{dir}/{name}{suffix}")))
        .collect();
    paths.sort();
    paths
}

/// A fenced block: its info string (`sh`, `rust,no_run`, …), first line number and lines.
struct Block {
    lang: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => {
                    open = Some(Block {
                        lang: info.trim().to_string(),
                        line: i + 1,
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(block) = &mut open {
            block.lines.push(line.to_string());
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    out
}

/// Inline code spans (`` `…` ``) outside fenced blocks, with their line numbers.
fn inline_spans(text: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        for (k, part) in parts.iter().enumerate() {
            if k % 2 == 1 && k + 1 < parts.len() {
                spans.push((i + 1, part.to_string()));
            }
        }
    }
    spans
}

/// Shell-style words: whitespace-separated, double or single quotes grouping, `#` starting a
/// comment at the start of a word.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if c == '#' && !in_word => break,
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in `{line}`");
    if in_word {
        out.push(word);
    }
    out
}

/// The workspace as `cargo metadata` describes it.
struct Workspace {
    packages: Vec<Value>,
}

impl Workspace {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(root())
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let meta: Value = serde_json::from_slice(&output.stdout).unwrap();
        Self {
            packages: meta["packages"].as_array().unwrap().clone(),
        }
    }

    fn package(&self, name: &str) -> Result<&Value, String> {
        self.packages
            .iter()
            .find(|p| p["name"] == name)
            .ok_or_else(|| format!("no workspace package `{name}`"))
    }

    fn has_target(&self, package: &str, kind: &str, name: &str) -> Result<(), String> {
        let found = self.package(package)?["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name && t["kind"].as_array().unwrap().iter().any(|k| k == kind));
        found
            .then_some(())
            .ok_or_else(|| format!("package `{package}` has no {kind} target `{name}`"))
    }

    fn has_features(&self, package: &str, features: &str) -> Result<(), String> {
        let known = &self.package(package)?["features"];
        for feature in features.split(',') {
            if known.get(feature).is_none() {
                return Err(format!("package `{package}` has no feature `{feature}`"));
            }
        }
        Ok(())
    }
}

/// What `cargo xtask` accepts, from its `--help` output (one run per command).
struct Cli {
    help: std::collections::BTreeMap<String, Result<String, String>>,
}

impl Cli {
    fn help(&mut self, command: &str) -> Result<&str, String> {
        self.help
            .entry(command.to_string())
            .or_insert_with(|| {
                let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
                    .args([command, "--help"])
                    .output()
                    .unwrap();
                if output.status.success() {
                    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
                } else {
                    Err(format!(
                        "`cargo xtask {command}` is no command: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))
                }
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    /// `args` after `cargo xtask`: the command exists, its help lists every `--flag`, and the
    /// values given to `--device` and `--dtype` are ones the help names.
    fn check(&mut self, args: &[String]) -> Result<(), String> {
        let Some(command) = args.first() else {
            return Err("`cargo xtask` without a command".into());
        };
        if command.starts_with('<') {
            return Ok(()); // `cargo xtask <command>`: a placeholder
        }
        let help = self.help(command)?.to_string();
        let listed: BTreeSet<&str> = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        let mut rest = args[1..].iter();
        while let Some(arg) = rest.next() {
            if arg == "--" {
                break; // the rest goes to another program (`cargo test` for `xtask test`)
            }
            let arg = arg.trim_start_matches('[').trim_end_matches(']');
            let Some(flag) = arg.strip_prefix("--") else {
                continue;
            };
            let (flag, inline_value) = match flag.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (flag, None),
            };
            if !listed.contains(format!("--{flag}").as_str()) {
                return Err(format!(
                    "`cargo xtask {command} --help` does not list `--{flag}`"
                ));
            }
            if flag == "device" || flag == "dtype" {
                let value = inline_value
                    .or_else(|| rest.next().cloned())
                    .unwrap_or_default();
                for choice in value.split('|') {
                    // `--device D`: a placeholder, not a value.
                    let placeholder = choice.chars().all(|c| c.is_ascii_uppercase());
                    let head = choice.split(':').next().unwrap_or_default();
                    if !placeholder && !help.contains(head) {
                        return Err(format!(
                            "`--{flag} {choice}`: `cargo xtask {command} --help` names no `{head}`"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The value of `-p`/`--package` and of `flag` among cargo arguments.
fn option<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    args.iter()
        .position(|a| names.contains(&a.as_str()))
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// One shell command (no `&&`), run from `cwd` (relative to the root).
fn check_command(
    words: &[String],
    cwd: &mut PathBuf,
    workspace: &Workspace,
    cli: &mut Cli,
) -> Result<(), String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["cd", dir] => {
            let next = cwd.join(dir);
            if !root().join(&next).is_dir() {
                return Err(format!("no directory `{}`", next.display()));
            }
            *cwd = next;
            Ok(())
        }
        ["cargo", "xtask", ..] => cli.check(&words[2..]),
        // The installed `kindling` binary has the same commands (`cargo xtask` embeds them).
        ["kindling", "bench" | "test" | "make-sample", ..] => {
            Err("`kindling` has train, eval, predict and forward; the rest is `cargo xtask`".into())
        }
        ["kindling", ..] => cli.check(&words[1..]),
        ["cargo", "install", "--path", path, ..] => {
            let manifest =
                std::fs::read_to_string(root().join(&*cwd).join(path).join("Cargo.toml"))
                    .map_err(|e| format!("`cargo install --path {path}`: {e}"))?;
            manifest
                .contains("[[bin]]")
                .then_some(())
                .ok_or_else(|| format!("`{path}` has no binary to install"))
        }
        ["cargo", "+nightly", "fuzz", "run", rest @ ..] => {
            if !cwd.ends_with("fuzz") {
                return Err("`cargo fuzz` runs in fuzz/".into());
            }
            let target = rest
                .iter()
                .find(|a| !a.starts_with('-'))
                .ok_or("`cargo fuzz run` without a target")?;
            if target.starts_with('<') {
                return Ok(()); // `<target>`: a placeholder
            }
            let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
            let declared = manifest.contains(&format!("name = \"{target}\""));
            let source = root()
                .join(format!("fuzz/fuzz_targets/{target}.rs"))
                .is_file();
            (declared && source)
                .then_some(())
                .ok_or_else(|| format!("no fuzz target `{target}`"))
        }
        // a project outside the workspace (examples/downstream): its manifest exists and is
        // its own workspace
        ["cargo", "run" | "build", "--manifest-path", manifest, ..] => {
            let text = std::fs::read_to_string(root().join(&*cwd).join(manifest))
                .map_err(|e| format!("`--manifest-path {manifest}`: {e}"))?;
            text.contains("[workspace]")
                .then_some(())
                .ok_or_else(|| format!("`{manifest}` is not a project of its own"))
        }
        ["cargo", sub @ ("run" | "test" | "bench"), ..] => {
            let (cargo_args, program_args) = match words.iter().position(|a| a == "--") {
                Some(i) => (&words[..i], &words[i + 1..]),
                None => (words, &words[words.len()..]),
            };
            let Some(package) = option(cargo_args, &["-p", "--package"]) else {
                return Err(format!("`cargo {sub}` without `-p`: name the package"));
            };
            workspace.package(package)?;
            if let Some(features) = option(cargo_args, &["--features", "-F"]) {
                workspace.has_features(package, features)?;
            }
            for (flag, kind) in [
                ("--example", "example"),
                ("--test", "test"),
                ("--bench", "bench"),
            ] {
                if let Some(name) = option(cargo_args, &[flag]) {
                    workspace.has_target(package, kind, name)?;
                }
            }
            if *sub == "run" && package == "xtask" {
                return cli.check(program_args);
            }
            Ok(())
        }
        [script, ..] if script.ends_with(".sh") => {
            let path = root().join(&*cwd).join(script);
            let mode = std::fs::metadata(&path)
                .map_err(|e| format!("`{script}`: {e}"))?
                .permissions();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if mode.mode() & 0o111 == 0 {
                    return Err(format!("`{script}` is not executable"));
                }
            }
            let _ = mode;
            Ok(())
        }
        // a request to `kindling serve`: a route it has (docs/serving.md)
        ["curl", rest @ ..] => {
            let url = rest
                .iter()
                .find(|w| w.starts_with("localhost:") || w.starts_with("127.0.0.1:"))
                .ok_or("`curl` without a localhost URL")?;
            let path = url.find('/').map_or("", |i| &url[i..]);
            if kindling_serve::routes::ROUTES.contains(&path) {
                Ok(())
            } else {
                Err(format!(
                    "`curl {url}`: `kindling serve` has no route `{path}`"
                ))
            }
        }
        _ => {
            Err("a command this test does not know how to check; teach xtask/tests/docs.rs".into())
        }
    }
}

/// A shell line (comments stripped, continuations joined) as `&&`-separated commands.
fn check_shell(line: &str, workspace: &Workspace, cli: &mut Cli) -> Result<(), String> {
    let words = words(line);
    let mut cwd = PathBuf::new();
    for command in words.split(|w| w == "&&") {
        if !command.is_empty() {
            check_command(command, &mut cwd, workspace, cli)?;
        }
    }
    Ok(())
}

/// The shell lines of a block, continuation lines (`\`) joined, blank and comment lines dropped.
fn shell_lines(block: &Block) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (k, line) in block.lines.iter().enumerate() {
        let number = block.line + 1 + k;
        let (start, mut text) = pending.take().unwrap_or((number, String::new()));
        text.push_str(line.trim());
        if let Some(joined) = text.strip_suffix('\\') {
            pending = Some((start, format!("{} ", joined.trim_end())));
            continue;
        }
        if !text.is_empty() && !text.starts_with('#') {
            out.push((start, text));
        }
    }
    assert!(pending.is_none(), "a shell block ends in a `\\`");
    out
}

#[test]
fn every_documented_command_is_accepted() {
    let workspace = Workspace::load();
    let mut cli = Cli {
        help: Default::default(),
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for (page, text) in pages() {
        for block in blocks(&text) {
            let lang = block.lang.split(',').next().unwrap_or_default().to_string();
            let lines: Vec<(usize, String)> = match lang.as_str() {
                "sh" | "bash" | "shell" | "console" => shell_lines(&block),
                "text" | "" => shell_lines(&block)
                    .into_iter()
                    .filter(|(_, l)| l.starts_with("cargo "))
                    .collect(),
                _ => Vec::new(),
            };
            for (line, command) in lines {
                checked += 1;
                if let Err(e) = check_shell(&command, &workspace, &mut cli) {
                    failures.push(format!("{page}:{line}: `{command}`: {e}"));
                }
            }
        }
        for (line, span) in inline_spans(&text) {
            if span.starts_with("cargo xtask ") {
                checked += 1;
                if let Err(e) = check_shell(&span, &workspace, &mut cli) {
                    failures.push(format!("{page}:{line}: `{span}`: {e}"));
                }
            }
        }
    }
    println!("{checked} documented commands checked");
    assert!(checked > 20, "the runner found only {checked} commands");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_runner_rejects_what_the_code_does_not_accept() {
    let workspace = Workspace::load();
    let mut cli = Cli {
        help: Default::default(),
    };
    for (line, why) in [
        ("cargo xtask nosuch --flag", "no command"),
        ("cargo xtask train --no-such-flag", "does not list"),
        ("cargo xtask forward --dtype f8", "names no"),
        ("cargo xtask eval --device gpu3", "names no"),
        (
            "cargo run -p kindling-examples --example nope",
            "no example",
        ),
        ("cargo run -p no-such-package", "no workspace package"),
        (
            "cargo run -q -p xtask --features nope -- train",
            "no feature",
        ),
        ("cargo run -q -p xtask -- train --nope", "does not list"),
        ("cargo bench -p kindling-bench --bench nope", "no bench"),
        (
            "cd fuzz && cargo +nightly fuzz run -O nope",
            "no fuzz target",
        ),
        ("fuzz/nope.sh", "nope.sh"),
        ("rm -rf target", "does not know"),
    ] {
        let err = check_shell(line, &workspace, &mut cli)
            .err()
            .unwrap_or_else(|| panic!("`{line}` was accepted"));
        assert!(err.contains(why), "`{line}`: {err}");
    }
    for line in [
        "cargo xtask train --bf16 --device flex",
        "cargo xtask forward --dtype f16|bf16 --device tch:cuda:0",
        "cargo xtask test -- -p kindling-data",
        "cargo run -p kindling-examples --example custom_head -- DIR",
    ] {
        check_shell(line, &workspace, &mut cli).unwrap_or_else(|e| panic!("`{line}`: {e}"));
    }
}

#[test]
fn every_page_with_rust_blocks_is_a_doc_test() {
    let harness = std::fs::read_to_string(root().join("tests/common/mod.rs")).unwrap();
    let mut failures = Vec::new();
    for (page, text) in pages() {
        let rust: Vec<Block> = blocks(&text)
            .into_iter()
            .filter(|b| b.lang.split(',').next() == Some("rust"))
            .collect();
        for block in &rust {
            if block.lang.split(',').any(|t| t == "ignore") {
                failures.push(format!(
                    "{page}:{}: an `ignore` block; use `no_run`, or `text` for what is not Rust",
                    block.line
                ));
            }
        }
        // a crate's README is a doc-test of its own crate (`src/lib.rs`); the other pages are
        // doc-tests of the tests package
        let included = match page.strip_suffix("/README.md") {
            Some(dir) if dir.starts_with("crates/") => {
                std::fs::read_to_string(root().join(dir).join("src/lib.rs"))
                    .unwrap_or_default()
                    .contains("include_str!(\"../README.md\")")
            }
            _ => harness.contains(&format!("include_str!(\"../../{page}\")")),
        };
        if !rust.is_empty() && !included {
            failures.push(format!(
                "{page} has Rust blocks, but no doc-test harness includes it (tests/common/mod.rs, or the crate's src/lib.rs)"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every `.rs` file of the workspace's packages.
fn workspace_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["crates", "tests", "xtask", "examples", "bench"] {
        walk(&root().join(dir), &mut out);
    }
    out.sort();
    out
}

#[test]
fn nothing_is_ignored_but_for_a_provisioned_prerequisite() {
    let mut failures = Vec::new();
    let mut ignored = 0;
    for path in workspace_sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if let Some(attr) = code.strip_prefix("#[ignore") {
                ignored += 1;
                let reason = attr
                    .strip_prefix(" = \"")
                    .and_then(|r| r.strip_suffix("\"]"));
                if !reason.is_some_and(|r| IGNORE_REASONS.contains(&r)) {
                    failures.push(format!(
                        "{name}:{}: `{code}`: ignore a test only for one of {IGNORE_REASONS:?}",
                        i + 1
                    ));
                }
            }
            let doc = code
                .strip_prefix("//!")
                .or_else(|| code.strip_prefix("///"))
                .map(str::trim_start);
            if let Some(info) = doc.and_then(|d| d.strip_prefix("```"))
                && info.split(',').any(|t| t.trim() == "ignore")
            {
                failures.push(format!(
                    "{name}:{}: an `ignore` doc block; use `no_run`, or `text`",
                    i + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The MiniLM tests of tests/minilm.rs, kindling-data and xtask's forward command.
    assert!(
        ignored >= 5,
        "only {ignored} ignored tests found: is the scan blind?"
    );
}

#[test]
fn the_documented_head_contract_is_the_trait() {
    let page = std::fs::read_to_string(root().join("docs/custom-heads.md")).unwrap();
    let source = std::fs::read_to_string(root().join("crates/kindling-heads/src/head.rs")).unwrap();
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let source = squash(&source);
    let block = blocks(&page)
        .into_iter()
        .find(|b| {
            b.lines
                .first()
                .is_some_and(|l| l.starts_with("pub trait Head"))
        })
        .expect("docs/custom-heads.md shows `pub trait Head`");
    let mut checked = 0;
    for line in &block.lines {
        let line = line.split("//").next().unwrap().trim();
        let signature = line
            .split(" {")
            .next()
            .unwrap()
            .trim_end_matches(';')
            .trim();
        let signature = if signature.starts_with("type ") {
            signature.split(':').next().unwrap().trim()
        } else if signature.starts_with("fn ") || signature.starts_with("pub trait ") {
            signature
        } else {
            continue;
        };
        checked += 1;
        assert!(
            source.contains(&squash(signature)),
            "docs/custom-heads.md: `{signature}` is not in crates/kindling-heads/src/head.rs"
        );
    }
    assert!(
        checked >= 10,
        "only {checked} lines of the contract checked"
    );
}
