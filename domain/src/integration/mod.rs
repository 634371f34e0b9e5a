//! The integration aggregate: a tenant's connection to an external system
//! (settings, sealed credentials, enabled flag, last health check, circuit
//! breaker state).
//!
//! Architecture invariant: the domain never sees plaintext credentials;
//! the commands crate seals them before they reach a command.

mod breaker;
mod commands;
mod error;
mod events;
mod secret;

#[cfg(test)]
mod breaker_tests;
#[cfg(test)]
mod circuit_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use breaker::{Breaker, BreakerRules, Circuit, CircuitState, Transition};
pub use commands::{
    IntegrationCommand, MAX_CONFIG_BYTES, MAX_HEALTH_MESSAGE_CHARS, MAX_NAME_CHARS,
};
pub use error::IntegrationError;
pub use events::IntegrationEvent;
pub use secret::SealedSecret;

use crate::command::Command;
use crate::ids::TenantId;

/// The result of the last health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Whether the remote side answered correctly.
    pub healthy: bool,
    /// Details.
    pub message: Option<String>,
    /// Round-trip time.
    pub latency_ms: Option<u64>,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
}

/// The state of one integration, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Integration {
    tenant_id: Option<TenantId>,
    name: String,
    kind: String,
    config: Value,
    enabled: bool,
    removed: bool,
    /// Sealed (encrypted) credentials: safe to snapshot.
    credentials: Option<SealedSecret>,
    last_health: Option<HealthCheck>,
    /// The circuit breaker as last recorded.
    circuit: Circuit,
    version: u64,
}

impl Integration {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before registration.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the integration has been registered.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connector kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The current settings.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Whether workflows may use it.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether it was removed.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The current sealed credentials.
    pub fn credentials(&self) -> Option<&SealedSecret> {
        self.credentials.as_ref()
    }

    /// The key that sealed the current credentials.
    pub fn credential_key_id(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.key_id.as_str())
    }

    /// The last health check recorded.
    pub fn last_health(&self) -> Option<&HealthCheck> {
        self.last_health.as_ref()
    }

    /// The circuit breaker's recorded state (closed until a transition is
    /// recorded).
    pub fn circuit(&self) -> Circuit {
        self.circuit
    }
}

impl Aggregate for Integration {
    const TYPE: &'static str = "Integration";
    type Command = Command<IntegrationCommand>;
    type Event = IntegrationEvent;
    type Error = IntegrationError;
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
            IntegrationEvent::IntegrationRegistered {
                tenant_id,
                name,
                kind,
                config,
                credentials,
            } => {
                self.tenant_id = Some(tenant_id);
                self.name = name;
                self.kind = kind;
                self.config = config;
                self.credentials = credentials;
                self.enabled = true;
            }
            IntegrationEvent::IntegrationConfigUpdated { config } => self.config = config,
            IntegrationEvent::IntegrationCredentialsRotated { credentials } => {
                self.credentials = Some(credentials);
            }
            IntegrationEvent::IntegrationEnabled => self.enabled = true,
            IntegrationEvent::IntegrationDisabled => self.enabled = false,
            IntegrationEvent::IntegrationHealthChecked {
                healthy,
                message,
                latency_ms,
                checked_at,
            } => {
                self.last_health = Some(HealthCheck {
                    healthy,
                    message,
                    latency_ms,
                    checked_at,
                });
            }
            IntegrationEvent::IntegrationRemoved => self.removed = true,
            IntegrationEvent::CircuitOpened { at, failures } => {
                self.circuit = Transition::Opened { at, failures }.circuit();
            }
            IntegrationEvent::CircuitHalfOpened { at } => {
                self.circuit = Transition::HalfOpened { at }.circuit();
            }
            IntegrationEvent::CircuitClosed { at } => {
                self.circuit = Transition::Closed { at }.circuit();
            }
        }
        self.version += 1;
    }
}
