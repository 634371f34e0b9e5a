//! Facts recorded by the execution aggregate. Payloads are externally
//! tagged (`{"ExecutionStarted": {...}}`), the form the event store keeps.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ExecutionId, TenantId, WorkflowId};

/// What started an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecutionTrigger {
    /// Started through the API.
    Manual,
    /// Started by an incoming webhook.
    Webhook {
        /// The delivery id sent by the caller, if any.
        delivery_id: Option<String>,
    },
    /// Started by the scheduler.
    Schedule {
        /// The schedule slot this run is for.
        scheduled_for: DateTime<Utc>,
    },
    /// Started because another execution ended.
    Event {
        /// The execution whose ending fired the trigger.
        source_execution_id: ExecutionId,
    },
}

/// Something that happened during an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecutionEvent {
    /// The execution began running a pinned workflow version.
    ExecutionStarted {
        /// The owning tenant.
        tenant_id: TenantId,
        /// The workflow being run.
        workflow_id: WorkflowId,
        /// The pinned definition version.
        workflow_version: u32,
        /// The input data.
        input: Value,
        /// What started it.
        trigger: ExecutionTrigger,
        /// The caller's idempotency key, if any.
        idempotency_key: Option<String>,
    },
    /// A node was queued to run.
    StepScheduled {
        /// The node id.
        node_id: String,
    },
    /// An attempt at a step began.
    StepAttemptStarted {
        /// The node id.
        node_id: String,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// A step finished successfully.
    StepCompleted {
        /// The node id.
        node_id: String,
        /// The attempt that succeeded.
        attempt: u32,
        /// The step's result.
        output: Value,
    },
    /// A step attempt failed.
    StepFailed {
        /// The node id.
        node_id: String,
        /// The attempt that failed.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
    /// A failed step will be tried again.
    StepRetryScheduled {
        /// The node id.
        node_id: String,
        /// The number the next attempt will have.
        attempt: u32,
        /// When to start it.
        at: DateTime<Utc>,
    },
    /// A running step paused until a signal arrives.
    StepWaitingForSignal {
        /// The node id.
        node_id: String,
        /// The awaited signal name.
        signal: String,
    },
    /// The awaited signal arrived; the step is running again.
    SignalReceived {
        /// The step that was waiting.
        node_id: String,
        /// The signal name.
        signal: String,
        /// Data sent with the signal.
        payload: Value,
    },
    /// The execution was cancelled.
    ExecutionCancelled {
        /// Why, if given.
        reason: Option<String>,
    },
    /// The execution finished successfully.
    ExecutionCompleted {
        /// The final result.
        output: Value,
    },
    /// The execution failed.
    ExecutionFailed {
        /// What went wrong.
        error: String,
    },
    /// The execution ran out of time.
    ExecutionTimedOut,
    /// A failed (or timed-out) execution runs again from a node: the steps
    /// in `reset` are forgotten and run again, the others keep their
    /// outputs.
    ExecutionRetried {
        /// The node it resumes from.
        from_node: String,
        /// The version it runs from now on (a newer published one, or the
        /// same).
        workflow_version: u32,
        /// The steps run again: `from_node`, every node after it, and any
        /// other failed step.
        reset: Vec<String>,
    },
}

impl DomainEvent for ExecutionEvent {
    fn event_type(&self) -> String {
        match self {
            ExecutionEvent::ExecutionStarted { .. } => "ExecutionStarted",
            ExecutionEvent::StepScheduled { .. } => "StepScheduled",
            ExecutionEvent::StepAttemptStarted { .. } => "StepAttemptStarted",
            ExecutionEvent::StepCompleted { .. } => "StepCompleted",
            ExecutionEvent::StepFailed { .. } => "StepFailed",
            ExecutionEvent::StepRetryScheduled { .. } => "StepRetryScheduled",
            ExecutionEvent::StepWaitingForSignal { .. } => "StepWaitingForSignal",
            ExecutionEvent::SignalReceived { .. } => "SignalReceived",
            ExecutionEvent::ExecutionCancelled { .. } => "ExecutionCancelled",
            ExecutionEvent::ExecutionCompleted { .. } => "ExecutionCompleted",
            ExecutionEvent::ExecutionFailed { .. } => "ExecutionFailed",
            ExecutionEvent::ExecutionTimedOut => "ExecutionTimedOut",
            ExecutionEvent::ExecutionRetried { .. } => "ExecutionRetried",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
