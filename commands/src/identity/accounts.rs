//! Members of a tenant: invitations, registration, roles, disabling.

use ::auth::password::{hash_password, PasswordPolicy};
use ::auth::tokens::{hash_secret, InvitationString};
use ::auth::Secret;
use chrono::{DateTime, Utc};
use domain::access::Role;
use domain::error::ErrorKind;
use domain::identity::{Email, SecretHash, UserCommand};
use domain::ids::UserId;

use super::authenticate::{AuthError, Authenticated};
use super::sessions::{user_context, IssuedTokens};
use super::Identity;
use crate::context::CommandContext;
use crate::error::CommandError;
use crate::service::CommandOutcome;

/// An invitation to hand to the invitee (shown once).
#[derive(Debug)]
pub struct Invitation {
    /// The invited user's id.
    pub user_id: UserId,
    /// The token `register` takes.
    pub token: Secret,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

pub(super) fn caller_context(caller: &Authenticated, trace_id: &str) -> CommandContext {
    let mut ctx = CommandContext::new(caller.tenant_id, caller.actor());
    ctx.trace_id = trace_id.to_owned();
    ctx
}

/// Hashes a password that passed the policy, off the async threads.
pub(super) async fn hash_new_password(password: &Secret) -> Result<SecretHash, CommandError> {
    PasswordPolicy::check(password)
        .map_err(|err| CommandError::rejected(ErrorKind::Validation, err.to_string()))?;
    let password = password.clone();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|err| CommandError::Internal(err.to_string()))?
        .map(SecretHash::new)
        .map_err(|err| CommandError::Internal(err.to_string()))
}

impl Identity {
    /// Invites `email` into the caller's tenant with `role`.
    pub async fn invite_user(
        &self,
        caller: &Authenticated,
        email: &str,
        role: Role,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Invitation, CommandError> {
        let email = Email::parse(email)
            .map_err(|err| CommandError::rejected(ErrorKind::Validation, err.to_string()))?;
        let user_id = UserId::for_email(caller.tenant_id, &email);
        let invitation = InvitationString::generate(user_id.0);
        let expires_at = now + self.config.invitation_ttl;
        let invite = UserCommand::Invite {
            email,
            role,
            invitation_hash: SecretHash::new(hash_secret(&invitation.secret)),
            expires_at,
        };
        let ctx = caller_context(caller, trace_id);
        self.commands
            .execute(
                &self.users,
                "InviteUser",
                &ctx,
                &user_id.to_string(),
                invite,
                None,
            )
            .await?;
        Ok(Invitation {
            user_id,
            token: invitation.to_secret(),
            expires_at,
        })
    }

    /// Completes an invitation: sets the password and signs the user in.
    pub async fn register(
        &self,
        invitation: &Secret,
        display_name: &str,
        password: &Secret,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, AuthError> {
        let presented =
            InvitationString::parse(invitation.expose()).map_err(|_| AuthError::Rejected {
                reason: "malformed invitation",
            })?;
        let user_key = presented.user_id.to_string();
        self.directory.forget(&user_key);
        let user = self.directory.user(&user_key).await?;
        let Some(tenant_id) = user.tenant_id() else {
            return Err(AuthError::Rejected {
                reason: "unknown invitation",
            });
        };
        let password_hash = hash_new_password(password).await?;
        let accept = UserCommand::AcceptInvitation {
            invitation_hash: SecretHash::new(hash_secret(&presented.secret)),
            display_name: display_name.to_owned(),
            password_hash,
            now,
        };
        let user_id = UserId(presented.user_id);
        let ctx = user_context(tenant_id, user_id, trace_id);
        self.commands
            .execute(
                &self.users,
                "AcceptInvitation",
                &ctx,
                &user_key,
                accept,
                None,
            )
            .await?;
        self.directory.forget(&user_key);
        let user = self.directory.user(&user_key).await?;
        self.start_session(tenant_id, user_id, &user, trace_id, now)
            .await
    }

    /// Gives a member another role; applies to their issued tokens within
    /// the directory's trust time.
    pub async fn change_role(
        &self,
        caller: &Authenticated,
        user_id: UserId,
        role: Role,
        expected_version: Option<u64>,
        trace_id: &str,
    ) -> Result<CommandOutcome, CommandError> {
        let ctx = caller_context(caller, trace_id);
        let change = UserCommand::ChangeRole { role };
        let outcome = self
            .commands
            .execute(
                &self.users,
                "ChangeUserRole",
                &ctx,
                &user_id.to_string(),
                change,
                expected_version,
            )
            .await?;
        self.directory.forget(&user_id.to_string());
        Ok(outcome)
    }

    /// Disables a member: every token of theirs stops working.
    pub async fn disable_user(
        &self,
        caller: &Authenticated,
        user_id: UserId,
        trace_id: &str,
    ) -> Result<CommandOutcome, CommandError> {
        let ctx = caller_context(caller, trace_id);
        let outcome = self
            .commands
            .execute(
                &self.users,
                "DisableUser",
                &ctx,
                &user_id.to_string(),
                UserCommand::Disable,
                None,
            )
            .await?;
        self.directory.forget(&user_id.to_string());
        Ok(outcome)
    }

    /// Changes the caller's own password.
    pub async fn change_password(
        &self,
        caller: &Authenticated,
        user_id: UserId,
        password: &Secret,
        trace_id: &str,
    ) -> Result<CommandOutcome, CommandError> {
        let password_hash = hash_new_password(password).await?;
        let ctx = caller_context(caller, trace_id);
        let change = UserCommand::ChangePassword { password_hash };
        self.commands
            .execute(
                &self.users,
                "ChangePassword",
                &ctx,
                &user_id.to_string(),
                change,
                None,
            )
            .await
    }
}
