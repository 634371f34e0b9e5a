//! Workflow mutations.

use async_graphql::{Context, InputObject, Json, Object, ID};
use domain::access::Permission;
use domain::ids::WorkflowId;
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::Value;

use super::errors::{coded, command_error, ErrorCode};
use super::result::{command_context, expected, new_aggregate_id, CommandResult};
use super::scalars::BigInt;

/// Workflow commands.
#[derive(Default)]
pub struct WorkflowMutation;

/// Input of `createWorkflow`.
#[derive(InputObject)]
struct CreateWorkflowInput {
    /// Id of the new workflow; chosen by the server when omitted.
    id: Option<ID>,
    name: String,
    #[graphql(default)]
    description: String,
    /// The graph: `{nodes: [{id, type, config}], edges: [{from, to, when?}], trigger}`.
    definition: Json<Value>,
    /// Sending the same command id again returns the first result.
    command_id: Option<ID>,
}

/// Input of `updateWorkflowDefinition`.
#[derive(InputObject)]
struct UpdateWorkflowDefinitionInput {
    id: ID,
    definition: Json<Value>,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `publishWorkflow`.
#[derive(InputObject)]
struct PublishWorkflowInput {
    id: ID,
    /// The definition version to publish.
    version: u32,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `renameWorkflow`.
#[derive(InputObject)]
struct RenameWorkflowInput {
    id: ID,
    name: String,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of the commands that only name a workflow.
#[derive(InputObject)]
struct WorkflowRefInput {
    id: ID,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

fn definition(raw: &Value) -> async_graphql::Result<WorkflowDefinition> {
    WorkflowDefinition::parse(raw)
        .map_err(|err| coded(ErrorCode::Validation, format!("invalid definition: {err}")))
}

async fn run(
    ctx: &Context<'_>,
    id: Option<&ID>,
    command_id: Option<&ID>,
    expected_version: Option<BigInt>,
    make: impl FnOnce() -> async_graphql::Result<WorkflowCommand>,
) -> async_graphql::Result<CommandResult> {
    let (commands, command, trace_id) =
        command_context(ctx, Permission::WriteWorkflows, command_id)?;
    // Only a create may omit the id; see `new_aggregate_id`.
    let id = new_aggregate_id("id", id, &command)?;
    let body = make()?;
    let expected_version = expected(expected_version)?;
    commands
        .execute_workflow(&command, WorkflowId(id), body, expected_version)
        .await
        .map(CommandResult::from)
        .map_err(|err| command_error(err, &trace_id))
}

#[Object]
impl WorkflowMutation {
    /// Creates a workflow with its first definition version.
    async fn create_workflow(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkflowInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            input.id.as_ref(),
            input.command_id.as_ref(),
            None,
            || {
                Ok(WorkflowCommand::Create {
                    name: input.name,
                    description: input.description,
                    definition: definition(&input.definition)?,
                })
            },
        )
        .await
    }

    /// Adds a new definition version (an identical definition changes nothing).
    async fn update_workflow_definition(
        &self,
        ctx: &Context<'_>,
        input: UpdateWorkflowDefinitionInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            Some(&input.id),
            input.command_id.as_ref(),
            input.expected_version,
            || {
                Ok(WorkflowCommand::UpdateDefinition {
                    definition: definition(&input.definition)?,
                })
            },
        )
        .await
    }

    /// Makes a definition version the one executions run.
    async fn publish_workflow(
        &self,
        ctx: &Context<'_>,
        input: PublishWorkflowInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            Some(&input.id),
            input.command_id.as_ref(),
            input.expected_version,
            || {
                Ok(WorkflowCommand::Publish {
                    version: input.version,
                })
            },
        )
        .await
    }

    /// Stops new executions of the workflow.
    async fn unpublish_workflow(
        &self,
        ctx: &Context<'_>,
        input: WorkflowRefInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            Some(&input.id),
            input.command_id.as_ref(),
            input.expected_version,
            || Ok(WorkflowCommand::Unpublish),
        )
        .await
    }

    /// Renames the workflow.
    async fn rename_workflow(
        &self,
        ctx: &Context<'_>,
        input: RenameWorkflowInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            Some(&input.id),
            input.command_id.as_ref(),
            input.expected_version,
            || Ok(WorkflowCommand::Rename { name: input.name }),
        )
        .await
    }

    /// Archives the workflow for good.
    async fn archive_workflow(
        &self,
        ctx: &Context<'_>,
        input: WorkflowRefInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            Some(&input.id),
            input.command_id.as_ref(),
            input.expected_version,
            || Ok(WorkflowCommand::Archive),
        )
        .await
    }
}
