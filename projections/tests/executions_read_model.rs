//! The `executions` read model folded from the domain's own events, written
//! into the store with chosen `recorded_at` times: retries, failure,
//! cancellation, signals and time-outs, per-day statistics checked against
//! percentiles computed here, change notifications, and a replay that gives
//! identical rows.

#[path = "executions_read_model/histories.rs"]
mod histories;
#[path = "executions_read_model/stats.rs"]
mod stats;
mod support;

use domain::execution::ExecutionEvent;
use domain::ids::TenantId;
use histories::*;
use projections::projector::{PoisonPolicy, Projection};
use projections::read_models::execution_queries::{
    find_execution, list_executions, list_steps, ExecutionFilter, ExecutionStatus, StepStatus,
};
use projections::read_models::executions::{
    ExecutionChange, ExecutionsProjection, CHANGES_CHANNEL,
};
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

const NAME: &str = ExecutionsProjection::NAME;

#[sqlx::test(migrations = "../migrations")]
async fn a_run_with_a_retry_is_folded_with_the_events_timings(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let workflow = Uuid::now_v7();
    let id = Uuid::now_v7();
    let t = t0();
    let retry_at = t + ms(10_000);
    let last = append(
        &pool,
        id,
        1,
        &[
            (t, started(tenant, workflow)),
            (t + ms(100), scheduled("fetch")),
            (t + ms(200), attempt("fetch", 1)),
            (
                t + ms(900),
                ExecutionEvent::StepFailed {
                    node_id: "fetch".into(),
                    attempt: 1,
                    error: "HTTP 503".into(),
                    retryable: true,
                },
            ),
            (
                t + ms(950),
                ExecutionEvent::StepRetryScheduled {
                    node_id: "fetch".into(),
                    attempt: 2,
                    at: retry_at,
                },
            ),
        ],
    )
    .await;
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(CHANGES_CHANNEL).await.unwrap();
    spawn(&pool, ExecutionsProjection, PoisonPolicy::Stop);
    wait_for(&pool, NAME, last).await;

    let steps = list_steps(&pool, tenant.0, id).await.unwrap();
    assert_eq!(steps.len(), 1);
    let fetch = &steps[0];
    assert_eq!(fetch.status, StepStatus::RetryScheduled);
    assert_eq!(fetch.attempts, 1);
    assert_eq!(fetch.next_retry_at, Some(retry_at));
    assert_eq!(fetch.error.as_deref(), Some("HTTP 503"));
    assert_eq!(fetch.retryable, Some(true));
    assert_eq!(fetch.finished_at, Some(t + ms(900)));
    let change: ExecutionChange =
        serde_json::from_str(listener.recv().await.unwrap().payload()).unwrap();
    assert_eq!(
        change,
        ExecutionChange {
            tenant_id: tenant.0,
            execution_id: id,
            workflow_id: workflow,
            status: "running".into(),
        }
    );

    let last = append(
        &pool,
        id,
        6,
        &[
            (retry_at + ms(5), attempt("fetch", 2)),
            (
                retry_at + ms(400),
                ExecutionEvent::StepCompleted {
                    node_id: "fetch".into(),
                    attempt: 2,
                    output: json!({"status": 200}),
                },
            ),
            (
                t + ms(12_345),
                ExecutionEvent::ExecutionCompleted {
                    output: json!({"ok": true}),
                },
            ),
        ],
    )
    .await;
    wait_for(&pool, NAME, last).await;
    let row = find_execution(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.status, ExecutionStatus::Completed);
    assert_eq!((row.workflow_id, row.workflow_version), (workflow, 3));
    assert_eq!(
        row.trigger,
        json!({"type": "webhook", "delivery_id": "d-1"})
    );
    assert_eq!(row.idempotency_key.as_deref(), Some("key-1"));
    assert_eq!(row.input, json!({"order": 42}));
    assert_eq!(row.output, Some(json!({"ok": true})));
    assert_eq!(row.error, None);
    assert_eq!(row.started_at, t, "timings are the events' recorded_at");
    assert_eq!(row.finished_at, Some(t + ms(12_345)));
    assert_eq!(row.duration_ms, Some(12_345));
    assert_eq!(row.updated_at, t + ms(12_345));
    assert_eq!((row.last_sequence, row.last_position), (8, last));
    let fetch = &list_steps(&pool, tenant.0, id).await.unwrap()[0];
    assert_eq!(fetch.status, StepStatus::Completed);
    assert_eq!(fetch.attempts, 2);
    assert_eq!(fetch.output, Some(json!({"status": 200})));
    assert_eq!((fetch.error.as_deref(), fetch.next_retry_at), (None, None));
    assert_eq!(
        fetch.started_at,
        Some(t + ms(200)),
        "the first attempt's start"
    );
    assert_eq!(fetch.attempt_started_at, Some(retry_at + ms(5)));
    assert_eq!(fetch.finished_at, Some(retry_at + ms(400)));
    assert!(!fetch.possibly_done);
    // Notifications are sent at commit; the last says `completed`.
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("completed") {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification for the completion")
            .unwrap();
        let change: ExecutionChange = serde_json::from_str(next.payload()).unwrap();
        assert_eq!(change.execution_id, id);
        statuses.push(change.status);
    }

    // Another tenant reads nothing.
    let other = Uuid::now_v7();
    assert_eq!(find_execution(&pool, other, id).await.unwrap(), None);
    assert!(list_steps(&pool, other, id).await.unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn failure_cancellation_signals_and_time_outs(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let workflow = Uuid::now_v7();
    let t = t0();
    let (failed, cancelled, timed_out) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    append(
        &pool,
        failed,
        1,
        &[
            (t, started(tenant, workflow)),
            (t, scheduled("charge")),
            (t + ms(10), attempt("charge", 1)),
        ],
    )
    .await;
    // The engine says the charge may have gone through before the timeout.
    let failure = json!({"StepFailed": {"node_id": "charge", "attempt": 1, "error": "timed out",
                                        "retryable": false, "possibly_done": true}});
    append_raw(&pool, failed, 4, "StepFailed", failure, t + ms(30_000)).await;
    let fail = ExecutionEvent::ExecutionFailed {
        error: "charge failed".into(),
    };
    append(&pool, failed, 5, &[(t + ms(30_001), fail)]).await;
    append(
        &pool,
        cancelled,
        1,
        &[
            (t, started(tenant, workflow)),
            (t, scheduled("approve")),
            (t + ms(1), attempt("approve", 1)),
            (
                t + ms(2),
                ExecutionEvent::StepWaitingForSignal {
                    node_id: "approve".into(),
                    signal: "approved".into(),
                },
            ),
            (
                t + ms(5_000),
                ExecutionEvent::ExecutionCancelled {
                    reason: Some("no longer needed".into()),
                },
            ),
        ],
    )
    .await;
    let last = append(
        &pool,
        timed_out,
        1,
        &[
            (t, started(tenant, workflow)),
            (t, scheduled("wait")),
            (t + ms(1), attempt("wait", 1)),
            (
                t + ms(2),
                ExecutionEvent::StepWaitingForSignal {
                    node_id: "wait".into(),
                    signal: "go".into(),
                },
            ),
            (
                t + ms(3),
                ExecutionEvent::SignalReceived {
                    node_id: "wait".into(),
                    signal: "go".into(),
                    payload: json!({}),
                },
            ),
            (t + ms(60_000), ExecutionEvent::ExecutionTimedOut),
        ],
    )
    .await;
    spawn(&pool, ExecutionsProjection, PoisonPolicy::Stop);
    wait_for(&pool, NAME, last).await;

    let row = find_execution(&pool, tenant.0, failed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("charge failed"));
    assert_eq!(row.duration_ms, Some(30_001));
    let charge = &list_steps(&pool, tenant.0, failed).await.unwrap()[0];
    assert_eq!(charge.status, StepStatus::Failed);
    assert_eq!(charge.retryable, Some(false));
    assert!(charge.possibly_done, "the event said it may be done");

    let row = find_execution(&pool, tenant.0, cancelled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ExecutionStatus::Cancelled);
    assert_eq!(row.cancel_reason.as_deref(), Some("no longer needed"));
    assert_eq!(row.duration_ms, Some(5_000));
    let approve = &list_steps(&pool, tenant.0, cancelled).await.unwrap()[0];
    assert_eq!(approve.status, StepStatus::WaitingForSignal);
    assert_eq!(approve.waiting_for.as_deref(), Some("approved"));

    let row = find_execution(&pool, tenant.0, timed_out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ExecutionStatus::TimedOut);
    assert!(row.error.is_some());
    let wait = &list_steps(&pool, tenant.0, timed_out).await.unwrap()[0];
    assert_eq!(
        (wait.status, wait.waiting_for.as_deref()),
        (StepStatus::Running, None)
    );

    let failures = ExecutionFilter {
        status: Some(ExecutionStatus::Failed),
        ..ExecutionFilter::default()
    };
    let page = list_executions(&pool, tenant.0, &failures, None, 10)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [failed]
    );
}
