//! Sign-in, sessions, members and API tokens.
//!
//! Tokens and passwords appear in exactly two places: the arguments that
//! carry them in, and the one response that hands a new token out.

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use auth::Secret;
use chrono::{DateTime, Utc};
use commands::identity::{AuthError, Identity, IssuedTokens};
use domain::access::{Permission, Principal, Role, Scope};
use domain::ids::{ApiTokenId, TenantId, UserId};

use super::errors::{coded, command_error, ErrorCode};
use super::result::{parse_uuid, CommandResult};
use crate::caller::{caller_of, require};

/// Identity queries.
#[derive(Default)]
pub struct IdentityQuery;

/// Identity mutations.
#[derive(Default)]
pub struct IdentityMutation;

/// A member's role in a tenant.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role")]
enum RoleInput {
    Admin,
    User,
    Executor,
    Viewer,
}

impl From<RoleInput> for Role {
    fn from(role: RoleInput) -> Self {
        match role {
            RoleInput::Admin => Role::Admin,
            RoleInput::User => Role::User,
            RoleInput::Executor => Role::Executor,
            RoleInput::Viewer => Role::Viewer,
        }
    }
}

/// Tokens for a signed-in user. Keep the refresh token secret: it is
/// single-use, and a spent one presented again ends the whole session.
#[derive(SimpleObject)]
struct AuthPayload {
    access_token: String,
    access_token_expires_at: DateTime<Utc>,
    refresh_token: String,
    refresh_token_expires_at: DateTime<Utc>,
    token_type: &'static str,
    user_id: ID,
    tenant_id: ID,
}

impl From<IssuedTokens> for AuthPayload {
    fn from(tokens: IssuedTokens) -> Self {
        Self {
            access_token: tokens.access_token.expose().to_owned(),
            access_token_expires_at: tokens.access_expires_at,
            refresh_token: tokens.refresh_token.expose().to_owned(),
            refresh_token_expires_at: tokens.refresh_expires_at,
            token_type: "Bearer",
            user_id: ID(tokens.user_id.to_string()),
            tenant_id: ID(tokens.tenant_id.to_string()),
        }
    }
}

/// A new API token. `token` is shown here once and never again.
#[derive(SimpleObject)]
struct CreatedApiTokenPayload {
    id: ID,
    token: String,
    result: CommandResult,
}

/// An invitation to hand to the invitee; `token` is shown once.
#[derive(SimpleObject)]
struct InvitationPayload {
    user_id: ID,
    invitation_token: String,
    expires_at: DateTime<Utc>,
}

/// Who the caller is.
#[derive(SimpleObject)]
struct Me {
    tenant_id: ID,
    /// `user` or `api_token`.
    kind: &'static str,
    /// The user's or the token's id.
    id: ID,
    /// The user's current role (users only).
    role: Option<String>,
    /// The token's scopes (API tokens only).
    scopes: Vec<String>,
}

/// Input of `createApiToken`.
#[derive(InputObject)]
struct CreateApiTokenInput {
    name: String,
    /// Any of read:workflows, write:workflows, execute:workflows,
    /// read:executions, manage:integrations, admin:all.
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

fn identity<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Arc<Identity>> {
    ctx.data::<Arc<Identity>>()
}

fn auth_error(err: AuthError, trace_id: &str) -> async_graphql::Error {
    match err {
        AuthError::Rejected { reason } => {
            tracing::info!(reason, trace_id, "sign-in refused");
            coded(
                ErrorCode::Unauthenticated,
                "invalid credentials, or the token expired or was revoked",
            )
        }
        AuthError::Unavailable(err) => command_error(err, trace_id),
    }
}

#[Object]
impl IdentityQuery {
    /// The caller, as the server sees them.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let caller = caller_of(ctx)?;
        let Some(authenticated) = &caller.authenticated else {
            return Err(coded(ErrorCode::Unauthenticated, "sign in first"));
        };
        let tenant_id = ID(authenticated.tenant_id.to_string());
        Ok(match &authenticated.principal {
            Principal::User { user_id, role } => Me {
                tenant_id,
                kind: "user",
                id: ID(user_id.to_string()),
                role: Some(role.as_str().to_owned()),
                scopes: Vec::new(),
            },
            Principal::ApiToken { token_id, scopes } => Me {
                tenant_id,
                kind: "api_token",
                id: ID(token_id.to_string()),
                role: None,
                scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            },
        })
    }

    /// When an API token of the caller's tenant was last used.
    async fn api_token_last_used(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        let (authenticated, caller) = require(ctx, Permission::ManageApiTokens)?;
        let token_id = ApiTokenId(parse_uuid("id", &id)?);
        let identity = identity(ctx)?;
        if !identity
            .api_token_belongs_to(token_id, authenticated.tenant_id)
            .await
            .map_err(|err| command_error(err, &caller.trace_id))?
        {
            return Err(coded(
                ErrorCode::NotFound,
                format!("API token {} does not exist", id.as_str()),
            ));
        }
        identity
            .api_token_last_used(token_id)
            .await
            .map_err(|err| command_error(err, &caller.trace_id))
    }
}

