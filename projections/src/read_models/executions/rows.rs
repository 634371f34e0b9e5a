//! Reading a batch's rows and writing them back: one statement per table
//! each way, whatever the number of events in the batch.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::fold::{Batch, Execution};
use super::step::Step;
use super::CHANGES_CHANNEL;

/// The rows of these executions and of their steps.
pub(super) async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Batch, sqlx::Error> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let executions: Vec<Execution> = sqlx::query_as(
        "SELECT id, tenant_id, workflow_id, workflow_version, status, trigger, idempotency_key,
                input, output, error, cancel_reason, started_at, finished_at, duration_ms,
                updated_at, last_sequence, last_position
           FROM executions WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let steps: Vec<Step> = if executions.is_empty() {
        Vec::new()
    } else {
        let found: Vec<Uuid> = executions.iter().map(|row| row.id).collect();
        sqlx::query_as(
            "SELECT execution_id, node_id, tenant_id, status, attempts, scheduled_at, started_at,
                    attempt_started_at, finished_at, output, error, retryable, next_retry_at,
                    waiting_for, possibly_done, updated_at
               FROM execution_steps WHERE execution_id = ANY($1)",
        )
        .bind(&found)
        .fetch_all(&mut *conn)
        .await?
    };
    Ok(Batch::new(executions, steps))
}

/// Writes what the batch changed: the executions, then the steps removed
/// and the steps made or moved, then the notifications.
pub(super) async fn write(conn: &mut PgConnection, batch: Batch) -> Result<(), sqlx::Error> {
    let Batch {
        mut executions,
        changed,
        steps,
        notifications,
        ..
    } = batch;
    let executions: Vec<Execution> = changed
        .into_iter()
        .filter_map(|id| executions.remove(&id))
        .collect();
    upsert_executions(conn, &executions).await?;
    let mut removed: (Vec<Uuid>, Vec<String>) = Default::default();
    let mut moved = Vec::new();
    for ((execution_id, node_id), slot) in steps {
        match slot.row {
            _ if !slot.changed => {}
            None => {
                removed.0.push(execution_id);
                removed.1.push(node_id);
            }
            Some(row) => moved.push(row),
        }
    }
    if !removed.0.is_empty() {
        sqlx::query(
            "DELETE FROM execution_steps s
              USING unnest($1::uuid[], $2::text[]) AS k(execution_id, node_id)
              WHERE s.execution_id = k.execution_id AND s.node_id = k.node_id",
        )
        .bind(&removed.0)
        .bind(&removed.1)
        .execute(&mut *conn)
        .await?;
    }
    upsert_steps(conn, &moved).await?;
    if !notifications.is_empty() {
        sqlx::query("SELECT jobsprint_notify($1, payload) FROM unnest($2::text[]) AS n(payload)")
            .bind(CHANGES_CHANNEL)
            .bind(&notifications)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A column of `rows`, for an `unnest` parameter.
fn column<R, T>(rows: &[R], get: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(get).collect()
}

async fn upsert_executions(conn: &mut PgConnection, rows: &[Execution]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status, trigger,
                                 idempotency_key, input, output, error, cancel_reason, started_at,
                                 finished_at, duration_ms, updated_at, last_sequence, last_position)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::integer[], $5::text[],
                              $6::jsonb[], $7::text[], $8::jsonb[], $9::jsonb[], $10::text[],
                              $11::text[], $12::timestamptz[], $13::timestamptz[], $14::bigint[],
                              $15::timestamptz[], $16::bigint[], $17::bigint[])
         ON CONFLICT (id) DO UPDATE
            SET workflow_version = EXCLUDED.workflow_version, status = EXCLUDED.status,
                output = EXCLUDED.output, error = EXCLUDED.error,
                cancel_reason = EXCLUDED.cancel_reason, finished_at = EXCLUDED.finished_at,
                duration_ms = EXCLUDED.duration_ms, updated_at = EXCLUDED.updated_at,
                last_sequence = EXCLUDED.last_sequence, last_position = EXCLUDED.last_position",
    )
    .bind(column(rows, |r| r.id))
    .bind(column(rows, |r| r.tenant_id))
    .bind(column(rows, |r| r.workflow_id))
    .bind(column(rows, |r| r.workflow_version))
    .bind(column(rows, |r| r.status.clone()))
    .bind(column(rows, |r| r.trigger.clone()))
    .bind(column(rows, |r| r.idempotency_key.clone()))
    .bind(column(rows, |r| r.input.clone()))
    .bind(column(rows, |r| r.output.clone()))
    .bind(column(rows, |r| r.error.clone()))
    .bind(column(rows, |r| r.cancel_reason.clone()))
    .bind(column(rows, |r| r.started_at))
    .bind(column::<_, Option<DateTime<Utc>>>(rows, |r| r.finished_at))
    .bind(column(rows, |r| r.duration_ms))
    .bind(column(rows, |r| r.updated_at))
    .bind(column(rows, |r| r.last_sequence))
    .bind(column(rows, |r| r.last_position))
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_steps(conn: &mut PgConnection, rows: &[Step]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO execution_steps (execution_id, node_id, tenant_id, status, attempts,
                                      scheduled_at, started_at, attempt_started_at, finished_at,
                                      output, error, retryable, next_retry_at, waiting_for,
                                      possibly_done, updated_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::integer[],
                              $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
                              $9::timestamptz[], $10::jsonb[], $11::text[], $12::boolean[],
                              $13::timestamptz[], $14::text[], $15::boolean[], $16::timestamptz[])
         ON CONFLICT (execution_id, node_id) DO UPDATE
            SET tenant_id = EXCLUDED.tenant_id, status = EXCLUDED.status,
                attempts = EXCLUDED.attempts, scheduled_at = EXCLUDED.scheduled_at,
                started_at = EXCLUDED.started_at, attempt_started_at = EXCLUDED.attempt_started_at,
                finished_at = EXCLUDED.finished_at, output = EXCLUDED.output,
                error = EXCLUDED.error, retryable = EXCLUDED.retryable,
                next_retry_at = EXCLUDED.next_retry_at, waiting_for = EXCLUDED.waiting_for,
                possibly_done = EXCLUDED.possibly_done, updated_at = EXCLUDED.updated_at",
    )
    .bind(column(rows, |r| r.execution_id))
    .bind(column(rows, |r| r.node_id.clone()))
    .bind(column(rows, |r| r.tenant_id))
    .bind(column(rows, |r| r.status.clone()))
    .bind(column(rows, |r| r.attempts))
    .bind(column(rows, |r| r.scheduled_at))
    .bind(column(rows, |r| r.started_at))
    .bind(column(rows, |r| r.attempt_started_at))
    .bind(column(rows, |r| r.finished_at))
    .bind(column::<_, Option<Value>>(rows, |r| r.output.clone()))
    .bind(column(rows, |r| r.error.clone()))
    .bind(column(rows, |r| r.retryable))
    .bind(column(rows, |r| r.next_retry_at))
    .bind(column(rows, |r| r.waiting_for.clone()))
    .bind(column(rows, |r| r.possibly_done))
    .bind(column(rows, |r| r.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}
