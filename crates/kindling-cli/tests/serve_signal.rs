//! `kindling serve` as users run it: the binary on a loopback port, stopped with SIGTERM while
//! clients are sending. It must exit 0 and lose no accepted request: every request the server
//! logged as answered reached its client, and every client error is a connection the server
//! never took (refused or closed before a response started).

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn checkpoint() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/text_classification/pipeline/bert_single/model")
}

#[test]
fn sigterm_during_load_finishes_the_accepted_requests_and_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args(["serve", "--port", "0", "--json-output", "--model"])
        .arg(checkpoint())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kindling serve starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let started = Instant::now();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0
                && started.elapsed() < Duration::from_secs(120),
            "the server did not start"
        );
    }
    let address = line.trim().trim_start_matches("listening on ").to_string();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });

    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body =
        serde_json::json!({"inputs": vec!["the big black dog lives in the yard"; 8]}).to_string();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (address, answered, stop, body) = (
                address.clone(),
                answered.clone(),
                stop.clone(),
                body.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let mut failures = Vec::new();
                // bounded: at most 200 requests a client
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match agent
                        .post(format!("{address}/predict"))
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                    {
                        Ok(mut response) => {
                            let status = response.status().as_u16();
                            let text = response.body_mut().read_to_string();
                            assert_eq!(status, 200, "{text:?}");
                            assert!(text.is_ok_and(|t| t.starts_with('[')));
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                failures
            })
        })
        .collect();
    // Let the load run, then SIGTERM.
    while answered.load(Ordering::Relaxed) < 40 && started.elapsed() < Duration::from_secs(240) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("a client saw a bad answer"))
        .collect();
    let log = log.join().unwrap();
    assert!(exit.success(), "exit {exit:?}; log:\n{}", log.join("\n"));
    let logged = log
        .iter()
        .filter(|l| l.contains("\"route\":\"/predict\"") && l.contains("\"status\":200"))
        .count();
    assert_eq!(
        logged,
        answered.load(Ordering::Relaxed),
        "the server answered {logged} requests, the clients got {}; failures: {failures:?}",
        answered.load(Ordering::Relaxed)
    );
    for failure in &failures {
        let lower = failure.to_lowercase();
        assert!(
            lower.contains("refused")
                || lower.contains("closed")
                || lower.contains("reset")
                || lower.contains("io"),
            "a request failed for another reason than a connection the server did not take: {failure}"
        );
    }
}
