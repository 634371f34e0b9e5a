//! Workflow queries, answered from the `workflows` read model only, and the
//! status of the projections that build the read models.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::access::Permission;
use projections::checkpoint::ProjectionState as StoredState;
use projections::projector::Projection;
use projections::read_models::workflow_queries::{
    self as reads, WorkflowKey, WorkflowRow, WorkflowVersionRow,
};
use projections::read_models::workflows::WorkflowsProjection;
use projections::status::{projection_statuses, record_metrics, ProjectionStatus as Stored};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::consistency::await_read_models;
use super::errors::{coded, internal, ErrorCode};
use super::paging::{decode, encode, page_size, Page};
use super::replay::{rebuild_progress, RebuildProgress};
use super::result::parse_uuid;
use super::scalars::BigInt;
use crate::caller::require;

/// Read-model queries of workflows, and projection status.
#[derive(Default)]
pub struct WorkflowQuery;

/// A workflow's lifecycle status.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum WorkflowStatus {
    /// Not published.
    Draft,
    /// A version runs on its triggers.
    Published,
    /// Archived.
    Archived,
}

impl From<reads::WorkflowStatus> for WorkflowStatus {
    fn from(status: reads::WorkflowStatus) -> Self {
        match status {
            reads::WorkflowStatus::Draft => Self::Draft,
            reads::WorkflowStatus::Published => Self::Published,
            reads::WorkflowStatus::Archived => Self::Archived,
        }
    }
}

impl From<WorkflowStatus> for reads::WorkflowStatus {
    fn from(status: WorkflowStatus) -> Self {
        match status {
            WorkflowStatus::Draft => Self::Draft,
            WorkflowStatus::Published => Self::Published,
            WorkflowStatus::Archived => Self::Archived,
        }
    }
}

/// Which workflows `workflows` lists.
#[derive(InputObject, Default)]
struct WorkflowFilter {
    /// Only workflows in this status.
    status: Option<WorkflowStatus>,
    /// Only names containing this text, ignoring case.
    name_contains: Option<String>,
}

/// A workflow as the read model holds it.
#[derive(SimpleObject)]
struct Workflow {
    id: ID,
    name: String,
    description: String,
    status: WorkflowStatus,
    /// The highest definition version.
    latest_version: i32,
    /// The version triggers run, when published.
    published_version: Option<i32>,
    /// Number of definition versions.
    version_count: i32,
    /// Executions started.
    executions_count: BigInt,
    /// When the last execution started.
    last_execution_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// When its last change was recorded.
    updated_at: DateTime<Utc>,
}

