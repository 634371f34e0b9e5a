//! The scopes an API token can be granted, what each allows, and which
//! role may grant which scope.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Permission, Role};

/// What an API token may do. Serialized as `"read:workflows"` and so on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// `read:workflows`: read workflows.
    #[serde(rename = "read:workflows")]
    ReadWorkflows,
    /// `write:workflows`: read and change workflows.
    #[serde(rename = "write:workflows")]
    WriteWorkflows,
    /// `execute:workflows`: start and control executions.
    #[serde(rename = "execute:workflows")]
    ExecuteWorkflows,
    /// `read:executions`: read executions.
    #[serde(rename = "read:executions")]
    ReadExecutions,
    /// `manage:integrations`: read and change integrations.
    #[serde(rename = "manage:integrations")]
    ManageIntegrations,
    /// `admin:all`: every permission, as an admin.
    #[serde(rename = "admin:all")]
    AdminAll,
}

/// A string that names no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a scope; use one of read:workflows, write:workflows, execute:workflows, read:executions, manage:integrations, admin:all")]
pub struct UnknownScope {
    /// The rejected input.
    pub input: String,
}

impl Scope {
    /// Every scope, in declaration order.
    pub const ALL: [Scope; 6] = [
        Scope::ReadWorkflows,
        Scope::WriteWorkflows,
        Scope::ExecuteWorkflows,
        Scope::ReadExecutions,
        Scope::ManageIntegrations,
        Scope::AdminAll,
    ];

    /// The stable name, as serialized (`"read:workflows"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadWorkflows => "read:workflows",
            Scope::WriteWorkflows => "write:workflows",
            Scope::ExecuteWorkflows => "execute:workflows",
            Scope::ReadExecutions => "read:executions",
            Scope::ManageIntegrations => "manage:integrations",
            Scope::AdminAll => "admin:all",
        }
    }

    /// What a token with this scope may do.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Scope::ReadWorkflows => &[ReadWorkflows],
            Scope::WriteWorkflows => &[ReadWorkflows, WriteWorkflows],
            Scope::ExecuteWorkflows => &[ExecuteWorkflows, ControlExecutions],
            Scope::ReadExecutions => &[ReadExecutions],
            Scope::ManageIntegrations => &[ReadIntegrations, ManageIntegrations],
            Scope::AdminAll => &Permission::ALL,
        }
    }

    /// Whether a user with `role` may put this scope on a token: only if the
    /// role holds every permission of the scope, so a token never does more
    /// than its creator could (a `user` cannot mint `admin:all`).
    pub fn grantable_by(self, role: Role) -> bool {
        let held = role.permissions();
        self.permissions().iter().all(|p| held.contains(p))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    /// Accepts exactly the serialized names (surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| UnknownScope {
                input: s.to_owned(),
            })
    }
}
