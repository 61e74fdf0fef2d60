//! `kindling serve` over real HTTP on loopback: every route and task against the offline
//! pipeline (equal after JSON parsing), bad requests and their codes, overload, clients that
//! leave, and a bounded load test (32 clients, 2,000 mixed requests).
//!
//! Oracle: the offline pipelines (`kindling::pipelines`), themselves checked against
//! `transformers` by `tests/{text_classification,fill_mask,question_answering}.rs`; the
//! batching under them by `tests/pipeline_batching.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kindling::heads::Task;
use kindling::pipelines::{
    FeatureExtractionPipeline, FeatureKind, JsonPipeline, PipelineInput, PipelineOptions,
    load_pipeline,
};
use kindling_serve::{ServeOptions, Server};
use kindling_tests::{device, task_checkpoints, task_inputs};
use serde_json::{Value, json};

/// A server running on its own runtime, stopped (gracefully) on drop.
struct Running {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), kindling_serve::ServeError>>>,
}

impl Running {
    fn start(options: ServeOptions) -> Self {
        let (address_tx, address_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let server = match Server::bind(options).await {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = address_tx.send(Err(e.to_string()));
                        return Err(e);
                    }
                };
                let _ = address_tx.send(Ok(server.address()));
                server
                    .run_until(async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server started")
            .unwrap_or_else(|e| panic!("the server did not start: {e}"));
        Self {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops the server and waits for it; the run's result.
    fn shutdown(mut self) -> Result<(), kindling_serve::ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), kindling_serve::ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn options(dir: &Path) -> ServeOptions {
    let mut options = ServeOptions::new(dir);
    options.port = 0; // any free loopback port
    options
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs raw bytes; the status and the body's text.
fn post_text(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, String) {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().expect("a body"),
    )
}

/// POSTs raw bytes; the status and the body parsed as JSON.
fn post_raw(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, Value) {
    let (status, text) = post_text(agent, url, body);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, value)
}

/// POSTs JSON and checks the answer is, byte for byte, the offline pipeline's result
/// serialized (serde_json's default parser can be one ulp off on floats, so the texts are
/// compared, not values parsed back).
fn post_expecting(agent: &ureq::Agent, url: &str, body: &Value, expected: &Value) {
    let (status, text) = post_text(agent, url, body.to_string().as_bytes());
    assert_eq!(status, 200, "{url} {body}: {text}");
    assert_eq!(text, expected.to_string(), "{url} {body}");
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    post_raw(agent, url, body.to_string().as_bytes())
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().expect("a body"),
    )
}

fn input_json(input: &PipelineInput) -> Value {
    match input {
        PipelineInput::Text(text) => json!(text),
        PipelineInput::TextPair { text, text_pair } => {
            json!({"text": text, "text_pair": text_pair})
        }
        PipelineInput::Question { question, context } => {
            json!({"question": question, "context": context})
        }
    }
}

/// Per task, call parameters to try besides the defaults, as JSON and as pipeline options.
fn parameter_cases(task: &str) -> Vec<(Value, PipelineOptions)> {
    let mut cases = vec![(json!({}), PipelineOptions::default())];
    match task {
        "text-classification" | "fill-mask" => cases.push((
            json!({"top_k": 2}),
            PipelineOptions {
                top_k: Some(2),
                ..PipelineOptions::default()
            },
        )),
        "question-answering" => cases.push((
            json!({"top_k": 3, "max_answer_len": 4}),
            PipelineOptions {
                top_k: Some(3),
                max_answer_len: 4,
                ..PipelineOptions::default()
            },
        )),
        _ => cases.push((
            json!({"aggregation_strategy": "simple"}),
            PipelineOptions::default(),
        )),
    }
    cases
}

fn offline(dir: &Path, options: &PipelineOptions) -> Box<dyn JsonPipeline> {
    load_pipeline(dir, &device("flex"), options).expect("the offline pipeline")
}

#[test]
fn every_route_and_task_answers_like_the_offline_pipeline() {
    let scratch = tempfile::tempdir().unwrap();
    let agent = agent();
    for (task, dir) in task_checkpoints(scratch.path()) {
        let server = Running::start(options(&dir));
        let inputs = task_inputs(task);
        for (parameters, pipeline_options) in parameter_cases(task) {
            let pipeline = offline(&dir, &pipeline_options);
            let expected = pipeline.run_json(&inputs).unwrap();
            // One input at a time gives one result ...
            for (input, expected) in inputs.iter().zip(&expected) {
                let body = json!({"inputs": input_json(input), "parameters": parameters});
                post_expecting(&agent, &server.url("/predict"), &body, expected);
            }
            // ... and a list gives the list.
            let list: Vec<Value> = inputs.iter().map(input_json).collect();
            let body = json!({"inputs": list, "parameters": parameters});
            post_expecting(
                &agent,
                &server.url("/predict"),
                &body,
                &Value::Array(expected.clone()),
            );
        }
        let (status, info) = get(&agent, &server.url("/info"));
        assert_eq!(status, 200);
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["task"], task, "{info}");
        assert_eq!(info["model_type"], "bert", "{info}");
        assert_eq!(info["device"], "flex");
        assert_eq!(info["dtype"], "f32");
        assert!(info["max_input_length"].as_u64().unwrap() > 0, "{info}");
        assert_eq!(info["limits"]["max_concurrent_requests"], 512);
        if task == "token-classification" {
            assert_eq!(info["labels"][1], "B-PER", "{info}");
        }
        embed_and_tokenize_answer_like_offline(&agent, &server, &dir);
        server.shutdown().unwrap();
    }
}

