//! The `workflows` projection: one row per workflow (name, status, latest
//! and published version, counts, timestamps), every definition version,
//! executions per workflow from `ExecutionStarted`, and the webhook trigger
//! index (`super::webhook_triggers`).
//!
//! Timestamps are the events' `recorded_at`, so a rebuild gives the same
//! rows. The execution counts live in their own table: they must not
//! depend on whether a workflow's or an execution's event comes first.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use domain::workflow::WorkflowEvent;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::webhook_triggers;
use crate::bulk::{self, BulkWrite};
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
        self.apply_all(conn, &[event]).await.map_err(|(_, err)| err)
    }

    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)> {
        bulk::write_all(self, conn, events).await
    }
}

#[async_trait]
impl BulkWrite for WorkflowsProjection {
    /// Renames and status changes are gathered per workflow and written
    /// with one statement (before any other Workflow event, which goes in
    /// on its own, in order); the executions started are counted per
    /// workflow and added with one statement (counts do not depend on
    /// order).
    async fn write(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)> {
        let mut changes = Changes::default();
        let mut counts = ExecutionCounts::default();
        for (index, event) in events.iter().enumerate() {
            match event.aggregate_type.as_str() {
                "Workflow" => {
                    let parsed = parse::<WorkflowEvent>(event).map_err(|err| (index, err))?;
                    if !changes
                        .add(index, event, &parsed)
                        .map_err(|err| (index, err))?
                    {
                        changes.write(conn).await?;
                        apply_workflow(conn, event, parsed)
                            .await
                            .map_err(|err| (index, err))?;
                    }
                }
                "Execution" if event.event_type == "ExecutionStarted" => {
                    counts.add(event).map_err(|err| (index, err))?;
                }
                _ => {}
            }
        }
        changes.write(conn).await?;
        counts.write(conn).await.map_err(|err| (0, err.into()))
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

async fn apply_workflow(
    conn: &mut PgConnection,
    event: &StoredEvent,
    parsed: WorkflowEvent,
) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let at = event.recorded_at;
    let touched = match parsed {
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
        WorkflowEvent::WebhookSecretRotated { trigger_id, .. } => {
            webhook_triggers::apply_rotated(conn, id, trigger_id.0, at).await?
        }
        // The engine scheduler's record: nothing in these rows changes.
        WorkflowEvent::ScheduledRunsSkipped { .. } => return Ok(()),
        change @ (WorkflowEvent::WorkflowRenamed { .. }
        | WorkflowEvent::WorkflowPublished { .. }
        | WorkflowEvent::WorkflowUnpublished { .. }
        | WorkflowEvent::WorkflowArchived) => {
            let mut one = Changes::default();
            one.add(0, event, &change)?;
            return one.write(conn).await.map_err(|(_, err)| err);
        }
    };
    if touched.rows_affected() != 1 {
        return Err(no_row(id, &event.event_type));
    }
    Ok(())
}

fn version_number(version: u32) -> Result<i32, ApplyError> {
    i32::try_from(version)
        .map_err(|_| ApplyError::Rejected(format!("version {version} is out of range")))
}

/// The renames and status changes of a batch, per workflow, as the batch
/// leaves each one: written with one statement.
#[derive(Default)]
struct Changes(HashMap<Uuid, Change>);

struct Change {
    /// The batch index of the workflow's first change (named if it has no
    /// row).
    index: usize,
    event_type: String,
    name: Option<String>,
    /// The status and the published version that goes with it.
    status: Option<(&'static str, Option<i32>)>,
    updated_at: DateTime<Utc>,
}

impl Changes {
    /// Takes `parsed` in if it is a rename or a status change; false when
    /// it is another event.
    fn add(
        &mut self,
        index: usize,
        event: &StoredEvent,
        parsed: &WorkflowEvent,
    ) -> Result<bool, ApplyError> {
        let (name, status) = match parsed {
            WorkflowEvent::WorkflowRenamed { name, .. } => (Some(name.clone()), None),
            WorkflowEvent::WorkflowPublished { version, .. } => {
                (None, Some(("published", Some(version_number(*version)?))))
            }
            WorkflowEvent::WorkflowUnpublished { .. } => (None, Some(("draft", None))),
            WorkflowEvent::WorkflowArchived => (None, Some(("archived", None))),
            _ => return Ok(false),
        };
        let change = self.0.entry(uuid_of(event)?).or_insert_with(|| Change {
            index,
            event_type: event.event_type.clone(),
            name: None,
            status: None,
            updated_at: event.recorded_at,
        });
        change.name = name.or(change.name.take());
        change.status = status.or(change.status);
        change.updated_at = event.recorded_at;
        Ok(true)
    }

