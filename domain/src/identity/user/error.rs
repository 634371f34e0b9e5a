//! Why a user command was rejected.

use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind, TextError};
use crate::identity::Email;

/// Why a user command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// No such user in this tenant.
    #[error("user not found; check the user id")]
    NotFound,
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the user is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// `Create` on a user that exists (invited or member).
    #[error("user {email} already exists; change their role or invite them instead")]
    AlreadyExists {
        /// The user's email.
        email: Email,
    },
    /// `Invite` of someone who already accepted.
    #[error("user {email} is already a member; change their role instead of inviting them again")]
    AlreadyMember {
        /// The user's email.
        email: Email,
    },
    /// The command names another email than the user's own.
    #[error("this user is {existing}, not {given}; address a user by the id derived from their email (UserId::for_email)")]
    EmailMismatch {
        /// The user's email.
        existing: Email,
        /// The email in the command.
        given: Email,
    },
    /// The user is disabled and accepts only `Disable` and `Enable`.
    #[error("user {email} is disabled; enable them first")]
    Disabled {
        /// The user's email.
        email: Email,
    },
    /// `ChangePassword` before the invitation was accepted.
    #[error("user {email} has not accepted their invitation yet; they choose a password when they accept it")]
    NotYetMember {
        /// The user's email.
        email: Email,
    },
    /// The invitation secret is wrong, the invitation lapsed, or none is
    /// pending. Deliberately one message: it must not tell which.
    #[error("the invitation is invalid or has expired; ask for a new invitation")]
    InvitationInvalid,
    /// The display name is blank or too long.
    #[error("display name {0}")]
    InvalidDisplayName(TextError),
}

impl DomainError for UserError {
    fn kind(&self) -> ErrorKind {
        match self {
            UserError::NotFound => ErrorKind::NotFound,
            UserError::VersionConflict { .. }
            | UserError::AlreadyExists { .. }
            | UserError::AlreadyMember { .. } => ErrorKind::Conflict,
            UserError::Disabled { .. }
            | UserError::NotYetMember { .. }
            | UserError::InvitationInvalid => ErrorKind::InvalidState,
            UserError::EmailMismatch { .. } | UserError::InvalidDisplayName(_) => {
                ErrorKind::Validation
            }
        }
    }
}

impl From<EnvelopeRejection> for UserError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => UserError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                UserError::VersionConflict { expected, actual }
            }
        }
    }
}
