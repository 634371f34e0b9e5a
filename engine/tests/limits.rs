//! Limits: a workflow's concurrency limit queues executions without
//! dropping any, a step's timeout cuts a slow attempt short, and a
//! workflow's timeout ends a run that takes too long.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use domain::execution::{ExecutionStatus, StepStatus};
use serde_json::json;
use sqlx::PgPool;
use support::{test_config, Harness};

const LIMIT: Duration = Duration::from_secs(30);

/// A target that takes `pause` per request and records the most requests
/// it ever had in flight at once.
async fn slow_target(pause: Duration) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (in_flight, peak) = (now.clone(), most.clone());
    let app = Router::new().route(
        "/slow",
        post(move || {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let current = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, now, most)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_concurrency_limit_queues_executions_and_drops_none(pool: PgPool) {
    let mut h = Harness::start(pool, 2, test_config()).await;
    let (base, _, peak) = slow_target(Duration::from_millis(150)).await;
    let workflow = h
        .workflow(json!({
            "nodes": [{"id": "call", "type": "http", "config": {"url": format!("{base}/slow"), "method": "POST"}}],
            "settings": {"concurrency": 2}
        }))
        .await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(h.start_execution(workflow, json!({})).await);
    }
    for id in ids {
        let run = h.finished(id, LIMIT).await;
        assert_eq!(run.status, Some(ExecutionStatus::Completed));
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 2, "{peak} executions ran at once with a limit of 2");
    assert_eq!(peak, 2, "the limit lets two run at once");
    // A slot is given back when the engine forgets the ended execution,
    // a statement after the one that recorded its end.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let slots = loop {
        let slots: i32 = sqlx::query_scalar("SELECT running FROM engine_workflow_slots")
            .fetch_one(&h.pool)
            .await
            .unwrap();
        if slots == 0 || tokio::time::Instant::now() > deadline {
            break slots;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(slots, 0, "every slot was given back");
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_step_timeout_cuts_a_slow_attempt_short(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let (base, _, _) = slow_target(Duration::from_secs(5)).await;
    let workflow = h
        .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {
            "url": format!("{base}/slow"), "method": "POST",
            "timeout": "200ms", "retry": {"max_attempts": 1}}}]}))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Failed));
    let step = &run.steps["call"];
    assert_eq!(step.status, StepStatus::Failed);
    assert!(
        step.error.as_deref().unwrap().contains("timeout of 200 ms"),
        "{:?}",
        step.error
    );
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_workflow_timeout_ends_a_run_that_takes_too_long(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "wait", "type": "delay", "config": {"duration": "1h"}},
                {"id": "after", "type": "transform", "config": {"expression": "1"}}
            ],
            "edges": [{"from": "wait", "to": "after"}],
            "settings": {"timeout": "10m"}
        }))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    h.until(id, LIMIT, |r| {
        r.steps
            .get("wait")
            .is_some_and(|s| s.status == StepStatus::Running)
    })
    .await;
    h.clock.advance(Duration::from_secs(601));
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::TimedOut));
    assert!(!run.steps.contains_key("after"));
    h.stop().await;
}
