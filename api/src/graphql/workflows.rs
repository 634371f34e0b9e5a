//! Workflow mutations, and the rotation of a workflow's webhook secret.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use commands::workflows::{RotateWebhookSecret, RotatedWebhookSecret};
use domain::access::Permission;
use domain::ids::WorkflowId;
use domain::workflow::{WorkflowCommand, WorkflowDefinition, DEFAULT_WEBHOOK_GRACE_SECONDS};
use serde_json::Value;

use super::errors::{coded, command_error, ErrorCode};
use super::result::{command_context, expected, new_aggregate_id, parse_uuid, CommandResult};
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

/// Input of `rotateWebhookSecret`. It takes no command id: sent twice, it
/// rotates twice, and the secret of a lost answer only joins the earlier
/// secrets in their grace window.
#[derive(InputObject)]
struct RotateWebhookSecretInput {
    /// The workflow whose webhook trigger gets a new secret.
    workflow_id: ID,
    /// How long the earlier secrets keep working, in seconds: 86400 (a day)
    /// when omitted, at most 604800 (7 days); 0 revokes them at once (say,
    /// after a leak).
    grace_seconds: Option<u32>,
    /// Also give the trigger a new id, that is a new URL; the old URL stops
    /// working at once.
    #[graphql(default)]
    new_url: bool,
    expected_version: Option<BigInt>,
}

/// A new webhook secret. This answer is the only place it is ever shown:
/// only its ciphertext is kept.
#[derive(SimpleObject)]
struct WebhookSecretResult {
    /// The workflow.
    workflow_id: ID,
    /// The id in the trigger's URL.
    trigger_id: ID,
    /// Where senders post deliveries: `/webhooks/<triggerId>` on this server.
    path: String,
    /// The signing secret (`whsec_…`). Store it now: it cannot be read again.
    secret: String,
    /// When the earlier secrets stop being accepted; null when there were none.
    previous_secrets_valid_until: Option<DateTime<Utc>>,
    /// The workflow's version after the rotation.
    version: BigInt,
    /// Global position of the rotation event.
    position: BigInt,
    /// The id the server gave the command.
    command_id: ID,
}

impl From<RotatedWebhookSecret> for WebhookSecretResult {
    fn from(rotated: RotatedWebhookSecret) -> Self {
        Self {
            workflow_id: ID(rotated.outcome.aggregate_id),
            trigger_id: ID(rotated.trigger_id.to_string()),
            path: format!("/webhooks/{}", rotated.trigger_id),
            secret: rotated.secret.expose().to_owned(),
            previous_secrets_valid_until: rotated.previous_valid_until,
            version: BigInt(rotated.outcome.version as i64),
            position: BigInt(rotated.outcome.position),
            command_id: ID(rotated.outcome.command_id.to_string()),
        }
    }
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

    /// Gives the workflow's webhook trigger a new random secret (making the
    /// trigger on first use) and returns it, once. Deliveries go to
    /// `POST /webhooks/<triggerId>`, signed with it
    /// (docs/adr/0010-webhook-triggers.md).
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> async_graphql::Result<WebhookSecretResult> {
        let (commands, command, trace_id) = command_context(ctx, Permission::WriteWorkflows, None)?;
        let id = WorkflowId(parse_uuid("workflowId", &input.workflow_id)?);
        let rotation = RotateWebhookSecret {
            grace_seconds: input.grace_seconds.unwrap_or(DEFAULT_WEBHOOK_GRACE_SECONDS),
            new_trigger_id: input.new_url,
            at: Utc::now(),
            expected_version: expected(input.expected_version)?,
        };
        commands
            .rotate_webhook_secret(&command, id, rotation)
            .await
            .map(WebhookSecretResult::from)
            .map_err(|err| command_error(err, &trace_id))
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
