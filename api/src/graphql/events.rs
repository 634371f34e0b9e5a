//! The `events` query: the raw history of one aggregate.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use projections::history::{aggregate_history, redact_hashes, StoredEvent};
use serde_json::Value;
use sqlx::PgPool;

use super::errors::{coded, internal, ErrorCode};
use super::scalars::BigInt;
use domain::access::Permission;

use crate::caller::require;

/// Event history queries.
#[derive(Default)]
pub struct EventQuery;

/// The aggregate types of the event store.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggregateType {
    Workflow,
    Integration,
    Execution,
    Tenant,
    User,
    ApiToken,
    Session,
}

impl AggregateType {
    /// The name the store uses.
    pub(crate) fn stored_name(self) -> &'static str {
        match self {
            Self::Workflow => "Workflow",
            Self::Integration => "Integration",
            Self::Execution => "Execution",
            Self::Tenant => "Tenant",
            Self::User => "User",
            Self::ApiToken => "ApiToken",
            Self::Session => "Session",
        }
    }

    /// What a caller needs to read this history.
    fn permission(self) -> Permission {
        match self {
            Self::Workflow => Permission::ReadWorkflows,
            Self::Integration => Permission::ReadIntegrations,
            Self::Execution => Permission::ReadExecutions,
            Self::Tenant | Self::User | Self::ApiToken | Self::Session => Permission::ManageMembers,
        }
    }
}

/// One stored event.
#[derive(SimpleObject)]
struct Event {
    aggregate_type: String,
    aggregate_id: ID,
    /// Position within the aggregate, from 1.
    sequence: BigInt,
    /// Position in the whole store.
    position: BigInt,
    event_id: ID,
    event_type: String,
    event_version: String,
    /// The event's payload; secrets appear only as ciphertext.
    payload: Json<Value>,
    /// tenant_id, actor, command_id, correlation_id, causation_id, trace_id.
    metadata: Json<Value>,
    recorded_at: DateTime<Utc>,
}

impl From<StoredEvent> for Event {
    fn from(e: StoredEvent) -> Self {
        Self {
            aggregate_type: e.aggregate_type,
            aggregate_id: ID(e.aggregate_id),
            sequence: BigInt(e.sequence),
            position: BigInt(e.global_position),
            event_id: ID(e.event_id.to_string()),
            event_type: e.event_type,
            event_version: e.event_version,
            payload: Json(redact_hashes(e.payload)),
            metadata: Json(e.metadata),
            recorded_at: e.recorded_at,
        }
    }
}

const DEFAULT_PAGE: i32 = 100;
const MAX_PAGE: i32 = 1000;

#[Object]
impl EventQuery {
    /// The history of one aggregate in order. `after` is a cursor from a
    /// previous page (the sequence of its last event). Read from the store
    /// itself, so every committed event is in it: `consistentWith` is
    /// accepted like everywhere and needs no wait.
    async fn events(
        &self,
        ctx: &Context<'_>,
        aggregate_type: AggregateType,
        aggregate_id: ID,
        after: Option<String>,
        first: Option<i32>,
        consistent_with: Option<super::scalars::BigInt>,
    ) -> async_graphql::Result<Connection<String, Event, EmptyFields, EmptyFields>> {
        let (authenticated, caller) = require(ctx, aggregate_type.permission())?;
        super::consistency::await_read_models(ctx, consistent_with, &[]).await?;
        let pool = ctx.data::<PgPool>()?;
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(coded(
                ErrorCode::Validation,
                format!("first must be between 1 and {MAX_PAGE}, got {first}"),
            ));
        }
        let after_sequence = match &after {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    coded(
                        ErrorCode::Validation,
                        format!("after is not a cursor of this query: '{cursor}'"),
                    )
                })?,
        };
        let page = aggregate_history(
            pool,
            authenticated.tenant_id.0,
            aggregate_type.stored_name(),
            aggregate_id.as_str(),
            after_sequence,
            i64::from(first),
        )
        .await
        .map_err(|err| internal(&err, &caller.trace_id))?;
        let mut connection = Connection::new(after_sequence > 0, page.has_more);
        connection.edges.extend(
            page.events
                .into_iter()
                .map(|e| Edge::new(e.sequence.to_string(), Event::from(e))),
        );
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use projections::history::REDACTED;
    use serde_json::json;

    #[test]
    fn hashes_are_redacted_at_any_depth_and_nothing_else_is() {
        let payload = json!({"UserCreated": {"email": "a@b.c", "password_hash": "$argon2id$..."},
                             "list": [{"refresh_hash": "ab12"}], "invitation_hash": null});
        let redacted = redact_hashes(payload);
        assert_eq!(redacted["UserCreated"]["password_hash"], json!(REDACTED));
        assert_eq!(redacted["UserCreated"]["email"], json!("a@b.c"));
        assert_eq!(redacted["list"][0]["refresh_hash"], json!(REDACTED));
        assert_eq!(redacted["invitation_hash"], Value::Null);
    }
}
