//! Scenario 2: the latency of one command on an aggregate with 10 events
//! against one with 10,000: snapshots keep the second from paying for its
//! history.

use std::time::{Duration, Instant};

use commands::{CommandConfig, CommandContext, Commands};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::WorkflowCommand;
use sqlx::PgPool;

use crate::throughput::new_workflow;
use crate::Row;

/// Builds the aggregates, then times `samples` commands on each size,
/// interleaved so both see the same machine.
pub async fn run(pool: &PgPool, long_events: usize, samples: usize) -> anyhow::Result<Vec<Row>> {
    // No aggregate cache: every command loads its aggregate from the store,
    // so this measures what snapshots save.
    let commands = Commands::new(
        pool.clone(),
        CommandConfig {
            cache_capacity: 0,
            ..CommandConfig::default()
        },
    );
    let ctx = CommandContext::new(TenantId::DEFAULT, "bench");

    // Many short aggregates, each timed once while it has exactly 10 events.
    let mut short = Vec::with_capacity(samples);
    for _ in 0..samples {
        let id = new_workflow(&commands, &ctx).await?;
        grow(&commands, &ctx, id, 2, 10).await?;
        short.push(id);
    }
    let long = new_workflow(&commands, &ctx).await?;
    grow(&commands, &ctx, long, 2, long_events).await?;

    let mut short_times = Vec::with_capacity(samples);
    let mut long_times = Vec::with_capacity(samples);
    for (i, id) in short.iter().enumerate() {
        short_times.push(timed(&commands, &ctx, *id, i).await?);
        long_times.push(timed(&commands, &ctx, long, i).await?);
    }
    let (short_p50, short_p95) = percentiles(&mut short_times);
    let (long_p50, long_p95) = percentiles(&mut long_times);
    let ratio = long_p50.as_secs_f64() / short_p50.as_secs_f64();
    Ok(vec![Row {
        scenario: format!("command latency (cold load), {long_events} vs 10 events"),
        measured: format!("p50 {} p95 {}", ms(long_p50), ms(long_p95)),
        baseline: format!("p50 {} p95 {}", ms(short_p50), ms(short_p95)),
        ratio,
        goal: "< 1.20 (p50)",
        met: ratio < 1.2,
    }])
}

async fn grow(
    commands: &Commands,
    ctx: &CommandContext,
    id: WorkflowId,
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    for n in from..to {
        let rename = WorkflowCommand::Rename {
            name: format!("name {n}"),
        };
        commands.execute_workflow(ctx, id, rename, None).await?;
    }
    Ok(())
}

async fn timed(
    commands: &Commands,
    ctx: &CommandContext,
    id: WorkflowId,
    i: usize,
) -> anyhow::Result<Duration> {
    let rename = WorkflowCommand::Rename {
        name: format!("timed {i}"),
    };
    let started = Instant::now();
    commands.execute_workflow(ctx, id, rename, None).await?;
    Ok(started.elapsed())
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
