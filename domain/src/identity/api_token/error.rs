//! Why an API token command was rejected.

use crate::access::{Role, Scope};
use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind, TextError};

/// Why an API token command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiTokenError {
    /// No such token in this tenant.
    #[error("API token not found; check the token id")]
    NotFound,
    /// `Create` on an id that is taken.
    #[error("API token already exists; create the new token under a new id")]
    AlreadyExists,
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the API token is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The name is blank or too long.
    #[error("API token name {0}")]
    InvalidName(TextError),
    /// `Create` without scopes.
    #[error("an API token needs at least one scope; use any of read:workflows, write:workflows, execute:workflows, read:executions, manage:integrations, admin:all")]
    NoScopes,
    /// A scope is listed more than once.
    #[error("scope {scope} is listed more than once; list each scope once")]
    DuplicateScope {
        /// The repeated scope.
        scope: Scope,
    },
    /// The creator's role lacks a permission of the scope.
    #[error(
        "role {role} cannot grant scope {scope}; a token may only do what its creator's role may"
    )]
    ScopeNotGrantable {
        /// The creator's role.
        role: Role,
        /// The scope asked for.
        scope: Scope,
    },
    /// The revocation reason is too long.
    #[error("revocation reason {0}")]
    InvalidReason(TextError),
}

impl DomainError for ApiTokenError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiTokenError::NotFound => ErrorKind::NotFound,
            ApiTokenError::AlreadyExists | ApiTokenError::VersionConflict { .. } => {
                ErrorKind::Conflict
            }
            ApiTokenError::InvalidName(_)
            | ApiTokenError::NoScopes
            | ApiTokenError::DuplicateScope { .. }
            | ApiTokenError::ScopeNotGrantable { .. }
            | ApiTokenError::InvalidReason(_) => ErrorKind::Validation,
        }
    }
}

impl From<EnvelopeRejection> for ApiTokenError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => ApiTokenError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                ApiTokenError::VersionConflict { expected, actual }
            }
        }
    }
}
