//! Reads of the `executions` read model, always scoped to one tenant: an
//! execution of another tenant reads exactly like a missing one.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::workflow_queries::Page;

pub use domain::execution::{ExecutionStatus, StepStatus};

/// The stored form of a status: its serde name (`timed_out`,
/// `retry_scheduled`), the same the projection writes.
fn status_text<S: Serialize>(status: S) -> String {
    match serde_json::to_value(status) {
        Ok(Value::String(text)) => text,
        other => unreachable!("a status serializes as a string, not {other:?}"),
    }
}

/// The status of its stored form.
fn parse_status<S: DeserializeOwned>(text: &str, what: &str) -> Result<S, sqlx::Error> {
    serde_json::from_value(Value::String(text.to_owned()))
        .map_err(|_| decode_error(format!("unknown {what} status '{text}'")))
}

fn decode_error(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

/// One row of the `executions` read model.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRow {
    /// The execution's id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The workflow it runs.
    pub workflow_id: Uuid,
    /// The pinned definition version.
    pub workflow_version: i32,
    /// Its status.
    pub status: ExecutionStatus,
    /// What started it, e.g. `{"type": "manual"}`.
    pub trigger: Value,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Its input document.
    pub input: Value,
    /// The final result, once completed.
    pub output: Option<Value>,
    /// Why it failed or timed out.
    pub error: Option<String>,
    /// Why it was cancelled, if a reason was given.
    pub cancel_reason: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at` in milliseconds.
    pub duration_ms: Option<i64>,
    /// When its last event was recorded.
    pub updated_at: DateTime<Utc>,
    /// Sequence of its last applied event.
    pub last_sequence: i64,
    /// Global position of its last applied event.
    pub last_position: i64,
}

/// Where a page of executions starts: after this (started_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionKey {
    /// The previous page's last start time.
    pub started_at: DateTime<Utc>,
    /// The previous page's last id.
    pub id: Uuid,
}

impl ExecutionRow {
    /// This row's place in the `started_at DESC, id DESC` order.
    pub fn key(&self) -> ExecutionKey {
        ExecutionKey {
            started_at: self.started_at,
            id: self.id,
        }
    }
}

/// Which executions a list shows.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only executions of this workflow.
    pub workflow_id: Option<Uuid>,
    /// Only this status.
    pub status: Option<ExecutionStatus>,
    /// Only executions started at or after this time.
    pub started_from: Option<DateTime<Utc>>,
    /// Only executions started before this time.
    pub started_to: Option<DateTime<Utc>>,
}

const EXECUTION_COLUMNS: &str = "
SELECT id, tenant_id, workflow_id, workflow_version, status, trigger, idempotency_key, input,
       output, error, cancel_reason, started_at, finished_at, duration_ms, updated_at,
       last_sequence, last_position
  FROM executions";

/// The execution `id` of `tenant_id`, if it exists there.
pub async fn find_execution(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ExecutionRow>, sqlx::Error> {
    let sql = format!("{EXECUTION_COLUMNS} WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(execution_row).transpose()
}

/// Up to `first` executions of `tenant_id` matching `filter`, newest first
/// (`started_at DESC, id DESC`), after `after`.
pub async fn list_executions(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &ExecutionFilter,
    after: Option<ExecutionKey>,
    first: i64,
) -> Result<Page<ExecutionRow>, sqlx::Error> {
    let sql = format!(
        "{EXECUTION_COLUMNS}
          WHERE tenant_id = $1
            AND ($2::uuid IS NULL OR workflow_id = $2)
            AND ($3::text IS NULL OR status = $3)
            AND ($4::timestamptz IS NULL OR started_at >= $4)
            AND ($5::timestamptz IS NULL OR started_at < $5)
            AND ($6::timestamptz IS NULL OR (started_at, id) < ($6, $7))
          ORDER BY started_at DESC, id DESC
          LIMIT $8"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(filter.workflow_id)
        .bind(filter.status.map(status_text))
        .bind(filter.started_from)
        .bind(filter.started_to)
        .bind(after.map(|k| k.started_at))
        .bind(after.map(|k| k.id))
        .bind(first + 1)
        .fetch_all(pool)
        .await?;
    let mut items = rows
        .iter()
        .map(execution_row)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = items.len() as i64 > first;
    items.truncate(first.max(0) as usize);
    Ok(Page { items, has_more })
}

fn execution_row(row: &sqlx::postgres::PgRow) -> Result<ExecutionRow, sqlx::Error> {
    Ok(ExecutionRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        workflow_id: row.try_get("workflow_id")?,
        workflow_version: row.try_get("workflow_version")?,
        status: parse_status(row.try_get("status")?, "execution")?,
        trigger: row.try_get("trigger")?,
        idempotency_key: row.try_get("idempotency_key")?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        error: row.try_get("error")?,
        cancel_reason: row.try_get("cancel_reason")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        duration_ms: row.try_get("duration_ms")?,
        updated_at: row.try_get("updated_at")?,
        last_sequence: row.try_get("last_sequence")?,
        last_position: row.try_get("last_position")?,
    })
}

/// One step of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    /// The node id.
    pub node_id: String,
    /// Its status.
    pub status: StepStatus,
    /// Attempts started so far.
    pub attempts: i32,
    /// When it was queued.
    pub scheduled_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its current (or last) attempt started.
    pub attempt_started_at: Option<DateTime<Utc>>,
    /// When its last attempt ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its result, once completed.
    pub output: Option<Value>,
    /// The last failure's error, until it completes.
    pub error: Option<String>,
    /// Whether the last failure may be retried.
    pub retryable: Option<bool>,
    /// When the scheduled retry runs.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The signal it awaits.
    pub waiting_for: Option<String>,
    /// The last failure says its effect may already have happened.
    pub possibly_done: bool,
    /// When its last event was recorded.
    pub updated_at: DateTime<Utc>,
}

/// The steps of execution `execution_id` of `tenant_id`, in the order they
/// were scheduled; empty when it does not exist there.
pub async fn list_steps(
    pool: &PgPool,
    tenant_id: Uuid,
    execution_id: Uuid,
) -> Result<Vec<StepRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT node_id, status, attempts, scheduled_at, started_at, attempt_started_at,
                finished_at, output, error, retryable, next_retry_at, waiting_for,
                possibly_done, updated_at
           FROM execution_steps
          WHERE tenant_id = $1 AND execution_id = $2
          ORDER BY scheduled_at, node_id",
    )
    .bind(tenant_id)
    .bind(execution_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StepRow {
                node_id: row.try_get("node_id")?,
                status: parse_status(row.try_get("status")?, "step")?,
                attempts: row.try_get("attempts")?,
                scheduled_at: row.try_get("scheduled_at")?,
                started_at: row.try_get("started_at")?,
                attempt_started_at: row.try_get("attempt_started_at")?,
                finished_at: row.try_get("finished_at")?,
                output: row.try_get("output")?,
                error: row.try_get("error")?,
                retryable: row.try_get("retryable")?,
                next_retry_at: row.try_get("next_retry_at")?,
                waiting_for: row.try_get("waiting_for")?,
                possibly_done: row.try_get("possibly_done")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}
