//! An execution as the engine sees it: everything its events say, outputs,
//! errors and the times they were recorded included. The aggregate keeps
//! only what its rules need; the engine folds the full history with
//! [`Run::record`] and plans from it (see `plan.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ExecutionEvent, ExecutionStatus, ExecutionTrigger, StepStatus};
use crate::ids::{TenantId, WorkflowId};

/// The full state of one execution, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    /// The owning tenant (`None` before the start).
    pub tenant_id: Option<TenantId>,
    /// The workflow being run.
    pub workflow_id: Option<WorkflowId>,
    /// The pinned definition version.
    pub workflow_version: u32,
    /// The execution's input.
    pub input: Value,
    /// What started it.
    pub trigger: Option<ExecutionTrigger>,
    /// The run's status (`None` before the start).
    pub status: Option<ExecutionStatus>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last began running: its start, or its last retry (the
    /// workflow's execution timeout counts from here).
    pub running_since: Option<DateTime<Utc>>,
    /// Every step seen so far, by node id.
    pub steps: BTreeMap<String, RunStep>,
    /// Events folded (the aggregate's version).
    pub version: u64,
}

/// One step as its events tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    /// Where it is.
    pub status: StepStatus,
    /// Attempts started (the current attempt's number).
    pub attempts: u32,
    /// When its current status began (the recorded time of the last event
    /// about it): the start of a delay's timer, of a wait, of a failure.
    pub since: DateTime<Utc>,
    /// Its output, once completed.
    pub output: Option<Value>,
    /// The last failure, if any.
    pub error: Option<String>,
    /// Whether the last failure may be retried.
    pub retryable: bool,
    /// When the next attempt is due, while `RetryScheduled`.
    pub retry_at: Option<DateTime<Utc>>,
    /// The awaited signal, while waiting.
    pub waiting_for: Option<String>,
    /// The payload of the signal that ended its wait, once received.
    pub signal: Option<Value>,
}

impl Run {
    /// Folds a whole history, each event with the time it was recorded.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = (&'a ExecutionEvent, DateTime<Utc>)>,
    ) -> Run {
        let mut run = Run::default();
        for (event, at) in events {
            run.record(event, at);
        }
        run
    }

    /// Folds one event recorded at `at`.
    pub fn record(&mut self, event: &ExecutionEvent, at: DateTime<Utc>) {
        self.version += 1;
        match event {
            ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                input,
                trigger,
                ..
            } => {
                self.tenant_id = Some(*tenant_id);
                self.workflow_id = Some(*workflow_id);
                self.workflow_version = *workflow_version;
                self.input = input.clone();
                self.trigger = Some(trigger.clone());
                self.status = Some(ExecutionStatus::Running);
                self.started_at = Some(at);
                self.running_since = Some(at);
            }
            ExecutionEvent::StepScheduled { node_id } => {
                self.steps.insert(node_id.clone(), RunStep::scheduled(at));
            }
            ExecutionEvent::StepAttemptStarted { node_id, attempt } => {
                self.step(node_id, at, |step| {
                    step.status = StepStatus::Running;
                    step.attempts = *attempt;
                    step.retry_at = None;
                    step.signal = None;
                });
            }
            ExecutionEvent::StepCompleted {
                node_id, output, ..
            } => self.step(node_id, at, |step| {
                step.status = StepStatus::Completed;
                step.output = Some(output.clone());
            }),
            ExecutionEvent::StepFailed {
                node_id,
                error,
                retryable,
                ..
            } => self.step(node_id, at, |step| {
                step.status = StepStatus::Failed;
                step.error = Some(error.clone());
                step.retryable = *retryable;
                step.waiting_for = None;
            }),
            ExecutionEvent::StepRetryScheduled {
                node_id, at: due, ..
            } => {
                self.step(node_id, at, |step| {
                    step.status = StepStatus::RetryScheduled;
                    step.retry_at = Some(*due);
                });
            }
            ExecutionEvent::StepWaitingForSignal { node_id, signal } => {
                self.step(node_id, at, |step| {
                    step.status = StepStatus::WaitingForSignal;
                    step.waiting_for = Some(signal.clone());
                });
            }
            ExecutionEvent::SignalReceived {
                node_id, payload, ..
            } => self.step(node_id, at, |step| {
                step.status = StepStatus::Running;
                step.waiting_for = None;
                step.signal = Some(payload.clone());
            }),
            ExecutionEvent::ExecutionCancelled { .. } => {
                self.status = Some(ExecutionStatus::Cancelled);
            }
            ExecutionEvent::ExecutionCompleted { .. } => {
                self.status = Some(ExecutionStatus::Completed);
            }
            ExecutionEvent::ExecutionFailed { .. } => self.status = Some(ExecutionStatus::Failed),
            ExecutionEvent::ExecutionTimedOut => self.status = Some(ExecutionStatus::TimedOut),
            ExecutionEvent::ExecutionRetried {
                workflow_version,
                reset,
                ..
            } => {
                self.status = Some(ExecutionStatus::Running);
                self.running_since = Some(at);
                self.workflow_version = *workflow_version;
                for node_id in reset {
                    self.steps.remove(node_id);
                }
            }
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.status.is_some_and(ExecutionStatus::is_terminal)
    }

    /// The data expressions see: `input`, `steps.<id>.output` (and
    /// `.status`, `.attempts`, `.error`), `trigger`.
    pub fn expression_context(&self) -> Value {
        let steps: serde_json::Map<String, Value> = self
            .steps
            .iter()
            .map(|(id, step)| {
                let view = serde_json::json!({
                    "status": step.status,
                    "attempts": step.attempts,
                    "output": step.output,
                    "error": step.error,
                });
                (id.clone(), view)
            })
            .collect();
        serde_json::json!({
            "input": self.input,
            "steps": steps,
            "trigger": self.trigger,
        })
    }

    fn step(&mut self, node_id: &str, at: DateTime<Utc>, change: impl FnOnce(&mut RunStep)) {
        if let Some(step) = self.steps.get_mut(node_id) {
            change(step);
            step.since = at;
        }
    }
}

impl RunStep {
    fn scheduled(at: DateTime<Utc>) -> RunStep {
        RunStep {
            status: StepStatus::Scheduled,
            attempts: 0,
            since: at,
            output: None,
            error: None,
            retryable: false,
            retry_at: None,
            waiting_for: None,
            signal: None,
        }
    }
}
