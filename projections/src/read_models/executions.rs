//! The `executions` projection: one row per execution (status, trigger,
//! input, output or error, timings) and one per step (status, attempts,
//! timings, output or error, next retry), folded from Execution events.
//!
//! Timestamps are the events' `recorded_at`, never this process's clock, so
//! a rebuild gives identical rows. Only Execution events are read, and a
//! source keeps each aggregate's order, so the result does not depend on
//! how different executions' events interleave.
//!
//! Every applied event also sends `pg_notify(`[`CHANGES_CHANNEL`]`, …)` in
//! the batch's transaction: PostgreSQL delivers it only if the batch
//! commits, and folds identical notifications of one transaction into one.
//! It goes through `jobsprint_notify`, which stays silent during a replay
//! (a rebuild must not wake subscribers with old changes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::history::StoredEvent;
use crate::projector::{ApplyError, Projection, Replay};
use crate::upcast::ensure_current;

/// The channel of change notifications. Each payload is a JSON object
/// `{"tenant_id", "execution_id", "workflow_id", "status"}` (see
/// [`ExecutionChange`]).
pub const CHANGES_CHANNEL: &str = "jobsprint_execution_changes";

/// One change notification, as sent on [`CHANGES_CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecutionChange {
    /// The execution's tenant.
    pub tenant_id: Uuid,
    /// The execution that changed.
    pub execution_id: Uuid,
    /// Its workflow.
    pub workflow_id: Uuid,
    /// Its status after the change (the stored form, e.g. `running`).
    pub status: String,
}

/// Folds Execution events into `executions` and `execution_steps`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutionsProjection;

#[async_trait]
impl Projection for ExecutionsProjection {
    const NAME: &'static str = "executions";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Execution"];
    const REPLAY: Replay = Replay::Rebuild(&["executions", "execution_steps"]);

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        if event.aggregate_type != "Execution" {
            return Ok(());
        }
        let id = uuid_of(event)?;
        match parse(event)? {
            ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                input,
                trigger,
                idempotency_key,
            } => {
                let trigger = serde_json::to_value(trigger)
                    .map_err(|err| ApplyError::Rejected(format!("trigger: {err}")))?;
                let version = i32::try_from(workflow_version).map_err(|_| {
                    ApplyError::Rejected(format!("version {workflow_version} is out of range"))
                })?;
                sqlx::query(
                    "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status,
                                             trigger, idempotency_key, input, started_at,
                                             updated_at, last_sequence, last_position)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $8, $9, $10)",
                )
                .bind(id)
                .bind(tenant_id.0)
                .bind(workflow_id.0)
                .bind(version)
                .bind(trigger)
                .bind(idempotency_key)
                .bind(input)
                .bind(event.recorded_at)
                .bind(event.sequence)
                .bind(event.global_position)
                .execute(&mut *conn)
                .await?;
                touch(conn, id, event, Ending::None).await
            }
            ExecutionEvent::ExecutionCompleted { output } => {
                touch(conn, id, event, Ending::Completed(output)).await
            }
            ExecutionEvent::ExecutionFailed { error } => {
                touch(conn, id, event, Ending::Failed(error)).await
            }
            ExecutionEvent::ExecutionCancelled { reason } => {
                touch(conn, id, event, Ending::Cancelled(reason)).await
            }
            ExecutionEvent::ExecutionTimedOut => touch(conn, id, event, Ending::TimedOut).await,
            ExecutionEvent::ExecutionRetried {
                workflow_version,
                reset,
                ..
            } => {
                // Running again: the ending is undone, the reset steps are
                // gone until they are scheduled again.
                sqlx::query(
                    "UPDATE executions
                        SET status = 'running', output = NULL, error = NULL,
                            finished_at = NULL, duration_ms = NULL, workflow_version = $2
                      WHERE id = $1",
                )
                .bind(id)
                .bind(i32::try_from(workflow_version).unwrap_or(i32::MAX))
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "DELETE FROM execution_steps WHERE execution_id = $1 AND node_id = ANY($2)",
                )
                .bind(id)
                .bind(&reset)
                .execute(&mut *conn)
                .await?;
                touch(conn, id, event, Ending::None).await
            }
            step => {
                apply_step(conn, id, event, step).await?;
                touch(conn, id, event, Ending::None).await
            }
        }
    }
}

