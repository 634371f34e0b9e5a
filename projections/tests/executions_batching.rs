//! The `executions` projection folds a batch in memory and writes it back
//! with a few statements: however the events are cut into batches (one by
//! one, a few at a time across executions, all at once), the read model
//! comes out the same, and what cannot be applied is still named exactly.

mod support;

#[path = "executions_read_model/histories.rs"]
#[allow(dead_code)] // shared with executions_read_model, which uses all of it
mod histories;

use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use domain::ids::TenantId;
use histories::*;
use projections::batch::BatchOutcome;
use projections::checkpoint::ProjectionState;
use projections::commit_order::CommittedEvent;
use projections::projector::{PoisonPolicy, Projection, Projector};
use projections::read_models::executions::ExecutionsProjection;
use serde_json::json;
use sqlx::PgPool;
use support::{committed, config};
use uuid::Uuid;

const NAME: &str = ExecutionsProjection::NAME;

#[sqlx::test(migrations = "../migrations")]
async fn any_cut_into_batches_gives_the_same_read_model(pool: PgPool) {
    let events = histories(&pool).await;
    let mut snapshots = Vec::new();
    for size in [1, 3, 7, events.len()] {
        reset(&pool).await;
        let projector = Projector::new(
            pool.clone(),
            ExecutionsProjection,
            config(PoisonPolicy::Stop),
        );
        for batch in events.chunks(size) {
            let outcome = projector.apply_batch(batch).await.unwrap();
            assert!(
                matches!(outcome, BatchOutcome::Committed { .. }),
                "batches of {size}: {outcome:?}"
            );
        }
        snapshots.push((size, snapshot(&pool).await));
    }
    let (_, one_by_one) = &snapshots[0];
    // 4 executions and 5 step rows (the retried run's reset step is made
    // again, its other step kept).
    assert_eq!(one_by_one.len(), 9, "{one_by_one:#?}");
    for (size, rows) in &snapshots[1..] {
        assert_eq!(rows, one_by_one, "batches of {size} differ from one by one");
    }
    let statuses: Vec<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT status, duration_ms, coalesce(error, cancel_reason) FROM executions
          ORDER BY started_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        statuses,
        [
            ("completed".to_owned(), Some(2_500), None),
            (
                "cancelled".to_owned(),
                Some(701),
                Some("operator".to_owned())
            ),
            (
                "timed_out".to_owned(),
                Some(30_000),
                Some("the execution ran out of time".to_owned())
            ),
            ("running".to_owned(), None, None),
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_step_event_without_its_step_is_named_in_a_batch(pool: PgPool) {
    let tenant = TenantId::DEFAULT;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let t = t0();
    append(&pool, a, 1, &[(t, started(tenant, Uuid::now_v7()))]).await;
    append(&pool, b, 1, &[(t, started(tenant, Uuid::now_v7()))]).await;
    // b's attempt names a step that was never scheduled.
    append(&pool, b, 2, &[(t + ms(1), attempt("ghost", 1))]).await;
    append(&pool, a, 2, &[(t + ms(2), scheduled("fetch"))]).await;
    let events = committed(&pool, 4).await;
    let projector = Projector::new(
        pool.clone(),
        ExecutionsProjection,
        config(PoisonPolicy::Skip),
    );
    let outcome = projector.apply_batch(&events).await.unwrap();
    let BatchOutcome::Committed { counts, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!((counts.applied, counts.dead_lettered), (3, 1));
    let dead: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, error FROM projection_dead_letters WHERE projection = $1",
    )
    .bind(NAME)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].0.as_str(), dead[0].1), (b.to_string().as_str(), 2));
    assert!(dead[0].2.contains("step ghost"), "{}", dead[0].2);
    // Everything else of the batch was applied.
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM execution_steps")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(steps, 1);
    let state: String =
        sqlx::query_scalar("SELECT state FROM projection_checkpoints WHERE projection = $1")
            .bind(NAME)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, ProjectionState::Running.to_string());
}

