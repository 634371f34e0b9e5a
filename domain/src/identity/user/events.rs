//! Facts recorded by the user aggregate. Payloads are externally tagged
//! (`{"UserInvited": {...}}`), the form the event store keeps; secrets
//! appear only as hashes.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::identity::{Email, SecretHash};
use crate::ids::TenantId;

/// Something that happened to a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    /// The user was created as an active member (followed by
    /// `PasswordSet`).
    UserCreated {
        /// The owning tenant.
        tenant_id: TenantId,
        /// The normalized email.
        email: Email,
        /// Trimmed display name.
        display_name: String,
        /// The member's role.
        role: Role,
    },
    /// The user was invited, or re-invited while the invitation was
    /// pending (the new invitation replaces the old one).
    UserInvited {
        /// The owning tenant.
        tenant_id: TenantId,
        /// The normalized email.
        email: Email,
        /// The role granted on acceptance.
        role: Role,
        /// The hash of the invitation secret.
        invitation_hash: SecretHash,
        /// When the invitation lapses.
        expires_at: DateTime<Utc>,
    },
    /// The invitee accepted and became an active member (followed by
    /// `PasswordSet`).
    InvitationAccepted {
        /// Trimmed display name.
        display_name: String,
    },
    /// The password changed.
    PasswordSet {
        /// The hash of the new password.
        password_hash: SecretHash,
    },
    /// The user got another role.
    UserRoleChanged {
        /// The previous role.
        from: Role,
        /// The new role.
        to: Role,
    },
    /// The user can no longer sign in.
    UserDisabled,
    /// The user can sign in again.
    UserEnabled,
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            UserEvent::UserCreated { .. } => "UserCreated",
            UserEvent::UserInvited { .. } => "UserInvited",
            UserEvent::InvitationAccepted { .. } => "InvitationAccepted",
            UserEvent::PasswordSet { .. } => "PasswordSet",
            UserEvent::UserRoleChanged { .. } => "UserRoleChanged",
            UserEvent::UserDisabled => "UserDisabled",
            UserEvent::UserEnabled => "UserEnabled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
