//! Facts recorded by the API token aggregate. Payloads are externally
//! tagged (`{"ApiTokenCreated": {...}}`), the form the event store keeps;
//! the secret appears only as its hash.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::access::Scope;
use crate::identity::SecretHash;
use crate::ids::{TenantId, UserId};

/// Something that happened to an API token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiTokenEvent {
    /// The token was created.
    ApiTokenCreated {
        /// The owning tenant.
        tenant_id: TenantId,
        /// Trimmed display name.
        name: String,
        /// What it may do (non-empty, no duplicates).
        scopes: Vec<Scope>,
        /// The hash of its secret.
        secret_hash: SecretHash,
        /// Who created it.
        created_by: UserId,
        /// When it stops working; `None` for never.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The token was revoked for good.
    ApiTokenRevoked {
        /// Why, if said (trimmed, non-blank).
        reason: Option<String>,
    },
}

impl DomainEvent for ApiTokenEvent {
    fn event_type(&self) -> String {
        match self {
            ApiTokenEvent::ApiTokenCreated { .. } => "ApiTokenCreated",
            ApiTokenEvent::ApiTokenRevoked { .. } => "ApiTokenRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
