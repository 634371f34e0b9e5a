//! What `ai` and `integration` nodes share: the integration a node names,
//! loaded for the execution's tenant from the write side with its
//! credentials opened; the circuit breaker around every call; and the
//! classification of HTTP failures for both.
//!
//! An integration of another tenant reads as missing; a removed or
//! disabled one fails the step for good. An open circuit fails the step at
//! once, retryable after the time left until it half-opens, and no call is
//! made. Only the breaker's transitions are recorded (Integration events).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use commands::{CommandContext, CommandError, Commands};
use domain::ids::{ExecutionId, IntegrationId, TenantId};
use domain::integration::{Circuit, IntegrationCommand, Transition};
use egress::{EgressPolicy, HttpError, HttpResponse, Retry};
use serde_json::Value;

use super::credentials::Credentials;
use super::NodeFailure;
use crate::breaker::Breakers;
use crate::clock::Clock;

/// The write side, the clock and the breakers of one engine process.
pub(super) struct Access {
    commands: Arc<Commands>,
    clock: Clock,
    breakers: Breakers,
    /// Execution -> tenant, which never changes.
    tenants: Mutex<HashMap<ExecutionId, TenantId>>,
}

/// An integration loaded for one step.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) id: IntegrationId,
    pub(super) tenant: TenantId,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) config: Value,
    pub(super) credentials: Credentials,
    circuit: Circuit,
}

impl Connection {
    /// A permanent failure naming the integration.
    pub(super) fn misconfigured(&self, problem: impl fmt::Display) -> NodeFailure {
        NodeFailure::permanent(format!(
            "integration '{}' ({}) {problem}",
            self.name, self.kind
        ))
    }

    /// The non-empty string `field` of the integration's config.
    pub(super) fn setting(&self, field: &str) -> Result<&str, NodeFailure> {
        self.config
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| self.misconfigured(format!("has no '{field}' in its config")))
    }
}

/// What a call's failure says about the remote side, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remote {
    /// It answered (an error about this request counts as an answer).
    Up,
    /// It did not answer, or answered that it is failing (5xx, 429).
    Down,
    /// The call never reached it (refused by the SSRF guard, a bad request).
    Unreached,
}

/// A failed call.
#[derive(Debug)]
pub(super) struct CallError {
    pub(super) failure: NodeFailure,
    pub(super) remote: Remote,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The database the write side reads.
    pub(super) fn pool(&self) -> &sqlx::PgPool {
        self.commands.pool()
    }

