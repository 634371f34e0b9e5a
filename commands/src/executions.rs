//! Execution commands: starting a run of a published workflow, and the step
//! lifecycle the engine drives.

use domain::error::ErrorKind;
use domain::execution::{ExecutionCommand, ExecutionTrigger};
use domain::ids::{ExecutionId, WorkflowId};
use serde_json::Value;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::service::{CommandOutcome, Commands};

/// Input of `start_execution`.
#[derive(Debug, Clone)]
pub struct StartExecution {
    /// The workflow to run; its published version is used.
    pub workflow_id: WorkflowId,
    /// The execution's input document.
    pub input: Value,
    /// What started it.
    pub trigger: ExecutionTrigger,
    /// The same key for the same workflow always yields the same execution.
    pub idempotency_key: Option<String>,
}

impl Commands {
    /// Starts an execution of the published version of a workflow.
    pub async fn start_execution(
        &self,
        ctx: &CommandContext,
        input: StartExecution,
    ) -> Result<CommandOutcome, CommandError> {
        let workflow_id = input.workflow_id;
        let workflow = self.load_workflow(&workflow_id.to_string()).await?;
        if workflow.tenant_id() != Some(ctx.tenant_id) {
            return Err(CommandError::rejected(
                ErrorKind::NotFound,
                format!("workflow {workflow_id} does not exist"),
            ));
        }
        if workflow.is_archived() {
            return Err(CommandError::rejected(
                ErrorKind::InvalidState,
                format!("workflow {workflow_id} is archived and cannot be started"),
            ));
        }
        let Some(version) = workflow.published_version() else {
            return Err(CommandError::rejected(
                ErrorKind::InvalidState,
                format!("workflow {workflow_id} has no published version; publish one first"),
            ));
        };
        // The key's own rules (length) are the aggregate's to enforce.
        let execution_id = match &input.idempotency_key {
            Some(key) => ExecutionId::for_idempotency_key(ctx.tenant_id, workflow_id, key),
            None => ExecutionId::new_v7(),
        };
        let command = ExecutionCommand::Start {
            workflow_id,
            workflow_version: version,
            input: input.input,
            trigger: input.trigger,
            idempotency_key: input.idempotency_key,
        };
        self.execute_execution(ctx, execution_id, command, None)
            .await
    }

    /// Applies a command to execution `id`.
    pub async fn execute_execution(
        &self,
        ctx: &CommandContext,
        id: ExecutionId,
        command: ExecutionCommand,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let name = execution_command_name(&command);
        self.execute(
            &self.executions,
            name,
            ctx,
            &id.to_string(),
            command,
            expected_version,
        )
        .await
    }
}

fn execution_command_name(command: &ExecutionCommand) -> &'static str {
    match command {
        ExecutionCommand::Start { .. } => "StartExecution",
        ExecutionCommand::ScheduleStep { .. } => "ScheduleStep",
        ExecutionCommand::StartStepAttempt { .. } => "StartStepAttempt",
        ExecutionCommand::CompleteStep { .. } => "CompleteStep",
        ExecutionCommand::FailStep { .. } => "FailStep",
        ExecutionCommand::ScheduleRetry { .. } => "ScheduleRetry",
        ExecutionCommand::WaitForSignal { .. } => "WaitForSignal",
        ExecutionCommand::ReceiveSignal { .. } => "ReceiveSignal",
        ExecutionCommand::Cancel { .. } => "CancelExecution",
        ExecutionCommand::Complete { .. } => "CompleteExecution",
        ExecutionCommand::Fail { .. } => "FailExecution",
        ExecutionCommand::TimeOut => "TimeOutExecution",
        ExecutionCommand::Batch { .. } => "RecordExecutionProgress",
    }
}
