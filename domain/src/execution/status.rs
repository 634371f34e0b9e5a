//! The lifecycle states of an execution and of its steps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Started and not yet ended.
    Running,
    /// Ended successfully.
    Completed,
    /// Ended with an error.
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Ran out of time.
    TimedOut,
}

impl ExecutionStatus {
    /// Whether the execution has ended (everything but `Running`).
    pub fn is_terminal(self) -> bool {
        self != ExecutionStatus::Running
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::TimedOut => "timed out",
        })
    }
}

/// Where a step is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Queued, no attempt started.
    Scheduled,
    /// An attempt is in progress.
    Running,
    /// Finished successfully.
    Completed,
    /// The last attempt failed.
    Failed,
    /// Failed, and another attempt is queued.
    RetryScheduled,
    /// Running, paused until a signal arrives.
    WaitingForSignal,
}

impl StepStatus {
    /// Whether the step still needs work before the execution can complete.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StepStatus::Scheduled
                | StepStatus::Running
                | StepStatus::RetryScheduled
                | StepStatus::WaitingForSignal
        )
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepStatus::Scheduled => "scheduled",
            StepStatus::Running => "running",
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::RetryScheduled => "scheduled for a retry",
            StepStatus::WaitingForSignal => "waiting for a signal",
        })
    }
}

/// What the aggregate remembers about one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    pub(super) status: StepStatus,
    pub(super) attempts: u32,
    #[serde(default)]
    pub(super) waiting_for: Option<String>,
    /// Whether the last failure may be retried.
    #[serde(default)]
    pub(super) retryable: bool,
    /// Fingerprint of the output, to recognise a repeated completion
    /// without keeping the output itself in the snapshot.
    #[serde(default)]
    pub(super) output_digest: Option<String>,
}

impl StepState {
    /// The step's status.
    pub fn status(&self) -> StepStatus {
        self.status
    }

    /// Attempts started so far (the current attempt's number).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The signal the step awaits, while `WaitingForSignal`.
    pub fn waiting_for(&self) -> Option<&str> {
        self.waiting_for.as_deref()
    }

    /// Whether the last failure was marked retryable.
    pub fn last_failure_retryable(&self) -> bool {
        self.retryable
    }
}
