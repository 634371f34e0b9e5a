//! Replay through GraphQL: time travel (`workflowAt`, `executionAt`,
//! `integrationAt`: an aggregate's state as of a time or position, folded
//! from the event store) and rebuilds of read models for admins
//! (`rebuildProjection`, progress in the `projections` query).

use async_graphql::{Context, Enum, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::access::Permission;
use replay::rebuild::{self, RebuildError, RebuildOptions, RebuildStatus};
use replay::state::{self, AggregateState, At};
use serde_json::Value;
use sqlx::PgPool;

use super::consistency::await_read_models;
use super::errors::{coded, internal, ErrorCode};
use super::result::parse_uuid;
use super::scalars::BigInt;
use crate::caller::require;

/// Time-travel queries.
#[derive(Default)]
pub struct ReplayQuery;

/// Rebuild mutations.
#[derive(Default)]
pub struct ReplayMutation;

/// An aggregate's state as of a moment, folded from its events.
#[derive(SimpleObject)]
struct AggregateSnapshot {
    aggregate_type: String,
    id: ID,
    /// Events folded: the aggregate's version at that moment.
    version: BigInt,
    /// Global position of the last event folded.
    position: BigInt,
    /// When the last event folded was recorded.
    recorded_at: DateTime<Utc>,
    /// The state as the write side held it (credentials only sealed,
    /// hashes redacted).
    state: Json<Value>,
}

impl From<AggregateState> for AggregateSnapshot {
    fn from(found: AggregateState) -> Self {
        Self {
            aggregate_type: found.aggregate_type,
            id: ID(found.aggregate_id),
            version: BigInt(found.version),
            position: BigInt(found.position),
            recorded_at: found.recorded_at,
            state: Json(found.state),
        }
    }
}

/// Where a rebuild stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RebuildState {
    /// Folding the store into shadow tables.
    Running,
    /// Swapped in.
    Succeeded,
    /// Ended before the swap; the live tables were left as they were.
    Failed,
}

/// The last rebuild of a projection.
#[derive(SimpleObject)]
pub(crate) struct RebuildProgress {
    pub(crate) projection: String,
    state: RebuildState,
    /// Events folded into the shadow tables so far.
    events_done: BigInt,
    /// The store's size when the rebuild began.
    events_total: BigInt,
    events_per_second: f64,
    /// Estimated seconds left while running.
    seconds_left: Option<f64>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// Why it failed, in general terms (details in the server log).
    error: Option<String>,
}

impl From<RebuildStatus> for RebuildProgress {
    fn from(status: RebuildStatus) -> Self {
        let rate = status.events_per_second();
        let state = match status.state.as_str() {
            "running" => RebuildState::Running,
            "succeeded" => RebuildState::Succeeded,
            _ => RebuildState::Failed,
        };
        let left = (status.events_total - status.events_done).max(0) as f64;
        Self {
            seconds_left: (state == RebuildState::Running && rate > 0.0).then(|| left / rate),
            projection: status.projection,
            state,
            events_done: BigInt(status.events_done),
            events_total: BigInt(status.events_total),
            events_per_second: rate,
            started_at: status.started_at,
            finished_at: status.finished_at,
            error: status
                .error
                .map(|_| "the rebuild ended before the swap; see the server log".to_owned()),
        }
    }
}

/// The last rebuild of every projection ever rebuilt, for the `projections`
/// query.
pub(crate) async fn rebuild_progress(pool: &PgPool) -> Result<Vec<RebuildProgress>, sqlx::Error> {
    Ok(rebuild::statuses(pool)
        .await?
        .into_iter()
        .map(RebuildProgress::from)
        .collect())
}

fn moment(time: Option<DateTime<Utc>>, position: Option<BigInt>) -> async_graphql::Result<At> {
    match (time, position) {
        (Some(time), None) => Ok(At::Time(time)),
        (None, Some(BigInt(position))) if position >= 0 => Ok(At::Position(position)),
        (None, Some(_)) => Err(coded(
            ErrorCode::Validation,
            "position must not be negative",
        )),
        _ => Err(coded(
            ErrorCode::Validation,
            "give exactly one of `at` (a time) and `position`",
        )),
    }
}

