//! Scenario 4: the execution engine. 40 sequential no-op steps in one
//! execution (the shape of Windmill's published comparison: Hatchet 1.2 s,
//! Windmill 2.1 s, Temporal 3.0 s on 2 vCPUs), the overhead between one
//! step's end and the next one's, executions per second with many small
//! workflows, and the CPU an idle engine uses. Goals: 40 steps < 200 ms,
//! per-step p50 ≤ 5 ms and p99 ≤ 20 ms, idle < 1% of a core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commands::executions::StartExecution;
use commands::{CommandConfig, CommandContext, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use engine::{Clock, Engine, EngineConfig};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::Row;

/// Runs the engine scenarios: `runs` executions of the 40-step workflow
/// one after the other, then `burst` small executions at once, then
/// the idle measurement is [`idle`].
pub async fn run(pool: &PgPool, runs: usize, burst: usize) -> anyhow::Result<Vec<Row>> {
    // The engine's own pool, as in a process of its own.
    let pool = &sqlx::postgres::PgPoolOptions::new()
        .max_connections(24)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let commands = Arc::new(Commands::new(pool.clone(), CommandConfig::default()));
    let ctx = CommandContext::new(TenantId::DEFAULT, "bench-engine");
    let (stop, mut stopped) = watch::channel(false);
    let engine = Engine::new(
        pool.clone(),
        commands.clone(),
        EngineConfig::default(),
        Clock::system(),
    );
    let task = tokio::spawn(async move {
        engine
            .run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });

    let chain = workflow(&commands, &ctx, chain_of(40)).await?;
    let mut totals = Vec::new();
    let mut gaps = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let id = start(&commands, &ctx, chain).await?;
        wait_completed(pool, &[id], Duration::from_secs(60)).await?;
        totals.push(started.elapsed());
        gaps.extend(step_gaps(pool, id).await?);
    }

    let mut small = Vec::new();
    for _ in 0..20 {
        small.push(workflow(&commands, &ctx, chain_of(3)).await?);
    }
    let started = Instant::now();
    let mut ids = Vec::with_capacity(burst);
    for n in 0..burst {
        ids.push(start(&commands, &ctx, small[n % small.len()]).await?);
    }
    wait_completed(pool, &ids, Duration::from_secs(300)).await?;
    let per_second = burst as f64 / started.elapsed().as_secs_f64();

    let _ = stop.send(true);
    task.await??;

    totals.sort();
    gaps.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let total = ms(at(&totals, 0.5));
    let (p50, p99) = (ms(at(&gaps, 0.5)), ms(at(&gaps, 0.99)));
    Ok(vec![
        Row {
            scenario: "40 sequential no-op steps, start to completed (p50)".into(),
            measured: format!("{total:.0} ms"),
            baseline: format!("{runs} runs; Hatchet 1.2 s, Windmill 2.1 s, Temporal 3.0 s"),
            ratio: total / 200.0,
            goal: "< 200 ms",
            met: total < 200.0,
        },
        Row {
            scenario: "per-step overhead p50".into(),
            measured: format!("{p50:.2} ms"),
            baseline: format!("{} step transitions", gaps.len()),
            ratio: p50 / 5.0,
            goal: "<= 5 ms",
            met: p50 <= 5.0,
        },
        Row {
            scenario: "per-step overhead p99".into(),
            measured: format!("{p99:.2} ms"),
            baseline: format!("{} step transitions", gaps.len()),
            ratio: p99 / 20.0,
            goal: "<= 20 ms",
            met: p99 <= 20.0,
        },
        Row {
            scenario: "executions/s, 3-step workflows".into(),
            measured: format!("{per_second:.0} exec/s"),
            baseline: format!("{burst} executions over 20 workflows"),
            ratio: 1.0,
            goal: "measured",
            met: true,
        },
    ])
}

fn chain_of(steps: usize) -> Value {
    let nodes: Vec<Value> = (0..steps)
        .map(|n| json!({"id": format!("s{n}"), "type": "transform", "config": {"expression": "input"}}))
        .collect();
    let edges: Vec<Value> = (1..steps)
        .map(|n| json!({"from": format!("s{}", n - 1), "to": format!("s{n}")}))
        .collect();
    json!({"nodes": nodes, "edges": edges})
}

async fn workflow(
    commands: &Commands,
    ctx: &CommandContext,
    definition: Value,
) -> anyhow::Result<WorkflowId> {
    let id = WorkflowId::new_v7();
    let definition = WorkflowDefinition::parse(&definition)?;
    let create = WorkflowCommand::Create {
        name: "bench".into(),
        description: String::new(),
        definition,
    };
    commands.execute_workflow(ctx, id, create, None).await?;
    commands
        .execute_workflow(ctx, id, WorkflowCommand::Publish { version: 1 }, None)
        .await?;
    Ok(id)
}

async fn start(
    commands: &Commands,
    ctx: &CommandContext,
    workflow: WorkflowId,
) -> anyhow::Result<ExecutionId> {
    let start = StartExecution {
        workflow_id: workflow,
        input: json!({}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: None,
    };
    let outcome = commands.start_execution(ctx, start).await?;
    Ok(ExecutionId(outcome.aggregate_id.parse()?))
}

/// Waits until every execution in `ids` has an `ExecutionCompleted` event
/// (checked every millisecond).
async fn wait_completed(pool: &PgPool, ids: &[ExecutionId], limit: Duration) -> anyhow::Result<()> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let deadline = Instant::now() + limit;
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Execution'
                AND aggregate_id = ANY($1) AND event_type = 'ExecutionCompleted'",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await?;
        if done as usize == ids.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{done} of {} executions completed in {limit:?}",
            ids.len()
        );
        let pause = if ids.len() == 1 { 1 } else { 20 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// The time between one step's completion and the next one's, from the
/// events' recorded times: the engine's whole overhead per step (a no-op
/// step does no work).
async fn step_gaps(pool: &PgPool, id: ExecutionId) -> anyhow::Result<Vec<Duration>> {
    let times: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE aggregate_type = 'Execution' AND aggregate_id = $1
            AND event_type = 'StepCompleted' ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    Ok(times
        .windows(2)
        .map(|w| (w[1] - w[0]).to_std().unwrap_or_default())
        .collect())
}

/// The share of a core a `jobsprint engine` process (`binary`, on the
/// database at `url`) uses over `seconds` once it has caught up and has
/// nothing to run: its intake, triggers and workers all waiting.
pub async fn idle(
    pool: &PgPool,
    binary: &std::path::Path,
    url: &str,
    seconds: u64,
) -> anyhow::Result<Row> {
    let mut child = tokio::process::Command::new(binary)
        .arg("engine")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the engine exited at once"))?;
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    projections::status::wait_for_position(pool, "engine_intake", head, Duration::from_secs(120))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_time(pid)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let used = cpu_time(pid)? - before;
    child.kill().await?;
    let share = used.as_secs_f64() / seconds as f64;
    Ok(Row {
        scenario: "idle engine CPU".into(),
        measured: format!("{:.2}% of a core", share * 100.0),
        baseline: format!("`jobsprint engine`, {seconds} s idle"),
        ratio: share / 0.01,
        goal: "< 1% of a core",
        met: share < 0.01,
    })
}

/// User plus system CPU time of process `pid`, from /proc.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, utime 14 and stime 15.
    let ticks: u64 = fields.get(11).unwrap_or(&"0").parse::<u64>()?
        + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / 100.0))
}