/// Four executions whose events interleave in the store: one with a
/// failed attempt, a retry and a completion; one waiting for a signal and
/// then cancelled; one timed out; one retried from a node after failing.
async fn histories(pool: &PgPool) -> Vec<CommittedEvent> {
    let tenant = TenantId::DEFAULT;
    let workflow = Uuid::now_v7();
    let t = t0();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let failed = |node: &str, attempt: u32| ExecutionEvent::StepFailed {
        node_id: node.into(),
        attempt,
        error: "HTTP 503".into(),
        retryable: true,
    };
    let completed = |node: &str, attempt: u32| ExecutionEvent::StepCompleted {
        node_id: node.into(),
        attempt,
        output: json!({"status": 200, "attempt": attempt}),
    };
    let runs: Vec<Vec<(DateTime<Utc>, ExecutionEvent)>> = vec![
        vec![
            (t, started(tenant, workflow)),
            (t, scheduled("fetch")),
            (t + ms(1), attempt("fetch", 1)),
            (t + ms(900), failed("fetch", 1)),
            (
                t + ms(901),
                ExecutionEvent::StepRetryScheduled {
                    node_id: "fetch".into(),
                    attempt: 2,
                    at: t + ms(1_900),
                },
            ),
            (t + ms(1_900), attempt("fetch", 2)),
            (t + ms(2_400), completed("fetch", 2)),
            (
                t + ms(2_500),
                ExecutionEvent::ExecutionCompleted {
                    output: json!({"ok": true}),
                },
            ),
        ],
        vec![
            (t + ms(10), started(tenant, workflow)),
            (t + ms(10), scheduled("approve")),
            (
                t + ms(20),
                ExecutionEvent::StepWaitingForSignal {
                    node_id: "approve".into(),
                    signal: "approval".into(),
                },
            ),
            (
                t + ms(500),
                ExecutionEvent::SignalReceived {
                    node_id: "approve".into(),
                    signal: "approval".into(),
                    payload: json!({"by": "ops"}),
                },
            ),
            (
                t + ms(711),
                ExecutionEvent::ExecutionCancelled {
                    reason: Some("operator".into()),
                },
            ),
        ],
        vec![
            (t + ms(20), started(tenant, workflow)),
            (t + ms(20), scheduled("slow")),
            (t + ms(21), attempt("slow", 1)),
            (t + ms(30_020), ExecutionEvent::ExecutionTimedOut),
        ],
        vec![
            (t + ms(30), started(tenant, workflow)),
            (t + ms(30), scheduled("fetch")),
            (t + ms(31), attempt("fetch", 1)),
            (t + ms(40), completed("fetch", 1)),
            (t + ms(41), scheduled("send")),
            (t + ms(42), attempt("send", 1)),
            (t + ms(50), failed("send", 1)),
            (
                t + ms(60),
                ExecutionEvent::ExecutionFailed {
                    error: "send failed".into(),
                },
            ),
            (
                t + ms(5_000),
                ExecutionEvent::ExecutionRetried {
                    from_node: "send".into(),
                    workflow_version: 4,
                    reset: vec!["send".into()],
                },
            ),
            (t + ms(5_001), scheduled("send")),
            (t + ms(5_002), attempt("send", 1)),
        ],
    ];
    // Round robin, so that batches cut across executions.
    let mut next = vec![0_usize; runs.len()];
    let mut total = 0;
    while next.iter().zip(&runs).any(|(n, run)| *n < run.len()) {
        for (k, run) in runs.iter().enumerate() {
            if let Some(event) = run.get(next[k]) {
                next[k] += 1;
                append(pool, ids[k], next[k] as i64, std::slice::from_ref(event)).await;
                total += 1;
            }
        }
    }
    committed(pool, total).await
}

/// Empties the read model and the projection's bookkeeping.
async fn reset(pool: &PgPool) {
    for sql in [
        "DELETE FROM execution_steps",
        "DELETE FROM executions",
        "DELETE FROM projection_aggregate_sequences WHERE projection = 'executions'",
        "DELETE FROM projection_checkpoints WHERE projection = 'executions'",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}
