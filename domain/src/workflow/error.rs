//! Why a workflow definition or a workflow command was rejected.

use chrono::{DateTime, Utc};

use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind, TextError};

use super::{CatchUp, CompletionStatus, NodeType};

/// A problem in a workflow definition. The message is shown to the user as
/// is: it names the node, edge or field and says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// A required field is absent.
    #[error("{path} is missing '{field}'")]
    MissingField {
        /// Where the field was expected ("nodes[3]", "node 'fetch'", "trigger").
        path: String,
        /// The missing field.
        field: &'static str,
    },
    /// The run-wide `settings` are invalid.
    #[error("{problem}")]
    InvalidSettings {
        /// What is wrong, naming the field.
        problem: String,
    },
    /// A field holds the wrong kind of JSON value.
    #[error("{path} must be {expected} (found {found})")]
    WrongType {
        /// The field ("nodes[3].id", "edges[0].when").
        path: String,
        /// What was expected ("a string").
        expected: &'static str,
        /// What was found ("a number").
        found: &'static str,
    },
    /// A node's `type` is not a known node type.
    #[error(
        "node '{node}' has unknown type '{found}' (expected one of {})",
        NodeType::NAMES
    )]
    UnknownNodeType {
        /// The node id.
        node: String,
        /// The type given.
        found: String,
    },
    /// The trigger's `type` is not a known trigger type.
    #[error("unknown trigger type '{found}' (expected one of manual, webhook, schedule, event)")]
    UnknownTriggerType {
        /// The type given.
        found: String,
    },
    /// An event trigger's `on_status` is not a completion status.
    #[error(
        "trigger.on_status '{found}' is not a completion status (expected one of {})",
        CompletionStatus::NAMES
    )]
    UnknownCompletionStatus {
        /// The status given.
        found: String,
    },
    /// A schedule trigger's `catch_up` is not a catch-up policy.
    #[error(
        "trigger.catch_up '{found}' is not a catch-up policy (expected one of {})",
        CatchUp::NAMES
    )]
    UnknownCatchUp {
        /// The policy given.
        found: String,
    },
    /// An event trigger's `workflow_id` is not a UUID.
    #[error("trigger.workflow_id '{found}' is not a valid workflow id; use the UUID of an existing workflow")]
    InvalidTriggerWorkflowId {
        /// The id given.
        found: String,
    },
    /// `nodes` is empty.
    #[error("a workflow needs at least one node; add a node to 'nodes'")]
    NoNodes,
    /// More than [`super::MAX_NODES`] nodes.
    #[error(
        "the workflow has {count} nodes but the limit is {max}; split it into smaller workflows"
    )]
    TooManyNodes {
        /// Nodes given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A node id is blank.
    #[error("nodes[{index}] has an empty 'id'; give every node a non-empty id")]
    EmptyNodeId {
        /// Position of the node in `nodes`.
        index: usize,
    },
    /// Two nodes share an id.
    #[error("node id '{id}' is used by both nodes[{first}] and nodes[{second}]; node ids must be unique")]
    DuplicateNodeId {
        /// The shared id.
        id: String,
        /// Position of the first node.
        first: usize,
        /// Position of the second node.
        second: usize,
    },
    /// An edge refers to a node that does not exist.
    #[error("edges[{index}] ('{from}' -> '{to}') refers to unknown node '{missing}'; add that node or fix the edge")]
    UnknownEdgeNode {
        /// Position of the edge in `edges`.
        index: usize,
        /// The edge's source.
        from: String,
        /// The edge's target.
        to: String,
        /// The id that matches no node.
        missing: String,
    },
    /// The edges form a cycle.
    #[error("the edges form a cycle through node '{node}'; remove an edge on the cycle (workflows must be acyclic)")]
    Cycle {
        /// A node on the cycle.
        node: String,
    },
    /// A node cannot be reached from the entry node.
    #[error("node '{node}' is not reachable from the entry node '{entry}' (the first node); add an edge leading to it or remove it")]
    Unreachable {
        /// The unreachable node.
        node: String,
        /// The entry node.
        entry: String,
    },
    /// A node's config does not fit its type.
    #[error("node '{node}' ({node_type}) has an invalid config: {problem}")]
    InvalidConfig {
        /// The node id.
        node: String,
        /// The node type.
        node_type: NodeType,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The schedule trigger's cron expression does not parse.
    #[error("the schedule trigger's cron expression '{cron}' is invalid: {reason}; use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. '0 9 * * MON-FRI'")]
    InvalidCron {
        /// The expression given.
        cron: String,
        /// The parser's explanation.
        reason: String,
    },
    /// The schedule trigger's time zone is unknown.
    #[error("unknown time zone '{timezone}' in the schedule trigger; use an IANA name such as 'Europe/Paris' or 'UTC'")]
    UnknownTimeZone {
        /// The zone given.
        timezone: String,
    },
}

/// Why a workflow command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// No such workflow for this tenant.
    #[error("workflow not found; check the workflow id")]
    NotFound,
    /// `Create` on an id that is taken.
    #[error("workflow already exists; create it under a new id or update the existing one")]
    AlreadyExists,
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the workflow is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The workflow is archived and accepts only `Archive`.
    #[error("workflow is archived; archived workflows cannot be changed")]
    Archived,
    /// The definition breaks a rule.
    #[error("invalid workflow definition: {0}")]
    InvalidDefinition(#[from] DefinitionError),
    /// The name is blank or too long.
    #[error("workflow name {0}")]
    InvalidName(TextError),
    /// The description is too long.
    #[error("workflow description {0}")]
    InvalidDescription(TextError),
    /// `Publish` names a version that does not exist.
    #[error("workflow has no version {requested}; the latest version is {latest}, publish a version between 1 and {latest}")]
    UnknownVersion {
        /// The version asked for.
        requested: u32,
        /// The latest version.
        latest: u32,
    },
    /// The version counter is exhausted.
    #[error("workflow has reached the maximum number of versions; create a new workflow")]
    TooManyVersions,
    /// Skipped schedule runs were reported for an unpublished workflow.
    #[error("workflow is not published, so its schedule does not run; publish a version first")]
    NotPublished,
    /// A skipped-runs range starts at or before the last slot already
    /// recorded as skipped, and ends after it.
    #[error("skipped runs from {from} overlap the runs already recorded as skipped through {through}; report only the slots after it")]
    SkippedRunsOverlap {
        /// The first slot given.
        from: DateTime<Utc>,
        /// The last slot already recorded.
        through: DateTime<Utc>,
    },
    /// A skipped-runs range does not hold together.
    #[error("skipped runs from {from} to {to} cannot number {count}; one slot has from = to, more have from < to")]
    InvalidSkippedRuns {
        /// The first slot given.
        from: DateTime<Utc>,
        /// The last slot given.
        to: DateTime<Utc>,
        /// The count given.
        count: u64,
    },
    /// A webhook secret arrived without one of its sealed fields.
    #[error("the webhook secret has an empty '{field}'; send it sealed with all four fields")]
    InvalidWebhookSecret {
        /// The empty field.
        field: &'static str,
    },
    /// The grace window of earlier webhook secrets is too long.
    #[error("graceSeconds {requested} is too long; earlier webhook secrets may stay valid for at most {max} seconds (7 days)")]
    WebhookGraceTooLong {
        /// The window asked for, in seconds.
        requested: u32,
        /// The longest window, in seconds.
        max: u32,
    },
}

impl DomainError for WorkflowError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkflowError::NotFound => ErrorKind::NotFound,
            WorkflowError::AlreadyExists
            | WorkflowError::VersionConflict { .. }
            | WorkflowError::SkippedRunsOverlap { .. } => ErrorKind::Conflict,
            WorkflowError::Archived
            | WorkflowError::TooManyVersions
            | WorkflowError::NotPublished => ErrorKind::InvalidState,
            WorkflowError::InvalidDefinition(_)
            | WorkflowError::InvalidName(_)
            | WorkflowError::InvalidDescription(_)
            | WorkflowError::UnknownVersion { .. }
            | WorkflowError::InvalidSkippedRuns { .. }
            | WorkflowError::InvalidWebhookSecret { .. }
            | WorkflowError::WebhookGraceTooLong { .. } => ErrorKind::Validation,
        }
    }
}

impl From<EnvelopeRejection> for WorkflowError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => WorkflowError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                WorkflowError::VersionConflict { expected, actual }
            }
        }
    }
}
