//! What can be asked of an integration, and the rules that decide which
//! events each request produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    CircuitState, HealthCheck, Integration, IntegrationError, IntegrationEvent, SealedSecret,
    Transition,
};
use crate::command::Command;
use crate::text;

/// Longest integration name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest config, in bytes of compact JSON.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Longest health-check message kept, in characters; longer ones are cut.
pub const MAX_HEALTH_MESSAGE_CHARS: usize = 1000;

/// A request to change an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IntegrationCommand {
    /// Register a connection to an external system (starts enabled).
    Register {
        /// 1 to 200 characters after trimming.
        name: String,
        /// Connector kind: `^[a-z][a-z0-9_-]{0,63}$`.
        kind: String,
        /// Non-secret settings: a JSON object of at most 64 KiB.
        config: Value,
        /// Sealed credentials, if the connector needs any.
        credentials: Option<SealedSecret>,
    },
    /// Replace the settings; identical settings are a no-op.
    UpdateConfig {
        /// The new settings.
        config: Value,
    },
    /// Replace the sealed credentials.
    RotateCredentials {
        /// The new credentials.
        credentials: SealedSecret,
    },
    /// Allow or forbid workflows to use the integration.
    SetEnabled {
        /// The wanted state; the current state is a no-op.
        enabled: bool,
    },
    /// Record the result of a health check.
    RecordHealthCheck {
        /// Whether the remote side answered correctly.
        healthy: bool,
        /// Details.
        message: Option<String>,
        /// Round-trip time.
        latency_ms: Option<u64>,
        /// When the check ran.
        checked_at: DateTime<Utc>,
    },
    /// Remove the integration for good.
    Remove,
    /// Record a change of the circuit breaker's state, decided by the
    /// engine's in-memory breaker (see [`super::Breaker`]). A transition
    /// older than the recorded state, or to the state already recorded
    /// (another engine process got there first), is a no-op.
    RecordCircuitTransition {
        /// The change.
        transition: Transition,
    },
}

impl Integration {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<IntegrationCommand>,
    ) -> Result<Vec<IntegrationEvent>, IntegrationError> {
        let creates = matches!(command.body, IntegrationCommand::Register { .. });
        command.check_envelope(self.tenant_id, self.version, creates)?;
        if self.removed {
            return match command.body {
                IntegrationCommand::Remove => Ok(vec![]),
                _ => Err(IntegrationError::Removed),
            };
        }
        match command.body {
            IntegrationCommand::Register {
                name,
                kind,
                config,
                credentials,
            } => {
                if self.exists() {
                    return Err(IntegrationError::AlreadyExists);
                }
                let name = text::bounded(&name, MAX_NAME_CHARS, false)
                    .map_err(IntegrationError::InvalidName)?;
                check_kind(&kind)?;
                check_config(&config)?;
                if let Some(credentials) = &credentials {
                    check_credentials(credentials)?;
                }
                Ok(vec![IntegrationEvent::IntegrationRegistered {
                    tenant_id: command.tenant_id,
                    name,
                    kind,
                    config,
                    credentials,
                }])
            }
            IntegrationCommand::UpdateConfig { config } => {
                check_config(&config)?;
                if config == self.config {
                    return Ok(vec![]);
                }
                Ok(vec![IntegrationEvent::IntegrationConfigUpdated { config }])
            }
            IntegrationCommand::RotateCredentials { credentials } => {
                check_credentials(&credentials)?;
                if self.credentials.as_ref() == Some(&credentials) {
                    return Ok(vec![]);
                }
                Ok(vec![IntegrationEvent::IntegrationCredentialsRotated {
                    credentials,
                }])
            }
            IntegrationCommand::SetEnabled { enabled } if enabled == self.enabled => Ok(vec![]),
            IntegrationCommand::SetEnabled { enabled: true } => {
                Ok(vec![IntegrationEvent::IntegrationEnabled])
            }
            IntegrationCommand::SetEnabled { enabled: false } => {
                Ok(vec![IntegrationEvent::IntegrationDisabled])
            }
            IntegrationCommand::RecordHealthCheck {
                healthy,
                message,
                latency_ms,
                checked_at,
            } => Ok(self.health_check(healthy, message, latency_ms, checked_at)),
            IntegrationCommand::Remove => Ok(vec![IntegrationEvent::IntegrationRemoved]),
            IntegrationCommand::RecordCircuitTransition { transition } => {
                self.circuit_transition(transition)
            }
        }
    }

    /// The breaker's edges are closed|half_open -> open, open -> half_open
    /// and half_open -> closed. Engine processes each keep their own
    /// breaker, so one may report what another already recorded (a no-op),
    /// or a change older than the recorded one (dropped like a late health
    /// check).
    fn circuit_transition(
        &self,
        transition: Transition,
    ) -> Result<Vec<IntegrationEvent>, IntegrationError> {
        let (from, to) = (self.circuit.state, transition.to());
        let stale = self
            .circuit
            .since
            .is_some_and(|since| transition.at() < since);
        if stale || from == to {
            return Ok(vec![]);
        }
        let allowed = matches!(
            (from, to),
            (
                CircuitState::Closed | CircuitState::HalfOpen,
                CircuitState::Open
            ) | (CircuitState::Open, CircuitState::HalfOpen)
                | (CircuitState::HalfOpen, CircuitState::Closed)
        );
        if !allowed {
            return Err(IntegrationError::InvalidCircuitTransition { from, to });
        }
        Ok(vec![match transition {
            Transition::Opened { at, failures } => IntegrationEvent::CircuitOpened { at, failures },
            Transition::HalfOpened { at } => IntegrationEvent::CircuitHalfOpened { at },
            Transition::Closed { at } => IntegrationEvent::CircuitClosed { at },
        }])
    }

    /// A result older than the last one recorded arrived late and is
    /// dropped; an overlong message is cut so events stay small.
    fn health_check(
        &self,
        healthy: bool,
        message: Option<String>,
        latency_ms: Option<u64>,
        checked_at: DateTime<Utc>,
    ) -> Vec<IntegrationEvent> {
        let stale = self
            .last_health
            .as_ref()
            .is_some_and(|last: &HealthCheck| checked_at < last.checked_at);
        if stale {
            return vec![];
        }
        let message = message.map(|m| m.chars().take(MAX_HEALTH_MESSAGE_CHARS).collect());
        vec![IntegrationEvent::IntegrationHealthChecked {
            healthy,
            message,
            latency_ms,
            checked_at,
        }]
    }
}

fn check_kind(kind: &str) -> Result<(), IntegrationError> {
    let mut chars = kind.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && kind.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(IntegrationError::InvalidKind {
            kind: kind.to_owned(),
        })
    }
}

fn check_config(config: &Value) -> Result<(), IntegrationError> {
    if !config.is_object() {
        return Err(IntegrationError::InvalidConfig {
            problem: "must be a JSON object, e.g. {\"base_url\": \"https://...\"}".to_owned(),
        });
    }
    let size = config.to_string().len();
    if size > MAX_CONFIG_BYTES {
        return Err(IntegrationError::InvalidConfig {
            problem: format!(
                "is {size} bytes as JSON but the limit is {MAX_CONFIG_BYTES}; keep large data out of the config"
            ),
        });
    }
    Ok(())
}

fn check_credentials(credentials: &SealedSecret) -> Result<(), IntegrationError> {
    match credentials.empty_field() {
        Some(field) => Err(IntegrationError::InvalidCredentials { field }),
        None => Ok(()),
    }
}
