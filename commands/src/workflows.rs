//! Workflow commands, and the rotation of a workflow's webhook secret: the
//! one place its plain text exists, between its making and its sealing.

use auth::tokens::generate_secret;
use chrono::{DateTime, Utc};
use domain::error::ErrorKind;
use domain::ids::WorkflowId;
use domain::integration::SealedSecret;
use domain::workflow::{WebhookTriggerId, WorkflowCommand, WorkflowEvent};

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::secrets::data_keys::DataKeys;
use crate::secrets::{SecretError, SecretString};
use crate::service::{CommandOutcome, Commands};

/// What every webhook secret starts with, so a leaked one is recognisable
/// (secret scanners, logs).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Input of `rotate_webhook_secret`.
#[derive(Debug, Clone, Copy)]
pub struct RotateWebhookSecret {
    /// How long earlier secrets keep working; 0 revokes them at once.
    pub grace_seconds: u32,
    /// Give the trigger a new id (a new URL) as well.
    pub new_trigger_id: bool,
    /// The rotation time (earlier secrets' windows start here).
    pub at: DateTime<Utc>,
    /// The workflow version the caller saw, if it cares.
    pub expected_version: Option<u64>,
}

/// A rotated webhook secret: the only time its plain text is handed out.
#[derive(Debug)]
pub struct RotatedWebhookSecret {
    /// The command's result.
    pub outcome: CommandOutcome,
    /// The id in the trigger's URL.
    pub trigger_id: WebhookTriggerId,
    /// The new secret in plain text; kept nowhere.
    pub secret: SecretString,
    /// When the earlier secrets stop working, if there were any.
    pub previous_valid_until: Option<DateTime<Utc>>,
}

impl Commands {
    /// Applies a command to the workflow `id`.
    pub async fn execute_workflow(
        &self,
        ctx: &CommandContext,
        id: WorkflowId,
        command: WorkflowCommand,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let name = workflow_command_name(&command);
        self.execute(
            &self.workflows,
            name,
            ctx,
            &id.to_string(),
            command,
            expected_version,
        )
        .await
    }

    /// Makes a random secret for the webhook trigger of workflow `id`, seals
    /// it in a `WebhookSecretRotated` event and returns it in plain text.
    ///
    /// Sent twice, it rotates twice: the secret of a lost answer simply
    /// joins the earlier secrets in their grace window.
    pub async fn rotate_webhook_secret(
        &self,
        ctx: &CommandContext,
        id: WorkflowId,
        input: RotateWebhookSecret,
    ) -> Result<RotatedWebhookSecret, CommandError> {
        let secret = SecretString::new(format!(
            "{WEBHOOK_SECRET_PREFIX}{}",
            generate_secret().expose()
        ));
        let sealed = self
            .webhook_keys()?
            .seal_webhook_secret(ctx.tenant_id, id, &secret)
            .await
            .map_err(secret_error)?;
        let command = WorkflowCommand::RotateWebhookSecret {
            secret: sealed.clone(),
            trigger_id: WebhookTriggerId::new_random(),
            new_trigger_id: input.new_trigger_id,
            at: input.at,
            grace_seconds: input.grace_seconds,
        };
        let outcome = self
            .execute_workflow(ctx, id, command, input.expected_version)
            .await?;
        // The domain chose the trigger id (the existing one, or ours): read
        // it from the event this command wrote.
        let (trigger_id, previous_valid_until) = self.rotation_at(id, &outcome, &sealed).await?;
        Ok(RotatedWebhookSecret {
            outcome,
            trigger_id,
            secret,
            previous_valid_until,
        })
    }

    /// The data keys that seal and open webhook secrets.
    pub(crate) fn webhook_keys(&self) -> Result<&DataKeys, CommandError> {
        self.config.secrets.as_deref().ok_or_else(|| {
            CommandError::rejected(
                ErrorKind::InvalidState,
                "this server has no master key configured (JOBSPRINT_MASTER_KEYS), so it cannot keep webhook secrets",
            )
        })
    }

    async fn rotation_at(
        &self,
        id: WorkflowId,
        outcome: &CommandOutcome,
        sealed: &SealedSecret,
    ) -> Result<(WebhookTriggerId, Option<DateTime<Utc>>), CommandError> {
        let payload: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT payload FROM events
              WHERE aggregate_type = 'Workflow' AND aggregate_id = $1 AND sequence = $2",
        )
        .bind(id.to_string())
        .bind(outcome.version as i64)
        .fetch_optional(&self.pool)
        .await?;
        match payload.map(serde_json::from_value::<WorkflowEvent>) {
            Some(Ok(WorkflowEvent::WebhookSecretRotated {
                trigger_id,
                secret,
                previous_valid_until,
                ..
            })) if &secret == sealed => Ok((trigger_id, previous_valid_until)),
            _ => Err(CommandError::Internal(format!(
                "event {} of workflow {id} is not the rotation just written",
                outcome.version
            ))),
        }
    }
}

/// Maps a failure to seal or open a webhook secret.
pub(crate) fn secret_error(err: SecretError) -> CommandError {
    match err {
        SecretError::Database(err) => CommandError::from(err),
        err => CommandError::Internal(format!("webhook secret: {err}")),
    }
}

fn workflow_command_name(command: &WorkflowCommand) -> &'static str {
    match command {
        WorkflowCommand::Create { .. } => "CreateWorkflow",
        WorkflowCommand::UpdateDefinition { .. } => "UpdateWorkflowDefinition",
        WorkflowCommand::Publish { .. } => "PublishWorkflow",
        WorkflowCommand::Unpublish => "UnpublishWorkflow",
        WorkflowCommand::Rename { .. } => "RenameWorkflow",
        WorkflowCommand::Archive => "ArchiveWorkflow",
        WorkflowCommand::RotateWebhookSecret { .. } => "RotateWebhookSecret",
        WorkflowCommand::RecordSkippedRuns { .. } => "RecordSkippedRuns",
    }
}
