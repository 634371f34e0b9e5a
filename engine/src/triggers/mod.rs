//! Schedule and event triggers: what starts published workflows without a
//! caller (docs/adr/0011-triggers.md).
//!
//! - `projection`: the `engine_triggers` projection of Workflow and
//!   Execution events into `engine_schedules`, `engine_event_triggers` and
//!   the `engine_trigger_outbox` of starts owed to event triggers.
//! - `endings`: what an execution's start and end mean to triggers.
//! - `scheduler`: claims due schedules, applies the catch-up policy
//!   (`domain::workflow::Schedule::plan`), starts the slot's run and
//!   records skipped slots as `ScheduledRunsSkipped`.
//! - `dispatcher`: starts the outbox's runs and deletes their rows.
//!
//! Every start carries an idempotency key (`schedule:<slot>`,
//! `event:<source execution>:<sequence of its ending>`), so two engines
//! firing the same slot, or a dispatch repeated after a crash, start one
//! execution: the event store decides. Idle, [`run`] costs one query per
//! loop per wake: it sleeps until the next slot, the next outbox row, a
//! `NOTIFY jobsprint_triggers` from the projection, or the idle poll.

mod dispatcher;
mod endings;
mod projection;
mod scheduler;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use commands::Commands;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::clock::Clock;

pub use dispatcher::{dispatch_due, event_key};
pub use endings::MAX_CHAIN_DEPTH;
pub use projection::TriggersProjection;
pub use scheduler::{fire_due, slot_key};

/// The channel the projection wakes the scheduler and the dispatcher on.
pub const WAKE_CHANNEL: &str = "jobsprint_triggers";

/// How the trigger loops run.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    /// How late the latest due slot may fire and still be on time (not
    /// missed, so not subject to the catch-up policy).
    pub grace: Duration,
    /// How long a claimed schedule or outbox row stays claimed; a dead
    /// process's rows are taken over after at most this long.
    pub lease: Duration,
    /// The longest an idle loop sleeps without looking.
    pub idle_poll: Duration,
    /// Rows claimed per statement.
    pub batch: i64,
    /// The most slots one `ScheduledRunsSkipped` covers; a longer backlog
    /// is recorded in several.
    pub max_skipped_per_record: u64,
    /// The first pause before a failed start is tried again (doubling up
    /// to five minutes for outbox rows).
    pub retry_pause: Duration,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            grace: Duration::from_secs(60),
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(60),
            batch: 32,
            max_skipped_per_record: 10_000,
            retry_pause: Duration::from_secs(5),
        }
    }
}

/// What the loops of one [`run`] share.
pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) commands: Arc<Commands>,
    pub(crate) clock: Clock,
    pub(crate) owner: Uuid,
    pub(crate) config: TriggerConfig,
}

/// Runs the trigger projection, the scheduler and the dispatcher until
/// `shutdown` resolves, with the default [`TriggerConfig`].
pub async fn run(
    pool: PgPool,
    commands: Arc<Commands>,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), sqlx::Error> {
    run_with(pool, commands, clock, TriggerConfig::default(), shutdown).await
}

/// [`run`] with an explicit configuration. Any number of processes may
/// run it at once: claims and idempotency keys keep each start single.
pub async fn run_with(
    pool: PgPool,
    commands: Arc<Commands>,
    clock: Clock,
    config: TriggerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(WAKE_CHANNEL).await?;
    let shared = Arc::new(Shared {
        pool,
        commands,
        clock,
        owner: Uuid::new_v4(),
        config,
    });
    let (stop, stopped) = watch::channel(false);
    let schedules = Arc::new(Notify::new());
    let outbox = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    crate::worker::spawn_projection(&mut tasks, &shared.pool, TriggersProjection, &stopped);
    tasks.spawn(scheduler::run_loop(
        shared.clone(),
        schedules.clone(),
        stopped.clone(),
    ));
    tasks.spawn(dispatcher::run_loop(
        shared.clone(),
        outbox.clone(),
        stopped.clone(),
    ));
    tracing::info!(owner = %shared.owner, "triggers started");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            notification = listener.recv() => match notification {
                Ok(note) if note.payload() == projection::SCHEDULES => schedules.notify_one(),
                Ok(note) if note.payload() == projection::OUTBOX => outbox.notify_one(),
                Ok(_) => {}
                Err(err) => {
                    // A lost connection may have lost notifications: look.
                    tracing::warn!(error = %err, "triggers: wake-up channel failed");
                    schedules.notify_one();
                    outbox.notify_one();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    tracing::info!(owner = %shared.owner, "triggers stopped");
    Ok(())
}

/// Sleeps until `due` on `clock` (at most `idle_poll`), a wake-up, the
/// clock moving, or the stop signal; false when stopping.
pub(crate) async fn pause(
    shared: &Shared,
    due: Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error>,
    wake: &Notify,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    let poll = shared.config.idle_poll;
    let pause = match due {
        Ok(due) => shared.clock.sleep_until(due, poll),
        Err(err) => {
            tracing::warn!(error = %err, "triggers: cannot read the next due time");
            Duration::from_secs(1).min(poll)
        }
    };
    if *stopped.borrow() {
        return false;
    }
    tokio::select! {
        changed = stopped.changed() => changed.is_ok() && !*stopped.borrow(),
        _ = wake.notified() => true,
        _ = tokio::time::sleep(pause) => true,
        _ = shared.clock.moved() => true,
    }
}
