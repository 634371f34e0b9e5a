//! The one mapping from failures to GraphQL errors: a stable
//! `extensions.code` and a message that says what to fix. Internal failures
//! are logged with detail and answered without it.

use async_graphql::{Error, ErrorExtensions};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use domain::error::ErrorKind;

/// The codes clients can rely on in `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The input is malformed or breaks a rule; the message names it.
    Validation,
    /// No such object (or it belongs to another tenant).
    NotFound,
    /// A stale expected version, a lost race or a reused command id.
    Conflict,
    /// The object's state does not allow this command.
    InvalidState,
    /// A dependency (the database) is down; retry later.
    Unavailable,
    /// Our fault; details are in the server log under the trace id.
    Internal,
    /// No valid credential was sent.
    Unauthenticated,
    /// The caller's role or scopes do not allow this.
    Forbidden,
    /// `consistentWith` asked for a position the read models did not reach
    /// in time; `extensions` carry the lag.
    Stale,
}

impl ErrorCode {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "VALIDATION",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::InvalidState => "INVALID_STATE",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::Stale => "STALE",
        }
    }
}

/// A GraphQL error with a code.
pub(crate) fn coded(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// Maps a command failure; `trace_id` lets an operator find the log line.
pub(crate) fn command_error(err: CommandError, trace_id: &str) -> Error {
    match err {
        CommandError::Rejected { kind, message } => coded(kind_code(kind), message),
        CommandError::Conflict(message) => coded(ErrorCode::Conflict, message),
        CommandError::Unavailable(detail) => {
            tracing::error!(error = %detail, trace_id, "event store unavailable");
            coded(
                ErrorCode::Unavailable,
                format!(
                    "the service is temporarily unavailable; retry later (trace id {trace_id})"
                ),
            )
        }
        CommandError::Internal(detail) => internal(&detail, trace_id),
    }
}

/// Logs an internal failure and answers without its detail.
pub(crate) fn internal(detail: &dyn std::fmt::Display, trace_id: &str) -> Error {
    tracing::error!(error = %detail, trace_id, "internal error");
    coded(
        ErrorCode::Internal,
        format!("internal error (trace id {trace_id})"),
    )
}

fn kind_code(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::Validation => ErrorCode::Validation,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::Conflict => ErrorCode::Conflict,
        ErrorKind::InvalidState => ErrorCode::InvalidState,
    }
}

/// An error for a request that never reached a resolver, in GraphQL shape.
pub(crate) fn request_error(code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": code } }],
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
