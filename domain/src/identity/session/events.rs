//! Facts recorded by the session aggregate. Payloads are externally tagged
//! (`{"SessionStarted": {...}}`), the form the event store keeps; refresh
//! tokens appear only as hashes.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::RevocationReason;
use crate::identity::SecretHash;
use crate::ids::{TenantId, UserId};

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A user signed in; the first refresh token was issued.
    SessionStarted {
        /// The owning tenant.
        tenant_id: TenantId,
        /// Who signed in.
        user_id: UserId,
        /// Always 1.
        generation: u32,
        /// The hash of the first refresh token.
        refresh_hash: SecretHash,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// The current refresh token was spent and the next one issued.
    SessionRefreshed {
        /// The new token's generation (one more than before).
        generation: u32,
        /// Its hash.
        refresh_hash: SecretHash,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// The session ended: none of its tokens work any more.
    SessionRevoked {
        /// Why.
        reason: RevocationReason,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            SessionEvent::SessionStarted { .. } => "SessionStarted",
            SessionEvent::SessionRefreshed { .. } => "SessionRefreshed",
            SessionEvent::SessionRevoked { .. } => "SessionRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
