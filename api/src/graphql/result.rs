//! What every mutation returns, and the pieces every mutation resolver shares.

use std::sync::Arc;

use async_graphql::{Context, SimpleObject, ID};
use commands::{CommandContext, CommandOutcome, Commands};
use uuid::Uuid;

use super::errors::{coded, ErrorCode};
use super::scalars::BigInt;
use domain::access::Permission;

use crate::caller::require;

/// The result of an accepted command.
#[derive(SimpleObject)]
pub(crate) struct CommandResult {
    /// The aggregate the command addressed.
    id: ID,
    /// The aggregate's version after the command (number of its events).
    version: BigInt,
    /// Global position of the aggregate's last event.
    position: BigInt,
    /// The command id (the one sent, or the one the server chose).
    command_id: ID,
    /// True when this command id had already been applied: this is the
    /// recorded result and nothing new was written.
    duplicate: bool,
}

impl From<CommandOutcome> for CommandResult {
    fn from(outcome: CommandOutcome) -> Self {
        Self {
            id: ID(outcome.aggregate_id),
            version: BigInt(outcome.version as i64),
            position: BigInt(outcome.position),
            command_id: ID(outcome.command_id.to_string()),
            duplicate: outcome.duplicate,
        }
    }
}

/// Checks that the caller may do what `permission` names, then gives the
/// command layer and the context of the command the resolver will send.
pub(crate) fn command_context(
    ctx: &Context<'_>,
    permission: Permission,
    command_id: Option<&ID>,
) -> async_graphql::Result<(Arc<Commands>, CommandContext, String)> {
    let (authenticated, caller) = require(ctx, permission)?;
    let commands = ctx.data::<Arc<Commands>>()?.clone();
    let command_id = command_id
        .map(|id| parse_uuid("commandId", id))
        .transpose()?;
    let mut command_context = CommandContext::new(authenticated.tenant_id, authenticated.actor())
        .with_command_id(command_id)
        .with_origin(
            caller.client.map(|client| client.ip().to_string()),
            caller.user_agent.clone(),
        );
    command_context.trace_id = caller.trace_id.clone();
    Ok((commands, command_context, caller.trace_id.clone()))
}

/// Parses a UUID argument, naming the field when it is not one.
pub(crate) fn parse_uuid(field: &str, id: &ID) -> async_graphql::Result<Uuid> {
    id.parse::<Uuid>().map_err(|_| {
        coded(
            ErrorCode::Validation,
            format!("{field} must be a UUID, got '{}'", id.as_str()),
        )
    })
}

/// Parses an optional expected version.
pub(crate) fn expected(version: Option<BigInt>) -> async_graphql::Result<Option<u64>> {
    version
        .map(|BigInt(v)| {
            u64::try_from(v).map_err(|_| {
                coded(
                    ErrorCode::Validation,
                    format!("expectedVersion must be 0 or more, got {v}"),
                )
            })
        })
        .transpose()
}

/// The id of a new aggregate: the client's, or one derived from the command
/// id (so a retried create lands on the same aggregate), or a fresh one.
pub(crate) fn new_aggregate_id(
    field: &str,
    id: Option<&ID>,
    command: &CommandContext,
) -> async_graphql::Result<Uuid> {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6a0b_51f0_2b7e_4b7c_9a53_1c1e_0d7f_7a11);
    match (id, command.command_id) {
        (Some(id), _) => parse_uuid(field, id),
        (None, Some(command_id)) => Ok(Uuid::new_v5(&NAMESPACE, command_id.as_bytes())),
        (None, None) => Ok(Uuid::now_v7()),
    }
}
