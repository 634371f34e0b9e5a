//! Why a session command was rejected.

use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind};

/// Why a session command was rejected. A reused refresh token is not among
/// them: it revokes the session and succeeds (see
/// [`super::SessionCommand::Refresh`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session in this tenant.
    #[error("session not found; sign in again")]
    NotFound,
    /// `Start` on an id that is taken.
    #[error("session already exists; start the new session under a new id")]
    AlreadyExists,
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the session is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// `Refresh` of a revoked session.
    #[error("session revoked; sign in again")]
    Revoked,
    /// `Refresh` at or after the current token's expiry.
    #[error("refresh token expired; sign in again")]
    Expired,
    /// `Refresh` with a generation the session never issued.
    #[error("refresh token generation {presented} is ahead of the session (generation {current}); present the refresh token this server issued last")]
    GenerationAhead {
        /// The generation presented.
        presented: u32,
        /// The session's current generation.
        current: u32,
    },
}

impl DomainError for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            SessionError::NotFound => ErrorKind::NotFound,
            SessionError::AlreadyExists | SessionError::VersionConflict { .. } => {
                ErrorKind::Conflict
            }
            SessionError::Revoked | SessionError::Expired => ErrorKind::InvalidState,
            SessionError::GenerationAhead { .. } => ErrorKind::Validation,
        }
    }
}

impl From<EnvelopeRejection> for SessionError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => SessionError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                SessionError::VersionConflict { expected, actual }
            }
        }
    }
}