/// Reads an event in the current version (sources upcast, see
/// [`crate::upcast`]).
fn parse(event: &StoredEvent) -> Result<ExecutionEvent, ApplyError> {
    ensure_current(event)?;
    ExecutionEvent::deserialize(&event.payload).map_err(|err| {
        ApplyError::Rejected(format!("malformed {} payload: {err}", event.event_type))
    })
}

fn uuid_of(event: &StoredEvent) -> Result<Uuid, ApplyError> {
    event.aggregate_id.parse().map_err(|_| {
        ApplyError::Rejected(format!(
            "execution id '{}' is not a UUID",
            event.aggregate_id
        ))
    })
}

/// How an event ends the execution, if it does.
enum Ending {
    None,
    Completed(Value),
    Failed(String),
    Cancelled(Option<String>),
    TimedOut,
}

/// The error text of an execution that ran out of time.
const TIMED_OUT: &str = "the execution ran out of time";

/// Moves the execution row to `event` (status and ending when it ends the
/// run, `updated_at`, last sequence and position) and notifies the change,
/// in one statement. A missing row means the execution's start was never
/// applied: poison.
async fn touch(
    conn: &mut PgConnection,
    id: Uuid,
    event: &StoredEvent,
    ending: Ending,
) -> Result<(), ApplyError> {
    let (status, output, error, reason) = match ending {
        Ending::None => (None, None, None, None),
        Ending::Completed(output) => (Some("completed"), Some(output), None, None),
        Ending::Failed(error) => (Some("failed"), None, Some(error), None),
        Ending::Cancelled(reason) => (Some("cancelled"), None, None, reason),
        Ending::TimedOut => (Some("timed_out"), None, Some(TIMED_OUT.to_owned()), None),
    };
    let notified: Option<String> = sqlx::query_scalar(
        "WITH changed AS (
            UPDATE executions
               SET status = coalesce($2, status),
                   output = coalesce($3, output),
                   error = coalesce($4, error),
                   cancel_reason = coalesce($5, cancel_reason),
                   finished_at = CASE WHEN $2::text IS NULL THEN finished_at ELSE $6 END,
                   duration_ms = CASE WHEN $2::text IS NULL THEN duration_ms
                                 ELSE round(extract(epoch FROM $6 - started_at) * 1000)::bigint END,
                   updated_at = $6, last_sequence = $7, last_position = $8
             WHERE id = $1
         RETURNING tenant_id, id, workflow_id, status)
         SELECT jobsprint_notify($9, json_build_object('tenant_id', tenant_id, 'execution_id', id,
                                                'workflow_id', workflow_id, 'status', status)::text)::text
           FROM changed",
    )
    .bind(id)
    .bind(status)
    .bind(output)
    .bind(error)
    .bind(reason)
    .bind(event.recorded_at)
    .bind(event.sequence)
    .bind(event.global_position)
    .bind(CHANGES_CHANNEL)
    .fetch_optional(&mut *conn)
    .await?;
    if notified.is_none() {
        return Err(missing(id, event));
    }
    Ok(())
}

fn missing(id: Uuid, event: &StoredEvent) -> ApplyError {
    ApplyError::Rejected(format!(
        "execution {id} has no row to apply {} to (its ExecutionStarted was not applied)",
        event.event_type
    ))
}

