//! Execution commands: starting a run of a published workflow, and the step
//! lifecycle the engine drives.

use domain::error::ErrorKind;
use domain::execution::{nodes_from, ExecutionCommand, ExecutionTrigger, Run, StepStatus};
use domain::ids::{ExecutionId, WorkflowId};
use serde_json::Value;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::reads;
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

    /// Runs a failed (or timed-out) execution again from `from_node`: that
    /// node, every node after it and any other failed step run again; the
    /// other steps keep their outputs. With `latest_version` it continues
    /// on the workflow's published version (which must have the node).
    pub async fn retry_execution(
        &self,
        ctx: &CommandContext,
        id: ExecutionId,
        from_node: String,
        latest_version: bool,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let mut run = Run::default();
        reads::catch_up_run(&self.pool, id, &mut run).await?;
        let (Some(workflow_id), true) = (run.workflow_id, run.tenant_id == Some(ctx.tenant_id))
        else {
            return Err(CommandError::rejected(
                ErrorKind::NotFound,
                format!("execution {id} does not exist"),
            ));
        };
        let version = if latest_version {
            let workflow = self.load_workflow(&workflow_id.to_string()).await?;
            workflow.published_version().ok_or_else(|| {
                CommandError::rejected(
                    ErrorKind::InvalidState,
                    format!("workflow {workflow_id} has no published version to retry on"),
                )
            })?
        } else {
            run.workflow_version
        };
        let definition = reads::workflow_definition(&self.pool, workflow_id, version)
            .await?
            .ok_or_else(|| {
                CommandError::Internal(format!("version {version} of {workflow_id} is missing"))
            })?;
        if definition.node(&from_node).is_none() {
            return Err(CommandError::rejected(
                ErrorKind::Validation,
                format!("fromNode '{from_node}' is not a node of version {version}"),
            ));
        }
        let mut reset = nodes_from(&definition, &from_node);
        for (node_id, step) in &run.steps {
            if step.status == StepStatus::Failed && !reset.contains(node_id) {
                reset.push(node_id.clone());
            }
        }
        let command = ExecutionCommand::Retry {
            from_node,
            workflow_version: version,
            reset,
        };
        self.execute_execution(ctx, id, command, expected_version)
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
        ExecutionCommand::Retry { .. } => "RetryExecution",
        ExecutionCommand::Batch { .. } => "RecordExecutionProgress",
    }
}
