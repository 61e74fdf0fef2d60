//! The routes: `/predict`, `/embed`, `/tokenize`, `/info`, `/health`, `/metrics` and
//! `/openapi.json`, each request counted, timed and logged in one line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kindling::KindlingError;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::batcher::{Batcher, Job};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::request::{EmbedRequest, Inputs, PredictRequest, TokenizeRequest, parse_body};
use crate::served::{ServedModel, Work};

/// Every route the server answers (and `/openapi.json` describes).
pub const ROUTES: [&str; 7] = [
    "/predict",
    "/embed",
    "/tokenize",
    "/info",
    "/health",
    "/metrics",
    "/openapi.json",
];

/// The OpenAPI 3 description of the routes, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What every handler shares.
pub struct AppState {
    /// The model.
    pub model: Arc<ServedModel>,
    /// Its queue and thread.
    pub batcher: Batcher,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// One permit per request accepted at once (`--max-concurrent-requests`).
    pub permits: Arc<Semaphore>,
    /// The bound, for the 429's message.
    pub max_concurrent_requests: usize,
    /// The body limit, for the 413's message.
    pub payload_limit: usize,
    /// Set once shutdown begins: `/health` answers 503.
    pub stopping: AtomicBool,
}

/// An accepted request: holds its place under the bound until answered (or dropped, when the
/// client goes).
struct Admitted {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}

impl AppState {
    /// Takes a place under the bound, or a 429.
    fn admit(&self) -> Result<Admitted, ApiError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics.in_flight.inc();
                Ok(Admitted {
                    _permit: permit,
                    metrics: self.metrics.clone(),
                })
            }
            Err(_) => {
                self.metrics.overloaded.inc();
                Err(ApiError::overloaded(self.max_concurrent_requests))
            }
        }
    }

    /// The body's bytes, or a 413 past the limit.
    fn body(&self, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
        body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(format!(
                    "body: larger than --payload-limit ({} bytes)",
                    self.payload_limit
                ))
            } else {
                ApiError::validation(format!("body: {}", rejection.body_text()))
            }
        })
    }

    /// Checks the inputs' lengths, queues them for the model and waits for its answers.
    async fn run(&self, work: Work, inputs: &Inputs) -> Result<Vec<Value>, ApiError> {
        let model = self.model.clone();
        let items = inputs.items.clone();
        // Tokenizing a 2 MB text takes a while: not on the async workers.
        let counts = tokio::task::spawn_blocking(move || {
            items
                .iter()
                .map(|i| model.count_tokens(i))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ApiError::backend(format!("tokenizing: {e}")))?;
        let cuts = self.model.cuts_long_inputs(&work);
        let limit = self.model.length_limit(&work);
        let mut tokens = 0;
        for (i, count) in counts.into_iter().enumerate() {
            let n = count.map_err(|e| {
                ApiError::validation(format!("`{}`: cannot tokenize: {e}", inputs.at(i)))
            })?;
            if cuts && n > limit && !self.model.truncates() {
                return Err(ApiError::too_large(format!(
                    "`{}`: {n} tokens; the model takes at most {limit} (truncation is off: --no-truncate)",
                    inputs.at(i)
                )));
            }
            tokens += if cuts { n.min(limit) } else { n };
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work,
            inputs: inputs.items.clone(),
            tokens,
            reply,
        };
        self.batcher
            .submit(job, &self.metrics)
            .map_err(|_| ApiError::unhealthy("the server is stopping"))?;
        let results = answer
            .await
            .map_err(|_| ApiError::unhealthy("the model thread stopped"))?;
        results
            .into_iter()
            .enumerate()
            .map(|(i, result)| {
                result.map_err(|e| match e {
                    KindlingError::Forward { .. } => ApiError::backend(e.to_string()),
                    other => ApiError::validation(format!("`{}`: {other}", inputs.at(i))),
                })
            })
            .collect()
    }
}

type Shared = State<Arc<AppState>>;

