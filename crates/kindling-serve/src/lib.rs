#![warn(missing_docs)]
//! `kindling serve`: any checkpoint kindling loads, with any head and on any backend, behind
//! an HTTP API with the habits of text-embeddings-inference (TEI).
//!
//! - `POST /predict` answers what the checkpoint's pipeline answers offline
//!   ([`kindling::pipelines`]), `POST /embed` gives pooled vectors from any body,
//!   `POST /tokenize` ids and offsets; `GET /info`, `/health`, `/metrics` (Prometheus) and
//!   `/openapi.json` describe the server.
//! - Concurrent requests are batched ([`batcher`]) under a token budget on one model thread off
//!   the async runtime; inputs of equal padded length share forward passes, and each answer is
//!   bit for bit the offline pipeline's.
//! - Bounded: past `--max-concurrent-requests` a request gets 429, past `--payload-limit` 413,
//!   bad JSON or fields 422 naming the field; nothing a client sends panics the process.
//! - SIGTERM or Ctrl-C stops accepting, finishes the requests in flight and returns.
//!
//! ```no_run
//! use kindling_serve::{ServeOptions, Server};
//!
//! # async fn run() -> Result<(), kindling_serve::ServeError> {
//! let mut options = ServeOptions::new("path/to/checkpoint");
//! options.port = 0; // any free port
//! let server = Server::bind(options).await?;
//! println!("listening on {}", server.address());
//! server.run_until(kindling_serve::shutdown_signal()).await
//! # }
//! ```

pub mod batcher;
pub mod error;
pub mod metrics;
pub mod options;
pub mod request;
pub mod routes;
pub mod served;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use error::{ApiError, ErrorType, ServeError};
pub use options::ServeOptions;

use batcher::{BatchBudget, Batcher};
use metrics::Metrics;
use routes::AppState;
use served::ServedModel;

/// A server with its model loaded and its address bound, not yet answering.
pub struct Server {
    listener: TcpListener,
    address: SocketAddr,
    state: Arc<AppState>,
}

impl Server {
    /// Loads the model (on a blocking thread) and binds `options.host:options.port`.
    pub async fn bind(options: ServeOptions) -> Result<Self, ServeError> {
        options.check()?;
        let loading = options.clone();
        let model = tokio::task::spawn_blocking(move || ServedModel::load(&loading))
            .await
            .map_err(|e| ServeError::Option {
                option: "--model",
                message: format!("loading failed: {e}"),
            })??;
        let model = Arc::new(model);
        let address = format!("{}:{}", options.host, options.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| ServeError::Io {
                address: address.clone(),
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| ServeError::Io { address, source })?;
        let metrics = Arc::new(Metrics::new());
        let budget = BatchBudget {
            max_tokens: options.max_batch_tokens,
            max_requests: options.max_batch_requests,
        };
        let batcher = Batcher::start(model.clone(), budget, metrics.clone());
        let state = Arc::new(AppState {
            model,
            batcher,
            metrics,
            permits: Arc::new(Semaphore::new(options.max_concurrent_requests)),
            max_concurrent_requests: options.max_concurrent_requests,
            payload_limit: options.payload_limit,
            stopping: AtomicBool::new(false),
        });
        Ok(Self {
            listener,
            address,
            state,
        })
    }

    /// The bound address (with the port chosen when `port` was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Answers requests until `shutdown` completes, then stops accepting, finishes the
    /// requests in flight (their batches included) and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state.clone();
        let app = routes::router(self.state.clone());
        let stopping = async move {
            shutdown.await;
            state.stopping.store(true, Ordering::Relaxed);
            tracing::info!("shutting down: finishing the requests in flight");
        };
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(stopping)
            .await;
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.batcher.shutdown()).await;
        served.map_err(|source| ServeError::Io {
            address: self.address.to_string(),
            source,
        })
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Logs to stderr, one line per event, filtered by `RUST_LOG` (`info` when unset); JSON lines
/// with `json`. Call once, from a binary.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs `kindling serve`: binds, prints the address, answers until Ctrl-C or SIGTERM.
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            address: format!("{}:{}", options.host, options.port),
            source,
        })?;
    runtime.block_on(async move {
        let server = Server::bind(options).await?;
        tracing::info!(address = %server.address(), "listening");
        // The address on stdout too, for scripts that start the server on port 0.
        println!("listening on http://{}", server.address());
        server.run_until(shutdown_signal()).await
    })
}

/// The README's examples, compiled and run as doc-tests so the crate's front page cannot drift
/// from its API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