fn embed_and_tokenize_answer_like_offline(agent: &ureq::Agent, server: &Running, dir: &Path) {
    let texts = ["the dog barks", "a happy cow lives in the yard", "sky"];
    for normalize in [true, false] {
        let embedder = FeatureExtractionPipeline::load_kind(
            dir,
            &device("flex"),
            FeatureKind::Embedding { normalize },
        )
        .unwrap();
        let inputs: Vec<PipelineInput> = texts
            .iter()
            .map(|t| PipelineInput::Text(t.to_string()))
            .collect();
        let expected = Value::Array(embedder.run_json(&inputs).unwrap());
        let body = json!({"inputs": texts, "normalize": normalize});
        post_expecting(agent, &server.url("/embed"), &body, &expected);
        let (_, answer) = post(agent, &server.url("/embed"), &body);
        if normalize {
            let norm: f64 = answer[0]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap().powi(2))
                .sum();
            assert!((norm - 1.0).abs() < 1e-5, "normalized: |v|² = {norm}");
        }
        // one text is still a list of one vector
        post_expecting(
            agent,
            &server.url("/embed"),
            &json!({"inputs": texts[0], "normalize": normalize}),
            &Value::Array(vec![expected[0].clone()]),
        );
    }
    let tokenizer =
        kindling::data::Tokenizer::from_file(dir.join("tokenizer.json"), None, None).unwrap();
    let (status, answer) = post(
        agent,
        &server.url("/tokenize"),
        &json!({"inputs": texts[1]}),
    );
    assert_eq!(status, 200, "{answer}");
    let encoding = tokenizer
        .inner()
        .encode_char_offsets(texts[1], true)
        .unwrap();
    assert_eq!(answer["input_ids"], json!(encoding.get_ids()));
    let offsets: Vec<[usize; 2]> = encoding
        .get_offsets()
        .iter()
        .map(|&(s, e)| [s, e])
        .collect();
    assert_eq!(answer["offset_mapping"], json!(offsets));
    assert_eq!(answer["tokens"], json!(encoding.get_tokens()));
    let (_, listed) = post(
        agent,
        &server.url("/tokenize"),
        &json!({"inputs": texts, "add_special_tokens": false}),
    );
    let plain = tokenizer
        .inner()
        .encode_char_offsets(texts[2], false)
        .unwrap();
    assert_eq!(listed[2]["input_ids"], json!(plain.get_ids()));

    let (status, health) = get(agent, &server.url("/health"));
    assert_eq!((status, health.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, metrics) = get(agent, &server.url("/metrics"));
    assert_eq!(status, 200);
    for name in [
        "kindling_requests_total{",
        "route=\"/predict\"",
        "status=\"200\"",
        "kindling_request_duration_seconds_bucket",
        "kindling_batch_size_bucket",
        "kindling_queue_depth",
        "kindling_tokens_total",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    let (status, openapi) = get(agent, &server.url("/openapi.json"));
    assert_eq!(status, 200);
    let openapi: Value = serde_json::from_str(&openapi).unwrap();
    for route in kindling_serve::routes::ROUTES {
        assert!(openapi["paths"][route].is_object(), "OpenAPI lacks {route}");
    }
}

fn text_classifier() -> PathBuf {
    kindling_tests::fixtures_dir().join("text_classification/pipeline/bert_single/model")
}

fn error_of(answer: &Value) -> &str {
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {answer}"))
}

#[test]
fn bad_requests_get_their_codes_and_the_server_keeps_serving() {
    let agent = agent();
    let mut small = options(&kindling_tests::fixtures_dir().join("fill_mask/bert"));
    small.payload_limit = 4096;
    let server = Running::start(small);
    let predict = server.url("/predict");
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"{\"inputs\": ", 422, "not valid JSON"),
        (b"[1, 2]", 422, "body"),
        (b"{\"parameters\": {}}", 422, "inputs"),
        (b"{\"inputs\": 7}", 422, "`inputs`"),
        (b"{\"inputs\": []}", 422, "empty"),
        (
            b"{\"inputs\": \"the [MASK] barks\", \"parameters\": {\"top_k\": \"two\"}}",
            422,
            "`parameters.top_k`",
        ),
        (
            b"{\"inputs\": \"the [MASK] barks\", \"parameters\": {\"topk\": 2}}",
            422,
            "topk",
        ),
        (
            b"{\"inputs\": \"the [MASK] barks\", \"parameters\": {\"max_answer_len\": 2}}",
            422,
            "not a parameter of fill-mask",
        ),
        (
            b"{\"inputs\": [\"the [MASK] barks\", \"no mask here\"]}",
            422,
            "`inputs[1]`",
        ),
        (
            b"{\"inputs\": {\"question\": \"q\"}}",
            422,
            "`inputs.context`",
        ),
    ];
    for (body, code, names) in cases {
        let (status, answer) = post_raw(&agent, &predict, body);
        let shown = String::from_utf8_lossy(body);
        assert_eq!(status, code, "{shown}: {answer}");
        assert!(
            error_of(&answer).contains(names),
            "{shown}: {answer} should name {names}"
        );
        assert_eq!(answer["error_type"], "validation", "{answer}");
    }
    let huge = json!({"inputs": "the dog barks ".repeat(1000)});
    let (status, answer) = post(&agent, &predict, &huge);
    assert_eq!(status, 413, "{answer}");
    assert!(error_of(&answer).contains("--payload-limit"), "{answer}");
    let (status, answer) = post(
        &agent,
        &server.url("/embed"),
        &json!({"inputs": [{"question": "q", "context": "c"}]}),
    );
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = post(&agent, &server.url("/nowhere"), &json!({}));
    assert_eq!(status, 404, "{answer}");
    let (status, _) = get(&agent, &predict);
    assert_eq!(status, 405);
    // still serving
    let (status, _) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200);
    let (status, answer) = post(&agent, &predict, &json!({"inputs": "the [MASK] barks"}));
    assert_eq!(status, 200, "{answer}");
    server.shutdown().unwrap();

    // Inputs past the model's length: cut by default, 413 with truncation off.
    let long = "the dog barks ".repeat(40);
    let server = Running::start(options(&text_classifier()));
    let expected = offline(&text_classifier(), &PipelineOptions::default())
        .run_json(&[PipelineInput::Text(long.clone())])
        .unwrap();
    post_expecting(
        &agent,
        &server.url("/predict"),
        &json!({"inputs": long}),
        &expected[0],
    );
    server.shutdown().unwrap();
    let mut strict = options(&text_classifier());
    strict.truncate = false;
    let server = Running::start(strict);
    let (status, answer) = post(
        &agent,
        &server.url("/predict"),
        &json!({"inputs": ["short", long]}),
    );
    assert_eq!(status, 413, "{answer}");
    assert!(error_of(&answer).contains("`inputs[1]`"), "{answer}");
    let (status, _) = post(&agent, &server.url("/embed"), &json!({"inputs": long}));
    assert_eq!(status, 413);
    let (status, _) = post(&agent, &server.url("/predict"), &json!({"inputs": "short"}));
    assert_eq!(status, 200);
    server.shutdown().unwrap();
}

