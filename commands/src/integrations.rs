//! Integration commands. Credentials arrive here in plain text and leave
//! sealed: the domain and the event store only ever see ciphertext.

use domain::error::ErrorKind;
use domain::ids::IntegrationId;
use domain::integration::{IntegrationCommand, SealedSecret};
use serde_json::Value;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::secrets::data_keys::DataKeys;
use crate::secrets::{SecretError, SecretString};
use crate::service::{CommandOutcome, Commands};

/// Input of `register_integration`.
#[derive(Debug, Clone)]
pub struct RegisterIntegration {
    /// Display name.
    pub name: String,
    /// Integration kind (`slack`, `github`, ...).
    pub kind: String,
    /// Non-secret configuration, a JSON object.
    pub config: Value,
    /// Secret credentials, sealed before any event is built.
    pub credentials: Option<SecretString>,
}

impl Commands {
    /// Registers a new integration `id`, sealing its credentials.
    pub async fn register_integration(
        &self,
        ctx: &CommandContext,
        id: IntegrationId,
        input: RegisterIntegration,
    ) -> Result<CommandOutcome, CommandError> {
        let credentials = match &input.credentials {
            Some(plain) => Some(self.seal(ctx, id, plain).await?),
            None => None,
        };
        let command = IntegrationCommand::Register {
            name: input.name,
            kind: input.kind,
            config: input.config,
            credentials,
        };
        self.execute_integration(ctx, id, command, None).await
    }

    /// Replaces the credentials of integration `id`.
    pub async fn rotate_integration_credentials(
        &self,
        ctx: &CommandContext,
        id: IntegrationId,
        credentials: &SecretString,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let credentials = self.seal(ctx, id, credentials).await?;
        let command = IntegrationCommand::RotateCredentials { credentials };
        self.execute_integration(ctx, id, command, expected_version)
            .await
    }

    /// Applies a command to integration `id`.
    pub async fn execute_integration(
        &self,
        ctx: &CommandContext,
        id: IntegrationId,
        command: IntegrationCommand,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let name = integration_command_name(&command);
        self.execute(
            &self.integrations,
            name,
            ctx,
            &id.to_string(),
            command,
            expected_version,
        )
        .await
    }

    fn data_keys(&self) -> Result<&DataKeys, CommandError> {
        self.config.secrets.as_deref().ok_or_else(|| {
            CommandError::rejected(
                ErrorKind::Validation,
                "this server has no master key configured (JOBSPRINT_MASTER_KEYS), so it cannot store credentials",
            )
        })
    }

    async fn seal(
        &self,
        ctx: &CommandContext,
        id: IntegrationId,
        plain: &SecretString,
    ) -> Result<SealedSecret, CommandError> {
        self.data_keys()?
            .seal(ctx.tenant_id, id, plain)
            .await
            .map_err(|err| match err {
                SecretError::Database(err) => CommandError::from(err),
                err => CommandError::Internal(format!("sealing credentials: {err}")),
            })
    }
}

fn integration_command_name(command: &IntegrationCommand) -> &'static str {
    match command {
        IntegrationCommand::Register { .. } => "RegisterIntegration",
        IntegrationCommand::UpdateConfig { .. } => "UpdateIntegration",
        IntegrationCommand::RotateCredentials { .. } => "RotateIntegrationCredentials",
        IntegrationCommand::SetEnabled { .. } => "SetIntegrationEnabled",
        IntegrationCommand::RecordHealthCheck { .. } => "RecordIntegrationHealthCheck",
        IntegrationCommand::Remove => "RemoveIntegration",
    }
}
