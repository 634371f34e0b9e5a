//! Execution mutations.

use async_graphql::{Context, InputObject, Json, Object, ID};
use commands::executions::StartExecution;
use domain::access::Permission;
use domain::execution::{ExecutionCommand, ExecutionTrigger};
use domain::ids::{ExecutionId, WorkflowId};
use serde_json::Value;

use super::errors::command_error;
use super::result::{command_context, expected, parse_uuid, CommandResult};
use super::scalars::BigInt;

/// Execution commands.
#[derive(Default)]
pub struct ExecutionMutation;

/// Input of `startExecution`.
#[derive(InputObject)]
struct StartExecutionInput {
    /// The workflow to run; its published version runs.
    workflow_id: ID,
    /// The execution's input document (`{}` when omitted).
    input: Option<Json<Value>>,
    /// The same key for the same workflow always returns the same execution.
    idempotency_key: Option<String>,
    command_id: Option<ID>,
}

/// Input of `cancelExecution`.
#[derive(InputObject)]
struct CancelExecutionInput {
    id: ID,
    reason: Option<String>,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `signalExecution`.
#[derive(InputObject)]
struct SignalExecutionInput {
    /// The execution.
    id: ID,
    /// The signal a `wait_for_signal` step waits for.
    name: String,
    /// Data for the step (its output); `null` when omitted.
    payload: Option<Json<Value>>,
    command_id: Option<ID>,
}

/// Input of `retryExecution`.
#[derive(InputObject)]
struct RetryExecutionInput {
    /// A failed (or timed-out) execution.
    id: ID,
    /// The node to resume from: it and every node after it run again; the
    /// steps before it keep their outputs.
    from_node: String,
    /// Continue on the workflow's published version instead of the one it
    /// ran (false by default).
    use_published_version: Option<bool>,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

#[Object]
impl ExecutionMutation {
    /// Starts an execution of a workflow's published version by hand.
    async fn start_execution(
        &self,
        ctx: &Context<'_>,
        input: StartExecutionInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) =
            command_context(ctx, Permission::ExecuteWorkflows, input.command_id.as_ref())?;
        let start = StartExecution {
            workflow_id: WorkflowId(parse_uuid("workflowId", &input.workflow_id)?),
            input: input
                .input
                .map_or_else(|| Value::Object(Default::default()), |i| i.0),
            trigger: ExecutionTrigger::Manual,
            idempotency_key: input.idempotency_key,
        };
        commands
            .start_execution(&command, start)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }

    /// Delivers a signal to the execution's step waiting for it (human
    /// approval); the step completes with the payload as its output.
    /// `INVALID_STATE` when no step waits for that signal.
    async fn signal_execution(
        &self,
        ctx: &Context<'_>,
        input: SignalExecutionInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) = command_context(
            ctx,
            Permission::ControlExecutions,
            input.command_id.as_ref(),
        )?;
        let id = ExecutionId(parse_uuid("id", &input.id)?);
        let body = ExecutionCommand::ReceiveSignal {
            signal: input.name,
            payload: input.payload.map_or(Value::Null, |p| p.0),
        };
        commands
            .execute_execution(&command, id, body, None)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }

    /// Runs a failed (or timed-out) execution again from `fromNode`,
    /// keeping the outputs of the steps before it; optionally on the
    /// workflow's published version.
    async fn retry_execution(
        &self,
        ctx: &Context<'_>,
        input: RetryExecutionInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) = command_context(
            ctx,
            Permission::ControlExecutions,
            input.command_id.as_ref(),
        )?;
        let id = ExecutionId(parse_uuid("id", &input.id)?);
        commands
            .retry_execution(
                &command,
                id,
                input.from_node,
                input.use_published_version.unwrap_or(false),
                expected(input.expected_version)?,
            )
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }

    /// Cancels a running execution (cancelling a cancelled one changes nothing).
    async fn cancel_execution(
        &self,
        ctx: &Context<'_>,
        input: CancelExecutionInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) = command_context(
            ctx,
            Permission::ControlExecutions,
            input.command_id.as_ref(),
        )?;
        let id = ExecutionId(parse_uuid("id", &input.id)?);
        let body = ExecutionCommand::Cancel {
            reason: input.reason,
        };
        commands
            .execute_execution(&command, id, body, expected(input.expected_version)?)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }
}
