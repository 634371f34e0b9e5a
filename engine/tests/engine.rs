//! The engine against real PostgreSQL and local stub servers: node types,
//! branches, retries with backoff (on a moved clock), timers, signals,
//! cancellation, SSRF refusals and runaway scripts.

mod support;

use std::time::Duration;

use domain::execution::{ExecutionCommand, ExecutionStatus, StepStatus};
use serde_json::json;
use sqlx::PgPool;
use support::{test_config, Harness, Stub};

const LIMIT: Duration = Duration::from_secs(20);

#[sqlx::test(migrations = "../migrations")]
async fn transforms_and_conditions_run_and_only_the_taken_branch_runs(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "double", "type": "transform", "config": {"expression": "{n: (input.n * 2)}"}},
                {"id": "big", "type": "condition", "config": {"expression": "steps.double.output.n > 10"}},
                {"id": "yes", "type": "transform", "config": {"expression": "\"big \\(steps.double.output.n)\""}},
                {"id": "no", "type": "transform", "config": {"expression": "\"small\""}}
            ],
            "edges": [
                {"from": "double", "to": "big"},
                {"from": "big", "to": "yes", "when": "true"},
                {"from": "big", "to": "no", "when": "false"}
            ]
        }))
        .await;
    let large = h.start_execution(workflow, json!({"n": 21})).await;
    let small = h.start_execution(workflow, json!({"n": 2})).await;
    let large = h.finished(large, LIMIT).await;
    let small = h.finished(small, LIMIT).await;
    assert_eq!(large.status, Some(ExecutionStatus::Completed));
    assert_eq!(large.steps["yes"].output, Some(json!("big 42")));
    assert!(
        !large.steps.contains_key("no"),
        "the untaken branch never runs"
    );
    assert_eq!(small.steps["no"].output, Some(json!("small")));
    assert!(!small.steps.contains_key("yes"));
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_http_step_records_the_response_and_sends_an_idempotency_key(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let stub = Stub::default();
    stub.script(
        "users",
        vec![(200, json!({"id": 7, "name": "Ada"}), vec![])],
    );
    let base = stub.serve().await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "fetch", "type": "http", "config": {
                    "url": format!("{base}/users"), "method": "POST",
                    "body": {"wanted": "{{ input.who }}"}}},
                {"id": "name", "type": "transform", "config": {"expression": "steps.fetch.output.body.name"}}
            ],
            "edges": [{"from": "fetch", "to": "name"}]
        }))
        .await;
    let id = h.start_execution(workflow, json!({"who": "ada"})).await;
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Completed));
    assert_eq!(
        run.steps["fetch"].output.as_ref().unwrap()["status"],
        json!(200)
    );
    assert_eq!(run.steps["name"].output, Some(json!("Ada")));
    assert_eq!(stub.keys().get(&format!("{id}:fetch")), Some(&1));
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn retries_honour_retry_after_then_back_off_2_and_4_seconds(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let stub = Stub::default();
    stub.script(
        "flaky",
        vec![
            (429, json!({}), vec![("retry-after", "30")]),
            (500, json!({}), vec![]),
            (503, json!({}), vec![]),
            (200, json!({"ok": true}), vec![]),
        ],
    );
    let base = stub.serve().await;
    let workflow = h
        .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {"url": format!("{base}/flaky")}}]}))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let mut waits = Vec::new();
    for attempt in 1..=3u32 {
        let run = h
            .until(id, LIMIT, |r| {
                r.steps.get("call").is_some_and(|s| {
                    s.status == StepStatus::RetryScheduled && s.attempts == attempt
                })
            })
            .await;
        let step = &run.steps["call"];
        // `since` is the database's time of the failure, `retry_at` the
        // engine's clock, which the test has moved 40 s per attempt so far.
        let moved = 40_000 * i64::from(attempt - 1);
        waits.push((step.retry_at.unwrap() - step.since).num_milliseconds() - moved);
        h.clock.advance(Duration::from_secs(40));
    }
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Completed));
    assert_eq!(run.steps["call"].attempts, 4);
    // The 429's Retry-After (30 s) wins over the first backoff (1 s); then
    // 2 s and 4 s, each plus up to a fifth of jitter (with some slack for
    // the time between the engine's clock and the database's commit).
    assert!(
        (29_900..=30_100).contains(&waits[0]),
        "first wait {waits:?}"
    );
    assert!((1_900..=2_450).contains(&waits[1]), "second wait {waits:?}");
    assert!((3_900..=4_850).contains(&waits[2]), "third wait {waits:?}");
    assert_eq!(stub.hits("flaky"), 4);
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_error_is_not_retried_and_fails_the_execution(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let stub = Stub::default();
    stub.script(
        "missing",
        vec![(404, json!({"error": "no such user"}), vec![])],
    );
    let base = stub.serve().await;
    let workflow = h
        .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {"url": format!("{base}/missing")}}]}))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.status, Some(ExecutionStatus::Failed));
    let error = run.steps["call"].error.clone().unwrap();
    assert!(
        error.contains("404") && error.contains("no such user"),
        "{error}"
    );
    assert_eq!(stub.hits("missing"), 1);
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn ssrf_attempts_are_refused_with_the_default_policy(pool: PgPool) {
    let mut config = test_config();
    config.nodes.egress = egress::EgressPolicy::default();
    let mut h = Harness::start(pool, 1, config).await;
    let stub = Stub::default();
    stub.script("secret", vec![(200, json!({"secret": 1}), vec![])]);
    let base = stub.serve().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("{base}/secret"),
        format!("http://localhost:{port}/secret"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://2130706433:{port}/secret"),
    ] {
        let workflow = h
            .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {"url": url}}]}))
            .await;
        let id = h.start_execution(workflow, json!({})).await;
        let run = h.finished(id, LIMIT).await;
        assert_eq!(run.status, Some(ExecutionStatus::Failed), "{url}");
        assert_eq!(
            run.steps["call"].attempts, 1,
            "a refusal is not retried ({url})"
        );
    }
    assert_eq!(stub.hits("secret"), 0, "no request reached the stub");
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn code_runs_sandboxed_and_a_runaway_script_harms_no_other_execution(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let sum = h
        .workflow(json!({"nodes": [{"id": "sum", "type": "code", "config": {
            "source": "return { total: input.input.items.reduce((a, b) => a + b, 0) };"}}]}))
        .await;
    let spin = h
        .workflow(json!({"nodes": [{"id": "spin", "type": "code", "config": {"source": "while (true) {}"}}]}))
        .await;
    let bomb = h
        .workflow(json!({"nodes": [{"id": "bomb", "type": "code", "config": {
            "source": "let a = []; while (true) a.push(new Array(100000).fill(1));"}}]}))
        .await;
    let spinning = h.start_execution(spin, json!({})).await;
    let bombing = h.start_execution(bomb, json!({})).await;
    let mut sums = Vec::new();
    for n in 0..10 {
        sums.push((n, h.start_execution(sum, json!({"items": [n, 1, 2]})).await));
    }
    for (n, id) in sums {
        let run = h.finished(id, LIMIT).await;
        assert_eq!(run.steps["sum"].output, Some(json!({"total": n + 3})));
    }
    let spinning = h.finished(spinning, LIMIT).await;
    assert_eq!(spinning.status, Some(ExecutionStatus::Failed));
    assert!(spinning.steps["spin"]
        .error
        .as_ref()
        .unwrap()
        .contains("time limit"));
    let bombing = h.finished(bombing, LIMIT).await;
    assert_eq!(bombing.status, Some(ExecutionStatus::Failed));
    assert!(bombing.steps["bomb"]
        .error
        .as_ref()
        .unwrap()
        .contains("memory limit"));
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_delay_is_a_durable_timer(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "wait", "type": "delay", "config": {"duration": "1h"}},
                {"id": "after", "type": "transform", "config": {"expression": "\"done\""}}
            ],
            "edges": [{"from": "wait", "to": "after"}]
        }))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    h.until(id, LIMIT, |r| {
        r.steps
            .get("wait")
            .is_some_and(|s| s.status == StepStatus::Running)
    })
    .await;
    // The engine holds no task for the hour: stop it and start another.
    h.stop().await;
    h.add_engine(test_config());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !h.run(id).await.steps.contains_key("after"),
        "not before the hour"
    );
    h.clock.advance(Duration::from_secs(3601));
    let run = h.finished(id, LIMIT).await;
    assert_eq!(run.steps["after"].output, Some(json!("done")));
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signal_resumes_a_waiting_step_and_cancel_stops_pending_steps(pool: PgPool) {
    let mut h = Harness::start(pool, 1, test_config()).await;
    let workflow = h
        .workflow(json!({
            "nodes": [
                {"id": "approve", "type": "wait_for_signal", "config": {"signal": "approval"}},
                {"id": "after", "type": "transform", "config": {"expression": "steps.approve.output.by"}}
            ],
            "edges": [{"from": "approve", "to": "after"}]
        }))
        .await;
    let waiting = |r: &domain::execution::Run| {
        r.steps
            .get("approve")
            .is_some_and(|s| s.status == StepStatus::WaitingForSignal)
    };
    let approved = h.start_execution(workflow, json!({})).await;
    h.until(approved, LIMIT, waiting).await;
    let signal = ExecutionCommand::ReceiveSignal {
        signal: "approval".into(),
        payload: json!({"by": "ada"}),
    };
    h.commands
        .execute_execution(&h.ctx, approved, signal, None)
        .await
        .unwrap();
    let run = h.finished(approved, LIMIT).await;
    assert_eq!(run.steps["after"].output, Some(json!("ada")));

    let cancelled = h.start_execution(workflow, json!({})).await;
    h.until(cancelled, LIMIT, waiting).await;
    let cancel = ExecutionCommand::Cancel {
        reason: Some("no longer needed".into()),
    };
    h.commands
        .execute_execution(&h.ctx, cancelled, cancel, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let run = h.run(cancelled).await;
    assert_eq!(run.status, Some(ExecutionStatus::Cancelled));
    assert!(!run.steps.contains_key("after"));
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tenant_that_allows_private_networks_reaches_them(pool: PgPool) {
    let mut config = test_config();
    config.nodes.egress = egress::EgressPolicy::default();
    let mut h = Harness::start(pool, 1, config).await;
    let stub = Stub::default();
    stub.script("internal", vec![(200, json!({"inside": true}), vec![])]);
    let base = stub.serve().await;
    // What `setTenantEgressPolicy` records for the tenant.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Tenant', $1, 1, 'TenantEgressPolicySet', '1', $2, $3)",
    )
    .bind(h.ctx.tenant_id.to_string())
    .bind(json!({"TenantEgressPolicySet": {"allow_private_networks": true}}))
    .bind(json!({"tenant_id": h.ctx.tenant_id.to_string(), "actor": "test"}))
    .execute(&h.pool)
    .await
    .unwrap();
    let workflow = h
        .workflow(json!({"nodes": [{"id": "call", "type": "http", "config": {"url": format!("{base}/internal")}}]}))
        .await;
    let id = h.start_execution(workflow, json!({})).await;
    let run = h.finished(id, LIMIT).await;
    assert_eq!(
        run.status,
        Some(ExecutionStatus::Completed),
        "{:?}",
        run.steps["call"].error
    );
    assert_eq!(stub.hits("internal"), 1);
    h.stop().await;
}