    pub(super) fn new(commands: Arc<Commands>, clock: Clock, breakers: Breakers) -> Access {
        Access {
            commands,
            clock,
            breakers,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// Loads the integration `config["integration_id"]` names, for the
    /// tenant of the execution in `context`.
    pub(super) async fn connect(
        &self,
        config: &Value,
        context: &Value,
    ) -> Result<Connection, NodeFailure> {
        let id = match config.get("integration_id") {
            Some(Value::String(id)) => id.parse::<IntegrationId>().map_err(|err| {
                NodeFailure::permanent(format!("'integration_id' is invalid: {err}"))
            })?,
            _ => {
                return Err(NodeFailure::permanent(
                    "'integration_id' is required: the id of the integration to call",
                ))
            }
        };
        let tenant = self.tenant_of(context).await?;
        let found = self
            .commands
            .integration_for_engine(tenant, id)
            .await
            .map_err(load_failure)?;
        Ok(Connection {
            id,
            tenant,
            credentials: Credentials::open(found.credentials.as_ref()),
            name: found.name,
            kind: found.kind,
            config: found.config,
            circuit: found.circuit,
        })
    }

    /// Makes `call` under the integration's circuit breaker: refused at
    /// once while the circuit is open; its outcome counted; transitions
    /// recorded.
    pub(super) async fn call(
        &self,
        connection: &Connection,
        call: impl Future<Output = Result<Value, CallError>>,
    ) -> Result<Value, NodeFailure> {
        let now = self.clock.now();
        match self.breakers.admit(connection.id, connection.circuit, now) {
            Err(wait) => {
                return Err(NodeFailure {
                    message: format!(
                        "the circuit breaker of integration '{}' is open after repeated failures, so no call was made; it lets a trial call through in {} s",
                        connection.name,
                        wait.as_secs_f64().ceil()
                    ),
                    retryable: true,
                    retry_after: Some(wait),
                })
            }
            Ok(Some(transition)) => self.record(connection, transition).await,
            Ok(None) => {}
        }
        let outcome = call.await;
        let succeeded = match &outcome {
            Ok(_) => Some(true),
            Err(err) => match err.remote {
                Remote::Up => Some(true),
                Remote::Down => Some(false),
                Remote::Unreached => None,
            },
        };
        if let Some(succeeded) = succeeded {
            let now = self.clock.now();
            if let Some(transition) = self.breakers.record(connection.id, succeeded, now) {
                self.record(connection, transition).await;
            }
        }
        outcome.map_err(|err| err.failure)
    }

    /// Records a transition as an Integration event. A failure to record
    /// does not fail the step: the breaker is forgotten and restarts from
    /// the recorded circuit at the next call.
    async fn record(&self, connection: &Connection, transition: Transition) {
        let ctx = CommandContext::new(connection.tenant, "system:engine");
        let command = IntegrationCommand::RecordCircuitTransition { transition };
        let state = transition.to().as_str();
        match self
            .commands
            .execute_integration(&ctx, connection.id, command, None)
            .await
        {
            Ok(_) => {
                tracing::info!(integration_id = %connection.id, state, "integration circuit changed")
            }
            Err(err) => {
                tracing::warn!(integration_id = %connection.id, state, error = %err, "integration circuit change not recorded");
                self.breakers.forget(connection.id);
            }
        }
    }

    /// The tenant of the execution the step belongs to: the metadata of
    /// its first event (every event carries it).
    async fn tenant_of(&self, context: &Value) -> Result<TenantId, NodeFailure> {
        let execution = context["execution"]["id"]
            .as_str()
            .and_then(|id| id.parse::<ExecutionId>().ok())
            .ok_or_else(|| {
                NodeFailure::permanent("the step has no execution id, so its tenant is unknown")
            })?;
        if let Some(tenant) = self.tenants_cache().get(&execution) {
            return Ok(*tenant);
        }
        let tenant: Option<String> = sqlx::query_scalar(
            "SELECT metadata ->> 'tenant_id' FROM events
              WHERE aggregate_type = 'Execution' AND aggregate_id = $1
              ORDER BY sequence LIMIT 1",
        )
        .bind(execution.to_string())
        .fetch_optional(self.commands.pool())
        .await
        .map_err(|err| NodeFailure {
            message: format!("the execution's tenant could not be read: {err}"),
            retryable: true,
            retry_after: None,
        })?;
        let tenant = tenant
            .and_then(|t| t.parse::<TenantId>().ok())
            .ok_or_else(|| {
                NodeFailure::permanent(format!("execution {execution} has no recorded tenant"))
            })?;
        let mut cache = self.tenants_cache();
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(execution, tenant);
        Ok(tenant)
    }

    fn tenants_cache(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, TenantId>> {
        self.tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The integration could not be used: a rejection (missing, removed,
/// disabled, no key to open its credentials) is for good; an unavailable
/// store may recover.
fn load_failure(err: CommandError) -> NodeFailure {
    match err {
        CommandError::Rejected { message, .. } => NodeFailure::permanent(message),
        CommandError::Unavailable(_) | CommandError::Conflict(_) => NodeFailure {
            message: format!("the integration could not be loaded: {err}"),
            retryable: true,
            retry_after: None,
        },
        CommandError::Internal(_) => {
            NodeFailure::permanent(format!("the integration could not be loaded: {err}"))
        }
    }
}

/// Integration calls follow no redirect: an integration has a fixed
/// address, and a redirect could carry its credentials elsewhere in a
/// header the egress client does not know to drop.
pub(super) fn no_redirects(policy: &EgressPolicy) -> EgressPolicy {
    EgressPolicy {
        max_redirects: 0,
        ..policy.clone()
    }
}

/// Classifies a failed HTTP call like the `http` node does (network
/// errors, 5xx and 429 are retryable, with `Retry-After`), and for the
/// breaker.
pub(super) fn http_failure(err: HttpError) -> CallError {
    let (retryable, retry_after) = match err.retry() {
        Retry::No => (false, None),
        Retry::Yes { after } => (true, after),
    };
    let remote = match &err {
        HttpError::Timeout { .. } | HttpError::Connect { .. } | HttpError::Network { .. } => {
            Remote::Down
        }
        HttpError::Status { .. } if retryable => Remote::Down,
        HttpError::Status { .. }
        | HttpError::TooManyRedirects { .. }
        | HttpError::RedirectLoop { .. }
        | HttpError::InvalidRedirect { .. } => Remote::Up,
        HttpError::InvalidUrl { .. }
        | HttpError::InvalidRequest(_)
        | HttpError::Refused { .. }
        | HttpError::Client(_) => Remote::Unreached,
    };
    let message = match (&err, err.response()) {
        (HttpError::TooManyRedirects { .. }, _) => {
            "the integration answered with a redirect, which integration calls do not follow; check its base URL".to_owned()
        }
        (_, Some(response)) => format!("{err}; response body: {}", excerpt(response)),
        (_, None) => err.to_string(),
    };
    CallError {
        failure: NodeFailure {
            message,
            retryable,
            retry_after,
        },
        remote,
    }
}

/// The start of a response body, for an error message.
fn excerpt(response: &HttpResponse) -> String {
    let body = match &response.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if body.chars().count() <= 500 {
        return body;
    }
    let mut cut: String = body.chars().take(500).collect();
    cut.push('…');
    cut
}
