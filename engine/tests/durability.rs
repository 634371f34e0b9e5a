//! Durability and control: several engines never run a step twice at
//! once, a failed execution is retried from a node keeping earlier outputs
//! (optionally on a newer version), and a lost attempt is recovered as a
//! new one.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use domain::execution::{ExecutionCommand, ExecutionStatus, StepStatus};
use serde_json::json;
use sqlx::PgPool;
use support::{test_config, Harness, Stub};

const LIMIT: Duration = Duration::from_secs(30);

/// A target that takes 20 ms per request and records, per idempotency key,
/// how many requests it got and whether two ever overlapped.
#[derive(Clone, Default)]
struct Keyed {
    state: Arc<Mutex<KeyedState>>,
}

/// Requests per key, whether each key is in flight, overlaps seen.
type KeyedState = (HashMap<String, usize>, HashMap<String, bool>, usize);

impl Keyed {
    async fn serve(&self) -> String {
        let keyed = self.clone();
        let app = Router::new().route(
            "/effect",
            post(move |headers: HeaderMap| {
                let keyed = keyed.clone();
                async move {
                    let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                    {
                        let mut state = keyed.state.lock().unwrap();
                        *state.0.entry(key.clone()).or_default() += 1;
                        let was_in_flight = state.1.insert(key.clone(), true);
                        if was_in_flight == Some(true) {
                            state.2 += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    keyed.state.lock().unwrap().1.insert(key, false);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn two_engines_run_every_step_once_and_never_concurrently(pool: PgPool) {
    let mut h = Harness::start(pool, 2, test_config()).await;
    let target = Keyed::default();
    let base = target.serve().await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "prepare", "type": "transform", "config": {"expression": "input"}},
                {"id": "effect", "type": "http", "config": {"url": format!("{base}/effect"), "method": "POST"}},
                {"id": "done", "type": "transform", "config": {"expression": "steps.effect.output.status"}}
            ],
            "edges": [{"from": "prepare", "to": "effect"}, {"from": "effect", "to": "done"}]
        }))
        .await;
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(h.start_execution(workflow, json!({"n": n})).await);
    }
    for id in &ids {
        let run = h.finished(*id, LIMIT).await;
        assert_eq!(run.status, Some(ExecutionStatus::Completed), "{id}");
        assert_eq!(run.steps["done"].output, Some(json!(200)));
    }
    let (hits, _, overlaps) = target.state.lock().unwrap().clone();
    assert_eq!(overlaps, 0, "a step ran twice at once");
    assert_eq!(hits.len(), ids.len());
    assert!(
        hits.values().all(|n| *n == 1),
        "each effect requested once: {hits:?}"
    );
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_execution_is_retried_from_a_node_keeping_earlier_outputs(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let stub = Stub::default();
    stub.script("flaky", vec![(500, json!({"down": true}), vec![])]);
    let base = stub.serve().await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "first", "type": "code", "config": {"source": "return Math.random();"}},
                {"id": "call", "type": "http", "config": {"url": format!("{base}/flaky"), "retry": {"max_attempts": 2, "initial_interval": "10ms"}}},
                {"id": "last", "type": "transform", "config": {"expression": "steps.call.output.body"}}
            ],
            "edges": [{"from": "first", "to": "call"}, {"from": "call", "to": "last"}]
        }))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let failed = h.finished(id, LIMIT).await;
    assert_eq!(failed.status, Some(ExecutionStatus::Failed));
    assert_eq!(failed.steps["call"].attempts, 2, "max_attempts is honoured");
    assert_eq!(stub.hits("flaky"), 2);
    let first_output = failed.steps["first"].output.clone();

    stub.script("flaky", vec![(200, json!({"up": true}), vec![])]);
    h.commands
        .retry_execution(&h.ctx, id, "call".into(), false, None)
        .await
        .unwrap();
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Completed));
    assert_eq!(run.steps["last"].output, Some(json!({"up": true})));
    assert_eq!(
        run.steps["first"].output, first_output,
        "the earlier step kept its output"
    );
    assert_eq!(run.steps["first"].attempts, 1, "and did not run again");

    // Retrying a completed run, or from an unknown node, is refused.
    let err = h
        .commands
        .retry_execution(&h.ctx, id, "call".into(), false, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("only a failed or timed-out execution"),
        "{err}"
    );
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_attempt_cut_short_is_recovered_as_a_new_attempt(pool: PgPool) {
    // An attempt recorded as started, as by an engine that then died.
    let mut h = Harness::start(pool, 0, test_config()).await;
    let stub = Stub::default();
    stub.script("once", vec![(200, json!({"ok": 1}), vec![])]);
    let base = stub.serve().await;
    let workflow = h
        .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {"url": format!("{base}/once")}}]}))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let started = ExecutionCommand::Batch {
        commands: vec![
            ExecutionCommand::ScheduleStep {
                node_id: "call".into(),
            },
            ExecutionCommand::StartStepAttempt {
                node_id: "call".into(),
            },
        ],
    };
    h.commands
        .execute_execution(&h.ctx, id, started, None)
        .await
        .unwrap();
    h.add_engine(test_config());
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Completed));
    assert_eq!(run.steps["call"].attempts, 2);
    assert_eq!(run.steps["call"].status, StepStatus::Completed);
    let error = run.steps["call"].error.clone().unwrap_or_default();
    assert!(
        error.contains("interrupted") && error.contains("may have taken effect"),
        "{error}"
    );
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_retry_may_continue_on_the_newly_published_version(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let stub = Stub::default();
    stub.script("old", vec![(404, json!({}), vec![])]);
    stub.script("new", vec![(200, json!({"fixed": true}), vec![])]);
    let base = stub.serve().await;
    let call = |path: &str| {
        json!({"nodes": [
            {"id": "call", "type": "http", "config": {"url": format!("{base}/{path}")}},
            {"id": "last", "type": "transform", "config": {"expression": "steps.call.output.body"}}
        ], "edges": [{"from": "call", "to": "last"}]})
    };
    let workflow = h.workflow(call("old")).await;
    let id = h.start_execution(workflow, json!({})).await;
    assert_eq!(
        h.finished(id, LIMIT).await.status,
        Some(ExecutionStatus::Failed)
    );

    let fixed = domain::workflow::WorkflowDefinition::parse(&call("new")).unwrap();
    for command in [
        domain::workflow::WorkflowCommand::UpdateDefinition { definition: fixed },
        domain::workflow::WorkflowCommand::Publish { version: 2 },
    ] {
        h.commands
            .execute_workflow(&h.ctx, workflow, command, None)
            .await
            .unwrap();
    }
    h.commands
        .retry_execution(&h.ctx, id, "call".into(), true, None)
        .await
        .unwrap();
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Completed));
    assert_eq!(run.workflow_version, 2);
    assert_eq!(run.steps["last"].output, Some(json!({"fixed": true})));
    assert_eq!((stub.hits("old"), stub.hits("new")), (1, 1));
    h.stop().await;
}
