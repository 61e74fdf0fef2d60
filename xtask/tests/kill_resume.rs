//! A training run killed with SIGKILL at random moments (during a step, during a checkpoint
//! write) and resumed with `--resume` ends with exactly the weights of an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::tiny_setup;

fn train_command(model: &Path, data: &Path, out: &Path, resume: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("train")
        .args(["--model", model.to_str().unwrap()])
        .args(["--train", data.to_str().unwrap()])
        .args(["--validation", data.to_str().unwrap()])
        .args(["--test", data.to_str().unwrap()])
        .args([
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--lr",
            "1e-3",
            "--warmup-ratio",
            "0.1",
        ])
        .args([
            "--save-steps",
            "1",
            "--eval-steps",
            "5",
            "--grad-accum",
            "2",
            "--no-progress",
        ])
        .args(["--output", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

fn finished(run: &Path) -> bool {
    run.join("report.json").is_file()
}

#[test]
fn killed_runs_resume_to_identical_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = tiny_setup(tmp.path(), 7, "en", 64);
    let (model, data) = (setup.model, setup.data);

    // The uninterrupted run, and how long it takes.
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    let status = train_command(&model, &data, &reference, false)
        .status()
        .unwrap();
    assert!(status.success());
    let full = started.elapsed();
    assert!(finished(&reference));
    // Training itself is deterministic: a second uninterrupted run is identical.
    let again = tmp.path().join("again");
    assert!(
        train_command(&model, &data, &again, false)
            .status()
            .unwrap()
            .success()
    );
    same_weights(&reference, &again, "a second uninterrupted run");

    // Kill at pseudo-random moments until the run completes (and start over if no kill
    // landed, which happens when the machine is faster than the first run suggested).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut kills = 0;
    let mut killed = tmp.path().join("killed-0");
    for round in 0..5 {
        killed = tmp.path().join(format!("killed-{round}"));
        kills = kill_until_done(&model, &data, &killed, full, &mut state);
        if kills > 0 {
            break;
        }
    }
    assert!(finished(&killed), "the run never completed");
    println!("killed {kills} times");
    assert!(kills >= 1, "no kill landed; the test proved nothing");
    same_weights(&reference, &killed, "the killed and resumed run");
}

/// Runs training in `run`, killing it at pseudo-random times, until it completes; returns how
/// many kills landed.
fn kill_until_done(
    model: &Path,
    data: &Path,
    killed: &Path,
    full: Duration,
    state: &mut u64,
) -> usize {
    let mut kills = 0;
    for attempt in 0..40 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let has_checkpoint = kindling::train::checkpoint::find_checkpoint(killed).is_some();
        let log = killed.with_extension("log");
        let mut child = train_command(model, data, killed, has_checkpoint)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Later attempts wait longer, so the run always gets past its start-up and finishes.
        let delay =
            full.mul_f64(0.05 + (*state % 1000) as f64 / 1000.0 * 0.35 + attempt as f64 * 0.05);
        let deadline = Instant::now() + delay;
        let mut done = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                done = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match done {
            Some(status) => {
                assert!(
                    status.success(),
                    "attempt {attempt} (resume: {has_checkpoint}) failed: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    kills
}

fn same_weights(a: &Path, b: &Path, what: &str) {
    let wa = kindling::train::checkpoint::checkpoint_weights(&a.join("checkpoint")).unwrap();
    let wb = kindling::train::checkpoint::checkpoint_weights(&b.join("checkpoint")).unwrap();
    assert_eq!(wa.len(), wb.len());
    for (name, bytes) in &wa {
        assert!(wb.get(name) == Some(bytes), "{what}: `{name}` differs");
    }
    let best_a = std::fs::read(a.join("model.safetensors")).unwrap();
    let best_b = std::fs::read(b.join("model.safetensors")).unwrap();
    assert_eq!(best_a, best_b, "{what}: the exported best models differ");
}
