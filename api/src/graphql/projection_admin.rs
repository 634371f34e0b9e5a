//! Dead letters of the projections, for admins: listing them and applying
//! one again once its cause is fixed.
//!
//! A dead letter belongs to the tenant of its event: an admin sees and
//! retries only their own tenant's, and another tenant's answers exactly
//! like a missing one. No payload is shown (it may hold ciphertext); the
//! `events` query gives the event itself.

use async_graphql::connection::Edge;
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::access::Permission;
use projections::dead_letters::{retry_dead_letter, RetryError};
use projections::projector::Projection;
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use sqlx::{PgPool, Row};

use super::errors::{coded, internal, ErrorCode};
use super::paging::{decode, encode, page_size, Page};
use super::scalars::BigInt;
use crate::caller::require;

/// Applies dead letter `id` with the current code of the projection named
/// `name`; `None` when this server runs no projection of that name. Every
/// projection `serve` runs is listed here, one line each.
async fn retry_by_name(pool: &PgPool, name: &str, id: i64) -> Option<Result<(), RetryError>> {
    macro_rules! retry_with {
        ($($projection:expr),+ $(,)?) => {
            $(if name == name_of(&$projection) {
                return Some(retry_dead_letter(pool, &$projection, id).await);
            })+
        };
    }
    retry_with!(
        WorkflowsProjection,
        IntegrationsProjection,
        AuditLogProjection,
        ExecutionsProjection,
    );
    None
}

fn name_of<P: Projection>(_: &P) -> &'static str {
    P::NAME
}

/// Admin queries of the projections.
#[derive(Default)]
pub struct ProjectionAdminQuery;

/// Admin mutations of the projections.
#[derive(Default)]
pub struct ProjectionAdminMutation;

/// An event a projection could not apply.
#[derive(SimpleObject)]
struct DeadLetter {
    /// Its id, for `retryDeadLetter`.
    id: ID,
    /// The projection that could not apply it.
    projection: String,
    /// The event's position in the whole store.
    position: BigInt,
    aggregate_type: String,
    aggregate_id: ID,
    /// The event's position within its aggregate.
    sequence: BigInt,
    event_id: ID,
    event_type: String,
    /// What the projection answered, last time it tried.
    error: String,
    /// How many times it failed.
    attempts: i32,
    /// When it last failed.
    failed_at: DateTime<Utc>,
}

/// What `retryDeadLetter` did.
#[derive(SimpleObject)]
struct RetriedDeadLetter {
    /// The dead letter, now deleted.
    id: ID,
    /// The projection that applied it.
    projection: String,
    /// The event's position in the whole store.
    position: BigInt,
}

const COLUMNS: &str = "
SELECT d.id, d.projection, d.global_position, d.aggregate_type, d.aggregate_id, d.sequence,
       d.event_id, d.event_type, d.error, d.attempts, d.failed_at
  FROM projection_dead_letters d
  JOIN events e ON e.aggregate_type = d.aggregate_type AND e.aggregate_id = d.aggregate_id
               AND e.sequence = d.sequence
 WHERE e.metadata->>'tenant_id' = $1";

fn dead_letter(row: &sqlx::postgres::PgRow) -> Result<DeadLetter, sqlx::Error> {
    Ok(DeadLetter {
        id: ID(row.try_get::<i64, _>("id")?.to_string()),
        projection: row.try_get("projection")?,
        position: BigInt(row.try_get("global_position")?),
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: ID(row.try_get("aggregate_id")?),
        sequence: BigInt(row.try_get("sequence")?),
        event_id: ID(row.try_get::<uuid::Uuid, _>("event_id")?.to_string()),
        event_type: row.try_get("event_type")?,
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        failed_at: row.try_get("failed_at")?,
    })
}

#[Object]
impl ProjectionAdminQuery {
    /// The dead letters of the caller's tenant's events, oldest first,
    /// of one projection when `projection` is given. Admins only.
    async fn projection_dead_letters(
        &self,
        ctx: &Context<'_>,
        projection: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<super::scalars::BigInt>,
    ) -> async_graphql::Result<Page<DeadLetter>> {
        let (authenticated, caller) = require(ctx, Permission::ManageMembers)?;
        // Dead letters are written by the projectors themselves: waiting for
        // the projection named (or all of them) covers them.
        let names: Vec<&str> = projection.as_deref().into_iter().collect();
        super::consistency::await_read_models(ctx, consistent_with, &names).await?;
        let pool = ctx.data::<PgPool>()?;
        let first = page_size(first)?;
        let after = decode::<i64>(after.as_deref())?;
        let sql = format!(
            "{COLUMNS} AND ($2::text IS NULL OR d.projection = $2)
                       AND ($3::bigint IS NULL OR d.id > $3)
              ORDER BY d.id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(authenticated.tenant_id.0.to_string())
            .bind(projection)
            .bind(after)
            .bind(first + 1)
            .fetch_all(pool)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        let has_more = rows.len() as i64 > first;
        let mut connection = Page::new(after.is_some(), has_more);
        for row in rows.iter().take(first as usize) {
            let letter = dead_letter(row).map_err(|err| internal(&err, &caller.trace_id))?;
            let cursor: i64 = row.try_get("id")?;
            connection.edges.push(Edge::new(encode(cursor), letter));
        }
        Ok(connection)
    }
}

#[Object]
impl ProjectionAdminMutation {
    /// Applies a dead letter of the caller's tenant again with the current
    /// code, once its cause is fixed; a projection it stopped runs again.
    /// Admins only. `NOT_FOUND` for an unknown id, `INVALID_STATE` when it
    /// still fails or earlier events of its aggregate are missing.
    async fn retry_dead_letter(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<RetriedDeadLetter> {
        let (authenticated, caller) = require(ctx, Permission::ManageMembers)?;
        let pool = ctx.data::<PgPool>()?;
        let not_found = || {
            coded(
                ErrorCode::NotFound,
                format!("no dead letter has id '{}'", id.0),
            )
        };
        let Ok(number) = id.parse::<i64>() else {
            return Err(coded(
                ErrorCode::Validation,
                format!("id '{}' is not a dead letter id (a number)", id.0),
            ));
        };
        let sql = format!("{COLUMNS} AND d.id = $2");
        let row = sqlx::query(&sql)
            .bind(authenticated.tenant_id.0.to_string())
            .bind(number)
            .fetch_optional(pool)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        let letter = row
            .as_ref()
            .map(dead_letter)
            .transpose()
            .map_err(|err| internal(&err, &caller.trace_id))?
            .ok_or_else(not_found)?;
        let Some(outcome) = retry_by_name(pool, &letter.projection, number).await else {
            return Err(coded(
                ErrorCode::InvalidState,
                format!(
                    "dead letter {number} belongs to projection '{}', which this server does not run",
                    letter.projection
                ),
            ));
        };
        match outcome {
            Ok(()) => Ok(RetriedDeadLetter {
                id: letter.id,
                projection: letter.projection,
                position: letter.position,
            }),
            Err(RetryError::NotFound { .. }) => Err(not_found()),
            Err(err @ (RetryError::Gap { .. } | RetryError::StillFailing(_))) => {
                Err(coded(ErrorCode::InvalidState, err.to_string()))
            }
            Err(RetryError::Database(err)) => Err(internal(&err, &caller.trace_id)),
        }
    }
}
