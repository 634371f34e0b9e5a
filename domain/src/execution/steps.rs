//! The rules for a step's lifecycle: scheduled, attempted, completed or
//! failed, retried, paused for a signal.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Execution, ExecutionError, ExecutionEvent, StepState, StepStatus, MAX_STEPS};
use crate::digest::json_digest;

type Decision = Result<Vec<ExecutionEvent>, ExecutionError>;

impl Execution {
    pub(super) fn schedule(&self, node_id: String) -> Decision {
        require_text("node_id", &node_id)?;
        match self.steps.get(&node_id).map(|step| step.status) {
            None if self.steps.len() >= MAX_STEPS => {
                Err(ExecutionError::TooManySteps { max: MAX_STEPS })
            }
            None => Ok(vec![ExecutionEvent::StepScheduled { node_id }]),
            Some(StepStatus::Completed) => Err(invalid(
                node_id,
                "already completed; a completed step cannot be scheduled again",
            )),
            Some(StepStatus::Failed) => Err(invalid(
                node_id,
                "has failed; use ScheduleRetry to run it again",
            )),
            Some(status) => Err(invalid(
                node_id,
                format!("is already {status}; it cannot be scheduled twice"),
            )),
        }
    }

    pub(super) fn start_attempt(&self, node_id: String) -> Decision {
        let step = self.existing_step(&node_id)?;
        match step.status {
            StepStatus::Scheduled | StepStatus::RetryScheduled => {
                Ok(vec![ExecutionEvent::StepAttemptStarted {
                    attempt: step.attempts + 1,
                    node_id,
                }])
            }
            status => Err(invalid(
                node_id,
                format!("is {status}; only a scheduled step can start an attempt"),
            )),
        }
    }

    /// Completing a completed step again with the same output is a no-op,
    /// so the engine may retry after a crash.
    pub(super) fn complete_step(&self, node_id: String, output: Value) -> Decision {
        let step = self.started_step(&node_id)?;
        match step.status {
            StepStatus::Running => Ok(vec![ExecutionEvent::StepCompleted {
                attempt: step.attempts,
                node_id,
                output,
            }]),
            StepStatus::Completed => {
                if step.output_digest.as_deref() == Some(json_digest(&output).as_str()) {
                    Ok(vec![])
                } else {
                    Err(invalid(
                        node_id,
                        "already completed with a different output",
                    ))
                }
            }
            _ => Err(invalid(node_id, not_running(step))),
        }
    }

    pub(super) fn fail_step(&self, node_id: String, error: String, retryable: bool) -> Decision {
        let step = self.started_step(&node_id)?;
        match step.status {
            // A wait is part of the attempt: failing it is how a signal
            // timeout is recorded.
            StepStatus::Running | StepStatus::WaitingForSignal => {
                Ok(vec![ExecutionEvent::StepFailed {
                    attempt: step.attempts,
                    node_id,
                    error,
                    retryable,
                }])
            }
            _ => Err(invalid(node_id, not_running(step))),
        }
    }

    pub(super) fn schedule_retry(&self, node_id: String, at: DateTime<Utc>) -> Decision {
        let step = self.existing_step(&node_id)?;
        match step.status {
            StepStatus::Failed if step.retryable => Ok(vec![ExecutionEvent::StepRetryScheduled {
                attempt: step.attempts + 1,
                node_id,
                at,
            }]),
            StepStatus::Failed => Err(invalid(
                node_id,
                "failed with a non-retryable error; it cannot be retried",
            )),
            status => Err(invalid(
                node_id,
                format!("is {status}; only a failed step can be retried"),
            )),
        }
    }

    /// One waiting step per signal name, so a signal always has exactly one
    /// recipient.
    pub(super) fn wait(&self, node_id: String, signal: String) -> Decision {
        require_text("signal", &signal)?;
        let step = self.started_step(&node_id)?;
        if step.status != StepStatus::Running {
            return Err(invalid(node_id, not_running(step)));
        }
        let taken = self
            .steps
            .iter()
            .find(|(_, other)| other.waiting_for.as_deref() == Some(signal.as_str()));
        if let Some((other, _)) = taken {
            return Err(ExecutionError::SignalInUse {
                signal,
                node_id: other.clone(),
            });
        }
        Ok(vec![ExecutionEvent::StepWaitingForSignal {
            node_id,
            signal,
        }])
    }

    pub(super) fn receive(&self, signal: String, payload: Value) -> Decision {
        let waiting = self.steps.iter().find(|(_, step)| {
            step.status == StepStatus::WaitingForSignal
                && step.waiting_for.as_deref() == Some(signal.as_str())
        });
        match waiting {
            Some((node_id, _)) => Ok(vec![ExecutionEvent::SignalReceived {
                node_id: node_id.clone(),
                signal,
                payload,
            }]),
            None => Err(ExecutionError::NoStepWaiting { signal }),
        }
    }

    fn existing_step(&self, node_id: &str) -> Result<&StepState, ExecutionError> {
        require_text("node_id", node_id)?;
        self.steps
            .get(node_id)
            .ok_or_else(|| invalid(node_id.to_owned(), "was not scheduled; schedule it first"))
    }

    /// A step that had at least one attempt.
    fn started_step(&self, node_id: &str) -> Result<&StepState, ExecutionError> {
        require_text("node_id", node_id)?;
        match self.steps.get(node_id) {
            Some(step) if step.attempts > 0 => Ok(step),
            _ => Err(invalid(
                node_id.to_owned(),
                "was not started; start an attempt first",
            )),
        }
    }
}

/// Why a started step is not running, and what to do instead.
fn not_running(step: &StepState) -> String {
    match step.status {
        StepStatus::Completed => "already completed".to_owned(),
        StepStatus::WaitingForSignal => format!(
            "is waiting for signal '{}'; deliver the signal first",
            step.waiting_for.as_deref().unwrap_or_default()
        ),
        StepStatus::Failed => format!(
            "failed on attempt {}; schedule a retry to run it again",
            step.attempts
        ),
        status => format!("is {status}, not running; start an attempt first"),
    }
}

fn invalid(node_id: String, problem: impl Into<String>) -> ExecutionError {
    ExecutionError::InvalidStep {
        node_id,
        problem: problem.into(),
    }
}

fn require_text(field: &'static str, value: &str) -> Result<(), ExecutionError> {
    if value.trim().is_empty() {
        return Err(ExecutionError::Invalid {
            field,
            problem: "must not be empty".to_owned(),
        });
    }
    Ok(())
}
