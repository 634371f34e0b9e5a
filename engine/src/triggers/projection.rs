//! The `engine_triggers` projection: which published workflows run on a
//! schedule or on another workflow's endings, and the starts owed to event
//! triggers.
//!
//! A publication reads the published version's definition from its
//! `WorkflowVersionCreated` event and keeps one `engine_schedules` or
//! `engine_event_triggers` row for the workflow (none for other triggers);
//! unpublishing or archiving removes them. A schedule's `covered_through`
//! also follows its fired slots (the `ExecutionStarted` of a scheduled run)
//! and its skipped ones (`ScheduledRunsSkipped`), so the table is a pure
//! fold of the events. Execution endings become outbox rows (`endings`).
//!
//! It reads Workflow and Execution events together and relies on their
//! commit order (a target published before a source ends is a row when the
//! ending is applied): it runs on the store source only, never on a broker.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use domain::ids::WorkflowId;
use domain::workflow::{Schedule, Trigger, WorkflowEvent};
use projections::history::StoredEvent;
use projections::projector::{ApplyError, Projection};
use projections::upcast::ensure_current;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{endings, WAKE_CHANNEL};

/// The wake-up payload for the scheduler.
pub(crate) const SCHEDULES: &str = "schedules";
/// The wake-up payload for the dispatcher.
pub(crate) const OUTBOX: &str = "outbox";

/// The trigger projection (name `engine_triggers`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TriggersProjection;

#[async_trait]
impl Projection for TriggersProjection {
    const NAME: &'static str = "engine_triggers";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Workflow", "Execution"];

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        // Sources hand out events upcast to their current version.
        ensure_current(event)?;
        let id = Uuid::parse_str(&event.aggregate_id)
            .map_err(|err| ApplyError::Rejected(format!("{} id: {err}", event.aggregate_type)))?;
        match event.aggregate_type.as_str() {
            "Workflow" => workflow_event(conn, WorkflowId(id), event).await,
            "Execution" => {
                let parsed: ExecutionEvent = parse(event)?;
                endings::apply(conn, id, event, parsed).await
            }
            _ => Ok(()),
        }
    }
}

async fn workflow_event(
    conn: &mut PgConnection,
    id: WorkflowId,
    event: &StoredEvent,
) -> Result<(), ApplyError> {
    match parse::<WorkflowEvent>(event)? {
        WorkflowEvent::WorkflowPublished { version, .. } => {
            let tenant = tenant_of(event)?;
            published(conn, id, tenant, version, event.recorded_at).await
        }
        WorkflowEvent::WorkflowUnpublished { .. } | WorkflowEvent::WorkflowArchived => {
            remove(conn, id).await
        }
        WorkflowEvent::ScheduledRunsSkipped { to, .. } => covered(conn, id, to).await,
        _ => Ok(()),
    }
}

/// Replaces the workflow's trigger rows by those of the published version.
async fn published(
    conn: &mut PgConnection,
    id: WorkflowId,
    tenant: Uuid,
    version: u32,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    match trigger_of(conn, id, version).await? {
        Trigger::Schedule {
            cron,
            timezone,
            catch_up,
        } => {
            let Ok(schedule) = Schedule::parse(&cron, &timezone) else {
                tracing::warn!(workflow_id = %id, cron, timezone, "published schedule does not parse; it will not fire");
                return remove(conn, id).await;
            };
            let existing: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT cron, timezone, covered_through FROM engine_schedules
                  WHERE workflow_id = $1 FOR UPDATE",
            )
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
            // The same schedule in a new version keeps its place; a new
            // schedule starts at its publication.
            let covered = match existing {
                Some((c, tz, covered)) if c == cron && tz == timezone => covered,
                _ => at,
            };
            sqlx::query(
                "INSERT INTO engine_schedules (workflow_id, tenant_id, workflow_version, cron,
                                               timezone, catch_up, covered_through, next_fire_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (workflow_id) DO UPDATE
                    SET tenant_id = EXCLUDED.tenant_id,
                        workflow_version = EXCLUDED.workflow_version,
                        cron = EXCLUDED.cron, timezone = EXCLUDED.timezone,
                        catch_up = EXCLUDED.catch_up,
                        covered_through = EXCLUDED.covered_through,
                        next_fire_at = EXCLUDED.next_fire_at,
                        generation = engine_schedules.generation + 1",
            )
            .bind(id.0)
            .bind(tenant)
            .bind(version as i32)
            .bind(&cron)
            .bind(&timezone)
            .bind(catch_up.as_str())
            .bind(covered)
            .bind(schedule.next_after(covered))
            .execute(&mut *conn)
            .await?;
            remove_event_trigger(conn, id).await?;
            notify(conn, SCHEDULES).await
        }
        Trigger::Event {
            workflow_id: source,
            on_status,
        } => {
            remove_schedule(conn, id).await?;
            sqlx::query(
                "INSERT INTO engine_event_triggers
                     (target_workflow_id, source_workflow_id, tenant_id, workflow_version, on_status)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (target_workflow_id) DO UPDATE
                    SET source_workflow_id = EXCLUDED.source_workflow_id,
                        tenant_id = EXCLUDED.tenant_id,
                        workflow_version = EXCLUDED.workflow_version,
                        on_status = EXCLUDED.on_status",
            )
            .bind(id.0)
            .bind(source.0)
            .bind(tenant)
            .bind(version as i32)
            .bind(status_name(on_status))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
        Trigger::Manual | Trigger::Webhook => remove(conn, id).await,
    }
}

