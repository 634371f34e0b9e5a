//! The engine's intake: a projection of Execution events into
//! `engine_executions`, so workers find what needs them. A start adds the
//! execution, due at once; a signal wakes it; its end (cancellation
//! included) removes it; a retry adds it again. Each wake also sends `NOTIFY jobsprint_engine` inside the
//! batch transaction, so idle workers start within milliseconds of the
//! commit instead of polling.

use async_trait::async_trait;
use domain::execution::ExecutionEvent;
use projections::history::StoredEvent;
use projections::projector::{ApplyError, Projection};
use sqlx::PgConnection;
use uuid::Uuid;

/// The channel idle workers listen on.
pub const WAKE_CHANNEL: &str = "jobsprint_engine";

/// The intake projection (name `engine_intake`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineIntake;

#[async_trait]
impl Projection for EngineIntake {
    const NAME: &'static str = "engine_intake";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Execution"];

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        let id = Uuid::parse_str(&event.aggregate_id)
            .map_err(|err| ApplyError::Rejected(format!("execution id: {err}")))?;
        let parsed: ExecutionEvent = serde_json::from_value(event.payload.clone())
            .map_err(|err| ApplyError::Rejected(format!("unreadable execution event: {err}")))?;
        match parsed {
            ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                ..
            } => {
                // The version's concurrency limit, if it sets one.
                sqlx::query(
                    "INSERT INTO engine_executions (execution_id, tenant_id, workflow_id,
                                                    workflow_version, due_at, started_at, concurrency)
                     VALUES ($1, $2, $3, $4, $5, $5,
                             (SELECT (payload -> 'WorkflowVersionCreated' -> 'definition'
                                              -> 'settings' ->> 'concurrency')::int
                                FROM events
                               WHERE aggregate_type = 'Workflow' AND aggregate_id = $6
                                 AND event_type = 'WorkflowVersionCreated'
                                 AND (payload -> 'WorkflowVersionCreated' ->> 'version')::int = $4
                               LIMIT 1))
                     ON CONFLICT (execution_id) DO NOTHING",
                )
                .bind(id)
                .bind(tenant_id.0)
                .bind(workflow_id.0)
                .bind(workflow_version as i32)
                .bind(event.recorded_at)
                .bind(workflow_id.to_string())
                .execute(&mut *conn)
                .await?;
                notify(conn).await?;
            }
            ExecutionEvent::ExecutionRetried {
                workflow_version, ..
            } => {
                sqlx::query(
                    "INSERT INTO engine_executions
                         (execution_id, tenant_id, workflow_id, workflow_version, due_at, started_at)
                     SELECT $1, (metadata ->> 'tenant_id')::uuid,
                            (payload -> 'ExecutionStarted' ->> 'workflow_id')::uuid, $2, $3, $3
                       FROM events
                      WHERE aggregate_type = 'Execution' AND aggregate_id = $4 AND sequence = 1
                     ON CONFLICT (execution_id) DO UPDATE
                        SET workflow_version = excluded.workflow_version, due_at = excluded.due_at,
                            wake_seq = engine_executions.wake_seq + 1",
                )
                .bind(id)
                .bind(workflow_version as i32)
                .bind(event.recorded_at)
                .bind(&event.aggregate_id)
                .execute(&mut *conn)
                .await?;
                notify(conn).await?;
            }
            ExecutionEvent::SignalReceived { .. } => {
                sqlx::query(
                    "UPDATE engine_executions
                        SET due_at = least(coalesce(due_at, $2), $2), wake_seq = wake_seq + 1
                      WHERE execution_id = $1",
                )
                .bind(id)
                .bind(event.recorded_at)
                .execute(&mut *conn)
                .await?;
                notify(conn).await?;
            }
            // A worker still in a step finds its next command refused and
            // stops: a cancelled run's pending steps never start.
            ExecutionEvent::ExecutionCancelled { .. }
            | ExecutionEvent::ExecutionCompleted { .. }
            | ExecutionEvent::ExecutionFailed { .. }
            | ExecutionEvent::ExecutionTimedOut => {
                sqlx::query("SELECT engine_forget($1)")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

async fn notify(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
