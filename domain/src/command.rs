//! The envelope around every command: which tenant sends it and, for
//! optimistic concurrency, which aggregate version the sender last saw.

use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// A command for one aggregate, with the checks every aggregate performs
/// before looking at the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command<C> {
    /// The tenant on whose behalf the command is sent.
    pub tenant_id: TenantId,
    /// When set, the command is rejected with a conflict unless the
    /// aggregate is at exactly this version (its number of events).
    pub expected_version: Option<u64>,
    /// The aggregate-specific command.
    pub body: C,
}

impl<C> Command<C> {
    /// A command without a version expectation.
    pub fn new(tenant_id: TenantId, body: C) -> Self {
        Self {
            tenant_id,
            expected_version: None,
            body,
        }
    }

    /// Sets the version the sender expects the aggregate to be at.
    #[must_use]
    pub fn expecting(mut self, expected_version: Option<u64>) -> Self {
        self.expected_version = expected_version;
        self
    }

    /// The checks shared by every aggregate, in order:
    /// 1. an aggregate owned by another tenant looks exactly like a missing
    ///    one;
    /// 2. a command that does not create the aggregate needs it to exist
    ///    (checked before the version so a wrong id reads "not found", not
    ///    "expected version 3 but ... at version 0");
    /// 3. a stale `expected_version` is a conflict.
    pub(crate) fn check_envelope(
        &self,
        owner: Option<TenantId>,
        current_version: u64,
        creates: bool,
    ) -> Result<(), EnvelopeRejection> {
        match owner {
            Some(owner) if owner != self.tenant_id => return Err(EnvelopeRejection::NotFound),
            None if !creates => return Err(EnvelopeRejection::NotFound),
            _ => {}
        }
        match self.expected_version {
            Some(expected) if expected != current_version => {
                Err(EnvelopeRejection::VersionConflict {
                    expected,
                    actual: current_version,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Why [`Command::check_envelope`] refused a command; each aggregate turns
/// it into its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeRejection {
    NotFound,
    VersionConflict { expected: u64, actual: u64 },
}
