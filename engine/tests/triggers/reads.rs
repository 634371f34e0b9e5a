//! What the trigger tests read from the store: executions started, a
//! workflow's events, and the trigger projection's progress.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::execution::{ExecutionEvent, ExecutionTrigger};
use domain::ids::{ExecutionId, WorkflowId};
use serde_json::Value;

use crate::support::Harness;

/// How long a test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(20);

/// One execution start, as the store has it.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: ExecutionId,
    pub trigger: ExecutionTrigger,
    pub input: Value,
    pub idempotency_key: Option<String>,
}

/// Every execution of `workflow` started so far, in commit order.
pub async fn starts_of(h: &Harness, workflow: WorkflowId) -> Vec<Started> {
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload::jsonb FROM events
          WHERE aggregate_type = 'Execution' AND event_type = 'ExecutionStarted'
            AND payload -> 'ExecutionStarted' ->> 'workflow_id' = $1
          ORDER BY transaction_id, global_position",
    )
    .bind(workflow.to_string())
    .fetch_all(&h.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, payload)| {
            let ExecutionEvent::ExecutionStarted {
                input,
                trigger,
                idempotency_key,
                ..
            } = serde_json::from_value(payload).unwrap()
            else {
                panic!("not a start")
            };
            Started {
                id: ExecutionId(id.parse().unwrap()),
                trigger,
                input,
                idempotency_key,
            }
        })
        .collect()
}

/// Waits until `workflow` has at least `count` starts.
pub async fn until_started(h: &Harness, workflow: WorkflowId, count: usize) -> Vec<Started> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let starts = starts_of(h, workflow).await;
        if starts.len() >= count {
            return starts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{workflow} had {} of {count} starts after {LIMIT:?}",
            starts.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The payloads of `workflow`'s events of `event_type`, in order.
pub async fn workflow_events(h: &Harness, workflow: WorkflowId, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload::jsonb -> $2 FROM events
          WHERE aggregate_type = 'Workflow' AND aggregate_id = $1 AND event_type = $2
          ORDER BY sequence",
    )
    .bind(workflow.to_string())
    .bind(event_type)
    .fetch_all(&h.pool)
    .await
    .unwrap()
}

/// When `workflow`'s latest event of `event_type` was recorded.
pub async fn recorded_at(h: &Harness, workflow: WorkflowId, event_type: &str) -> DateTime<Utc> {
    let at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max(recorded_at) FROM events
          WHERE aggregate_type = 'Workflow' AND aggregate_id = $1 AND event_type = $2",
    )
    .bind(workflow.to_string())
    .bind(event_type)
    .fetch_one(&h.pool)
    .await
    .unwrap();
    at.unwrap_or_else(|| panic!("{workflow} has no {event_type}"))
}

/// Waits until the trigger projection has handled every event stored so far.
pub async fn triggers_caught_up(h: &Harness) {
    let last: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    projections::status::wait_for_position(&h.pool, "engine_triggers", last.unwrap_or(0), LIMIT)
        .await
        .expect("the trigger projection catches up");
}
