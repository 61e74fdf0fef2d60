//! The server's settings: where it listens and how much it takes on.

use std::path::PathBuf;

use crate::error::ServeError;

/// What `kindling serve` is given; the defaults are TEI's where TEI has the setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// The checkpoint directory (with `tokenizer.json`).
    pub model: PathBuf,
    /// The pipeline task; the checkpoint's head when `None`.
    pub task: Option<String>,
    /// The address to bind.
    pub host: String,
    /// The port to bind (0: any free port, reported by [`crate::Server::address`]).
    pub port: u16,
    /// The device (`--device`), as [`kindling::device::parse_device`] reads it.
    pub device: String,
    /// The float precision (`f32`, `f16`, `bf16`).
    pub dtype: String,
    /// Tokens one batch may hold, summed over its requests (a single larger request still
    /// runs, alone).
    pub max_batch_tokens: usize,
    /// Requests one batch may hold.
    pub max_batch_requests: usize,
    /// Requests accepted at once, queued or running; past it, 429.
    pub max_concurrent_requests: usize,
    /// The largest request body, in bytes; past it, 413.
    pub payload_limit: usize,
    /// Cut inputs longer than the model takes (`false`: answer them 413).
    pub truncate: bool,
}

impl ServeOptions {
    /// The defaults for a checkpoint directory: 127.0.0.1:8080 on `flex` in f32, 16,384 tokens
    /// and 32 requests a batch, 512 concurrent requests, a 2 MB body, truncation on.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            task: None,
            host: "127.0.0.1".into(),
            port: 8080,
            device: "flex".into(),
            dtype: "f32".into(),
            max_batch_tokens: 16_384,
            max_batch_requests: 32,
            max_concurrent_requests: 512,
            payload_limit: 2_000_000,
            truncate: true,
        }
    }

    /// Refuses limits that could never admit a request.
    pub fn check(&self) -> Result<(), ServeError> {
        for (option, value) in [
            ("--max-batch-tokens", self.max_batch_tokens),
            ("--max-batch-requests", self.max_batch_requests),
            ("--max-concurrent-requests", self.max_concurrent_requests),
            ("--payload-limit", self.payload_limit),
        ] {
            if value == 0 {
                return Err(ServeError::Option {
                    option,
                    message: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}
