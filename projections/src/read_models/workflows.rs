//! The `workflows` projection: one row per workflow (name, status, latest
//! and published version, counts, timestamps), every definition version,
//! executions per workflow from `ExecutionStarted`, and the webhook trigger
//! index (`super::webhook_triggers`).
//!
//! Timestamps are the events' `recorded_at`, so a rebuild gives the same
//! rows. The execution counts live in their own table: they must not
//! depend on whether a workflow's or an execution's event comes first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use domain::workflow::WorkflowEvent;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::webhook_triggers;
use crate::history::StoredEvent;
use crate::projector::{ApplyError, Projection, Replay};
use crate::upcast::ensure_current;

/// Folds Workflow and Execution events into `workflows`,
/// `workflow_versions`, `workflow_execution_counts` and `webhook_triggers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkflowsProjection;

#[async_trait]
impl Projection for WorkflowsProjection {
    const NAME: &'static str = "workflows";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Workflow", "Execution"];
    const REPLAY: Replay = Replay::Rebuild(&[
        "workflows",
        "workflow_versions",
        "workflow_execution_counts",
        "webhook_triggers",
    ]);

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        match event.aggregate_type.as_str() {
            "Workflow" => apply_workflow(conn, event).await,
            "Execution" if event.event_type == "ExecutionStarted" => {
                apply_execution_started(conn, event).await
            }
            _ => Ok(()),
        }
    }
}

/// Reads an event in the current version (sources upcast, see
/// [`crate::upcast`]).
fn parse<'a, T: Deserialize<'a>>(event: &'a StoredEvent) -> Result<T, ApplyError> {
    ensure_current(event)?;
    T::deserialize(&event.payload).map_err(|err| {
        ApplyError::Rejected(format!("malformed {} payload: {err}", event.event_type))
    })
}

fn uuid_of(event: &StoredEvent) -> Result<Uuid, ApplyError> {
    event.aggregate_id.parse().map_err(|_| {
        ApplyError::Rejected(format!(
            "{} id '{}' is not a UUID",
            event.aggregate_type, event.aggregate_id
        ))
    })
}

async fn apply_workflow(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let at = event.recorded_at;
    let touched = match parse::<WorkflowEvent>(event)? {
        WorkflowEvent::WorkflowCreated {
            tenant_id,
            name,
            description,
        } => {
            sqlx::query(
                "INSERT INTO workflows (id, tenant_id, name, description, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'draft', $5, $5)",
            )
            .bind(id)
            .bind(tenant_id.0)
            .bind(name)
            .bind(description)
            .bind(at)
            .execute(&mut *conn)
            .await?
        }
        WorkflowEvent::WorkflowVersionCreated { version, .. } => {
            let definition = &event.payload["WorkflowVersionCreated"]["definition"];
            sqlx::query(
                "WITH updated AS (
                    UPDATE workflows
                       SET latest_version = GREATEST(latest_version, $2),
                           version_count = version_count + 1, updated_at = $4
                     WHERE id = $1
                 RETURNING tenant_id)
                 INSERT INTO workflow_versions (workflow_id, version, tenant_id, definition, created_at)
                 SELECT $1, $2, tenant_id, $3, $4 FROM updated",
            )
            .bind(id)
            .bind(version_number(version)?)
            .bind(definition)
            .bind(at)
            .execute(&mut *conn)
            .await?
        }
        WorkflowEvent::WorkflowPublished { version, .. } => {
            set_status(conn, id, "published", Some(version_number(version)?), at).await?
        }
        WorkflowEvent::WorkflowUnpublished { .. } => {
            set_status(conn, id, "draft", None, at).await?
        }
        WorkflowEvent::WorkflowArchived => set_status(conn, id, "archived", None, at).await?,
        WorkflowEvent::WebhookSecretRotated { trigger_id, .. } => {
            webhook_triggers::apply_rotated(conn, id, trigger_id.0, at).await?
        }
        // The engine scheduler's record: nothing in these rows changes.
        WorkflowEvent::ScheduledRunsSkipped { .. } => return Ok(()),
        WorkflowEvent::WorkflowRenamed { name, .. } => {
            sqlx::query("UPDATE workflows SET name = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(at)
                .execute(&mut *conn)
                .await?
        }
    };
    if touched.rows_affected() != 1 {
        return Err(ApplyError::Rejected(format!(
            "workflow {id} has no row to apply {} to (its WorkflowCreated was not applied)",
            event.event_type
        )));
    }
    Ok(())
}

fn version_number(version: u32) -> Result<i32, ApplyError> {
    i32::try_from(version)
        .map_err(|_| ApplyError::Rejected(format!("version {version} is out of range")))
}

async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    published_version: Option<i32>,
    at: DateTime<Utc>,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(
        "UPDATE workflows SET status = $2, published_version = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(published_version)
    .bind(at)
    .execute(conn)
    .await
}

async fn apply_execution_started(
    conn: &mut PgConnection,
    event: &StoredEvent,
) -> Result<(), ApplyError> {
    let ExecutionEvent::ExecutionStarted {
        tenant_id,
        workflow_id,
        ..
    } = parse::<ExecutionEvent>(event)?
    else {
        return Err(ApplyError::Rejected(format!(
            "an {} event holds another payload",
            event.event_type
        )));
    };
    sqlx::query(
        "INSERT INTO workflow_execution_counts (workflow_id, tenant_id, executions_count, last_execution_at)
         VALUES ($1, $2, 1, $3)
         ON CONFLICT (workflow_id) DO UPDATE
            SET executions_count = workflow_execution_counts.executions_count + 1,
                last_execution_at = GREATEST(workflow_execution_counts.last_execution_at,
                                             EXCLUDED.last_execution_at)",
    )
    .bind(workflow_id.0)
    .bind(tenant_id.0)
    .bind(event.recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}
