//! The role a user holds in their tenant, and what it allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Permission;

/// A user's role in their tenant. Serialized in lowercase (`"admin"`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including members and API tokens.
    Admin,
    /// Builds and runs workflows and integrations; does not manage members.
    User,
    /// Runs and controls executions of existing workflows.
    Executor,
    /// Reads everything but credentials; changes nothing.
    Viewer,
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a role; use one of admin, user, executor, viewer")]
pub struct UnknownRole {
    /// The rejected input.
    pub input: String,
}

impl Role {
    /// Every role, from most to least powerful.
    pub const ALL: [Role; 4] = [Role::Admin, Role::User, Role::Executor, Role::Viewer];

    /// The stable lowercase name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Executor => "executor",
            Role::Viewer => "viewer",
        }
    }

    /// What a user with this role may do.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::User => &[
                ReadWorkflows,
                WriteWorkflows,
                ExecuteWorkflows,
                ReadExecutions,
                ControlExecutions,
                ReadIntegrations,
                ManageIntegrations,
                ReadAudit,
            ],
            Role::Executor => &[
                ReadWorkflows,
                ExecuteWorkflows,
                ReadExecutions,
                ControlExecutions,
            ],
            Role::Viewer => &[ReadWorkflows, ReadExecutions, ReadIntegrations, ReadAudit],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Accepts exactly the serialized names (surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s.trim())
            .ok_or_else(|| UnknownRole {
                input: s.to_owned(),
            })
    }
}
