//! The tenant aggregate: an isolated organisation that owns every other
//! aggregate. Its aggregate id is the tenant id itself.

mod commands;
mod error;
mod events;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{TenantCommand, MAX_TENANT_NAME_CHARS};
pub use error::TenantError;
pub use events::TenantEvent;

use crate::command::Command;
use crate::ids::TenantId;

/// The state of one tenant, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tenant {
    tenant_id: Option<TenantId>,
    name: String,
    allow_private_networks: bool,
    version: u64,
}

impl Tenant {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The tenant's own id; `None` before creation.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the tenant has been created.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the tenant's steps may reach private networks.
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "Tenant";
    type Command = Command<TenantCommand>;
    type Event = TenantEvent;
    type Error = TenantError;
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
        match event {
            TenantEvent::TenantCreated { tenant_id, name } => {
                self.tenant_id = Some(tenant_id);
                self.name = name;
            }
            TenantEvent::TenantRenamed { to, .. } => self.name = to,
            TenantEvent::TenantEgressPolicySet {
                allow_private_networks,
            } => self.allow_private_networks = allow_private_networks,
        }
        self.version += 1;
    }
}
