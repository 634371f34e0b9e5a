//! Scenario 3: event-to-read-model lag, from a command's commit to the
//! moment a query sees its effect, under a steady load of half the
//! measured maximum command rate, through Kafka (relay, topic, consumer
//! group) and through the store source. Goal through Kafka: p50 ≤ 10 ms,
//! p99 ≤ 50 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandConfig, CommandContext, Commands};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::WorkflowCommand;
use projections::projector::{Projector, ProjectorConfig};
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::{EventSource, StoreSource};
use sqlx::PgPool;
use stream::kafka::KafkaSettings;
use stream::relay::{Relay, RelayConfig};
use stream::source::KafkaSource;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::throughput::new_workflow;
use crate::Row;

/// Where the projector reads from in one measurement.
pub enum Via {
    /// The store in commit order.
    Store,
    /// A fresh topic filled by the relay.
    Kafka(KafkaSettings),
}

/// Measures the lag via `via` while a load of `rate` commands/s runs for
/// `seconds`; two rows (p50 and p99).
pub async fn run(pool: &PgPool, via: Via, rate: f64, seconds: u64) -> anyhow::Result<Vec<Row>> {
    let label = match &via {
        Via::Store => "store",
        Via::Kafka(_) => "Kafka",
    };
    // A fresh projection state: the projector folds the whole store first.
    sqlx::query("TRUNCATE workflows, workflow_versions, projection_aggregate_sequences")
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM projection_checkpoints")
        .execute(pool)
        .await?;
    let (stop, stopped) = watch::channel(false);
    let mut background = JoinSet::new();
    let config = ProjectorConfig {
        status_every: Duration::from_secs(3600),
        ..ProjectorConfig::default()
    };
    let projector = Projector::new(pool.clone(), WorkflowsProjection, config);
    match via {
        Via::Store => spawn(
            &mut background,
            projector,
            StoreSource::new(pool.clone()),
            &stopped,
        ),
        Via::Kafka(settings) => {
            settings.ensure_topic(3).await?;
            // The relay starts at the store's head: the run's topic carries
            // the run's own events only (every aggregate of the scenario is
            // new), so the figures are the steady state's, not those of a
            // broker still digesting the earlier scenarios' history (tansu's
            // memory engine slows down with every batch it holds; ADR 0008).
            // The bench writes nothing while this runs.
            sqlx::query(
                "INSERT INTO relay_cursors (relay, transaction_id, global_position)
                 SELECT $1, transaction_id, global_position FROM events
                 ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
            )
            .bind(&settings.topic)
            .execute(pool)
            .await?;
            let relay = Relay::new(
                pool.clone(),
                &settings,
                RelayConfig::for_topic(&settings.topic),
            )?;
            let mut relay_stopped = stopped.clone();
            background.spawn(async move {
                relay
                    .run(async move {
                        let _ = relay_stopped.wait_for(|s| *s).await;
                    })
                    .await;
            });
            let source = KafkaSource::new(&settings, "workflows")?;
            spawn(&mut background, projector, source, &stopped);
        }
    }

    let commands = Arc::new(Commands::new(pool.clone(), CommandConfig::default()));
    let ctx = CommandContext::new(TenantId::DEFAULT, "bench-lag");
    let probe = new_workflow(&commands, &ctx).await?;
    wait_visible(pool, probe, "bench", Duration::from_secs(120)).await?;

    let load = tokio::spawn(steady_load(commands.clone(), ctx.clone(), rate, seconds));
    let mut samples = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let name = format!("probe {n}");
        let rename = WorkflowCommand::Rename { name: name.clone() };
        commands.execute_workflow(&ctx, probe, rename, None).await?;
        let committed = Instant::now();
        wait_visible(pool, probe, &name, Duration::from_secs(10)).await?;
        samples.push(committed.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = load.await??;
    let _ = stop.send(true);
    while background.join_next().await.is_some() {}

    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99) = (ms(at(0.50)), ms(at(0.99)));
    let baseline = format!("{} probes, load {:.0} cmd/s", samples.len(), sent);
    Ok(vec![
        Row {
            scenario: format!("commit→query lag p50 via {label}"),
            measured: format!("{p50:.1} ms"),
            baseline: baseline.clone(),
            ratio: p50 / 10.0,
            goal: "<= 10 ms",
            met: p50 <= 10.0,
        },
        Row {
            scenario: format!("commit→query lag p99 via {label}"),
            measured: format!("{p99:.1} ms"),
            baseline,
            ratio: p99 / 50.0,
            goal: "<= 50 ms",
            met: p99 <= 50.0,
        },
    ])
}

fn spawn<S: EventSource + 'static>(
    tasks: &mut JoinSet<()>,
    projector: Projector<WorkflowsProjection>,
    source: S,
    stopped: &watch::Receiver<bool>,
) {
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(err) = projector.run(source, shutdown).await {
            eprintln!("bench: projector ended: {err}");
        }
    });
}

/// Polls the read model every millisecond until the workflow has `name`
/// (finer polling is itself a load on the two cores the pipeline shares,
/// and a millisecond is a tenth of the goal).
async fn wait_visible(
    pool: &PgPool,
    id: WorkflowId,
    name: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let seen: Option<String> = sqlx::query_scalar("SELECT name FROM workflows WHERE id = $1")
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
        if seen.as_deref() == Some(name) {
            return Ok(());
        }
        if started.elapsed() > limit {
            anyhow::bail!("the read model did not show '{name}' within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Sends `rate` renames per second, evenly spaced, for `seconds`; the rate
/// actually sent. One client per 100 commands/s (each on its own workflow),
/// so a command's own latency does not hold the rate back.
async fn steady_load(
    commands: Arc<Commands>,
    ctx: CommandContext,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<f64> {
    let clients = (rate / 100.0).ceil().clamp(1.0, 32.0) as usize;
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for _ in 0..clients {
        let (commands, ctx) = (commands.clone(), ctx.clone());
        tasks.spawn(async move {
            let id = new_workflow(&commands, &ctx).await?;
            let period = Duration::from_secs_f64(clients as f64 / rate.max(1.0));
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let until = Instant::now() + Duration::from_secs(seconds);
            let mut sent = 0u64;
            while Instant::now() < until {
                ticks.tick().await;
                sent += 1;
                let rename = WorkflowCommand::Rename {
                    name: format!("load {sent}"),
                };
                commands.execute_workflow(&ctx, id, rename, None).await?;
            }
            anyhow::Ok(sent)
        });
    }
    let mut total = 0;
    while let Some(sent) = tasks.join_next().await {
        total += sent??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
