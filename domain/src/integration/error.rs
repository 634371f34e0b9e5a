//! Why an integration command was rejected.

use super::CircuitState;
use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind, TextError};

/// Why an integration command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationError {
    /// No such integration for this tenant.
    #[error("integration not found; check the integration id")]
    NotFound,
    /// `Register` on an id that is taken.
    #[error("integration already exists; register it under a new id or update the existing one")]
    AlreadyExists,
    /// `expected_version` is stale.
    #[error("expected version {expected} but the integration is at version {actual}; reload it and retry")]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The integration was removed and accepts only `Remove`.
    #[error("integration is removed; register a new integration instead")]
    Removed,
    /// The name is blank or too long.
    #[error("integration name {0}")]
    InvalidName(TextError),
    /// The kind does not match `^[a-z][a-z0-9_-]{{0,63}}$`.
    #[error("integration kind '{kind}' is invalid; use 1 to 64 characters: lowercase letters, digits, '_' or '-', starting with a letter (e.g. 'slack')")]
    InvalidKind {
        /// The kind given.
        kind: String,
    },
    /// The config is not a JSON object or is too large.
    #[error("integration config {problem}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A circuit transition that does not follow from the recorded state
    /// (e.g. closing an open circuit without a half-open trial).
    #[error("the circuit of this integration is {} and cannot become {}; only closed or half_open -> open, open -> half_open and half_open -> closed are allowed", from.as_str(), to.as_str())]
    InvalidCircuitTransition {
        /// The recorded state.
        from: CircuitState,
        /// The state asked for.
        to: CircuitState,
    },
    /// A field of the sealed credentials is empty.
    #[error("credentials.{field} must not be empty; send the sealed secret produced by the encryption step")]
    InvalidCredentials {
        /// The empty field.
        field: &'static str,
    },
}

impl DomainError for IntegrationError {
    fn kind(&self) -> ErrorKind {
        match self {
            IntegrationError::NotFound => ErrorKind::NotFound,
            IntegrationError::AlreadyExists | IntegrationError::VersionConflict { .. } => {
                ErrorKind::Conflict
            }
            IntegrationError::Removed | IntegrationError::InvalidCircuitTransition { .. } => {
                ErrorKind::InvalidState
            }
            IntegrationError::InvalidName(_)
            | IntegrationError::InvalidKind { .. }
            | IntegrationError::InvalidConfig { .. }
            | IntegrationError::InvalidCredentials { .. } => ErrorKind::Validation,
        }
    }
}

impl From<EnvelopeRejection> for IntegrationError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => IntegrationError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                IntegrationError::VersionConflict { expected, actual }
            }
        }
    }
}
