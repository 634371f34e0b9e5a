//! What can go wrong with a command, in the two kinds callers treat apart:
//! rejections the user can fix, and failures of ours.

use cqrs_es::AggregateError;
use domain::error::{DomainError, ErrorKind};

/// Why a command was not applied. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused the command; the message says what to fix.
    #[error("{message}")]
    Rejected {
        /// What sort of rejection.
        kind: ErrorKind,
        /// User-facing explanation naming the culprit.
        message: String,
    },
    /// Another writer changed the aggregate first, or a command id was reused.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged with detail, answered without it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CommandError {
    /// A rejection of the given kind.
    pub fn rejected(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Rejected {
            kind,
            message: message.into(),
        }
    }

    /// A short label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "error",
        }
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Internal(err.to_string()),
        }
    }
}

/// Maps a framework error other than an optimistic-lock conflict (which the
/// caller handles first).
pub(crate) fn from_aggregate_error<E: DomainError>(err: AggregateError<E>) -> CommandError {
    match err {
        AggregateError::UserError(e) => CommandError::rejected(e.kind(), e.to_string()),
        AggregateError::AggregateConflict => {
            CommandError::Conflict("the aggregate was changed concurrently".into())
        }
        AggregateError::DatabaseConnectionError(e) => CommandError::Unavailable(e.to_string()),
        AggregateError::DeserializationError(e) => {
            CommandError::Internal(format!("stored event or snapshot unreadable: {e}"))
        }
        AggregateError::UnexpectedError(e) => CommandError::Internal(e.to_string()),
    }
}
