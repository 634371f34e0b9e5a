//! Why a tenant command was rejected.

use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind, TextError};

/// Why a tenant command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// No such tenant, or the command was sent on behalf of another one.
    #[error("tenant not found; check the tenant id")]
    NotFound,
    /// `Create` on a tenant that exists.
    #[error("tenant already exists; create a new tenant under a new id or rename this one")]
    AlreadyExists,
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the tenant is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The name is blank or too long.
    #[error("tenant name {0}")]
    InvalidName(TextError),
}

impl DomainError for TenantError {
    fn kind(&self) -> ErrorKind {
        match self {
            TenantError::NotFound => ErrorKind::NotFound,
            TenantError::AlreadyExists | TenantError::VersionConflict { .. } => ErrorKind::Conflict,
            TenantError::InvalidName(_) => ErrorKind::Validation,
        }
    }
}

impl From<EnvelopeRejection> for TenantError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => TenantError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                TenantError::VersionConflict { expected, actual }
            }
        }
    }
}
