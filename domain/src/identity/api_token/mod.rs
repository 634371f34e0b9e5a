//! The API token aggregate: a credential for machines, with scopes fixed at
//! creation, stored only as the hash of its secret, revocable.

mod commands;
mod error;
mod events;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{ApiTokenCommand, MAX_REVOCATION_REASON_CHARS, MAX_TOKEN_NAME_CHARS};
pub use error::ApiTokenError;
pub use events::ApiTokenEvent;

use super::SecretHash;
use crate::access::Scope;
use crate::command::Command;
use crate::ids::{TenantId, UserId};

/// The state of one API token, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiToken {
    tenant_id: Option<TenantId>,
    name: String,
    scopes: Vec<Scope>,
    secret_hash: Option<SecretHash>,
    created_by: Option<UserId>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    revocation_reason: Option<String>,
    version: u64,
}

impl ApiToken {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before creation.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the token has been created.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the token may do (empty before creation).
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The hash of the token's secret, to check a presented token against.
    pub fn secret_hash(&self) -> Option<&SecretHash> {
        self.secret_hash.as_ref()
    }

    /// The user who created it.
    pub fn created_by(&self) -> Option<UserId> {
        self.created_by
    }

    /// When it stops working; `None` for a token that does not expire.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Whether it was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// Why it was revoked, if a reason was given.
    pub fn revocation_reason(&self) -> Option<&str> {
        self.revocation_reason.as_deref()
    }

    /// Whether the token works at `now`: created, not revoked and not
    /// expired (it expires at `expires_at` exactly).
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.exists() && !self.revoked && self.expires_at.is_none_or(|at| now < at)
    }
}

impl Aggregate for ApiToken {
    const TYPE: &'static str = "ApiToken";
    type Command = Command<ApiTokenCommand>;
    type Event = ApiTokenEvent;
    type Error = ApiTokenError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ApiTokenEvent::ApiTokenCreated {
                tenant_id,
                name,
                scopes,
                secret_hash,
                created_by,
                expires_at,
            } => {
                self.tenant_id = Some(tenant_id);
                self.name = name;
                self.scopes = scopes;
                self.secret_hash = Some(secret_hash);
                self.created_by = Some(created_by);
                self.expires_at = expires_at;
            }
            ApiTokenEvent::ApiTokenRevoked { reason } => {
                self.revoked = true;
                self.revocation_reason = reason;
            }
        }
        self.version += 1;
    }
}
