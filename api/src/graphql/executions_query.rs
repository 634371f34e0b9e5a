//! Execution queries, answered from the `executions` read model only:
//! one execution with its steps, a tenant's executions paged newest first,
//! and a workflow's statistics per UTC day.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, NaiveDate, Utc};
use domain::access::Permission;
use projections::projector::Projection;
use projections::read_models::execution_queries::{self as reads, ExecutionKey};
use projections::read_models::execution_stats::workflow_stats;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use sqlx::PgPool;
use uuid::Uuid;

use super::consistency::await_read_models;
use super::errors::{coded, internal, ErrorCode};
use super::execution_types::{Execution, ExecutionStatus, WorkflowDayStats};
use super::paging::{decode, encode, page_size, Page};
use super::result::parse_uuid;
use super::scalars::BigInt;
use crate::caller::require;

/// Read-model queries of executions.
#[derive(Default)]
pub struct ExecutionQuery;

/// The read model these queries read.
pub(crate) const EXECUTIONS: &str = <ExecutionsProjection as Projection>::NAME;
/// The read model that says which workflows a tenant has.
const WORKFLOWS: &str = <WorkflowsProjection as Projection>::NAME;

/// Most days one `workflowStats` call covers.
const MAX_STATS_DAYS: i64 = 366;

/// Which executions `executions` lists.
#[derive(InputObject, Default)]
struct ExecutionFilter {
    /// Only executions of this workflow.
    workflow_id: Option<ID>,
    /// Only executions in this status.
    status: Option<ExecutionStatus>,
    /// Only executions started at or after this time.
    started_from: Option<DateTime<Utc>>,
    /// Only executions started before this time.
    started_to: Option<DateTime<Utc>>,
}

#[Object]
impl ExecutionQuery {
    /// One execution; null when it does not exist in the caller's tenant.
    async fn execution(
        &self,
        ctx: &Context<'_>,
        id: ID,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<Execution>> {
        let (authenticated, caller) = require(ctx, Permission::ReadExecutions)?;
        await_read_models(ctx, consistent_with, &[EXECUTIONS]).await?;
        let id = parse_uuid("id", &id)?;
        let pool = ctx.data::<PgPool>()?;
        let row = reads::find_execution(pool, authenticated.tenant_id.0, id)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(row.map(Execution::from))
    }

    /// The caller's executions, newest first (start time, then id).
    /// `after` is the `endCursor` of the previous page.
    async fn executions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ExecutionFilter>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<Execution>> {
        list(
            ctx,
            filter.unwrap_or_default(),
            first,
            after,
            consistent_with,
        )
        .await
    }

    /// The engine's dead-letter list: executions that failed for good
    /// (every retry of a step spent, or an error that retrying cannot
    /// fix), newest first, of one workflow when `workflowId` is given.
    /// `retryExecution` runs one again from a chosen node.
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        workflow_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<Execution>> {
        let filter = ExecutionFilter {
            workflow_id,
            status: Some(ExecutionStatus::Failed),
            ..ExecutionFilter::default()
        };
        list(ctx, filter, first, after, consistent_with).await
    }

    /// A workflow's executions per UTC day from `from` to `to` (both
    /// included, at most 366 days), counted by the day they started; days
    /// without executions are included. Null when the workflow does not
    /// exist in the caller's tenant; `consistentWith` waits for both the
    /// `executions` and the `workflows` read models.
    async fn workflow_stats(
        &self,
        ctx: &Context<'_>,
        workflow_id: ID,
        from: NaiveDate,
        to: NaiveDate,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<Vec<WorkflowDayStats>>> {
        let (authenticated, caller) = require(ctx, Permission::ReadExecutions)?;
        await_read_models(ctx, consistent_with, &[EXECUTIONS, WORKFLOWS]).await?;
        let workflow_id = parse_uuid("workflowId", &workflow_id)?;
        let days = (to - from).num_days() + 1;
        if !(1..=MAX_STATS_DAYS).contains(&days) {
            return Err(coded(
                ErrorCode::Validation,
                format!(
                    "from must not be after to, and the range must span at most \
                     {MAX_STATS_DAYS} days (got {from} to {to})"
                ),
            ));
        }
        let pool = ctx.data::<PgPool>()?;
        let stats = workflow_stats(pool, authenticated.tenant_id.0, workflow_id, from, to)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(stats.map(|days| days.into_iter().map(WorkflowDayStats::from).collect()))
    }
}

/// A page of the caller's executions matching `filter`, newest first.
async fn list(
    ctx: &Context<'_>,
    filter: ExecutionFilter,
    first: Option<i32>,
    after: Option<String>,
    consistent_with: Option<BigInt>,
) -> async_graphql::Result<Page<Execution>> {
    let (authenticated, caller) = require(ctx, Permission::ReadExecutions)?;
    await_read_models(ctx, consistent_with, &[EXECUTIONS]).await?;
    let pool = ctx.data::<PgPool>()?;
    let first = page_size(first)?;
    let after = decode::<(DateTime<Utc>, Uuid)>(after.as_deref())?;
    let filter = reads::ExecutionFilter {
        workflow_id: filter
            .workflow_id
            .map(|id| parse_uuid("filter.workflowId", &id))
            .transpose()?,
        status: filter.status.map(Into::into),
        started_from: filter.started_from,
        started_to: filter.started_to,
    };
    let key = after.map(|(started_at, id)| ExecutionKey { started_at, id });
    let page = reads::list_executions(pool, authenticated.tenant_id.0, &filter, key, first)
        .await
        .map_err(|err| internal(&err, &caller.trace_id))?;
    let mut connection = Connection::new(after.is_some(), page.has_more);
    connection.edges.extend(page.items.into_iter().map(|row| {
        let key = row.key();
        Edge::new(encode((key.started_at, key.id)), Execution::from(row))
    }));
    Ok(connection)
}