impl From<WorkflowRow> for Workflow {
    fn from(row: WorkflowRow) -> Self {
        Self {
            id: ID(row.id.to_string()),
            name: row.name,
            description: row.description,
            status: row.status.into(),
            latest_version: row.latest_version,
            published_version: row.published_version,
            version_count: row.version_count,
            executions_count: BigInt(row.executions_count),
            last_execution_at: row.last_execution_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One definition version of a workflow.
#[derive(SimpleObject)]
struct WorkflowVersion {
    workflow_id: ID,
    version: i32,
    /// The graph: `{nodes, edges, trigger}`.
    definition: Json<Value>,
    created_at: DateTime<Utc>,
}

impl From<WorkflowVersionRow> for WorkflowVersion {
    fn from(row: WorkflowVersionRow) -> Self {
        Self {
            workflow_id: ID(row.workflow_id.to_string()),
            version: row.version,
            definition: Json(row.definition),
            created_at: row.created_at,
        }
    }
}

/// Whether a projection applies events.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum ProjectionState {
    /// Applying events.
    Running,
    /// Halted on an event it cannot apply; see its dead letters.
    Stopped,
    /// Halted on a gap in an aggregate's events.
    Failed,
}

/// Where one projection stands.
#[derive(SimpleObject)]
struct ProjectionStatus {
    name: String,
    state: ProjectionState,
    /// Why it halted, when it did, in general terms: the stored error names
    /// an aggregate and may quote its payload, which can be another
    /// tenant's, so the details stay in the server log and the database.
    error: Option<String>,
    /// Global position of the last event it handled.
    position: BigInt,
    /// Its commit-order cursor, `<transaction id>:<global position>`.
    cursor: String,
    /// Committed events it has not handled yet.
    lag_events: BigInt,
    /// Age in seconds of the oldest event it has not handled (0 when none).
    lag_seconds: f64,
    /// Events waiting in its dead-letter table.
    dead_letters: BigInt,
    updated_at: DateTime<Utc>,
    /// Its last rebuild (`rebuildProjection`), if it was ever rebuilt.
    rebuild: Option<RebuildProgress>,
}

impl From<Stored> for ProjectionStatus {
    fn from(s: Stored) -> Self {
        let (state, error) = match s.state {
            StoredState::Running => (ProjectionState::Running, None),
            StoredState::Stopped => (
                ProjectionState::Stopped,
                Some("stopped on an event it cannot apply; it is in the projection's dead letters"),
            ),
            StoredState::Failed => (
                ProjectionState::Failed,
                Some("failed on a gap in an aggregate's events; see the server log"),
            ),
        };
        Self {
            name: s.name,
            state,
            error: error.map(str::to_owned),
            position: BigInt(s.cursor.global_position),
            cursor: format!("{}:{}", s.cursor.transaction_id, s.cursor.global_position),
            lag_events: BigInt(s.lag_events),
            lag_seconds: s.lag_seconds,
            dead_letters: BigInt(s.dead_letters),
            updated_at: s.updated_at,
            rebuild: None,
        }
    }
}

/// The read model these queries read.
const WORKFLOWS: &str = <WorkflowsProjection as Projection>::NAME;

#[Object]
impl WorkflowQuery {
    /// One workflow; null when it does not exist in the caller's tenant.
    async fn workflow(
        &self,
        ctx: &Context<'_>,
        id: ID,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<Workflow>> {
        let (authenticated, caller) = require(ctx, Permission::ReadWorkflows)?;
        await_read_models(ctx, consistent_with, &[WORKFLOWS]).await?;
        let id = parse_uuid("id", &id)?;
        let pool = ctx.data::<PgPool>()?;
        let row = reads::find_workflow(pool, authenticated.tenant_id.0, id)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(row.map(Workflow::from))
    }

    /// The caller's workflows, newest first (creation time, then id).
    /// `after` is the `endCursor` of the previous page.
    async fn workflows(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkflowFilter>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<Workflow>> {
        let (authenticated, caller) = require(ctx, Permission::ReadWorkflows)?;
        await_read_models(ctx, consistent_with, &[WORKFLOWS]).await?;
        let pool = ctx.data::<PgPool>()?;
        let first = page_size(first)?;
        let after = decode::<(DateTime<Utc>, Uuid)>(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = reads::WorkflowFilter {
            status: filter.status.map(Into::into),
            name_contains: filter.name_contains,
        };
        let key = after.map(|(created_at, id)| WorkflowKey { created_at, id });
        let page = reads::list_workflows(pool, authenticated.tenant_id.0, &filter, key, first)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        let mut connection = Connection::new(after.is_some(), page.has_more);
        connection.edges.extend(page.items.into_iter().map(|row| {
            let key = row.key();
            Edge::new(encode((key.created_at, key.id)), Workflow::from(row))
        }));
        Ok(connection)
    }

    /// The definition versions of one workflow, newest first; empty when
    /// the workflow does not exist in the caller's tenant.
    async fn workflow_versions(
        &self,
        ctx: &Context<'_>,
        workflow_id: ID,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<WorkflowVersion>> {
        let (authenticated, caller) = require(ctx, Permission::ReadWorkflows)?;
        await_read_models(ctx, consistent_with, &[WORKFLOWS]).await?;
        let workflow_id = parse_uuid("workflowId", &workflow_id)?;
        let pool = ctx.data::<PgPool>()?;
        let first = page_size(first)?;
        let after = decode::<(Uuid, i32)>(after.as_deref())?;
        let before = match after {
            Some((id, version)) if id == workflow_id => Some(version),
            Some(_) => {
                return Err(coded(
                    ErrorCode::Validation,
                    "after is a cursor of another workflow's versions",
                ))
            }
            None => None,
        };
        let page = reads::list_workflow_versions(
            pool,
            authenticated.tenant_id.0,
            workflow_id,
            before,
            first,
        )
        .await
        .map_err(|err| internal(&err, &caller.trace_id))?;
        let mut connection = Connection::new(after.is_some(), page.has_more);
        connection.edges.extend(page.items.into_iter().map(|row| {
            Edge::new(
                encode((row.workflow_id, row.version)),
                WorkflowVersion::from(row),
            )
        }));
        Ok(connection)
    }

    /// Every projection: state, position, lag and dead letters.
    async fn projections(
        &self,
        ctx: &Context<'_>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Vec<ProjectionStatus>> {
        let (_, caller) = require(ctx, Permission::ReadAudit)?;
        // Status is read live; `consistentWith` is accepted like everywhere.
        await_read_models(ctx, consistent_with, &[]).await?;
        let pool = ctx.data::<PgPool>()?;
        let statuses = projection_statuses(pool)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        statuses.iter().for_each(record_metrics);
        let mut rebuilds = rebuild_progress(pool)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(statuses
            .into_iter()
            .map(|status| {
                let mut status = ProjectionStatus::from(status);
                if let Some(index) = rebuilds.iter().position(|r| r.projection == status.name) {
                    status.rebuild = Some(rebuilds.swap_remove(index));
                }
                status
            })
            .collect())
    }
}
