//! The shape of a workflow: nodes, the edges between them and the trigger
//! that starts it.
//!
//! Deserialising a definition does not validate it, on purpose: events
//! recorded years ago must still load after the rules get stricter. Input
//! from users goes through [`WorkflowDefinition::parse`], which validates.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::execution::ExecutionStatus;
use crate::ids::WorkflowId;

use super::{parse, validate, DefinitionError, Schedule, WorkflowSettings};

/// The most nodes one workflow may have.
pub const MAX_NODES: usize = 500;

/// A directed acyclic graph of nodes plus the trigger that starts it. The
/// first node is the entry point; every other node is reachable from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDefinition {
    /// The steps, entry node first.
    pub nodes: Vec<Node>,
    /// Connections between nodes (by node id).
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// What starts the workflow.
    #[serde(default)]
    pub trigger: Trigger,
    /// Run-wide settings: concurrency limit and execution timeout.
    #[serde(default, skip_serializing_if = "WorkflowSettings::is_empty")]
    pub settings: WorkflowSettings,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique within the definition; edges refer to it.
    pub id: String,
    /// What the step does.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Type-specific settings (a JSON object).
    pub config: Value,
}

/// The kinds of step the engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Calls an HTTP endpoint (`url`, optional `method`, `timeout_ms`).
    Http,
    /// Reshapes data with an `expression`.
    Transform,
    /// Chooses outgoing edges with an `expression`.
    Condition,
    /// Waits for a `duration`.
    Delay,
    /// Runs sandboxed `source` code.
    Code,
    /// Sends a `prompt` to a language model.
    Ai,
    /// Runs an `action` of a registered integration.
    Integration,
    /// Pauses until a named `signal` arrives.
    WaitForSignal,
}

impl NodeType {
    /// Every node type, in documentation order.
    pub const ALL: [NodeType; 8] = [
        NodeType::Http,
        NodeType::Transform,
        NodeType::Condition,
        NodeType::Delay,
        NodeType::Code,
        NodeType::Ai,
        NodeType::Integration,
        NodeType::WaitForSignal,
    ];

    /// The names accepted in definitions, for error messages.
    pub const NAMES: &'static str =
        "http, transform, condition, delay, code, ai, integration, wait_for_signal";

    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Http => "http",
            NodeType::Transform => "transform",
            NodeType::Condition => "condition",
            NodeType::Delay => "delay",
            NodeType::Code => "code",
            NodeType::Ai => "ai",
            NodeType::Integration => "integration",
            NodeType::WaitForSignal => "wait_for_signal",
        }
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// A connection from one node to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// For edges leaving a condition node: the branch label that takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// What starts a workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// Started by hand (API call). The default when no trigger is given.
    #[default]
    Manual,
    /// Started by an incoming HTTP request.
    Webhook,
    /// Started on a cron schedule, evaluated in `timezone`.
    Schedule {
        /// 5 fields (minute hour day month weekday) or 6 with seconds first.
        cron: String,
        /// IANA time zone name, e.g. "Europe/Paris".
        timezone: String,
        /// What happens to the slots missed while no engine ran; absent
        /// (as in definitions recorded before it existed) means `skip`.
        #[serde(default)]
        catch_up: CatchUp,
    },
    /// Started when an execution of another workflow ends.
    Event {
        /// The workflow whose executions are watched.
        workflow_id: WorkflowId,
        /// Which endings start this workflow.
        #[serde(default)]
        on_status: CompletionStatus,
    },
}

impl Trigger {
    /// For a schedule trigger, the first firing strictly after `after`;
    /// `None` for other triggers or an invalid schedule.
    pub fn next_occurrence_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Trigger::Schedule { cron, timezone, .. } = self else {
            return None;
        };
        Schedule::parse(cron, timezone).ok()?.next_after(after)
    }
}

/// What a schedule does with the slots that came due while no engine ran
/// (downtime). A slot fired within the scheduler's grace period is on time
/// under either policy; see [`Schedule::plan`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Missed slots do not run; they are recorded as skipped and the
    /// schedule waits for its next slot.
    #[default]
    Skip,
    /// Missed slots collapse into one run, for the latest of them; the
    /// others are recorded as skipped.
    RunOnce,
}

impl CatchUp {
    /// The names accepted in definitions, for error messages.
    pub const NAMES: &'static str = "skip, run_once";

    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Skip => "skip",
            CatchUp::RunOnce => "run_once",
        }
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CatchUp {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(CatchUp::Skip),
            "run_once" => Ok(CatchUp::RunOnce),
            _ => Err(()),
        }
    }
}

/// The endings of a watched execution that fire an event trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    /// The execution completed.
    Succeeded,
    /// The execution failed.
    Failed,
    /// The execution was cancelled.
    Cancelled,
    /// The execution timed out.
    TimedOut,
    /// Any terminal ending.
    #[default]
    Any,
}

impl CompletionStatus {
    /// The names accepted in definitions, for error messages.
    pub const NAMES: &'static str = "succeeded, failed, cancelled, timed_out, any";

    /// Whether an execution that ended with `status` fires the trigger.
    pub fn matches(self, status: ExecutionStatus) -> bool {
        match self {
            CompletionStatus::Any => status.is_terminal(),
            CompletionStatus::Succeeded => status == ExecutionStatus::Completed,
            CompletionStatus::Failed => status == ExecutionStatus::Failed,
            CompletionStatus::Cancelled => status == ExecutionStatus::Cancelled,
            CompletionStatus::TimedOut => status == ExecutionStatus::TimedOut,
        }
    }
}

impl FromStr for CompletionStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" => Ok(CompletionStatus::Succeeded),
            "failed" => Ok(CompletionStatus::Failed),
            "cancelled" => Ok(CompletionStatus::Cancelled),
            "timed_out" => Ok(CompletionStatus::TimedOut),
            "any" => Ok(CompletionStatus::Any),
            _ => Err(()),
        }
    }
}

impl WorkflowDefinition {
    /// Reads a definition from user-supplied JSON, with messages that point
    /// at the offending node, edge or field, then validates it.
    pub fn parse(raw: &Value) -> Result<WorkflowDefinition, DefinitionError> {
        let definition = parse::definition(raw)?;
        definition.validate()?;
        Ok(definition)
    }

    /// Checks every rule of a definition (graph shape, node configs,
    /// trigger); returns the first problem found.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        validate::definition(self)
    }

    /// The JSON form, as accepted by [`WorkflowDefinition::parse`].
    pub fn to_json(&self) -> Value {
        // Only string keys and JSON values inside: serialisation cannot fail.
        serde_json::to_value(self).expect("a workflow definition always serialises to JSON")
    }

    /// The entry node (the first one), if any.
    pub fn entry_node(&self) -> Option<&Node> {
        self.nodes.first()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// The edges leaving the node with this id, in definition order.
    pub fn outgoing_edges<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |edge| edge.from == id)
    }
}
