//! The engine process: its intake, its triggers, its workers and their
//! leases.
//!
//! A loop claims due executions (as many as it has free slots), drives each
//! on its own task and, when nothing is due, sleeps until the earliest due
//! time, a `NOTIFY jobsprint_engine` from the intake, or the idle poll,
//! whichever comes first: an idle engine costs one cheap query per poll.
//! A renewal task extends every lease the process holds; a process that
//! dies stops renewing, and its executions are claimed by another once
//! their leases expire.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use commands::Commands;
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::source::StoreSource;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::clock::Clock;
use crate::driver::{drive, Parked};
use crate::intake::{EngineIntake, WAKE_CHANNEL};
use crate::nodes::{NodeSettings, Nodes};
use crate::queue::{self, Claim};
use crate::store::Definitions;

/// How an engine process runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a claim lasts without renewal; a dead process's executions
    /// are taken over after at most this long.
    pub lease: Duration,
    /// The longest an idle engine sleeps without looking.
    pub idle_poll: Duration,
    /// Executions driven at once by this process.
    pub max_in_flight: usize,
    /// Pause before an execution whose drive failed is tried again.
    pub failure_pause: Duration,
    /// How nodes reach the outside world.
    pub nodes: NodeSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(10),
            idle_poll: Duration::from_secs(30),
            max_in_flight: 64,
            failure_pause: Duration::from_secs(5),
            nodes: NodeSettings::default(),
        }
    }
}

/// What the workers of one process share.
pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) commands: Arc<Commands>,
    pub(crate) definitions: Definitions,
    pub(crate) nodes: Nodes,
    pub(crate) clock: Clock,
    pub(crate) owner: Uuid,
    pub(crate) config: EngineConfig,
}