async fn state_of(
    ctx: &Context<'_>,
    permission: Permission,
    aggregate_type: &str,
    id: &ID,
    at: Option<DateTime<Utc>>,
    position: Option<BigInt>,
    consistent_with: Option<BigInt>,
) -> async_graphql::Result<Option<AggregateSnapshot>> {
    let (authenticated, caller) = require(ctx, permission)?;
    let moment = moment(at, position)?;
    // Read from the event store itself: nothing to wait for but the
    // argument is accepted like on every query.
    await_read_models(ctx, consistent_with, &[]).await?;
    let id = parse_uuid("id", id)?;
    let pool = ctx.data::<PgPool>()?;
    let found = state::state_at(
        pool,
        aggregate_type,
        &id.to_string(),
        moment,
        Some(authenticated.tenant_id.0),
    )
    .await
    .map_err(|err| internal(&err, &caller.trace_id))?;
    Ok(found.map(AggregateSnapshot::from))
}

#[Object]
impl ReplayQuery {
    /// The workflow as it was at `at` (a time) or `position` (give one);
    /// `null` when it had no event by then or is not the caller's.
    async fn workflow_at(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<DateTime<Utc>>,
        position: Option<BigInt>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<AggregateSnapshot>> {
        state_of(
            ctx,
            Permission::ReadWorkflows,
            "Workflow",
            &id,
            at,
            position,
            consistent_with,
        )
        .await
    }

    /// The execution as it was at `at` (a time) or `position` (give one).
    async fn execution_at(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<DateTime<Utc>>,
        position: Option<BigInt>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<AggregateSnapshot>> {
        state_of(
            ctx,
            Permission::ReadExecutions,
            "Execution",
            &id,
            at,
            position,
            consistent_with,
        )
        .await
    }

    /// The integration as it was at `at` (a time) or `position` (give
    /// one); credentials appear only sealed.
    async fn integration_at(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at: Option<DateTime<Utc>>,
        position: Option<BigInt>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<AggregateSnapshot>> {
        state_of(
            ctx,
            Permission::ReadIntegrations,
            "Integration",
            &id,
            at,
            position,
            consistent_with,
        )
        .await
    }
}

#[Object]
impl ReplayMutation {
    /// Rebuilds a read model from the event store into shadow tables while
    /// the live ones keep serving, then swaps them in; answers at once with
    /// the rebuild running (follow it in `projections { rebuild }`). Admins
    /// only. `VALIDATION` for a projection that cannot be rebuilt,
    /// `CONFLICT` when a rebuild of it is already running.
    async fn rebuild_projection(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<RebuildProgress> {
        let (_, caller) = require(ctx, Permission::ManageMembers)?;
        let pool = ctx.data::<PgPool>()?.clone();
        let started = match rebuild::prepare(&pool, &name).await {
            Ok(started) => started,
            Err(err @ RebuildError::Unknown(_)) => {
                return Err(coded(ErrorCode::Validation, err.to_string()))
            }
            Err(err @ RebuildError::AlreadyRunning(_)) => {
                return Err(coded(ErrorCode::Conflict, err.to_string()))
            }
            Err(err) => return Err(internal(&err, &caller.trace_id)),
        };
        let projection = started.projection();
        let trace_id = caller.trace_id.clone();
        tokio::spawn(async move {
            let mut quiet = |_| {};
            if let Err(err) = started.run(&RebuildOptions::default(), &mut quiet).await {
                tracing::error!(projection, trace_id, error = %err, "rebuild failed; the live tables are untouched");
            }
        });
        let status = rebuild::status(&pool, projection)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?
            .ok_or_else(|| coded(ErrorCode::Internal, "the rebuild left no status"))?;
        Ok(status.into())
    }
}
