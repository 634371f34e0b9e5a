//! Integration commands. Credentials arrive here in plain text and leave
//! sealed: the domain and the event store only ever see ciphertext. The
//! engine is the one reader that gets them opened again
//! ([`Commands::integration_for_engine`]), to call the integration.

use std::sync::Arc;

use cqrs_es::EventStore;
use domain::error::ErrorKind;
use domain::ids::{IntegrationId, TenantId};
use domain::integration::{
    Circuit, Integration, IntegrationCommand, IntegrationError, SealedSecret,
};
use serde_json::Value;

use crate::cache::AggregateCache;
use crate::context::CommandContext;
use crate::error::{from_aggregate_error, CommandError};
use crate::event_store::SnapshotStore;
use crate::secrets::data_keys::DataKeys;
use crate::secrets::{SecretError, SecretString};
use crate::service::{CommandOutcome, Commands};
use crate::store::EventRepository;

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

/// An integration as a workflow step uses it. `Debug` never shows the
/// credentials; nothing that holds them may be logged or recorded.
#[derive(Debug)]
pub struct IntegrationForEngine {
    /// Display name, for messages.
    pub name: String,
    /// Its kind (`ai`, `http_api`, `slack_webhook`, `smtp`, ...).
    pub kind: String,
    /// Non-secret settings.
    pub config: Value,
    /// The credentials in plain text (the JSON document they were
    /// registered as), if it has any.
    pub credentials: Option<SecretString>,
    /// Its circuit breaker as recorded.
    pub circuit: Circuit,
}

impl Commands {
    /// Integration `id` of `tenant` as a step of that tenant's execution
    /// uses it, read from the event store (never from a cache: a change
    /// made by another process must be seen) with its credentials opened.
    /// One of another tenant reads as missing; a removed or disabled one
    /// is refused (`InvalidState`) with a message saying so.
    pub async fn integration_for_engine(
        &self,
        tenant: TenantId,
        id: IntegrationId,
    ) -> Result<IntegrationForEngine, CommandError> {
        let store = SnapshotStore::<Integration>::new(
            EventRepository::new(self.pool.clone()),
            self.config.snapshot_every,
            Arc::new(AggregateCache::new(0)),
        );
        let integration = store
            .load_aggregate(&id.to_string())
            .await
            .map_err(from_aggregate_error::<IntegrationError>)?
            .aggregate;
        if integration.tenant_id() != Some(tenant) {
            return Err(CommandError::rejected(
                ErrorKind::NotFound,
                format!("integration {id} does not exist"),
            ));
        }
        let name = integration.name();
        if integration.is_removed() {
            return Err(CommandError::rejected(
                ErrorKind::InvalidState,
                format!("integration '{name}' ({id}) was removed"),
            ));
        }
        if !integration.is_enabled() {
            return Err(CommandError::rejected(
                ErrorKind::InvalidState,
                format!("integration '{name}' ({id}) is disabled; enable it to run this step"),
            ));
        }
        let credentials = match integration.credentials() {
            Some(sealed) => Some(self.open(tenant, id, sealed).await?),
            None => None,
        };
        Ok(IntegrationForEngine {
            name: name.to_owned(),
            kind: integration.kind().to_owned(),
            config: integration.config().clone(),
            credentials,
            circuit: integration.circuit(),
        })
    }

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

    async fn open(
        &self,
        tenant: TenantId,
        id: IntegrationId,
        sealed: &SealedSecret,
    ) -> Result<SecretString, CommandError> {
        self.data_keys()?
            .open(tenant, id, sealed)
            .await
            .map_err(|err| match err {
                SecretError::Database(err) => CommandError::from(err),
                err => CommandError::Internal(format!(
                    "opening the credentials of integration {id}: {err}"
                )),
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
        IntegrationCommand::RecordCircuitTransition { .. } => "RecordIntegrationCircuitTransition",
    }
}
