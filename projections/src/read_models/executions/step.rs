//! An `execution_steps` row and what each step event does to it.

use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use serde_json::Value;
use uuid::Uuid;

use crate::projector::ApplyError;

/// An `execution_steps` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Step {
    pub execution_id: Uuid,
    pub node_id: String,
    pub tenant_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub attempt_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub waiting_for: Option<String>,
    pub possibly_done: bool,
    pub updated_at: DateTime<Utc>,
}

impl Step {
    pub(super) fn scheduled(
        execution_id: Uuid,
        node_id: String,
        tenant_id: Uuid,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            execution_id,
            node_id,
            tenant_id,
            status: "scheduled".to_owned(),
            attempts: 0,
            scheduled_at: at,
            started_at: None,
            attempt_started_at: None,
            finished_at: None,
            output: None,
            error: None,
            retryable: None,
            next_retry_at: None,
            waiting_for: None,
            possibly_done: false,
            updated_at: at,
        }
    }

    /// Applies a step event other than `StepScheduled`.
    pub(super) fn apply(
        &mut self,
        step: ExecutionEvent,
        at: DateTime<Utc>,
        possibly_done: bool,
    ) -> Result<(), ApplyError> {
        match step {
            ExecutionEvent::StepAttemptStarted { attempt, .. } => {
                self.status = "running".to_owned();
                self.attempts = attempt_number(attempt)?;
                self.started_at = self.started_at.or(Some(at));
                self.attempt_started_at = Some(at);
                self.finished_at = None;
                self.next_retry_at = None;
            }
            ExecutionEvent::StepCompleted {
                attempt, output, ..
            } => {
                self.status = "completed".to_owned();
                self.attempts = self.attempts.max(attempt_number(attempt)?);
                self.finished_at = Some(at);
                self.output = Some(output);
                self.error = None;
                self.retryable = None;
                self.waiting_for = None;
                self.possibly_done = false;
            }
            ExecutionEvent::StepFailed {
                attempt,
                error,
                retryable,
                ..
            } => {
                self.status = "failed".to_owned();
                self.attempts = self.attempts.max(attempt_number(attempt)?);
                self.finished_at = Some(at);
                self.error = Some(error);
                self.retryable = Some(retryable);
                self.waiting_for = None;
                self.possibly_done = possibly_done;
            }
            ExecutionEvent::StepRetryScheduled { at: retry_at, .. } => {
                self.status = "retry_scheduled".to_owned();
                self.next_retry_at = Some(retry_at);
            }
            ExecutionEvent::StepWaitingForSignal { signal, .. } => {
                self.status = "waiting_for_signal".to_owned();
                self.waiting_for = Some(signal);
            }
            ExecutionEvent::SignalReceived { .. } => {
                self.status = "running".to_owned();
                self.waiting_for = None;
            }
            _ => return Ok(()),
        }
        self.updated_at = at;
        Ok(())
    }
}

fn attempt_number(attempt: u32) -> Result<i32, ApplyError> {
    i32::try_from(attempt)
        .map_err(|_| ApplyError::Rejected(format!("attempt {attempt} is out of range")))
}
