//! Facts recorded by the tenant aggregate. Payloads are externally tagged
//! (`{"TenantCreated": {...}}`), the form the event store keeps.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// Something that happened to a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantEvent {
    /// The tenant was created.
    TenantCreated {
        /// The tenant's own id.
        tenant_id: TenantId,
        /// Trimmed display name.
        name: String,
    },
    /// The tenant got another name.
    TenantRenamed {
        /// The previous name.
        from: String,
        /// The new name (trimmed).
        to: String,
    },
    /// Whether the tenant's `http` (and integration) steps may reach
    /// loopback, private and link-local addresses changed.
    TenantEgressPolicySet {
        /// True: private networks allowed (cloud metadata host names stay
        /// refused); false: the SSRF guard refuses them.
        allow_private_networks: bool,
    },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        match self {
            TenantEvent::TenantCreated { .. } => "TenantCreated",
            TenantEvent::TenantRenamed { .. } => "TenantRenamed",
            TenantEvent::TenantEgressPolicySet { .. } => "TenantEgressPolicySet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
