//! The engine survives `kill -9`: 100 executions run through the real
//! `jobsprint engine` process, which is killed in the middle and started
//! again; every execution completes, and a target that deduplicates by the
//! `Idempotency-Key` header sees each effect once.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use commands::executions::StartExecution;
use commands::{CommandConfig, CommandContext, Commands};
use domain::execution::{ExecutionTrigger, Run};
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::json;
use sqlx::PgPool;

const EXECUTIONS: usize = 100;

/// Requests and applied effects per idempotency key.
#[derive(Clone, Default)]
struct Target {
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Target {
    async fn serve(&self) -> SocketAddr {
        let seen = self.seen.clone();
        let app = Router::new().route(
            "/effect",
            post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                    *seen.lock().unwrap().entry(key).or_default() += 1;
                    // Slow enough that the kill lands while effects are in flight.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    axum::Json(json!({"done": true}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn requests(&self) -> HashMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }
}

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn engine(url: &str, log: &std::path::Path) -> Engine {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_jobsprint"))
        .arg("engine")
        .env("DATABASE_URL", url)
        .env("JOBSPRINT_EGRESS_ALLOW_PRIVATE", "true")
        .env("JOBSPRINT_ENGINE_LEASE_MS", "1000")
        .env("JOBSPRINT_ENGINE_MAX_IN_FLIGHT", "16")
        .env(
            "JOBSPRINT_MASTER_KEYS",
            "m1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        )
        .env(
            "JOBSPRINT_JWT_KEYS",
            "j1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        )
        .env_remove("KAFKA_BROKERS")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    Engine(child)
}

async fn completed(pool: &PgPool, ids: &[ExecutionId]) -> usize {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE aggregate_type = 'Execution' AND aggregate_id = ANY($1)
            AND event_type = 'ExecutionCompleted'",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await
    .unwrap();
    count as usize
}

#[sqlx::test(migrations = "../migrations")]
async fn a_killed_engine_loses_nothing_and_repeats_no_effect(pool: PgPool) {
    let target = Target::default();
    let addr = target.serve().await;
    let commands = Commands::new(pool.clone(), CommandConfig::default());
    let ctx = CommandContext::new(TenantId::DEFAULT, "test");
    let workflow = WorkflowId::new_v7();
    let definition = WorkflowDefinition::parse(&json!({
        "nodes": [
            {"id": "prepare", "type": "transform", "config": {"expression": "input.n"}},
            {"id": "effect", "type": "http", "config": {
                "url": format!("http://{addr}/effect"), "method": "POST",
                "body": {"n": "{{ steps.prepare.output }}"}}},
            {"id": "after", "type": "transform", "config": {"expression": "steps.effect.output.body"}}
        ],
        "edges": [{"from": "prepare", "to": "effect"}, {"from": "effect", "to": "after"}]
    }))
    .unwrap();
    let create = WorkflowCommand::Create {
        name: "crash".into(),
        description: String::new(),
        definition,
    };
    commands
        .execute_workflow(&ctx, workflow, create, None)
        .await
        .unwrap();
    let publish = WorkflowCommand::Publish { version: 1 };
    commands
        .execute_workflow(&ctx, workflow, publish, None)
        .await
        .unwrap();

    let url = support::database_url(&pool).await;
    let log =
        std::env::temp_dir().join(format!("jobsprint-engine-crash-{}.log", std::process::id()));
    let mut first = engine(&url, &log);
    let mut ids = Vec::new();
    for n in 0..EXECUTIONS {
        let start = StartExecution {
            workflow_id: workflow,
            input: json!({"n": n}),
            trigger: ExecutionTrigger::Manual,
            idempotency_key: None,
        };
        let outcome = commands.start_execution(&ctx, start).await.unwrap();
        ids.push(ExecutionId(outcome.aggregate_id.parse().unwrap()));
    }

    // Kill -9 once a good part of the effects went out.
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.requests().len() < 30 {
        assert!(
            Instant::now() < deadline,
            "the engine did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let done_at_kill = completed(&pool, &ids).await;
    assert!(done_at_kill < EXECUTIONS, "the kill must land mid-run");

    let _second = engine(&url, &log);
    let deadline = Instant::now() + Duration::from_secs(90);
    while completed(&pool, &ids).await < EXECUTIONS {
        assert!(
            Instant::now() < deadline,
            "only {} of {EXECUTIONS} completed after the restart",
            completed(&pool, &ids).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let requests = target.requests();
    for id in &ids {
        let mut run = Run::default();
        commands::reads::catch_up_run(&pool, *id, &mut run)
            .await
            .unwrap();
        assert_eq!(run.steps["after"].output, Some(json!({"done": true})));
        let key = format!("{id}:effect");
        let sent = requests.get(&key).copied().unwrap_or(0);
        assert!(sent >= 1, "the effect of {id} was never requested");
        if sent > 1 {
            // Repeated only because an attempt was cut short, and recorded so.
            let step = &run.steps["effect"];
            assert!(step.attempts >= 2, "{id}: {sent} requests for one attempt");
            assert!(step
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("interrupted"));
        }
    }
    // A target deduplicating by key applied each effect exactly once.
    assert_eq!(requests.len(), EXECUTIONS, "one key per execution's effect");
}
