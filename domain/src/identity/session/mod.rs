//! The session aggregate: one refresh-token family. Each refresh rotates
//! the token (a new generation, a new hash); presenting a spent token of
//! the family revokes the whole family, as the OAuth 2.0 Security BCP
//! recommends, because either the legitimate client or a thief holds a
//! newer token and the server cannot tell which.

mod commands;
mod error;
mod events;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::SessionCommand;
pub use error::SessionError;
pub use events::SessionEvent;

use super::SecretHash;
use crate::command::Command;
use crate::ids::{TenantId, UserId};

/// Why a session ended. Serialized in snake_case (`"refresh_token_reused"`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The user signed out.
    Logout,
    /// A spent refresh token of the family was presented again.
    RefreshTokenReused,
    /// The user was disabled.
    UserDisabled,
    /// The user's role changed.
    RoleChanged,
    /// An admin ended the session.
    Admin,
}

impl RevocationReason {
    /// The stable snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::RefreshTokenReused => "refresh_token_reused",
            RevocationReason::UserDisabled => "user_disabled",
            RevocationReason::RoleChanged => "role_changed",
            RevocationReason::Admin => "admin",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one session, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    tenant_id: Option<TenantId>,
    user_id: Option<UserId>,
    /// The generation of the only refresh token that works; 0 before start.
    generation: u32,
    /// The hash of that token.
    refresh_hash: Option<SecretHash>,
    expires_at: Option<DateTime<Utc>>,
    revocation_reason: Option<RevocationReason>,
    version: u64,
}

impl Session {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before the session starts.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the session has started.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The signed-in user.
    pub fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    /// The generation of the current refresh token (1 after start, one
    /// more per refresh; 0 before start).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// When the current refresh token expires.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Whether the session ended: none of its tokens work any more.
    pub fn is_revoked(&self) -> bool {
        self.revocation_reason.is_some()
    }

    /// Why the session ended.
    pub fn revocation_reason(&self) -> Option<RevocationReason> {
        self.revocation_reason
    }
}

impl Aggregate for Session {
    const TYPE: &'static str = "Session";
    type Command = Command<SessionCommand>;
    type Event = SessionEvent;
    type Error = SessionError;
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
            SessionEvent::SessionStarted {
                tenant_id,
                user_id,
                generation,
                refresh_hash,
                expires_at,
            } => {
                self.tenant_id = Some(tenant_id);
                self.user_id = Some(user_id);
                self.generation = generation;
                self.refresh_hash = Some(refresh_hash);
                self.expires_at = Some(expires_at);
            }
            SessionEvent::SessionRefreshed {
                generation,
                refresh_hash,
                expires_at,
            } => {
                self.generation = generation;
                self.refresh_hash = Some(refresh_hash);
                self.expires_at = Some(expires_at);
            }
            SessionEvent::SessionRevoked { reason } => self.revocation_reason = Some(reason),
        }
        self.version += 1;
    }
}
