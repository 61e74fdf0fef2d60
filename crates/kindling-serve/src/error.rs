//! Errors: what the server answers a bad request with, and what stops it from starting.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The checkpoint, its tokenizer or the device.
    #[error(transparent)]
    Model(#[from] kindling::KindlingError),
    /// The address could not be bound, or the server failed.
    #[error("{address}: {source}")]
    Io {
        /// The address.
        address: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A setting that cannot work (a zero limit).
    #[error("{option}: {message}")]
    Option {
        /// The command-line option.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// The kinds of error a client gets, as `error_type` in the JSON body (TEI's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// Bad JSON, a missing or wrong field, an input the pipeline refuses (422).
    Validation,
    /// An input longer than the model takes with truncation off, or a body over the limit
    /// (413).
    PayloadTooLarge,
    /// The queue is full (429).
    Overloaded,
    /// The model failed on a valid input (500).
    Backend,
    /// The server is stopping or its model worker is gone (503).
    Unhealthy,
    /// No such route or method (404, 405).
    NotFound,
}

/// An error answer: a status and `{"error": message, "error_type": kind}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The kind, for clients that branch on it.
    pub kind: ErrorType,
    /// What went wrong, naming the field or limit.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_type: ErrorType,
}

impl ApiError {
    /// A 422 naming what is wrong with the request.
    pub fn validation(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: ErrorType::Validation,
            message: message.into(),
        }
    }

    /// A 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: ErrorType::PayloadTooLarge,
            message: message.into(),
        }
    }

    /// A 429: the queue bound is reached.
    pub fn overloaded(limit: usize) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: ErrorType::Overloaded,
            message: format!(
                "the server is at --max-concurrent-requests ({limit}) requests; retry later"
            ),
        }
    }

    /// A 500: the model failed.
    pub fn backend(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: ErrorType::Backend,
            message: message.into(),
        }
    }

    /// A 503.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: ErrorType::Unhealthy,
            message: message.into(),
        }
    }

    /// A 404 or 405.
    pub fn not_found(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: ErrorType::NotFound,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            error_type: self.kind,
        };
        (self.status, Json(body)).into_response()
    }
}