/// One result for a single input, a list for a list.
fn answer(inputs: &Inputs, mut values: Vec<Value>) -> Json<Value> {
    if inputs.single && values.len() == 1 {
        Json(values.remove(0))
    } else {
        Json(Value::Array(values))
    }
}

async fn predict(
    State(state): Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let _admitted = state.admit()?;
    let request: PredictRequest = parse_body(&state.body(body)?)?;
    let inputs = Inputs::from_value(request.inputs)?;
    state.model.check_parameters(&request.parameters)?;
    let values = state
        .run(Work::Predict(request.parameters), &inputs)
        .await?;
    Ok(answer(&inputs, values))
}

async fn embed(
    State(state): Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let _admitted = state.admit()?;
    let request: EmbedRequest = parse_body(&state.body(body)?)?;
    let inputs = Inputs::from_value(request.inputs)?;
    inputs.texts()?;
    let work = Work::Embed {
        normalize: request.normalize,
    };
    // One vector per input, always a list (as TEI answers).
    Ok(Json(Value::Array(state.run(work, &inputs).await?)))
}

async fn tokenize(
    State(state): Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let _admitted = state.admit()?;
    let request: TokenizeRequest = parse_body(&state.body(body)?)?;
    let inputs = Inputs::from_value(request.inputs)?;
    let texts: Vec<String> = inputs.texts()?.into_iter().map(str::to_string).collect();
    let model = state.model.clone();
    let special = request.add_special_tokens;
    let encoded = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|text| {
                let encoding = model
                    .tokenizer()
                    .inner()
                    .encode_char_offsets(text.as_str(), special)
                    .map_err(|e| e.to_string())?;
                let offsets: Vec<[usize; 2]> = encoding
                    .get_offsets()
                    .iter()
                    .map(|&(s, e)| [s, e])
                    .collect();
                Ok(json!({
                    "input_ids": encoding.get_ids(),
                    "tokens": encoding.get_tokens(),
                    "offset_mapping": offsets,
                    "special_tokens_mask": encoding.get_special_tokens_mask(),
                }))
            })
            .collect::<Vec<Result<Value, String>>>()
    })
    .await
    .map_err(|e| ApiError::backend(format!("tokenizing: {e}")))?;
    let values = encoded
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.map_err(|e| ApiError::validation(format!("`{}`: cannot tokenize: {e}", inputs.at(i))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(answer(&inputs, values))
}

async fn info(State(state): Shared) -> Json<Value> {
    Json(state.model.info().clone())
}

async fn health(State(state): Shared) -> Result<Json<Value>, ApiError> {
    if state.stopping.load(Ordering::Relaxed) {
        return Err(ApiError::unhealthy("the server is stopping"));
    }
    if !state.batcher.alive() {
        return Err(ApiError::unhealthy("the model thread is not running"));
    }
    Ok(Json(json!({"status": "ok"})))
}

async fn metrics(State(state): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Counts, times and logs every routed request.
async fn observe(State(state): Shared, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let seconds = start.elapsed().as_secs_f64();
    state.metrics.record(&route, status, seconds);
    tracing::info!(
        target: "kindling_serve::request",
        method = %method,
        route = %route,
        status,
        latency_ms = seconds * 1e3,
        "request"
    );
    response
}

async fn not_found(State(state): Shared, uri: Uri) -> ApiError {
    state.metrics.record("unmatched", 404, 0.0);
    tracing::info!(target: "kindling_serve::request", route = "unmatched", path = %uri.path(), status = 404u16, "request");
    ApiError::not_found(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}; the routes are POST /predict, /embed, /tokenize and GET /info, /health, /metrics, /openapi.json",
            uri.path()
        ),
    )
}

async fn wrong_method() -> ApiError {
    ApiError::not_found(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: /predict, /embed and /tokenize take POST; /info, /health, /metrics and /openapi.json take GET",
    )
}

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.payload_limit;
    Router::new()
        .route("/predict", post(predict))
        .route("/embed", post(embed))
        .route("/tokenize", post(tokenize))
        .route("/info", get(info))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .method_not_allowed_fallback(wrong_method)
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
