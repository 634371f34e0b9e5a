//! The execution aggregate: one run of a pinned workflow version, with the
//! lifecycle of each step (scheduled, attempts, retries, signals) and of
//! the run itself.
//!
//! The engine drives it with commands; the aggregate only says which
//! transitions are legal. A received signal puts its step back to
//! `Running`: the engine then completes (or fails) the step like any other,
//! so `StepCompleted` remains the one fact that says a step finished.

mod commands;
mod error;
mod events;
mod plan;
mod retry;
mod run;
mod status;
mod steps;

#[cfg(test)]
mod plan_limit_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod signal_tests;
#[cfg(test)]
mod step_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{ExecutionCommand, MAX_IDEMPOTENCY_KEY_CHARS, MAX_STEPS};
pub use error::ExecutionError;
pub use events::{ExecutionEvent, ExecutionTrigger};
pub use plan::{chosen_branch, delay_until, nodes_from, plan, Action, Plan};
pub use retry::{RetryDecision, RetryPolicy, MAX_ATTEMPTS, MAX_RETRY_AFTER};
pub use run::{Run, RunStep};
pub use status::{ExecutionStatus, StepState, StepStatus};

use crate::command::Command;
use crate::digest::json_digest;
use crate::ids::{TenantId, WorkflowId};

/// The state of one execution, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Execution {
    tenant_id: Option<TenantId>,
    workflow_id: Option<WorkflowId>,
    workflow_version: u32,
    idempotency_key: Option<String>,
    trigger: Option<ExecutionTrigger>,
    status: Option<ExecutionStatus>,
    steps: BTreeMap<String, StepState>,
    /// Fingerprint of the final output, for the idempotent repeat of
    /// `Complete`.
    output_digest: Option<String>,
    version: u64,
}

impl Execution {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before the start.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the execution has started.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The run's status; `None` before the start.
    pub fn status(&self) -> Option<ExecutionStatus> {
        self.status
    }

    /// The workflow being run.
    pub fn workflow_id(&self) -> Option<WorkflowId> {
        self.workflow_id
    }

    /// The pinned workflow version (0 before the start).
    pub fn workflow_version(&self) -> u32 {
        self.workflow_version
    }

    /// The idempotency key the run was started with.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// What started the run.
    pub fn trigger(&self) -> Option<&ExecutionTrigger> {
        self.trigger.as_ref()
    }

    /// Every step seen so far, by node id.
    pub fn steps(&self) -> &BTreeMap<String, StepState> {
        &self.steps
    }

    /// One step, by node id.
    pub fn step(&self, node_id: &str) -> Option<&StepState> {
        self.steps.get(node_id)
    }
}

impl Aggregate for Execution {
    const TYPE: &'static str = "Execution";
    type Command = Command<ExecutionCommand>;
    type Event = ExecutionEvent;
    type Error = ExecutionError;
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
        self.version += 1;
        match event {
            ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                trigger,
                idempotency_key,
                input: _,
            } => {
                self.tenant_id = Some(tenant_id);
                self.workflow_id = Some(workflow_id);
                self.workflow_version = workflow_version;
                self.trigger = Some(trigger);
                self.idempotency_key = idempotency_key;
                self.status = Some(ExecutionStatus::Running);
            }
            ExecutionEvent::StepScheduled { node_id } => {
                let step = StepState {
                    status: StepStatus::Scheduled,
                    attempts: 0,
                    waiting_for: None,
                    retryable: false,
                    output_digest: None,
                };
                self.steps.insert(node_id, step);
            }
            ExecutionEvent::StepAttemptStarted { node_id, attempt } => {
                self.update_step(&node_id, |step| {
                    step.status = StepStatus::Running;
                    step.attempts = attempt;
                });
            }
            ExecutionEvent::StepCompleted {
                node_id, output, ..
            } => self.update_step(&node_id, |step| {
                step.status = StepStatus::Completed;
                step.output_digest = Some(json_digest(&output));
            }),
            ExecutionEvent::StepFailed {
                node_id, retryable, ..
            } => self.update_step(&node_id, |step| {
                step.status = StepStatus::Failed;
                step.retryable = retryable;
                step.waiting_for = None;
            }),
            ExecutionEvent::StepRetryScheduled { node_id, .. } => {
                self.update_step(&node_id, |step| step.status = StepStatus::RetryScheduled);
            }
            ExecutionEvent::StepWaitingForSignal { node_id, signal } => {
                self.update_step(&node_id, |step| {
                    step.status = StepStatus::WaitingForSignal;
                    step.waiting_for = Some(signal);
                });
            }
            ExecutionEvent::SignalReceived { node_id, .. } => {
                self.update_step(&node_id, |step| {
                    step.status = StepStatus::Running;
                    step.waiting_for = None;
                });
            }
            ExecutionEvent::ExecutionCancelled { .. } => {
                self.status = Some(ExecutionStatus::Cancelled);
            }
            ExecutionEvent::ExecutionCompleted { output } => {
                self.status = Some(ExecutionStatus::Completed);
                self.output_digest = Some(json_digest(&output));
            }
            ExecutionEvent::ExecutionFailed { .. } => self.status = Some(ExecutionStatus::Failed),
            ExecutionEvent::ExecutionTimedOut => self.status = Some(ExecutionStatus::TimedOut),
            ExecutionEvent::ExecutionRetried {
                workflow_version,
                reset,
                ..
            } => {
                self.status = Some(ExecutionStatus::Running);
                self.workflow_version = workflow_version;
                self.output_digest = None;
                for node_id in reset {
                    self.steps.remove(&node_id);
                }
            }
        }
    }
}

impl Execution {
    /// Folds a step event; an event for an unknown step (impossible through
    /// `handle`) is ignored rather than failing, because `apply` cannot fail.
    fn update_step(&mut self, node_id: &str, change: impl FnOnce(&mut StepState)) {
        if let Some(step) = self.steps.get_mut(node_id) {
            change(step);
        }
    }
}
