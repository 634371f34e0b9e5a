//! What can be asked of a session, and the rules that decide which events
//! each request produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RevocationReason, Session, SessionError, SessionEvent};
use crate::command::Command;
use crate::identity::SecretHash;
use crate::ids::UserId;

/// A request to change a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionCommand {
    /// Start the session with its first refresh token (generation 1).
    Start {
        /// The user who signed in.
        user_id: UserId,
        /// The hash of the first refresh token.
        refresh_hash: SecretHash,
        /// When that token expires.
        expires_at: DateTime<Utc>,
    },
    /// Trade the current refresh token for the next one.
    ///
    /// **Reuse is answered with `Ok`, not an error.** When the presented
    /// token is an older generation of the family, or its hash does not
    /// match, the command emits `SessionRevoked { reason:
    /// RefreshTokenReused }` and succeeds: the revocation must be committed
    /// (an error would roll it back and leave the thief's token working).
    /// The caller must therefore inspect the session after every `Refresh`
    /// and refuse to issue tokens when [`Session::is_revoked`] is true.
    Refresh {
        /// The generation written in the presented token.
        generation: u32,
        /// The hash of the presented token's secret.
        presented_hash: SecretHash,
        /// The hash of the next token's secret.
        new_hash: SecretHash,
        /// When the next token expires.
        new_expires_at: DateTime<Utc>,
        /// The current time, to check the presented token has not expired.
        now: DateTime<Utc>,
    },
    /// End the session; repeating it is a no-op (the first reason stays).
    Revoke {
        /// Why.
        reason: RevocationReason,
    },
}

impl Session {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<SessionCommand>,
    ) -> Result<Vec<SessionEvent>, SessionError> {
        let creates = matches!(command.body, SessionCommand::Start { .. });
        command.check_envelope(self.tenant_id, self.version, creates)?;
        match command.body {
            SessionCommand::Start {
                user_id,
                refresh_hash,
                expires_at,
            } => {
                if self.exists() {
                    return Err(SessionError::AlreadyExists);
                }
                Ok(vec![SessionEvent::SessionStarted {
                    tenant_id: command.tenant_id,
                    user_id,
                    generation: 1,
                    refresh_hash,
                    expires_at,
                }])
            }
            SessionCommand::Refresh {
                generation,
                presented_hash,
                new_hash,
                new_expires_at,
                now,
            } => self.refresh(generation, &presented_hash, new_hash, new_expires_at, now),
            SessionCommand::Revoke { .. } if self.is_revoked() => Ok(vec![]),
            SessionCommand::Revoke { reason } => Ok(vec![SessionEvent::SessionRevoked { reason }]),
        }
    }

    /// See [`SessionCommand::Refresh`]: a reused or wrong token revokes the
    /// family and returns `Ok` so that the revocation is committed.
    fn refresh(
        &self,
        generation: u32,
        presented_hash: &SecretHash,
        new_hash: SecretHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEvent>, SessionError> {
        if self.is_revoked() {
            return Err(SessionError::Revoked);
        }
        if self.expires_at.is_none_or(|at| now >= at) {
            return Err(SessionError::Expired);
        }
        if generation > self.generation {
            return Err(SessionError::GenerationAhead {
                presented: generation,
                current: self.generation,
            });
        }
        let is_current =
            generation == self.generation && self.refresh_hash.as_ref() == Some(presented_hash);
        if !is_current {
            return Ok(vec![SessionEvent::SessionRevoked {
                reason: RevocationReason::RefreshTokenReused,
            }]);
        }
        // Four billion refreshes cannot happen within a token's lifetime;
        // should the counter ever run out, the family simply ends.
        let Some(next) = self.generation.checked_add(1) else {
            return Err(SessionError::Expired);
        };
        Ok(vec![SessionEvent::SessionRefreshed {
            generation: next,
            refresh_hash: new_hash,
            expires_at: new_expires_at,
        }])
    }
}