/// One engine process.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// An engine over `pool`, writing through `commands`, on `clock`.
    pub fn new(
        pool: PgPool,
        commands: Arc<Commands>,
        config: EngineConfig,
        clock: Clock,
    ) -> Engine {
        let nodes =
            Nodes::new(config.nodes.clone()).with_integrations(commands.clone(), clock.clone());
        Engine {
            shared: Arc::new(Shared {
                pool,
                commands,
                definitions: Definitions::default(),
                nodes,
                clock,
                owner: Uuid::new_v4(),
                config,
            }),
        }
    }

    /// This process's lease owner id.
    pub fn owner(&self) -> Uuid {
        self.shared.owner
    }

    /// Runs the intake and the workers until `shutdown` resolves, then
    /// waits briefly for the drives in flight and hands back its leases.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<(), sqlx::Error> {
        let shared = &self.shared;
        let mut listener = PgListener::connect_with(&shared.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        let (stop, stopped) = watch::channel(false);
        let mut background = JoinSet::new();
        spawn_projection(&mut background, &shared.pool, EngineIntake, &stopped);
        spawn_triggers(&mut background, shared, &stopped);
        spawn_renewal(&mut background, shared.clone(), &stopped);
        let mut drives = JoinSet::new();
        tokio::pin!(shutdown);
        tracing::info!(owner = %shared.owner, "engine started");
        loop {
            let free = shared.config.max_in_flight.saturating_sub(drives.len());
            let mut claimed = 0;
            if free > 0 {
                let now = shared.clock.now();
                let claims = queue::claim(
                    &shared.pool,
                    shared.owner,
                    now,
                    shared.config.lease,
                    free as i64,
                )
                .await;
                match claims {
                    Ok(claims) => {
                        claimed = claims.len();
                        for claim in claims {
                            drives.spawn(drive_and_release(shared.clone(), claim));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "engine: claim failed"),
                }
            }
            metrics::gauge!("jobsprint_engine_executions_in_flight").set(drives.len() as f64);
            metrics::gauge!("jobsprint_sandbox_abandoned_threads")
                .set(sandbox::abandoned_threads() as f64);
            if free > 0 && claimed == free {
                continue;
            }
            let pause = self.pause().await;
            tokio::select! {
                _ = &mut shutdown => break,
                notification = listener.recv() => {
                    if let Err(err) = notification {
                        tracing::warn!(error = %err, "engine: wake-up channel failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                Some(_) = drives.join_next(), if !drives.is_empty() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shared.clock.moved() => {}
            }
        }
        let _ = stop.send(true);
        let grace = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = drives.join_next() => if next.is_none() { break },
                _ = &mut grace => { drives.abort_all(); break }
            }
        }
        while background.join_next().await.is_some() {}
        queue::abandon(&shared.pool, shared.owner).await?;
        tracing::info!(owner = %shared.owner, "engine stopped");
        Ok(())
    }

    /// How long to sleep when nothing was claimable: until the earliest
    /// due time, at most the idle poll.
    async fn pause(&self) -> Duration {
        let shared = &self.shared;
        let poll = shared.config.idle_poll;
        match queue::next_due(&shared.pool).await {
            Ok(due) => shared.clock.sleep_until(due, poll),
            Err(err) => {
                tracing::warn!(error = %err, "engine: cannot read the next due time");
                Duration::from_secs(1).min(poll)
            }
        }
    }
}

async fn drive_and_release(shared: Arc<Shared>, mut claim: Claim) {
    let id = claim.execution_id;
    if !claim.admitted {
        match queue::admit(&shared.pool, &claim).await {
            Ok(true) => claim.admitted = true,
            Ok(false) => {
                // Queued until a running execution of its workflow ends.
                let now = shared.clock.now();
                if let Err(err) =
                    queue::release(&shared.pool, shared.owner, &claim, None, now).await
                {
                    tracing::warn!(execution_id = %id, error = %err, "engine: release failed");
                }
                return;
            }
            Err(err) => {
                tracing::warn!(execution_id = %id, error = %err, "engine: admission failed");
                let now = shared.clock.now();
                let pause =
                    chrono::Duration::from_std(shared.config.failure_pause).unwrap_or_default();
                let _ = queue::release(&shared.pool, shared.owner, &claim, Some(now + pause), now)
                    .await;
                return;
            }
        }
    }
    let result = drive(&shared, &claim).await;
    let now = shared.clock.now();
    let released = match result {
        Ok(Parked::Finished) => {
            metrics::counter!("jobsprint_engine_executions_finished_total").increment(1);
            queue::finish(&shared.pool, id).await
        }
        Ok(Parked::Until(due)) => {
            queue::release(&shared.pool, shared.owner, &claim, due, now).await
        }
        Err(err) => {
            tracing::warn!(execution_id = %id, error = %err, "engine: drive failed; retrying later");
            let pause = chrono::Duration::from_std(shared.config.failure_pause).unwrap_or_default();
            queue::release(&shared.pool, shared.owner, &claim, Some(now + pause), now).await
        }
    };
    if let Err(err) = released {
        tracing::warn!(execution_id = %id, error = %err, "engine: release failed; the lease will expire");
    }
}

/// Runs `projection` on the store source until `stopped` (the engine's
/// own projections read the store directly, never Kafka: they must see a
/// commit within milliseconds, and they run where the engine runs).
pub(crate) fn spawn_projection<P: Projection>(
    tasks: &mut JoinSet<()>,
    pool: &PgPool,
    projection: P,
    stopped: &watch::Receiver<bool>,
) {
    let projector = Projector::new(pool.clone(), projection, ProjectorConfig::default());
    let source = StoreSource::new(pool.clone());
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(err) = projector.run(source, shutdown).await {
            tracing::error!(projection = P::NAME, error = %err, "engine projection ended");
        }
    });
}

/// Schedules and event triggers (`crate::triggers`): each slot and each
/// ending starts its execution once, whichever process gets there.
fn spawn_triggers(tasks: &mut JoinSet<()>, shared: &Shared, stopped: &watch::Receiver<bool>) {
    let (pool, commands, clock) = (
        shared.pool.clone(),
        shared.commands.clone(),
        shared.clock.clone(),
    );
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(err) = crate::triggers::run(pool, commands, clock, shutdown).await {
            tracing::error!(error = %err, "engine triggers ended");
        }
    });
}

fn spawn_renewal(tasks: &mut JoinSet<()>, shared: Arc<Shared>, stopped: &watch::Receiver<bool>) {
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let mut ticks = tokio::time::interval(shared.config.lease / 3);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = ticks.tick() => {
                    let now = shared.clock.now();
                    if let Err(err) = queue::renew(&shared.pool, shared.owner, now, shared.config.lease).await {
                        tracing::warn!(error = %err, "engine: lease renewal failed");
                    }
                }
            }
        }
    });
}
