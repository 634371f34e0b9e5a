//! The user aggregate: one member of one tenant, from invitation (or
//! creation by bootstrap) through role changes to being disabled.
//!
//! The aggregate id is [`crate::ids::UserId::for_email`] of the tenant and
//! the email, so an email is unique within a tenant through the event
//! store's primary key. Only hashes of passwords and invitation secrets
//! reach this aggregate.

mod commands;
mod error;
mod events;

#[cfg(test)]
mod invitation_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{UserCommand, MAX_DISPLAY_NAME_CHARS};
pub use error::UserError;
pub use events::UserEvent;

use super::{Email, SecretHash};
use crate::access::Role;
use crate::command::Command;
use crate::ids::TenantId;

/// Where a user stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// Invited; cannot sign in until the invitation is accepted.
    Invited,
    /// A member who can sign in.
    Active,
    /// Disabled by an admin: cannot sign in, accepts nothing but
    /// `Disable` and `Enable`.
    Disabled,
}

/// The state of one user, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// `None` until the user is created or invited.
    account: Option<Account>,
    version: u64,
}

/// Everything known about a user that exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    tenant_id: TenantId,
    email: Email,
    /// Empty until the invitation is accepted.
    display_name: String,
    role: Role,
    /// Created directly, or invitation accepted.
    accepted: bool,
    disabled: bool,
    password_hash: Option<SecretHash>,
    /// The pending invitation; cleared on acceptance.
    invitation: Option<Invitation>,
}

impl Account {
    /// A user not yet accepted, without name, password or invitation.
    fn new(tenant_id: TenantId, email: Email, role: Role) -> Self {
        Self {
            tenant_id,
            email,
            display_name: String::new(),
            role,
            accepted: false,
            disabled: false,
            password_hash: None,
            invitation: None,
        }
    }
}

/// A pending invitation: the hash of its secret and when it lapses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Invitation {
    hash: SecretHash,
    expires_at: DateTime<Utc>,
}

impl User {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before creation or invitation.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.account.as_ref().map(|a| a.tenant_id)
    }

    /// Whether the user has been created or invited.
    pub fn exists(&self) -> bool {
        self.account.is_some()
    }

    /// The normalized email.
    pub fn email(&self) -> Option<&Email> {
        self.account.as_ref().map(|a| &a.email)
    }

    /// The display name; empty until the user is created or accepts the
    /// invitation.
    pub fn display_name(&self) -> &str {
        self.account
            .as_ref()
            .map_or("", |a| a.display_name.as_str())
    }

    /// The current role (also while invited or disabled).
    pub fn role(&self) -> Option<Role> {
        self.account.as_ref().map(|a| a.role)
    }

    /// The hash of the current password; `None` until one is set.
    pub fn password_hash(&self) -> Option<&SecretHash> {
        self.account.as_ref()?.password_hash.as_ref()
    }

    /// When the pending invitation lapses; `None` when none is pending.
    pub fn invitation_expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.account.as_ref()?.invitation.as_ref()?.expires_at)
    }

    /// Where the user stands; `None` before creation or invitation.
    pub fn status(&self) -> Option<UserStatus> {
        self.account
            .as_ref()
            .map(|a| match (a.disabled, a.accepted) {
                (true, _) => UserStatus::Disabled,
                (false, true) => UserStatus::Active,
                (false, false) => UserStatus::Invited,
            })
    }

    /// Whether the user may sign in: created or invitation accepted, and
    /// not disabled.
    pub fn is_active(&self) -> bool {
        self.status() == Some(UserStatus::Active)
    }

    /// Whether an admin disabled the user.
    pub fn is_disabled(&self) -> bool {
        self.status() == Some(UserStatus::Disabled)
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = Command<UserCommand>;
    type Event = UserEvent;
    type Error = UserError;
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
        match (self.account.as_mut(), event) {
            (
                _,
                UserEvent::UserCreated {
                    tenant_id,
                    email,
                    display_name,
                    role,
                },
            ) => {
                self.account = Some(Account {
                    accepted: true,
                    display_name,
                    ..Account::new(tenant_id, email, role)
                });
            }
            (
                None,
                UserEvent::UserInvited {
                    tenant_id,
                    email,
                    role,
                    invitation_hash,
                    expires_at,
                },
            ) => {
                let invitation = Invitation {
                    hash: invitation_hash,
                    expires_at,
                };
                self.account = Some(Account {
                    invitation: Some(invitation),
                    ..Account::new(tenant_id, email, role)
                });
            }
            (
                Some(account),
                UserEvent::UserInvited {
                    role,
                    invitation_hash,
                    expires_at,
                    ..
                },
            ) => {
                account.role = role;
                account.invitation = Some(Invitation {
                    hash: invitation_hash,
                    expires_at,
                });
            }
            (Some(account), UserEvent::InvitationAccepted { display_name }) => {
                account.display_name = display_name;
                account.accepted = true;
                account.invitation = None;
            }
            (Some(account), UserEvent::PasswordSet { password_hash }) => {
                account.password_hash = Some(password_hash);
            }
            (Some(account), UserEvent::UserRoleChanged { to, .. }) => account.role = to,
            (Some(account), UserEvent::UserDisabled) => account.disabled = true,
            (Some(account), UserEvent::UserEnabled) => account.disabled = false,
            // Only a corrupt stream changes a user before it exists; `apply`
            // cannot fail, so such an event is skipped.
            (None, _) => {}
        }
        self.version += 1;
    }
}
