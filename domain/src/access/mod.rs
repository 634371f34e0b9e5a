//! Who may do what: the roles of users, the scopes of API tokens and the
//! permissions both map to.
//!
//! Every resolver names the [`Permission`] it needs; a caller is a
//! [`Principal`] whose role or scopes either grant it or not. What a role or
//! a scope allows is decided here and nowhere else.

mod role;
mod scope;

#[cfg(test)]
mod tests;

use std::fmt;

pub use role::{Role, UnknownRole};
pub use scope::{Scope, UnknownScope};

use crate::ids::{ApiTokenId, UserId};

/// One thing a caller may be allowed to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read workflows and their definitions.
    ReadWorkflows,
    /// Create, change, publish and archive workflows.
    WriteWorkflows,
    /// Start executions of workflows.
    ExecuteWorkflows,
    /// Read executions and their steps.
    ReadExecutions,
    /// Cancel, retry and signal executions.
    ControlExecutions,
    /// Read integrations (never their credentials).
    ReadIntegrations,
    /// Register, configure and remove integrations.
    ManageIntegrations,
    /// Invite members, change their roles, disable them.
    ManageMembers,
    /// Create and revoke API tokens.
    ManageApiTokens,
    /// Read the event history of aggregates.
    ReadAudit,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 10] = [
        Permission::ReadWorkflows,
        Permission::WriteWorkflows,
        Permission::ExecuteWorkflows,
        Permission::ReadExecutions,
        Permission::ControlExecutions,
        Permission::ReadIntegrations,
        Permission::ManageIntegrations,
        Permission::ManageMembers,
        Permission::ManageApiTokens,
        Permission::ReadAudit,
    ];

    /// The stable name shown in logs and error messages, e.g.
    /// `"write:workflows"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadWorkflows => "read:workflows",
            Permission::WriteWorkflows => "write:workflows",
            Permission::ExecuteWorkflows => "execute:workflows",
            Permission::ReadExecutions => "read:executions",
            Permission::ControlExecutions => "control:executions",
            Permission::ReadIntegrations => "read:integrations",
            Permission::ManageIntegrations => "manage:integrations",
            Permission::ManageMembers => "manage:members",
            Permission::ManageApiTokens => "manage:api_tokens",
            Permission::ReadAudit => "read:audit",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: a user acting with their current role, or an
/// API token acting with the scopes it was created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user.
    User {
        /// Who.
        user_id: UserId,
        /// Their role now (not the one they had when the token was issued).
        role: Role,
    },
    /// A machine using an API token.
    ApiToken {
        /// Which token.
        token_id: ApiTokenId,
        /// What it was granted.
        scopes: Vec<Scope>,
    },
}

impl Principal {
    /// Whether this caller holds `permission`: through its role for a user,
    /// through any of its scopes for a token.
    pub fn allows(&self, permission: Permission) -> bool {
        match self {
            Principal::User { role, .. } => role.permissions().contains(&permission),
            Principal::ApiToken { scopes, .. } => scopes
                .iter()
                .any(|scope| scope.permissions().contains(&permission)),
        }
    }

    /// The caller as recorded in event metadata: `"user:<uuid>"` or
    /// `"token:<uuid>"`.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user_id, .. } => format!("user:{user_id}"),
            Principal::ApiToken { token_id, .. } => format!("token:{token_id}"),
        }
    }
}
