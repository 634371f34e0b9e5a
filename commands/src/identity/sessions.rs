//! Login, refresh-token rotation and logout.
//!
//! A session is one refresh-token family. Each refresh rotates the token;
//! presenting a token of the family that was already used revokes the whole
//! family (the aggregate commits that revocation, then we refuse).

use ::auth::password::verify_password;
use ::auth::tokens::{generate_secret, hash_secret, RefreshTokenString};
use ::auth::Secret;
use chrono::{DateTime, Utc};
use domain::identity::{Email, RevocationReason, SecretHash, SessionCommand, User};
use domain::ids::{SessionId, TenantId, UserId};

use super::authenticate::{AuthError, Authenticated};
use super::Identity;
use crate::context::CommandContext;

/// What a successful login, registration or refresh hands the client.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The JWT access token (15 minutes).
    pub access_token: Secret,
    /// When it expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token (single use, 30 days).
    pub refresh_token: Secret,
    /// When it expires.
    pub refresh_expires_at: DateTime<Utc>,
    /// The session (refresh-token family).
    pub session_id: SessionId,
    /// Who signed in.
    pub user_id: UserId,
    /// Where.
    pub tenant_id: TenantId,
}

fn rejected(reason: &'static str) -> AuthError {
    AuthError::Rejected { reason }
}

/// A context for identity commands: the actor is the user concerned.
pub(super) fn user_context(tenant_id: TenantId, user_id: UserId, trace_id: &str) -> CommandContext {
    let mut ctx = CommandContext::new(tenant_id, format!("user:{user_id}"));
    ctx.trace_id = trace_id.to_owned();
    ctx
}

impl Identity {
    /// Signs a user in with email and password.
    pub async fn login(
        &self,
        tenant_id: TenantId,
        email: &str,
        password: &Secret,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, AuthError> {
        let email = Email::parse(email).map_err(|_| rejected("malformed email"))?;
        let user_id = UserId::for_email(tenant_id, &email);
        self.directory.forget(&user_id.to_string());
        let user = self.directory.user(&user_id.to_string()).await?;
        // Verify even for unknown users, so timing does not tell who exists.
        let stored = user
            .password_hash()
            .map(|h| h.expose().to_owned())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let password = password.clone();
        let verified = tokio::task::spawn_blocking(move || verify_password(&stored, &password))
            .await
            .unwrap_or(false);
        if !verified || user.tenant_id() != Some(tenant_id) || !user.is_active() {
            return Err(rejected(
                "wrong email, password or tenant, or user not active",
            ));
        }
        self.start_session(tenant_id, user_id, &user, trace_id, now)
            .await
    }

    pub(super) async fn start_session(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        user: &User,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, AuthError> {
        let session_id = SessionId::new_v7();
        let refresh = RefreshTokenString::generate(session_id.0, 1);
        let refresh_expires_at = now + self.config.refresh_ttl;
        let start = SessionCommand::Start {
            user_id,
            refresh_hash: SecretHash::new(hash_secret(&refresh.secret)),
            expires_at: refresh_expires_at,
        };
        let ctx = user_context(tenant_id, user_id, trace_id);
        self.commands
            .execute(
                &self.sessions,
                "StartSession",
                &ctx,
                &session_id.to_string(),
                start,
                None,
            )
            .await?;
        let role = user.role().ok_or_else(|| rejected("user has no role"))?;
        let (access_token, claims) =
            self.jwt
                .issue(user_id.0, tenant_id.0, session_id.0, role.as_str(), now);
        Ok(IssuedTokens {
            access_token: Secret::new(access_token),
            access_expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
            refresh_token: refresh.to_secret(),
            refresh_expires_at,
            session_id,
            user_id,
            tenant_id,
        })
    }

    /// Rotates a refresh token: the presented one is spent, a new pair is
    /// issued. A spent token presented again revokes the whole session.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, AuthError> {
        let presented = RefreshTokenString::parse(refresh_token.expose())
            .map_err(|_| rejected("malformed refresh token"))?;
        let session_key = presented.session_id.to_string();
        self.directory.forget(&session_key);
        let session = self.directory.session(&session_key).await?;
        let (Some(tenant_id), Some(user_id)) = (session.tenant_id(), session.user_id()) else {
            return Err(rejected("unknown session"));
        };
        let next = RefreshTokenString::generate(presented.session_id, presented.generation + 1);
        let refresh_expires_at = now + self.config.refresh_ttl;
        let command = SessionCommand::Refresh {
            generation: presented.generation,
            presented_hash: SecretHash::new(hash_secret(&presented.secret)),
            new_hash: SecretHash::new(hash_secret(&next.secret)),
            new_expires_at: refresh_expires_at,
            now,
        };
        let ctx = user_context(tenant_id, user_id, trace_id);
        self.commands
            .execute(
                &self.sessions,
                "RefreshSession",
                &ctx,
                &session_key,
                command,
                None,
            )
            .await
            .map_err(|_| rejected("session revoked or expired"))?;
        self.directory.forget(&session_key);
        let session = self.directory.session(&session_key).await?;
        if session.is_revoked() {
            tracing::warn!(session_id = %session_key, "refresh token reused: session revoked");
            return Err(rejected("refresh token reused; the session is revoked"));
        }
        self.directory.forget(&user_id.to_string());
        let user = self.directory.user(&user_id.to_string()).await?;
        if !user.is_active() {
            return Err(rejected("user not active"));
        }
        let role = user.role().ok_or_else(|| rejected("user has no role"))?;
        let (access_token, claims) = self.jwt.issue(
            user_id.0,
            tenant_id.0,
            presented.session_id,
            role.as_str(),
            now,
        );
        Ok(IssuedTokens {
            access_token: Secret::new(access_token),
            access_expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
            refresh_token: next.to_secret(),
            refresh_expires_at,
            session_id: SessionId(presented.session_id),
            user_id,
            tenant_id,
        })
    }

    /// Ends the caller's session: its access and refresh tokens stop working
    /// (everywhere within the directory's trust time).
    pub async fn logout(&self, caller: &Authenticated, trace_id: &str) -> Result<(), AuthError> {
        let Some(session_id) = caller.session_id else {
            return Err(rejected(
                "API tokens have no session; revoke the token instead",
            ));
        };
        let mut ctx = CommandContext::new(caller.tenant_id, caller.actor());
        ctx.trace_id = trace_id.to_owned();
        let revoke = SessionCommand::Revoke {
            reason: RevocationReason::Logout,
        };
        self.commands
            .execute(
                &self.sessions,
                "RevokeSession",
                &ctx,
                &session_id.to_string(),
                revoke,
                None,
            )
            .await?;
        self.directory.forget(&session_id.to_string());
        Ok(())
    }
}

/// A valid argon2id hash of a random password nobody knows, verified against
/// when the user does not exist so both paths cost the same.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0HGIeMBFGvA7hPsqKBBCMhgmvOQpN1Cp1Pmjv5E4oJc";

/// A fresh random secret, for unusable passwords.
pub(super) fn random_secret() -> Secret {
    generate_secret()
}
