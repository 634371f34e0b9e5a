//! Facts recorded by the integration aggregate. Payloads are externally
//! tagged (`{"IntegrationRegistered": {...}}`), the form the event store
//! keeps.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SealedSecret;
use crate::ids::TenantId;

/// Something that happened to an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IntegrationEvent {
    /// The integration was registered (enabled).
    IntegrationRegistered {
        /// The owning tenant.
        tenant_id: TenantId,
        /// Trimmed display name.
        name: String,
        /// The connector kind, e.g. "slack".
        kind: String,
        /// Non-secret settings (a JSON object).
        config: Value,
        /// Sealed credentials, if any.
        credentials: Option<SealedSecret>,
    },
    /// The settings changed.
    IntegrationConfigUpdated {
        /// The new settings.
        config: Value,
    },
    /// New sealed credentials replace the old ones.
    IntegrationCredentialsRotated {
        /// The new credentials.
        credentials: SealedSecret,
    },
    /// Workflows may use the integration again.
    IntegrationEnabled,
    /// Workflows may not use the integration.
    IntegrationDisabled,
    /// A health check ran.
    IntegrationHealthChecked {
        /// Whether the remote side answered correctly.
        healthy: bool,
        /// Details (at most 1000 characters).
        message: Option<String>,
        /// Round-trip time.
        latency_ms: Option<u64>,
        /// When the check ran.
        checked_at: DateTime<Utc>,
    },
    /// The integration was removed for good.
    IntegrationRemoved,
    /// Its circuit breaker opened: calls are refused for the open period.
    CircuitOpened {
        /// When (the open period runs from here).
        at: DateTime<Utc>,
        /// The consecutive failures that opened it.
        failures: u32,
    },
    /// Its open period ended: calls go out on trial.
    CircuitHalfOpened {
        /// When.
        at: DateTime<Utc>,
    },
    /// Enough trial calls succeeded: calls go out again.
    CircuitClosed {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for IntegrationEvent {
    fn event_type(&self) -> String {
        match self {
            IntegrationEvent::IntegrationRegistered { .. } => "IntegrationRegistered",
            IntegrationEvent::IntegrationConfigUpdated { .. } => "IntegrationConfigUpdated",
            IntegrationEvent::IntegrationCredentialsRotated { .. } => {
                "IntegrationCredentialsRotated"
            }
            IntegrationEvent::IntegrationEnabled => "IntegrationEnabled",
            IntegrationEvent::IntegrationDisabled => "IntegrationDisabled",
            IntegrationEvent::IntegrationHealthChecked { .. } => "IntegrationHealthChecked",
            IntegrationEvent::IntegrationRemoved => "IntegrationRemoved",
            IntegrationEvent::CircuitOpened { .. } => "CircuitOpened",
            IntegrationEvent::CircuitHalfOpened { .. } => "CircuitHalfOpened",
            IntegrationEvent::CircuitClosed { .. } => "CircuitClosed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