#[test]
fn a_burst_past_the_queue_bound_gets_429s_and_the_server_recovers() {
    let mut bounded = options(&text_classifier());
    bounded.max_concurrent_requests = 2;
    bounded.max_batch_requests = 1;
    let server = Running::start(bounded);
    let url = server.url("/predict");
    let text = "the big black dog lives in the yard and the small white cat lives in the house";
    let body = json!({"inputs": vec![text; 16]});
    let clients: Vec<_> = (0..24)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || post(&agent(), &url, &body))
        })
        .collect();
    let answers: Vec<(u16, Value)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    let served = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        refused + served,
        answers.len(),
        "only 200s and 429s: {answers:?}"
    );
    assert!(
        refused > 0 && served > 0,
        "{refused} refused, {served} served"
    );
    let overloaded = answers.iter().find(|(s, _)| *s == 429).unwrap();
    assert_eq!(overloaded.1["error_type"], "overloaded");
    assert!(error_of(&overloaded.1).contains("--max-concurrent-requests"));
    let agent = agent();
    let (status, _) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200);
    let (status, answer) = post(&agent, &url, &json!({"inputs": text}));
    assert_eq!(status, 200, "{answer}");
    server.shutdown().unwrap();
}

#[test]
fn a_client_that_disconnects_mid_request_costs_nothing() {
    let server = Running::start(options(&text_classifier()));
    let long = format!(
        "{{\"inputs\": {}}}",
        json!(vec!["the dog barks in the yard"; 64])
    );
    for _ in 0..20 {
        // half a body, then gone
        let mut stream = TcpStream::connect(server.address).unwrap();
        let head = format!(
            "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            long.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .write_all(&long.as_bytes()[..long.len() / 2])
            .unwrap();
        drop(stream);
        // a whole request, then gone before the answer
        let mut stream = TcpStream::connect(server.address).unwrap();
        let head = head + &long;
        stream.write_all(head.as_bytes()).unwrap();
        drop(stream);
    }
    // garbage that is not HTTP
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream.write_all(b"\x00\x01 not http\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.read_to_end(&mut sink);
    let agent = agent();
    let (status, _) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200);
    let (status, answer) = post(
        &agent,
        &server.url("/predict"),
        &json!({"inputs": "the dog barks"}),
    );
    assert_eq!(status, 200, "{answer}");
    server.shutdown().unwrap();
}

/// One request of the load test: route, body, and the answer the offline pipeline gives.
struct Call {
    route: &'static str,
    body: Value,
    expected: Value,
}

fn load_calls(dir: &Path) -> Vec<Call> {
    let tagger = offline(dir, &PipelineOptions::default());
    let embedder = FeatureExtractionPipeline::load_kind(
        dir,
        &device("flex"),
        FeatureKind::Embedding { normalize: true },
    )
    .unwrap();
    let inputs = task_inputs("token-classification");
    let mut calls = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let one = std::slice::from_ref(input);
        calls.push(Call {
            route: "/predict",
            body: json!({"inputs": input_json(input)}),
            expected: tagger.run_json(one).unwrap().remove(0),
        });
        calls.push(Call {
            route: "/embed",
            body: json!({"inputs": input_json(input)}),
            expected: Value::Array(embedder.run_json(one).unwrap()),
        });
        let pair = &inputs[i..(i + 2).min(inputs.len())];
        calls.push(Call {
            route: "/predict",
            body: json!({"inputs": pair.iter().map(input_json).collect::<Vec<_>>()}),
            expected: Value::Array(tagger.run_json(pair).unwrap()),
        });
    }
    calls
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Sends `total` requests from `clients` threads; each answer checked; latencies.
fn hammer(server: &Running, calls: &[Call], clients: usize, total: usize) -> Vec<Duration> {
    let calls: Vec<(String, Value, Value)> = calls
        .iter()
        .map(|c| (server.url(c.route), c.body.clone(), c.expected.clone()))
        .collect();
    let calls = std::sync::Arc::new(calls);
    let deadline = Instant::now() + Duration::from_secs(600);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let calls = calls.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                let mut i = client;
                while i < total {
                    assert!(
                        Instant::now() < deadline,
                        "the load test ran past 10 minutes"
                    );
                    let (url, body, expected) = &calls[i % calls.len()];
                    let start = Instant::now();
                    let (status, answer) = post_text(&agent, url, body.to_string().as_bytes());
                    latencies.push(start.elapsed());
                    assert_eq!(status, 200, "{url} {body}: {answer}");
                    assert_eq!(answer, expected.to_string(), "{url} {body}");
                    i += clients;
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a client failed"))
        .collect();
    latencies.sort();
    latencies
}

/// The `kindling_batch_size` histogram's count and sum.
fn batches(metrics: &str) -> (f64, f64) {
    let read = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        read("kindling_batch_size_count"),
        read("kindling_batch_size_sum"),
    )
}

/// The load test's checkpoint: the fixture tagger, or `KINDLING_SERVE_LOAD_MODEL` (a tagger of
/// real size for the benchmark numbers, e.g. the one `bench/serve_pipeline_bench.py
/// --make-tagger` writes).
#[test]
fn load_test_32_clients_2000_mixed_requests() {
    let scratch = tempfile::tempdir().unwrap();
    let tagger = match std::env::var_os("KINDLING_SERVE_LOAD_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => task_checkpoints(scratch.path()).remove(0).1,
    };
    let calls = load_calls(&tagger);
    let mut report = Vec::new();
    for (label, max_batch_requests) in [("batched", 32), ("batch-1", 1)] {
        let mut serving = options(&tagger);
        serving.max_batch_requests = max_batch_requests;
        let server = Running::start(serving);
        let start = Instant::now();
        let latencies = hammer(&server, &calls, 32, 2000);
        let seconds = start.elapsed().as_secs_f64();
        let (_, metrics) = get(&agent(), &server.url("/metrics"));
        let (count, sum) = batches(&metrics);
        assert_eq!(
            sum as usize, 2000,
            "every request went through one batch: {metrics}"
        );
        if max_batch_requests > 1 {
            assert!(
                count < sum / 2.0,
                "{count} batches for {sum} requests: no real batching"
            );
        } else {
            assert_eq!(count, sum, "batch-1 serving ran batches of one");
        }
        report.push(format!(
            "{label}: 2000 requests, 32 clients: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {:.2} requests per batch, peak RSS {:.0} MB (test process)",
            2000.0 / seconds,
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            sum / count.max(1.0),
            peak_rss_mb(),
        ));
        server.shutdown().unwrap();
    }
    for line in report {
        eprintln!("{line}");
    }
}

#[test]
fn a_task_without_a_pipeline_is_refused_at_start_naming_it() {
    let dir = kindling_tests::fixtures_dir().join("heads/bert_multiple_choice/model");
    let scratch = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(dir.join(file), scratch.path().join(file)).unwrap();
    }
    std::fs::copy(
        kindling_tests::fixtures_dir().join("fill_mask/bert/tokenizer.json"),
        scratch.path().join("tokenizer.json"),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut opts = options(scratch.path());
    opts.task = Some("multiple-choice".into());
    let err = runtime.block_on(Server::bind(opts)).err().expect("refused");
    assert!(err.to_string().contains("multiple-choice"), "{err}");
    let _ = Task::MultipleChoice;
}