    /// Writes the changes gathered so far and forgets them.
    async fn write(&mut self, conn: &mut PgConnection) -> Result<(), (usize, ApplyError)> {
        let changes = std::mem::take(&mut self.0);
        let Some(first) = changes.values().map(|c| c.index).min() else {
            return Ok(());
        };
        let ids: Vec<Uuid> = changes.keys().copied().collect();
        let column = |get: fn(&Change) -> Option<&str>| -> Vec<Option<&str>> {
            ids.iter().map(|id| get(&changes[id])).collect()
        };
        let names = column(|c| c.name.as_deref());
        let statuses = column(|c| c.status.map(|(status, _)| status));
        let versions: Vec<Option<i32>> = ids
            .iter()
            .map(|id| changes[id].status.and_then(|(_, version)| version))
            .collect();
        let updated_at: Vec<DateTime<Utc>> = ids.iter().map(|id| changes[id].updated_at).collect();
        let updated: HashSet<Uuid> = sqlx::query_scalar(
            "UPDATE workflows AS w
                SET name = coalesce(c.name, w.name),
                    status = coalesce(c.status, w.status),
                    published_version = CASE WHEN c.status IS NULL THEN w.published_version
                                             ELSE c.published_version END,
                    updated_at = c.updated_at
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], $5::timestamptz[])
                    AS c(id, name, status, published_version, updated_at)
              WHERE w.id = c.id
          RETURNING w.id",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&statuses)
        .bind(&versions)
        .bind(&updated_at)
        .fetch_all(conn)
        .await
        .map_err(|err| (first, err.into()))?
        .into_iter()
        .collect();
        if updated.len() == changes.len() {
            return Ok(());
        }
        let missing = changes
            .iter()
            .filter(|(id, _)| !updated.contains(id))
            .min_by_key(|(_, change)| change.index);
        match missing {
            Some((id, change)) => Err((change.index, no_row(*id, &change.event_type))),
            None => Ok(()),
        }
    }
}

fn no_row(id: Uuid, event_type: &str) -> ApplyError {
    ApplyError::Rejected(format!(
        "workflow {id} has no row to apply {event_type} to (its WorkflowCreated was not applied)"
    ))
}

/// Executions started per workflow in one batch: (tenant, count, latest
/// start).
#[derive(Default)]
struct ExecutionCounts(HashMap<Uuid, (Uuid, i64, DateTime<Utc>)>);

impl ExecutionCounts {
    fn add(&mut self, event: &StoredEvent) -> Result<(), ApplyError> {
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
        let at = event.recorded_at;
        let entry = self.0.entry(workflow_id.0).or_insert((tenant_id.0, 0, at));
        entry.1 += 1;
        entry.2 = entry.2.max(at);
        Ok(())
    }

    /// Adds the counts (a workflow's tenant is the one its first execution
    /// recorded).
    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut columns: (Vec<Uuid>, Vec<Uuid>, Vec<i64>, Vec<DateTime<Utc>>) = Default::default();
        for (workflow_id, (tenant_id, count, last)) in self.0 {
            columns.0.push(workflow_id);
            columns.1.push(tenant_id);
            columns.2.push(count);
            columns.3.push(last);
        }
        sqlx::query(
            "INSERT INTO workflow_execution_counts (workflow_id, tenant_id, executions_count,
                                                    last_execution_at)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[])
             ON CONFLICT (workflow_id) DO UPDATE
                SET executions_count = workflow_execution_counts.executions_count
                                       + EXCLUDED.executions_count,
                    last_execution_at = GREATEST(workflow_execution_counts.last_execution_at,
                                                 EXCLUDED.last_execution_at)",
        )
        .bind(&columns.0)
        .bind(&columns.1)
        .bind(&columns.2)
        .bind(&columns.3)
        .execute(conn)
        .await?;
        Ok(())
    }
}
