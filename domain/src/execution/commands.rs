//! What can be asked of an execution, and the rules for starting and
//! ending it. Step rules live in `steps.rs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Execution, ExecutionError, ExecutionEvent, ExecutionStatus, ExecutionTrigger};
use crate::command::Command;
use crate::digest::json_digest;
use crate::ids::{TenantId, WorkflowId};

/// The most steps one execution may schedule (a definition has at most
/// that many nodes).
pub const MAX_STEPS: usize = crate::workflow::MAX_NODES;
/// Longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// A request to the execution aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecutionCommand {
    /// Begin a run. Repeating it for the same workflow is a no-op, so a
    /// retried request gets the same execution.
    Start {
        /// The workflow to run.
        workflow_id: WorkflowId,
        /// The pinned version (1 or more).
        workflow_version: u32,
        /// Input data.
        input: Value,
        /// What started the run.
        trigger: ExecutionTrigger,
        /// The caller's idempotency key (1 to 200 characters), if any.
        idempotency_key: Option<String>,
    },
    /// Queue a node.
    ScheduleStep {
        /// The node id.
        node_id: String,
    },
    /// Begin an attempt at a scheduled (or retry-scheduled) step.
    StartStepAttempt {
        /// The node id.
        node_id: String,
    },
    /// Record a step's success.
    CompleteStep {
        /// The node id.
        node_id: String,
        /// The step's result.
        output: Value,
    },
    /// Record a failed attempt (also ends a wait for a signal, e.g. on
    /// timeout).
    FailStep {
        /// The node id.
        node_id: String,
        /// What went wrong.
        error: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
    /// Queue another attempt at a step that failed retryably.
    ScheduleRetry {
        /// The node id.
        node_id: String,
        /// When to run it.
        at: DateTime<Utc>,
    },
    /// Pause a running step until a signal arrives.
    WaitForSignal {
        /// The node id.
        node_id: String,
        /// The signal name.
        signal: String,
    },
    /// Deliver a signal to the step waiting for it.
    ReceiveSignal {
        /// The signal name.
        signal: String,
        /// Data sent with it.
        payload: Value,
    },
    /// Stop the run.
    Cancel {
        /// Why, if given.
        reason: Option<String>,
    },
    /// End the run successfully (no step may still be active).
    Complete {
        /// The final result.
        output: Value,
    },
    /// End the run with an error.
    Fail {
        /// What went wrong.
        error: String,
    },
    /// End the run for running out of time.
    TimeOut,
    /// Run a failed or timed-out execution again from a node, keeping the
    /// outputs of the steps not in `reset`.
    Retry {
        /// The node to resume from.
        from_node: String,
        /// The version to run from now on (1 or more).
        workflow_version: u32,
        /// The steps to run again; must include `from_node`. The caller
        /// computes them from the version's graph.
        reset: Vec<String>,
    },
    /// Several step and run commands applied in order as one: all their
    /// events commit together or none does. The engine records a step's
    /// outcome and what it leads to in one write. A batch cannot start a
    /// run or hold another batch.
    Batch {
        /// The commands, in order.
        commands: Vec<ExecutionCommand>,
    },
}

