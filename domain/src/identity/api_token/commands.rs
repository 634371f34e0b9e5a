//! What can be asked of an API token, and the rules that decide which
//! events each request produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiToken, ApiTokenError, ApiTokenEvent};
use crate::access::{Role, Scope};
use crate::command::Command;
use crate::identity::SecretHash;
use crate::ids::UserId;
use crate::text;

/// Longest token name, in characters.
pub const MAX_TOKEN_NAME_CHARS: usize = 200;
/// Longest revocation reason, in characters.
pub const MAX_REVOCATION_REASON_CHARS: usize = 500;

/// A request to change an API token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiTokenCommand {
    /// Create the token.
    Create {
        /// 1 to 200 characters after trimming.
        name: String,
        /// At least one scope, each listed once, each grantable by
        /// `creator_role` ([`Scope::grantable_by`]).
        scopes: Vec<Scope>,
        /// The hash of the token's secret.
        secret_hash: SecretHash,
        /// The user creating it.
        created_by: UserId,
        /// That user's role now, which bounds the scopes.
        creator_role: Role,
        /// When it stops working; `None` for never.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Stop the token from working; repeating it is a no-op.
    Revoke {
        /// Why (trimmed, at most 500 characters; blank means none).
        reason: Option<String>,
    },
}

impl ApiToken {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<ApiTokenCommand>,
    ) -> Result<Vec<ApiTokenEvent>, ApiTokenError> {
        let creates = matches!(command.body, ApiTokenCommand::Create { .. });
        command.check_envelope(self.tenant_id, self.version, creates)?;
        match command.body {
            ApiTokenCommand::Create {
                name,
                scopes,
                secret_hash,
                created_by,
                creator_role,
                expires_at,
            } => {
                if self.exists() {
                    return Err(ApiTokenError::AlreadyExists);
                }
                let name = text::bounded(&name, MAX_TOKEN_NAME_CHARS, false)
                    .map_err(ApiTokenError::InvalidName)?;
                check_scopes(&scopes, creator_role)?;
                Ok(vec![ApiTokenEvent::ApiTokenCreated {
                    tenant_id: command.tenant_id,
                    name,
                    scopes,
                    secret_hash,
                    created_by,
                    expires_at,
                }])
            }
            ApiTokenCommand::Revoke { reason } => {
                if self.revoked {
                    return Ok(vec![]);
                }
                let reason = reason
                    .map(|r| text::bounded(&r, MAX_REVOCATION_REASON_CHARS, true))
                    .transpose()
                    .map_err(ApiTokenError::InvalidReason)?
                    .filter(|r| !r.is_empty());
                Ok(vec![ApiTokenEvent::ApiTokenRevoked { reason }])
            }
        }
    }
}

/// Duplicates are rejected rather than dropped, so the recorded scopes are
/// exactly the ones asked for.
fn check_scopes(scopes: &[Scope], creator_role: Role) -> Result<(), ApiTokenError> {
    if scopes.is_empty() {
        return Err(ApiTokenError::NoScopes);
    }
    for (index, &scope) in scopes.iter().enumerate() {
        if scopes[..index].contains(&scope) {
            return Err(ApiTokenError::DuplicateScope { scope });
        }
        if !scope.grantable_by(creator_role) {
            return Err(ApiTokenError::ScopeNotGrantable {
                role: creator_role,
                scope,
            });
        }
    }
    Ok(())
}
