//! Running one node: its config rendered against the execution's data
//! (`{{ }}` templates and jq expressions from the `expr` crate), then the
//! work of its type. The outcome is an output or a [`NodeFailure`] that
//! says whether another attempt may succeed.
//!
//! `delay` and `wait_for_signal` do no work here: they are durable timers
//! and waits kept in the events (see the driver).
//!
//! `ai` and `integration` nodes call a registered integration: they need
//! the write side (to load it with its credentials and to record its
//! circuit breaker's transitions) and the engine's clock, given by
//! [`Nodes::with_integrations`].

mod access;
mod ai;
mod code;
mod credentials;
mod egress_policy;
mod http;
mod integration;
mod smtp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commands::Commands;
use domain::integration::BreakerRules;
use domain::workflow::{Node, NodeType};
use expr::Expression;
use serde_json::{json, Value};

use crate::breaker::Breakers;
use crate::clock::Clock;

pub use code::CodeLimits;

/// The largest output a step may record: outputs live in the events and
/// in every later step's expression data.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Why a node's attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFailure {
    /// What went wrong, for the step's error.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// How long the target asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl NodeFailure {
    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        NodeFailure {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

/// How nodes reach the outside world.
#[derive(Debug, Clone, Default)]
pub struct NodeSettings {
    /// The SSRF guard of `http` nodes.
    pub egress: egress::EgressPolicy,
    /// The limits of `code` nodes.
    pub code: CodeLimits,
}

/// Runs nodes; one per engine process, shared by its workers.
#[derive(Debug)]
pub struct Nodes {
    settings: NodeSettings,
    http: egress::Client,
    expressions: Mutex<HashMap<String, Expression>>,
    /// What `ai` and `integration` nodes need; without it they fail.
    integrations: Option<access::Access>,
    /// Tenants' egress policies, briefly cached.
    tenant_policies: egress_policy::TenantPolicies,
}

impl Nodes {
    /// Nodes with these settings.
    pub fn new(settings: NodeSettings) -> Nodes {
        Nodes {
            settings,
            http: egress::Client::new(),
            expressions: Mutex::new(HashMap::new()),
            tenant_policies: egress_policy::TenantPolicies::default(),
            integrations: None,
        }
    }

    /// Lets `ai` and `integration` nodes run: they load integrations
    /// through `commands` (credentials opened with the tenant's key) and
    /// record their circuit breakers' transitions there, on `clock` (the
    /// engine's), with the default breaker rules (open after 5 consecutive
    /// failures, half-open after 60 s, close after 3 successes).
    #[must_use]
    pub fn with_integrations(self, commands: Arc<Commands>, clock: Clock) -> Nodes {
        self.with_breakers(commands, clock, BreakerRules::default())
    }

    /// [`Nodes::with_integrations`] with other breaker rules.
    #[must_use]
    pub fn with_breakers(
        mut self,
        commands: Arc<Commands>,
        clock: Clock,
        rules: BreakerRules,
    ) -> Nodes {
        let breakers = Breakers::new(rules);
        self.integrations = Some(access::Access::new(commands, clock, breakers));
        self
    }

    /// The circuit breakers of this process's integration calls, once
    /// integrations are given.
    pub fn breakers(&self) -> Option<&Breakers> {
        self.integrations.as_ref().map(access::Access::breakers)
    }

    /// Whether a node of this type only computes from its inputs: the
    /// engine then records its attempt and outcome in one write, since
    /// running it again after a crash changes nothing outside.
    pub fn is_pure(node_type: NodeType) -> bool {
        matches!(node_type, NodeType::Transform | NodeType::Condition)
    }

    /// Runs `node` against `context` (the execution's data). `key`
    /// identifies the step (`<execution id>:<node id>`) for targets that
    /// deduplicate retries.
    pub async fn run(&self, node: &Node, context: &Value, key: &str) -> Result<Value, NodeFailure> {
        let output = self.work(node, context, key).await?;
        let size = serde_json::to_vec(&output).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_OUTPUT_BYTES {
            return Err(NodeFailure::permanent(format!(
                "the step's output is {size} bytes, over the limit of {MAX_OUTPUT_BYTES}: \
                 select the part later steps need"
            )));
        }
        Ok(output)
    }

    async fn work(&self, node: &Node, context: &Value, key: &str) -> Result<Value, NodeFailure> {
        match node.node_type {
            NodeType::Transform => self.evaluate(node, context),
            NodeType::Condition => {
                let value = self.evaluate(node, context)?;
                let branch = match &value {
                    Value::String(label) => label.clone(),
                    other => expr::truthy(other).to_string(),
                };
                Ok(json!({"branch": branch, "value": value}))
            }
            NodeType::Http => {
                let config = render(node, context)?;
                let policy = self.egress_policy(context).await;
                http::run(&self.http, &policy, &config, key).await
            }
            NodeType::Code => code::run(node, context, &self.settings.code).await,
            NodeType::Ai | NodeType::Integration => {
                let Some(access) = &self.integrations else {
                    return Err(NodeFailure::permanent(format!(
                        "{} nodes need access to integrations, which this engine was not given",
                        node.node_type
                    )));
                };
                let config = render(node, context)?;
                let policy = &self.egress_policy(context).await;
                if node.node_type == NodeType::Ai {
                    ai::run(access, &self.http, policy, &config, context, key).await
                } else {
                    integration::run(access, &self.http, policy, &config, context, key).await
                }
            }
            NodeType::Delay | NodeType::WaitForSignal => Err(NodeFailure::permanent(format!(
                "{} nodes are timers, not work",
                node.node_type
            ))),
        }
    }

    /// The SSRF guard for the execution's tenant: the process's policy,
    /// with private networks allowed when the tenant allows them
    /// (`setTenantEgressPolicy`; read at most every few seconds).
    async fn egress_policy(&self, context: &Value) -> egress::EgressPolicy {
        let mut policy = self.settings.egress.clone();
        let tenant = context["execution"]["tenant_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .map(domain::ids::TenantId);
        if let (false, Some(tenant), Some(access)) =
            (policy.allow_private, tenant, &self.integrations)
        {
            policy.allow_private = self.tenant_policies.allows(access.pool(), tenant).await;
        }
        policy
    }

    fn evaluate(&self, node: &Node, context: &Value) -> Result<Value, NodeFailure> {
        let source = node
            .config
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let expression = self.compiled(source)?;
        expression
            .eval(context)
            .map_err(|err| NodeFailure::permanent(err.to_string()))
    }

    fn compiled(&self, source: &str) -> Result<Expression, NodeFailure> {
        let mut cache = self
            .expressions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = cache.get(source) {
            return Ok(found.clone());
        }
        let compiled =
            Expression::compile(source).map_err(|err| NodeFailure::permanent(err.to_string()))?;
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(source.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

/// The node's config with its templates rendered.
fn render(node: &Node, context: &Value) -> Result<Value, NodeFailure> {
    expr::render(&node.config, context).map_err(|err| NodeFailure::permanent(err.to_string()))
}
