//! What can be asked of a user, and the rules that decide which events
//! each request produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Account, User, UserError, UserEvent};
use crate::access::Role;
use crate::command::Command;
use crate::identity::{Email, SecretHash};
use crate::ids::TenantId;
use crate::text;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A request to change a user. Send `Create` and `Invite` to the aggregate
/// whose id is [`crate::ids::UserId::for_email`] of the envelope's tenant
/// and `email`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserCommand {
    /// Create an active member directly, with a password (admin
    /// bootstrap).
    Create {
        /// The member's email.
        email: Email,
        /// 1 to 200 characters after trimming.
        display_name: String,
        /// The member's role.
        role: Role,
        /// The hash of the initial password.
        password_hash: SecretHash,
    },
    /// Invite someone; inviting a still-pending user replaces the earlier
    /// invitation (and its role).
    Invite {
        /// The invitee's email.
        email: Email,
        /// The role they get on accepting.
        role: Role,
        /// The hash of the invitation secret handed to the invitee.
        invitation_hash: SecretHash,
        /// When the invitation lapses.
        expires_at: DateTime<Utc>,
    },
    /// The invitee accepts: names themselves and sets a password.
    AcceptInvitation {
        /// The hash of the invitation secret presented.
        invitation_hash: SecretHash,
        /// 1 to 200 characters after trimming.
        display_name: String,
        /// The hash of the chosen password.
        password_hash: SecretHash,
        /// The current time, to check the invitation has not lapsed.
        now: DateTime<Utc>,
    },
    /// Give the user another role; the current role is a no-op.
    ChangeRole {
        /// The new role.
        role: Role,
    },
    /// Replace the password of a member; the current hash is a no-op.
    ChangePassword {
        /// The hash of the new password.
        password_hash: SecretHash,
    },
    /// Stop the user from signing in; repeating it is a no-op.
    Disable,
    /// Undo `Disable`; on a user that is not disabled, a no-op.
    Enable,
}

impl User {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<UserCommand>,
    ) -> Result<Vec<UserEvent>, UserError> {
        let creates = matches!(
            command.body,
            UserCommand::Create { .. } | UserCommand::Invite { .. }
        );
        command.check_envelope(self.tenant_id(), self.version, creates)?;
        let tenant_id = command.tenant_id;
        let Some(account) = &self.account else {
            return match command.body {
                UserCommand::Create {
                    email,
                    display_name,
                    role,
                    password_hash,
                } => create(tenant_id, email, &display_name, role, password_hash),
                UserCommand::Invite {
                    email,
                    role,
                    invitation_hash,
                    expires_at,
                } => Ok(vec![UserEvent::UserInvited {
                    tenant_id,
                    email,
                    role,
                    invitation_hash,
                    expires_at,
                }]),
                // The envelope check let only creating commands through.
                _ => Err(UserError::NotFound),
            };
        };
        if account.disabled {
            return decide_disabled(account, command.body);
        }
        match command.body {
            UserCommand::Create { .. } => Err(UserError::AlreadyExists {
                email: account.email.clone(),
            }),
            UserCommand::Invite {
                email,
                role,
                invitation_hash,
                expires_at,
            } => {
                check_same_email(account, &email)?;
                if account.accepted {
                    return Err(UserError::AlreadyMember { email });
                }
                Ok(vec![UserEvent::UserInvited {
                    tenant_id,
                    email,
                    role,
                    invitation_hash,
                    expires_at,
                }])
            }
            UserCommand::AcceptInvitation {
                invitation_hash,
                display_name,
                password_hash,
                now,
            } => accept(account, &invitation_hash, &display_name, password_hash, now),
            UserCommand::ChangeRole { role } if role == account.role => Ok(vec![]),
            UserCommand::ChangeRole { role } => Ok(vec![UserEvent::UserRoleChanged {
                from: account.role,
                to: role,
            }]),
            UserCommand::ChangePassword { password_hash } => {
                if !account.accepted {
                    return Err(UserError::NotYetMember {
                        email: account.email.clone(),
                    });
                }
                if account.password_hash.as_ref() == Some(&password_hash) {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::PasswordSet { password_hash }])
            }
            UserCommand::Disable => Ok(vec![UserEvent::UserDisabled]),
            UserCommand::Enable => Ok(vec![]),
        }
    }
}

fn create(
    tenant_id: TenantId,
    email: Email,
    display_name: &str,
    role: Role,
    password_hash: SecretHash,
) -> Result<Vec<UserEvent>, UserError> {
    let display_name = text::bounded(display_name, MAX_DISPLAY_NAME_CHARS, false)
        .map_err(UserError::InvalidDisplayName)?;
    Ok(vec![
        UserEvent::UserCreated {
            tenant_id,
            email,
            display_name,
            role,
        },
        UserEvent::PasswordSet { password_hash },
    ])
}

/// A disabled user accepts only `Disable` (a no-op) and `Enable`.
fn decide_disabled(account: &Account, body: UserCommand) -> Result<Vec<UserEvent>, UserError> {
    match body {
        UserCommand::Disable => Ok(vec![]),
        UserCommand::Enable => Ok(vec![UserEvent::UserEnabled]),
        // Answered like any unusable invitation: holding an invitation
        // link must not tell whether its user was disabled since.
        UserCommand::AcceptInvitation { .. } => Err(UserError::InvitationInvalid),
        _ => Err(UserError::Disabled {
            email: account.email.clone(),
        }),
    }
}

/// One rejection for a wrong secret, a lapsed invitation and no pending
/// invitation at all, so a failed attempt reveals nothing.
fn accept(
    account: &Account,
    invitation_hash: &SecretHash,
    display_name: &str,
    password_hash: SecretHash,
    now: DateTime<Utc>,
) -> Result<Vec<UserEvent>, UserError> {
    let usable = account.invitation.as_ref().is_some_and(|invitation| {
        invitation.hash == *invitation_hash && now < invitation.expires_at
    });
    if account.accepted || !usable {
        return Err(UserError::InvitationInvalid);
    }
    let display_name = text::bounded(display_name, MAX_DISPLAY_NAME_CHARS, false)
        .map_err(UserError::InvalidDisplayName)?;
    Ok(vec![
        UserEvent::InvitationAccepted { display_name },
        UserEvent::PasswordSet { password_hash },
    ])
}

/// The id is derived from the email, so an existing user can only be
/// addressed with its own email; anything else is a caller's bug that would
/// break that derivation.
fn check_same_email(account: &Account, email: &Email) -> Result<(), UserError> {
    if *email == account.email {
        return Ok(());
    }
    Err(UserError::EmailMismatch {
        existing: account.email.clone(),
        given: email.clone(),
    })
}
