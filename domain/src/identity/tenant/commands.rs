//! What can be asked of a tenant, and the rules that decide which events
//! each request produces.

use serde::{Deserialize, Serialize};

use super::{Tenant, TenantError, TenantEvent};
use crate::command::Command;
use crate::text;

/// Longest tenant name, in characters.
pub const MAX_TENANT_NAME_CHARS: usize = 200;

/// A request to change a tenant. The envelope's tenant is the tenant
/// itself: send it to the aggregate whose id is `command.tenant_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantCommand {
    /// Create the tenant.
    Create {
        /// 1 to 200 characters after trimming.
        name: String,
    },
    /// Give the tenant another name; the current name is a no-op.
    Rename {
        /// 1 to 200 characters after trimming.
        name: String,
    },
    /// Allow or refuse the tenant's steps reaching private networks; the
    /// current setting is a no-op.
    SetEgressPolicy {
        /// Whether private networks are allowed.
        allow_private_networks: bool,
    },
}

impl Tenant {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<TenantCommand>,
    ) -> Result<Vec<TenantEvent>, TenantError> {
        let creates = matches!(command.body, TenantCommand::Create { .. });
        // Once the tenant exists its owner is itself, so a command sent on
        // behalf of any other tenant reads as "not found".
        command.check_envelope(self.tenant_id, self.version, creates)?;
        match command.body {
            TenantCommand::Create { name } => {
                if self.exists() {
                    return Err(TenantError::AlreadyExists);
                }
                let name = text::bounded(&name, MAX_TENANT_NAME_CHARS, false)
                    .map_err(TenantError::InvalidName)?;
                Ok(vec![TenantEvent::TenantCreated {
                    tenant_id: command.tenant_id,
                    name,
                }])
            }
            TenantCommand::SetEgressPolicy {
                allow_private_networks,
            } => {
                if allow_private_networks == self.allow_private_networks {
                    return Ok(vec![]);
                }
                Ok(vec![TenantEvent::TenantEgressPolicySet {
                    allow_private_networks,
                }])
            }
            TenantCommand::Rename { name } => {
                let name = text::bounded(&name, MAX_TENANT_NAME_CHARS, false)
                    .map_err(TenantError::InvalidName)?;
                if name == self.name {
                    return Ok(vec![]);
                }
                Ok(vec![TenantEvent::TenantRenamed {
                    from: self.name.clone(),
                    to: name,
                }])
            }
        }
    }
}
