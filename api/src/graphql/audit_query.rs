//! The `auditLog` query, answered from the `audit_log` read model only:
//! who did what to which aggregate, when, newest first. No payloads: an
//! aggregate's history is the `events` query.

use async_graphql::connection::Edge;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::access::Permission;
use projections::projector::Projection;
use projections::read_models::audit_log::{self as reads, AuditKey, AuditLogProjection, AuditRow};
use sqlx::PgPool;

use super::consistency::await_read_models;
use super::errors::{coded, internal, ErrorCode};
use super::events::AggregateType;
use super::paging::{decode, encode, page_size, Page};
use super::scalars::BigInt;
use crate::caller::require;

/// The audit log query.
#[derive(Default)]
pub struct AuditQuery;

/// Which entries `auditLog` lists.
#[derive(InputObject, Default)]
struct AuditFilter {
    /// Only events of this aggregate type.
    /// The aggregate types the audit log covers: every type of the store.
    aggregate_type: Option<AggregateType>,
    /// Only events of this aggregate.
    aggregate_id: Option<ID>,
    /// Only events caused by this actor (`user:<id>`, `token:<id>`, ...).
    actor: Option<String>,
    /// Only events recorded at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only events recorded before this time.
    to: Option<DateTime<Utc>>,
}

/// One event in the audit log.
#[derive(SimpleObject)]
struct AuditEntry {
    /// The event's position in the whole store.
    position: BigInt,
    event_id: ID,
    /// Who issued the command that recorded it.
    actor: String,
    /// What happened: the event type, e.g. `IntegrationRegistered`.
    action: String,
    aggregate_type: String,
    aggregate_id: ID,
    /// The event's position within its aggregate, from 1.
    sequence: BigInt,
    /// When the event was recorded.
    recorded_at: DateTime<Utc>,
    command_id: Option<ID>,
    /// Shared by everything that stems from one original request.
    correlation_id: Option<ID>,
    /// The message that caused it.
    causation_id: Option<ID>,
    trace_id: Option<String>,
    /// The client's address, when the request recorded it.
    client_ip: Option<String>,
    /// The client's user agent, when the request recorded it.
    user_agent: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        let id = |uuid: Option<uuid::Uuid>| uuid.map(|u| ID(u.to_string()));
        Self {
            position: BigInt(row.global_position),
            event_id: ID(row.event_id.to_string()),
            actor: row.actor,
            action: row.action,
            aggregate_type: row.aggregate_type,
            aggregate_id: ID(row.aggregate_id),
            sequence: BigInt(row.sequence),
            recorded_at: row.recorded_at,
            command_id: id(row.command_id),
            correlation_id: id(row.correlation_id),
            causation_id: id(row.causation_id),
            trace_id: row.trace_id,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        }
    }
}

/// The read model this query reads.
const AUDIT_LOG: &str = <AuditLogProjection as Projection>::NAME;

#[Object]
impl AuditQuery {
    /// The caller's tenant's audit log, newest first (recording time, then
    /// position). `after` is the `endCursor` of the previous page.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<AuditEntry>> {
        let (authenticated, caller) = require(ctx, Permission::ReadAudit)?;
        await_read_models(ctx, consistent_with, &[AUDIT_LOG]).await?;
        let pool = ctx.data::<PgPool>()?;
        let first = page_size(first)?;
        let after = decode::<(DateTime<Utc>, i64)>(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                return Err(coded(
                    ErrorCode::Validation,
                    format!("from ({from}) is after to ({to})"),
                ));
            }
        }
        let filter = reads::AuditFilter {
            aggregate_type: filter.aggregate_type.map(|t| t.stored_name().to_owned()),
            aggregate_id: filter.aggregate_id.map(|id| id.0),
            actor: filter.actor,
            from: filter.from,
            to: filter.to,
        };
        let key = after.map(|(recorded_at, global_position)| AuditKey {
            recorded_at,
            global_position,
        });
        let page = reads::list_audit_log(pool, authenticated.tenant_id.0, &filter, key, first)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        let mut connection = Page::new(after.is_some(), page.has_more);
        connection.edges.extend(page.items.into_iter().map(|row| {
            let key = row.key();
            Edge::new(
                encode((key.recorded_at, key.global_position)),
                AuditEntry::from(row),
            )
        }));
        Ok(connection)
    }
}