impl Execution {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<ExecutionCommand>,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let starts = matches!(command.body, ExecutionCommand::Start { .. });
        command.check_envelope(self.tenant_id, self.version, starts)?;
        match command.body {
            ExecutionCommand::Batch { commands } => self.batch(command.tenant_id, commands),
            body => self.decide_body(command.tenant_id, body),
        }
    }

    fn batch(
        &self,
        tenant_id: TenantId,
        commands: Vec<ExecutionCommand>,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let mut state = self.clone();
        let mut events = Vec::new();
        for body in commands {
            if matches!(
                body,
                ExecutionCommand::Start { .. } | ExecutionCommand::Batch { .. }
            ) {
                return Err(ExecutionError::Invalid {
                    field: "commands",
                    problem: "must not start an execution or contain another batch".to_owned(),
                });
            }
            let decided = state.decide_body(tenant_id, body)?;
            for event in &decided {
                cqrs_es::Aggregate::apply(&mut state, event.clone());
            }
            events.extend(decided);
        }
        Ok(events)
    }

    fn decide_body(
        &self,
        tenant_id: TenantId,
        body: ExecutionCommand,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let starts = matches!(body, ExecutionCommand::Start { .. });
        let status = self.status.unwrap_or(ExecutionStatus::Running);
        let retries = matches!(body, ExecutionCommand::Retry { .. });
        if status.is_terminal() && !starts && !retries {
            return self.after_end(status, &body);
        }
        match body {
            ExecutionCommand::Batch { commands } => self.batch(tenant_id, commands),
            ExecutionCommand::Retry {
                from_node,
                workflow_version,
                reset,
            } => self.retry(status, from_node, workflow_version, reset),
            ExecutionCommand::Start {
                workflow_id,
                workflow_version,
                input,
                trigger,
                idempotency_key,
            } => self.start(
                tenant_id,
                workflow_id,
                workflow_version,
                input,
                trigger,
                idempotency_key,
            ),
            ExecutionCommand::ScheduleStep { node_id } => self.schedule(node_id),
            ExecutionCommand::StartStepAttempt { node_id } => self.start_attempt(node_id),
            ExecutionCommand::CompleteStep { node_id, output } => {
                self.complete_step(node_id, output)
            }
            ExecutionCommand::FailStep {
                node_id,
                error,
                retryable,
            } => self.fail_step(node_id, error, retryable),
            ExecutionCommand::ScheduleRetry { node_id, at } => self.schedule_retry(node_id, at),
            ExecutionCommand::WaitForSignal { node_id, signal } => self.wait(node_id, signal),
            ExecutionCommand::ReceiveSignal { signal, payload } => self.receive(signal, payload),
            ExecutionCommand::Cancel { reason } => {
                Ok(vec![ExecutionEvent::ExecutionCancelled { reason }])
            }
            ExecutionCommand::Complete { output } => self.complete(output),
            ExecutionCommand::Fail { error } => Ok(vec![ExecutionEvent::ExecutionFailed { error }]),
            ExecutionCommand::TimeOut => Ok(vec![ExecutionEvent::ExecutionTimedOut]),
        }
    }

    fn complete(&self, output: Value) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let active = self.steps.iter().find(|(_, step)| step.status.is_active());
        if let Some((node_id, step)) = active {
            return Err(ExecutionError::StepStillActive {
                node_id: node_id.clone(),
                status: step.status,
            });
        }
        Ok(vec![ExecutionEvent::ExecutionCompleted { output }])
    }

    fn start(
        &self,
        tenant_id: TenantId,
        workflow_id: WorkflowId,
        workflow_version: u32,
        input: Value,
        trigger: ExecutionTrigger,
        idempotency_key: Option<String>,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        if workflow_version == 0 {
            return Err(ExecutionError::Invalid {
                field: "workflow_version",
                problem: "must be 1 or more; versions are numbered from 1".to_owned(),
            });
        }
        if let Some(key) = &idempotency_key {
            let length = key.chars().count();
            if key.trim().is_empty() || length > MAX_IDEMPOTENCY_KEY_CHARS {
                return Err(ExecutionError::Invalid {
                    field: "idempotency_key",
                    problem: format!(
                        "must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters and not blank (found {length} characters); omit it or send a shorter key"
                    ),
                });
            }
        }
        match self.workflow_id {
            Some(existing) if existing == workflow_id => Ok(vec![]),
            Some(existing) => Err(ExecutionError::AlreadyStarted {
                workflow_id: existing,
            }),
            None => Ok(vec![ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                input,
                trigger,
                idempotency_key,
            }]),
        }
    }

    fn retry(
        &self,
        status: ExecutionStatus,
        from_node: String,
        workflow_version: u32,
        reset: Vec<String>,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        if !matches!(status, ExecutionStatus::Failed | ExecutionStatus::TimedOut) {
            return Err(ExecutionError::Invalid {
                field: "status",
                problem: format!(
                    "is {status}; only a failed or timed-out execution can be retried"
                ),
            });
        }
        if workflow_version < self.workflow_version {
            return Err(ExecutionError::Invalid {
                field: "workflow_version",
                problem: format!(
                    "{workflow_version} is older than the version it ran ({}); a retry never goes back",
                    self.workflow_version
                ),
            });
        }
        if !reset.contains(&from_node) {
            return Err(ExecutionError::Invalid {
                field: "reset",
                problem: format!("must include the node '{from_node}' it resumes from"),
            });
        }
        Ok(vec![ExecutionEvent::ExecutionRetried {
            from_node,
            workflow_version,
            reset,
        }])
    }

    /// A finished execution accepts only a repeat of the command that
    /// finished it, as a no-op; anything else is rejected.
    fn after_end(
        &self,
        status: ExecutionStatus,
        body: &ExecutionCommand,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let repeat = match (status, body) {
            (ExecutionStatus::Cancelled, ExecutionCommand::Cancel { .. })
            | (ExecutionStatus::Failed, ExecutionCommand::Fail { .. })
            | (ExecutionStatus::TimedOut, ExecutionCommand::TimeOut) => true,
            (ExecutionStatus::Completed, ExecutionCommand::Complete { output }) => {
                self.output_digest.as_deref() == Some(json_digest(output).as_str())
            }
            _ => false,
        };
        if repeat {
            Ok(vec![])
        } else {
            Err(ExecutionError::Finished { status })
        }
    }
}
