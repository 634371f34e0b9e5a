//! Integration mutations. Credentials are accepted here and sealed by the
//! command layer; no response ever echoes them.

use async_graphql::{Context, InputObject, Json, Object, ID};
use commands::integrations::RegisterIntegration;
use commands::secrets::SecretString;
use domain::access::Permission;
use domain::ids::IntegrationId;
use domain::integration::IntegrationCommand;
use serde_json::Value;

use super::errors::{coded, command_error, ErrorCode};
use super::result::{command_context, expected, new_aggregate_id, parse_uuid, CommandResult};
use super::scalars::BigInt;

/// Integration commands.
#[derive(Default)]
pub struct IntegrationMutation;

/// Input of `registerIntegration`.
#[derive(InputObject)]
struct RegisterIntegrationInput {
    /// Id of the new integration; chosen by the server when omitted.
    id: Option<ID>,
    name: String,
    /// The kind of system it talks to (`slack`, `github`, `http`, ...).
    kind: String,
    /// Non-secret settings, a JSON object.
    config: Option<Json<Value>>,
    /// Secret settings (tokens, passwords), any JSON; stored encrypted only.
    credentials: Option<Json<Value>>,
    command_id: Option<ID>,
}

/// Input of `updateIntegration`.
#[derive(InputObject)]
struct UpdateIntegrationInput {
    id: ID,
    config: Json<Value>,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `rotateIntegrationCredentials`.
#[derive(InputObject)]
struct RotateIntegrationCredentialsInput {
    id: ID,
    credentials: Json<Value>,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `setIntegrationEnabled`.
#[derive(InputObject)]
struct SetIntegrationEnabledInput {
    id: ID,
    enabled: bool,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Input of `removeIntegration`.
#[derive(InputObject)]
struct RemoveIntegrationInput {
    id: ID,
    expected_version: Option<BigInt>,
    command_id: Option<ID>,
}

/// Credentials travel sealed as one JSON document.
fn secret(credentials: &Value) -> async_graphql::Result<SecretString> {
    if credentials.is_null() {
        return Err(coded(ErrorCode::Validation, "credentials must not be null"));
    }
    Ok(SecretString::new(credentials.to_string()))
}

#[Object]
impl IntegrationMutation {
    /// Registers an integration; its credentials are encrypted before any
    /// event is built.
    async fn register_integration(
        &self,
        ctx: &Context<'_>,
        input: RegisterIntegrationInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) = command_context(
            ctx,
            Permission::ManageIntegrations,
            input.command_id.as_ref(),
        )?;
        let id = IntegrationId(new_aggregate_id("id", input.id.as_ref(), &command)?);
        let register = RegisterIntegration {
            name: input.name,
            kind: input.kind,
            config: input
                .config
                .map_or_else(|| Value::Object(Default::default()), |c| c.0),
            credentials: input.credentials.as_ref().map(|c| secret(c)).transpose()?,
        };
        commands
            .register_integration(&command, id, register)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }

    /// Replaces the integration's non-secret configuration.
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        input: UpdateIntegrationInput,
    ) -> async_graphql::Result<CommandResult> {
        let command = IntegrationCommand::UpdateConfig {
            config: input.config.0,
        };
        run(
            ctx,
            &input.id,
            input.command_id.as_ref(),
            input.expected_version,
            command,
        )
        .await
    }

    /// Replaces the integration's credentials.
    async fn rotate_integration_credentials(
        &self,
        ctx: &Context<'_>,
        input: RotateIntegrationCredentialsInput,
    ) -> async_graphql::Result<CommandResult> {
        let (commands, command, trace_id) = command_context(
            ctx,
            Permission::ManageIntegrations,
            input.command_id.as_ref(),
        )?;
        let id = IntegrationId(parse_uuid("id", &input.id)?);
        let credentials = secret(&input.credentials)?;
        commands
            .rotate_integration_credentials(
                &command,
                id,
                &credentials,
                expected(input.expected_version)?,
            )
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }

    /// Enables or disables the integration.
    async fn set_integration_enabled(
        &self,
        ctx: &Context<'_>,
        input: SetIntegrationEnabledInput,
    ) -> async_graphql::Result<CommandResult> {
        let command = IntegrationCommand::SetEnabled {
            enabled: input.enabled,
        };
        run(
            ctx,
            &input.id,
            input.command_id.as_ref(),
            input.expected_version,
            command,
        )
        .await
    }

    /// Removes the integration for good.
    async fn remove_integration(
        &self,
        ctx: &Context<'_>,
        input: RemoveIntegrationInput,
    ) -> async_graphql::Result<CommandResult> {
        run(
            ctx,
            &input.id,
            input.command_id.as_ref(),
            input.expected_version,
            IntegrationCommand::Remove,
        )
        .await
    }
}

async fn run(
    ctx: &Context<'_>,
    id: &ID,
    command_id: Option<&ID>,
    expected_version: Option<BigInt>,
    body: IntegrationCommand,
) -> async_graphql::Result<CommandResult> {
    let (commands, command, trace_id) =
        command_context(ctx, Permission::ManageIntegrations, command_id)?;
    let id = IntegrationId(parse_uuid("id", id)?);
    commands
        .execute_integration(&command, id, body, expected(expected_version)?)
        .await
        .map(CommandResult::from)
        .map_err(|err| command_error(err, &trace_id))
}