/// Moves a schedule past `slot` (fired or skipped), never backwards.
pub(crate) async fn covered(
    conn: &mut PgConnection,
    id: WorkflowId,
    slot: DateTime<Utc>,
) -> Result<(), ApplyError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT cron, timezone FROM engine_schedules
          WHERE workflow_id = $1 AND covered_through < $2 FOR UPDATE",
    )
    .bind(id.0)
    .bind(slot)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((cron, timezone)) = row else {
        return Ok(());
    };
    let next = Schedule::parse(&cron, &timezone)
        .ok()
        .and_then(|schedule| schedule.next_after(slot));
    sqlx::query(
        "UPDATE engine_schedules SET covered_through = $2, next_fire_at = $3
          WHERE workflow_id = $1",
    )
    .bind(id.0)
    .bind(slot)
    .bind(next)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The trigger of `version` of workflow `id`, from its creation event.
async fn trigger_of(
    conn: &mut PgConnection,
    id: WorkflowId,
    version: u32,
) -> Result<Trigger, ApplyError> {
    let payload: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events
          WHERE aggregate_type = 'Workflow' AND aggregate_id = $1
            AND event_type = 'WorkflowVersionCreated'
            AND (payload -> 'WorkflowVersionCreated' ->> 'version')::int = $2
          LIMIT 1",
    )
    .bind(id.to_string())
    .bind(version as i32)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(payload) = payload else {
        return Err(ApplyError::Rejected(format!(
            "workflow {id} was published at version {version}, which was never created"
        )));
    };
    match serde_json::from_value(payload) {
        Ok(WorkflowEvent::WorkflowVersionCreated { definition, .. }) => Ok(definition.trigger),
        Ok(_) => Err(ApplyError::Rejected(format!(
            "version {version} of {id} is not a WorkflowVersionCreated"
        ))),
        Err(err) => Err(ApplyError::Rejected(format!(
            "version {version} of {id} is unreadable: {err}"
        ))),
    }
}

async fn remove(conn: &mut PgConnection, id: WorkflowId) -> Result<(), ApplyError> {
    remove_schedule(conn, id).await?;
    remove_event_trigger(conn, id).await
}

async fn remove_schedule(conn: &mut PgConnection, id: WorkflowId) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM engine_schedules WHERE workflow_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn remove_event_trigger(conn: &mut PgConnection, id: WorkflowId) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM engine_event_triggers WHERE target_workflow_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn status_name(status: domain::workflow::CompletionStatus) -> String {
    // A unit variant serialises to its name.
    serde_json::to_value(status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "any".to_owned())
}

/// Wakes the loops that listen for `what`, inside the batch transaction:
/// they look only once the batch is committed.
pub(crate) async fn notify(conn: &mut PgConnection, what: &str) -> Result<(), ApplyError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(WAKE_CHANNEL)
        .bind(what)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(event: &StoredEvent) -> Result<T, ApplyError> {
    serde_json::from_value(event.payload.clone()).map_err(|err| {
        ApplyError::Rejected(format!("malformed {} payload: {err}", event.event_type))
    })
}

fn tenant_of(event: &StoredEvent) -> Result<Uuid, ApplyError> {
    event
        .metadata
        .get(domain::metadata::TENANT_ID)
        .and_then(|value| value.as_str())
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| {
            ApplyError::Rejected(format!(
                "{} {} has no tenant_id in its metadata",
                event.event_type, event.aggregate_id
            ))
        })
}