/// Applies a step event to its `execution_steps` row.
async fn apply_step(
    conn: &mut PgConnection,
    id: Uuid,
    event: &StoredEvent,
    step: ExecutionEvent,
) -> Result<(), ApplyError> {
    let at = event.recorded_at;
    let (node_id, sql, value): (String, &str, StepValue) = match step {
        ExecutionEvent::StepScheduled { node_id } => {
            let inserted = sqlx::query(
                "INSERT INTO execution_steps (execution_id, node_id, tenant_id, status,
                                              scheduled_at, updated_at)
                 SELECT id, $2, tenant_id, 'scheduled', $3, $3 FROM executions WHERE id = $1",
            )
            .bind(id)
            .bind(&node_id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() != 1 {
                return Err(missing(id, event));
            }
            return Ok(());
        }
        ExecutionEvent::StepAttemptStarted { node_id, attempt } => (
            node_id,
            "status = 'running', attempts = $4::integer, started_at = coalesce(started_at, $3),
             attempt_started_at = $3, finished_at = NULL, next_retry_at = NULL",
            StepValue::Attempt(attempt),
        ),
        ExecutionEvent::StepCompleted {
            node_id,
            attempt,
            output,
        } => (
            node_id,
            "status = 'completed', attempts = greatest(attempts, $4::integer),
             finished_at = $3, output = $5, error = NULL, retryable = NULL,
             waiting_for = NULL, possibly_done = false",
            StepValue::Output(attempt, output),
        ),
        ExecutionEvent::StepFailed {
            node_id,
            attempt,
            error,
            retryable,
        } => (
            node_id,
            "status = 'failed', attempts = greatest(attempts, $4::integer), finished_at = $3,
             error = $5, retryable = $6, waiting_for = NULL, possibly_done = $7",
            StepValue::Failure {
                attempt,
                error,
                retryable,
                possibly_done: possibly_done(event),
            },
        ),
        ExecutionEvent::StepRetryScheduled {
            node_id,
            attempt: _,
            at: retry_at,
        } => (
            node_id,
            "status = 'retry_scheduled', next_retry_at = $4",
            StepValue::At(retry_at),
        ),
        ExecutionEvent::StepWaitingForSignal { node_id, signal } => (
            node_id,
            "status = 'waiting_for_signal', waiting_for = $4",
            StepValue::Text(signal),
        ),
        ExecutionEvent::SignalReceived { node_id, .. } => (
            node_id,
            "status = 'running', waiting_for = NULL",
            StepValue::None,
        ),
        _ => {
            return Err(ApplyError::Rejected(format!(
                "{} is not a step event",
                event.event_type
            )))
        }
    };
    let sql = format!(
        "UPDATE execution_steps SET {sql}, updated_at = $3 WHERE execution_id = $1 AND node_id = $2"
    );
    let query = sqlx::query(&sql).bind(id).bind(&node_id).bind(at);
    let query = match value {
        StepValue::None => query,
        StepValue::Attempt(attempt) => query.bind(attempt_number(attempt)?),
        StepValue::Output(attempt, output) => query.bind(attempt_number(attempt)?).bind(output),
        StepValue::Failure {
            attempt,
            error,
            retryable,
            possibly_done,
        } => query
            .bind(attempt_number(attempt)?)
            .bind(error)
            .bind(retryable)
            .bind(possibly_done),
        StepValue::At(retry_at) => query.bind(retry_at),
        StepValue::Text(text) => query.bind(text),
    };
    if query.execute(&mut *conn).await?.rows_affected() != 1 {
        return Err(ApplyError::Rejected(format!(
            "step {node_id} of execution {id} has no row to apply {} to",
            event.event_type
        )));
    }
    Ok(())
}

/// The values a step update binds after (id, node, recorded_at).
enum StepValue {
    None,
    Attempt(u32),
    Output(u32, Value),
    Failure {
        attempt: u32,
        error: String,
        retryable: bool,
        possibly_done: bool,
    },
    At(DateTime<Utc>),
    Text(String),
}

fn attempt_number(attempt: u32) -> Result<i32, ApplyError> {
    i32::try_from(attempt)
        .map_err(|_| ApplyError::Rejected(format!("attempt {attempt} is out of range")))
}

/// Whether a `StepFailed` says the failed attempt's effect may already have
/// happened (`"possibly_done": true` beside its fields). Version 1 of the
/// event has no such field, so this is false for every event stored today;
/// the column is there for the engine to fill.
fn possibly_done(event: &StoredEvent) -> bool {
    event.payload["StepFailed"]["possibly_done"].as_bool() == Some(true)
}
