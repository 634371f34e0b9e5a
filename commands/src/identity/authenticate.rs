//! Turning a bearer credential into a caller: an access token (JWT) of a
//! live session of an active user, or an API token that is neither revoked
//! nor expired. The caller's role is read from the user as it is now, not
//! from the token, so a role change applies to tokens already issued.

use ::auth::tokens::{constant_time_eq, hash_secret, ApiTokenString};
use chrono::{DateTime, Utc};
use domain::access::{Permission, Principal};
use domain::ids::{ApiTokenId, SessionId, TenantId, UserId};

use super::Identity;
use crate::error::CommandError;

/// A caller whose credential checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The tenant every read and write of the request is confined to.
    pub tenant_id: TenantId,
    /// The user (with their current role) or the API token (with its scopes).
    pub principal: Principal,
    /// The session of an access token.
    pub session_id: Option<SessionId>,
}

impl Authenticated {
    /// Whether the caller may do what `permission` names.
    pub fn allows(&self, permission: Permission) -> bool {
        self.principal.allows(permission)
    }

    /// The caller as recorded in event metadata.
    pub fn actor(&self) -> String {
        self.principal.actor()
    }
}

/// Why a credential was refused. Clients only ever learn "invalid or
/// expired"; `reason` is for the log.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential is not valid now.
    #[error("invalid or expired credentials")]
    Rejected {
        /// What exactly failed (never includes the credential).
        reason: &'static str,
    },
    /// The directory could not be read.
    #[error("authentication is temporarily unavailable")]
    Unavailable(#[from] CommandError),
}

fn rejected(reason: &'static str) -> AuthError {
    AuthError::Rejected { reason }
}

impl Identity {
    /// Checks the credential of an `Authorization: Bearer` header.
    pub async fn authenticate(
        &self,
        bearer: &str,
        now: DateTime<Utc>,
    ) -> Result<Authenticated, AuthError> {
        if bearer.starts_with("jsp_at_") {
            return self.authenticate_api_token(bearer, now).await;
        }
        let claims = self
            .jwt
            .verify(bearer, now)
            .map_err(|_| rejected("access token failed verification"))?;
        let tenant_id = TenantId(claims.tid);
        let session = self.directory.session(&claims.sid.to_string()).await?;
        if session.tenant_id() != Some(tenant_id) || session.user_id() != Some(UserId(claims.sub)) {
            return Err(rejected("access token does not match its session"));
        }
        if session.is_revoked() {
            return Err(rejected("session revoked"));
        }
        let user = self.directory.user(&claims.sub.to_string()).await?;
        if user.tenant_id() != Some(tenant_id) || !user.is_active() {
            return Err(rejected("user missing, disabled or of another tenant"));
        }
        let role = user.role().ok_or_else(|| rejected("user has no role"))?;
        Ok(Authenticated {
            tenant_id,
            principal: Principal::User {
                user_id: UserId(claims.sub),
                role,
            },
            session_id: Some(SessionId(claims.sid)),
        })
    }

    async fn authenticate_api_token(
        &self,
        bearer: &str,
        now: DateTime<Utc>,
    ) -> Result<Authenticated, AuthError> {
        let presented =
            ApiTokenString::parse(bearer).map_err(|_| rejected("malformed API token"))?;
        let token = self
            .directory
            .api_token(&presented.token_id.to_string())
            .await?;
        let Some(tenant_id) = token.tenant_id() else {
            return Err(rejected("unknown API token"));
        };
        let Some(stored_hash) = token.secret_hash() else {
            return Err(rejected("unknown API token"));
        };
        if !constant_time_eq(&hash_secret(&presented.secret), stored_hash.expose()) {
            return Err(rejected("API token secret mismatch"));
        }
        if token.is_revoked() {
            return Err(rejected("API token revoked"));
        }
        if token.expires_at().is_some_and(|at| at <= now) {
            return Err(rejected("API token expired"));
        }
        // A token can never do more than its creator may do now: a disabled
        // creator's tokens stop working, a demoted creator's tokens lose the
        // scopes the new role could not grant.
        let Some(creator_id) = token.created_by() else {
            return Err(rejected("API token without a creator"));
        };
        let creator = self.directory.user(&creator_id.to_string()).await?;
        let Some(creator_role) = creator.role().filter(|_| creator.is_active()) else {
            return Err(rejected("the API token's creator is no longer active"));
        };
        let scopes: Vec<_> = token
            .scopes()
            .iter()
            .copied()
            .filter(|scope| scope.grantable_by(creator_role))
            .collect();
        let token_id = ApiTokenId(presented.token_id);
        self.record_token_use(token_id, now);
        Ok(Authenticated {
            tenant_id,
            principal: Principal::ApiToken { token_id, scopes },
            session_id: None,
        })
    }

    /// Updates the token's last-used time at most once a minute, off the
    /// request's path.
    fn record_token_use(&self, token_id: ApiTokenId, now: DateTime<Utc>) {
        let pool = self.commands.pool().clone();
        tokio::spawn(async move {
            let result = sqlx::query(
                "INSERT INTO api_token_usage (token_id, last_used_at) VALUES ($1, $2)
                 ON CONFLICT (token_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
                  WHERE api_token_usage.last_used_at < EXCLUDED.last_used_at - interval '60 seconds'",
            )
            .bind(token_id.0)
            .bind(now)
            .execute(&pool)
            .await;
            if let Err(err) = result {
                tracing::warn!(error = %err, %token_id, "could not record API token use");
            }
        });
    }
}
