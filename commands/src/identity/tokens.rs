//! API tokens for machines: created with scopes, shown once, stored as a
//! hash, revocable.

use ::auth::tokens::{hash_secret, ApiTokenString};
use ::auth::Secret;
use chrono::{DateTime, Utc};
use domain::access::{Principal, Scope};
use domain::error::ErrorKind;
use domain::identity::{ApiTokenCommand, SecretHash};
use domain::ids::ApiTokenId;

use super::accounts::caller_context;
use super::authenticate::Authenticated;
use super::Identity;
use crate::error::CommandError;
use crate::service::CommandOutcome;

/// A new API token; `token` is shown to its creator once and never again.
#[derive(Debug)]
pub struct CreatedApiToken {
    /// The token's id (safe to show, list and log).
    pub token_id: ApiTokenId,
    /// The bearer credential.
    pub token: Secret,
    /// Where it was written.
    pub outcome: CommandOutcome,
}

impl Identity {
    /// Creates an API token with `scopes`, which the caller's role must be
    /// able to grant.
    pub async fn create_api_token(
        &self,
        caller: &Authenticated,
        name: &str,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
        trace_id: &str,
    ) -> Result<CreatedApiToken, CommandError> {
        let Principal::User { user_id, role } = &caller.principal else {
            return Err(CommandError::rejected(
                ErrorKind::Validation,
                "API tokens cannot create API tokens; sign in as a user to create one",
            ));
        };
        let token_id = ApiTokenId::new_v7();
        let token = ApiTokenString::generate(token_id.0);
        let create = ApiTokenCommand::Create {
            name: name.to_owned(),
            scopes,
            secret_hash: SecretHash::new(hash_secret(&token.secret)),
            created_by: *user_id,
            creator_role: *role,
            expires_at,
        };
        let ctx = caller_context(caller, trace_id);
        let outcome = self
            .commands
            .execute(
                &self.api_tokens,
                "CreateApiToken",
                &ctx,
                &token_id.to_string(),
                create,
                None,
            )
            .await?;
        Ok(CreatedApiToken {
            token_id,
            token: token.to_secret(),
            outcome,
        })
    }

    /// Revokes an API token of the caller's tenant.
    pub async fn revoke_api_token(
        &self,
        caller: &Authenticated,
        token_id: ApiTokenId,
        reason: Option<String>,
        trace_id: &str,
    ) -> Result<CommandOutcome, CommandError> {
        let ctx = caller_context(caller, trace_id);
        let revoke = ApiTokenCommand::Revoke { reason };
        let outcome = self
            .commands
            .execute(
                &self.api_tokens,
                "RevokeApiToken",
                &ctx,
                &token_id.to_string(),
                revoke,
                None,
            )
            .await?;
        self.directory.forget(&token_id.to_string());
        Ok(outcome)
    }

    /// When each of a tenant's API tokens was last used.
    pub async fn api_token_last_used(
        &self,
        token_id: ApiTokenId,
    ) -> Result<Option<DateTime<Utc>>, CommandError> {
        Ok(
            sqlx::query_scalar("SELECT last_used_at FROM api_token_usage WHERE token_id = $1")
                .bind(token_id.0)
                .fetch_optional(self.commands.pool())
                .await?,
        )
    }
}

impl Identity {
    /// Whether `token_id` is a token of `tenant_id` (another tenant's token
    /// reads as missing).
    pub async fn api_token_belongs_to(
        &self,
        token_id: ApiTokenId,
        tenant_id: domain::ids::TenantId,
    ) -> Result<bool, CommandError> {
        let token = self.directory.api_token(&token_id.to_string()).await?;
        Ok(token.tenant_id() == Some(tenant_id))
    }
}