#[Object]
impl IdentityMutation {
    /// Signs in with email and password in a tenant.
    async fn login(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let caller = caller_of(ctx)?;
        let tenant_id = TenantId(parse_uuid("tenantId", &tenant_id)?);
        identity(ctx)?
            .login(
                tenant_id,
                &email,
                &Secret::new(password),
                &caller.trace_id,
                Utc::now(),
            )
            .await
            .map(AuthPayload::from)
            .map_err(|err| auth_error(err, &caller.trace_id))
    }

    /// Accepts an invitation: sets a password and signs in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        invitation_token: String,
        display_name: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let caller = caller_of(ctx)?;
        identity(ctx)?
            .register(
                &Secret::new(invitation_token),
                &display_name,
                &Secret::new(password),
                &caller.trace_id,
                Utc::now(),
            )
            .await
            .map(AuthPayload::from)
            .map_err(|err| match err {
                AuthError::Unavailable(err) => command_error(err, &caller.trace_id),
                rejected => auth_error(rejected, &caller.trace_id),
            })
    }

    /// Trades a refresh token for a new access and refresh token.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let caller = caller_of(ctx)?;
        identity(ctx)?
            .refresh(&Secret::new(refresh_token), &caller.trace_id, Utc::now())
            .await
            .map(AuthPayload::from)
            .map_err(|err| auth_error(err, &caller.trace_id))
    }

    /// Ends the caller's session: its tokens stop working within 60 s
    /// everywhere (at once on this server).
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let caller = caller_of(ctx)?;
        let Some(authenticated) = &caller.authenticated else {
            return Err(coded(ErrorCode::Unauthenticated, "sign in first"));
        };
        identity(ctx)?
            .logout(authenticated, &caller.trace_id)
            .await
            .map(|()| true)
            .map_err(|err| auth_error(err, &caller.trace_id))
    }

    /// Invites someone into the caller's tenant (admins).
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: RoleInput,
    ) -> async_graphql::Result<InvitationPayload> {
        let (authenticated, caller) = require(ctx, Permission::ManageMembers)?;
        let invitation = identity(ctx)?
            .invite_user(
                authenticated,
                &email,
                role.into(),
                &caller.trace_id,
                Utc::now(),
            )
            .await
            .map_err(|err| command_error(err, &caller.trace_id))?;
        Ok(InvitationPayload {
            user_id: ID(invitation.user_id.to_string()),
            invitation_token: invitation.token.expose().to_owned(),
            expires_at: invitation.expires_at,
        })
    }

    /// Gives a member another role (admins).
    async fn change_user_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: RoleInput,
    ) -> async_graphql::Result<CommandResult> {
        let (authenticated, caller) = require(ctx, Permission::ManageMembers)?;
        let user_id = UserId(parse_uuid("userId", &user_id)?);
        identity(ctx)?
            .change_role(authenticated, user_id, role.into(), None, &caller.trace_id)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &caller.trace_id))
    }

    /// Disables a member: all their tokens stop working (admins).
    async fn disable_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<CommandResult> {
        let (authenticated, caller) = require(ctx, Permission::ManageMembers)?;
        let user_id = UserId(parse_uuid("userId", &user_id)?);
        identity(ctx)?
            .disable_user(authenticated, user_id, &caller.trace_id)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &caller.trace_id))
    }

    /// Creates an API token with scopes; the token is in this response only.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreatedApiTokenPayload> {
        let (authenticated, caller) = require(ctx, Permission::ManageApiTokens)?;
        let scopes = input
            .scopes
            .iter()
            .map(|s| {
                s.parse::<Scope>()
                    .map_err(|err| coded(ErrorCode::Validation, err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let created = identity(ctx)?
            .create_api_token(
                authenticated,
                &input.name,
                scopes,
                input.expires_at,
                &caller.trace_id,
            )
            .await
            .map_err(|err| command_error(err, &caller.trace_id))?;
        Ok(CreatedApiTokenPayload {
            id: ID(created.token_id.to_string()),
            token: created.token.expose().to_owned(),
            result: created.outcome.into(),
        })
    }

    /// Revokes an API token of the caller's tenant.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<CommandResult> {
        let (authenticated, caller) = require(ctx, Permission::ManageApiTokens)?;
        let token_id = ApiTokenId(parse_uuid("id", &id)?);
        identity(ctx)?
            .revoke_api_token(authenticated, token_id, reason, &caller.trace_id)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &caller.trace_id))
    }
}
