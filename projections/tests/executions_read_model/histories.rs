//! Execution histories written straight into the store with chosen
//! `recorded_at` times, and a snapshot of the read model.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::execution::{ExecutionEvent, ExecutionTrigger};
use domain::ids::{TenantId, WorkflowId};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Day one, 10:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

pub fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

/// Appends `events` to execution `id`, each recorded at its time; the last
/// event's global position.
pub async fn append(
    pool: &PgPool,
    id: Uuid,
    from: i64,
    events: &[(DateTime<Utc>, ExecutionEvent)],
) -> i64 {
    let mut last = 0;
    for (sequence, (at, event)) in (from..).zip(events) {
        let payload = serde_json::to_value(event).unwrap();
        let event_type = match &payload {
            Value::String(name) => name.clone(),
            other => other.as_object().unwrap().keys().next().unwrap().clone(),
        };
        last = append_raw(pool, id, sequence, &event_type, payload, *at).await;
    }
    last
}

pub async fn append_raw(
    pool: &PgPool,
    id: Uuid,
    sequence: i64,
    event_type: &str,
    payload: Value,
    at: DateTime<Utc>,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, recorded_at)
         VALUES ('Execution', $1, $2, $3, '1', $4, '{}', $5) RETURNING global_position",
    )
    .bind(id.to_string())
    .bind(sequence)
    .bind(event_type)
    .bind(payload)
    .bind(at)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub fn started(tenant: TenantId, workflow: Uuid) -> ExecutionEvent {
    ExecutionEvent::ExecutionStarted {
        tenant_id: tenant,
        workflow_id: WorkflowId(workflow),
        workflow_version: 3,
        input: json!({"order": 42}),
        trigger: ExecutionTrigger::Webhook {
            delivery_id: Some("d-1".into()),
        },
        idempotency_key: Some("key-1".into()),
    }
}

pub fn scheduled(node: &str) -> ExecutionEvent {
    ExecutionEvent::StepScheduled {
        node_id: node.into(),
    }
}

pub fn attempt(node: &str, attempt: u32) -> ExecutionEvent {
    ExecutionEvent::StepAttemptStarted {
        node_id: node.into(),
        attempt,
    }
}

/// A run that starts at `at`, runs one step and ends after `duration_ms`
/// with `ending`; its last position.
pub async fn simple_run(
    pool: &PgPool,
    tenant: TenantId,
    workflow: Uuid,
    at: DateTime<Utc>,
    duration_ms: i64,
    ending: ExecutionEvent,
) -> i64 {
    let id = Uuid::now_v7();
    let events = [
        (at, started(tenant, workflow)),
        (at, scheduled("only")),
        (at + ms(1), attempt("only", 1)),
        (at + ms(duration_ms), ending),
    ];
    append(pool, id, 1, &events).await
}

/// Everything the read model holds, as text, in a stable order.
pub async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT t::text FROM (
             SELECT row_to_json(e)::text AS t FROM executions e
             UNION ALL SELECT row_to_json(s)::text FROM execution_steps s) rows
          ORDER BY t",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
