//! Scenario 1: commands per second against raw inserts of rows of the same
//! size, with the same number of clients, pool and duration.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandConfig, CommandContext, Commands};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::Row;

/// A small valid definition.
pub fn definition() -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "only", "type": "transform", "config": {"expression": "."}}],
        "edges": [],
        "trigger": {"type": "manual"}
    }))
    .expect("the benchmark definition is valid")
}

/// Creates a workflow to send commands to.
pub async fn new_workflow(commands: &Commands, ctx: &CommandContext) -> anyhow::Result<WorkflowId> {
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "bench".into(),
        description: String::new(),
        definition: definition(),
    };
    commands.execute_workflow(ctx, id, create, None).await?;
    Ok(id)
}

/// Measures both rates with `clients` concurrent clients; the row and the
/// command rate.
pub async fn run(pool: &PgPool, clients: usize, seconds: u64) -> anyhow::Result<(Row, f64)> {
    let commands = Arc::new(Commands::new(pool.clone(), CommandConfig::default()));
    let ctx = CommandContext::new(TenantId::DEFAULT, "bench");
    let mut workflows = Vec::with_capacity(clients);
    for _ in 0..clients {
        workflows.push(new_workflow(&commands, &ctx).await?);
    }
    let (payload, metadata) = sample_row(pool).await?;
    let duration = Duration::from_secs(seconds);

    let command_rate = rate(clients, duration, move |client, n| {
        let (commands, ctx, id) = (commands.clone(), ctx.clone(), workflows[client]);
        async move {
            let rename = WorkflowCommand::Rename {
                name: format!("name {}", n % 2),
            };
            commands.execute_workflow(&ctx, id, rename, None).await?;
            Ok(())
        }
    })
    .await?;

    let raw_pool = pool.clone();
    let run_id = uuid::Uuid::now_v7();
    let raw_rate = rate(clients, duration, move |client, n| {
        let (pool, payload, metadata) = (raw_pool.clone(), payload.clone(), metadata.clone());
        async move {
            sqlx::query(
                "INSERT INTO bench_raw (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ('Workflow', $1, $2, 'WorkflowRenamed', '1', $3::json, $4::json)",
            )
            .bind(format!("raw-{run_id}-{client}"))
            .bind(n as i64 + 1)
            .bind(&payload)
            .bind(&metadata)
            .execute(&pool)
            .await?;
            Ok(())
        }
    })
    .await?;

    let ratio = command_rate / raw_rate;
    let row = Row {
        scenario: format!("commands/s, {clients} client(s)"),
        measured: format!("{command_rate:.0} cmd/s"),
        baseline: format!("{raw_rate:.0} raw inserts/s"),
        ratio,
        goal: ">= 0.70 of raw",
        met: ratio >= 0.7,
    };
    Ok((row, command_rate))
}

/// The payload and metadata of a stored rename event, so raw rows have the
/// same size as the events commands write.
async fn sample_row(pool: &PgPool) -> anyhow::Result<(String, String)> {
    let row: Option<(Value, Value)> = sqlx::query_as(
        "SELECT payload, metadata FROM events WHERE event_type = 'WorkflowVersionCreated' LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let (_, metadata) = row.ok_or_else(|| anyhow::anyhow!("no event to size rows after"))?;
    let payload = json!({"WorkflowRenamed": {"from": "name 0", "to": "name 1"}});
    Ok((payload.to_string(), metadata.to_string()))
}

/// Operations per second of `op` run by `clients` loops for `duration`.
async fn rate<F, Fut>(clients: usize, duration: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (stop, done, op) = (stop.clone(), done.clone(), op.clone());
        tasks.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                op(client, n).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(duration).await;
    let count_at_stop = done.load(Ordering::Relaxed);
    let elapsed_at_stop = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(count_at_stop as f64 / elapsed_at_stop.as_secs_f64())
}
