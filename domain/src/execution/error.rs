//! Why an execution command was rejected.

use crate::command::EnvelopeRejection;
use crate::error::{DomainError, ErrorKind};
use crate::ids::WorkflowId;

use super::{ExecutionStatus, StepStatus};

/// Why an execution command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// No such execution for this tenant.
    #[error("execution not found; check the execution id")]
    NotFound,
    /// `Start` on an id already used by a run of another workflow.
    #[error("execution already exists for workflow {workflow_id}; use another execution id or idempotency key")]
    AlreadyStarted {
        /// The workflow the existing execution runs.
        workflow_id: WorkflowId,
    },
    /// `expected_version` is stale.
    #[error(
        "expected version {expected} but the execution is at version {actual}; reload it and retry"
    )]
    VersionConflict {
        /// The version the sender saw.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The execution has ended and accepts only a repeat of what ended it.
    #[error("execution is already {status}; it accepts no further commands")]
    Finished {
        /// How it ended.
        status: ExecutionStatus,
    },
    /// The step is not in a state that allows the command.
    #[error("step '{node_id}' {problem}")]
    InvalidStep {
        /// The node id.
        node_id: String,
        /// What is wrong and what to do instead.
        problem: String,
    },
    /// `Complete` while a step has not finished.
    #[error(
        "step '{node_id}' is still {status}; complete or fail it before completing the execution"
    )]
    StepStillActive {
        /// The unfinished step.
        node_id: String,
        /// Its status.
        status: StepStatus,
    },
    /// `ReceiveSignal` that no step awaits.
    #[error("no step is waiting for signal '{signal}'; check the signal name")]
    NoStepWaiting {
        /// The signal name.
        signal: String,
    },
    /// `WaitForSignal` on a signal another step already awaits.
    #[error("step '{node_id}' is already waiting for signal '{signal}'; use a distinct signal name per step")]
    SignalInUse {
        /// The signal name.
        signal: String,
        /// The step that awaits it.
        node_id: String,
    },
    /// Scheduling one more step than allowed.
    #[error("execution already has {max} steps, the limit; no more steps can be scheduled")]
    TooManySteps {
        /// The limit.
        max: usize,
    },
    /// A field of the command is invalid.
    #[error("{field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl DomainError for ExecutionError {
    fn kind(&self) -> ErrorKind {
        match self {
            ExecutionError::NotFound => ErrorKind::NotFound,
            ExecutionError::AlreadyStarted { .. } | ExecutionError::VersionConflict { .. } => {
                ErrorKind::Conflict
            }
            ExecutionError::Invalid { .. } => ErrorKind::Validation,
            ExecutionError::Finished { .. }
            | ExecutionError::InvalidStep { .. }
            | ExecutionError::StepStillActive { .. }
            | ExecutionError::NoStepWaiting { .. }
            | ExecutionError::SignalInUse { .. }
            | ExecutionError::TooManySteps { .. } => ErrorKind::InvalidState,
        }
    }
}

impl From<EnvelopeRejection> for ExecutionError {
    fn from(rejection: EnvelopeRejection) -> Self {
        match rejection {
            EnvelopeRejection::NotFound => ExecutionError::NotFound,
            EnvelopeRejection::VersionConflict { expected, actual } => {
                ExecutionError::VersionConflict { expected, actual }
            }
        }
    }
}
