//! Rebuilds of read models from the event store (never from Kafka
//! retention) while the live tables keep serving (docs/adr/0015-rebuilds.md).
//!
//! 1. Empty shadow copies of the projection's tables (and of the runner's
//!    bookkeeping) are made in a schema of their own (`shadow`).
//! 2. The projection's own code folds the whole store into them (`fold.rs`), in commit
//!    order, in short batches read once for every projection rebuilt
//!    together (`pass.rs`: the next batch is read while this one is folded), through
//!    a pool whose `search_path` puts the
//!    shadow schema first and whose `jobsprint.replay` setting silences
//!    notifications.
//! 3. The swap transaction takes the live projection's writer lock (the
//!    live runner waits), lets the shadow catch up with the stream, checks that the
//!    shadow has every aggregate at least as far as the live one, moves the
//!    live tables out and the shadow ones in, and installs the shadow's
//!    checkpoint and sequences. The live runner then goes on from there:
//!    what it still holds is recognised as redelivered by sequence.
//!
//! A rebuild that fails anywhere before the swap's commit leaves the live
//! tables untouched; its shadow schema is dropped. One rebuild of a
//! projection runs at a time (a session advisory lock).

mod fold;
mod pass;
mod progress;
mod shadow;

use std::time::{Duration, Instant};

use projections::projector::{PoisonPolicy, Projection, ProjectorError};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::SourceError;
use sqlx::{Connection, PgConnection, PgPool};

use fold::Fold;
use pass::fold_together;
pub use progress::{status, statuses, RebuildStatus};

/// The projections a rebuild may replace (each declares
/// [`projections::projector::Replay::Rebuild`]). The relay, the engine's projections and the hash
/// chain never run during a replay.
pub const REBUILDABLE: [&str; 4] = [
    WorkflowsProjection::NAME,
    ExecutionsProjection::NAME,
    IntegrationsProjection::NAME,
    AuditLogProjection::NAME,
];

/// How a rebuild runs.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Events per shadow transaction. Large enough to be fast, small enough
    /// to keep every writing transaction short (an open one holds back each
    /// commit-order reader of the cluster).
    pub batch_size: usize,
    /// What to do with an event the projection cannot apply: `Stop` fails
    /// the rebuild (the live tables stay as they are), `Skip` dead-letters
    /// it and goes on.
    pub on_poison: PoisonPolicy,
    /// How often progress is written to `projection_rebuilds`.
    pub report_every: Duration,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            batch_size: 2_000,
            on_poison: PoisonPolicy::Stop,
            report_every: Duration::from_millis(500),
        }
    }
}

/// Progress, after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events folded so far.
    pub events_done: u64,
    /// The store's size when the rebuild began (it may grow meanwhile).
    pub events_total: u64,
}

/// What a finished rebuild did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    /// The projection rebuilt.
    pub projection: &'static str,
    /// Events folded into the new tables.
    pub events: u64,
    /// How long it took, swap included.
    pub elapsed: Duration,
}

impl RebuildReport {
    /// Events folded per second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why a rebuild did not happen. In every case the live tables are as
/// they were.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No such rebuildable projection.
    #[error("'{0}' is not a rebuildable projection (rebuildable: {list})", list = REBUILDABLE.join(", "))]
    Unknown(String),
    /// The projection declares [`projections::projector::Replay::Never`].
    #[error("the projection '{0}' never runs during a replay")]
    NotReplayable(&'static str),
    /// Another rebuild of it is running.
    #[error("a rebuild of '{0}' is already running")]
    AlreadyRunning(String),
    /// The projection halted on an event while folding the store.
    #[error("the rebuild of '{projection}' halted ({state}): {error}")]
    Halted {
        /// The projection.
        projection: &'static str,
        /// `stopped` (a poison event) or `failed` (a gap).
        state: String,
        /// Why.
        error: String,
    },
    /// It was not started because another of the same [`rebuild_all`] could
    /// not be, or its task ended unexpectedly.
    #[error("not started: {0}")]
    NotStarted(String),
    /// The shadow never got every aggregate as far as the live tables.
    #[error("the rebuild of '{0}' could not catch up with the live projection")]
    Behind(&'static str),
    /// A statement failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The projector failed.
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    /// The store could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Rebuilds `projection` (one of [`REBUILDABLE`]) and swaps it in, calling
/// `on_progress` after every batch.
pub async fn rebuild(
    pool: &PgPool,
    projection: &str,
    options: &RebuildOptions,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<RebuildReport, RebuildError> {
    prepare(pool, projection)
        .await?
        .run(options, on_progress)
        .await
}

/// Advisory-lock class of rebuilds ('rebu' in ASCII); the key is the
/// projection name's hash.
const LOCK_CLASS: i32 = 0x7265_6275;

/// A rebuild that holds its projection's rebuild lock and is recorded as
/// running; [`Rebuild::run`] does the work. Dropping it releases the lock.
pub struct Rebuild {
    pool: PgPool,
    name: &'static str,
    lock: PgConnection,
    total: u64,
}

/// Takes the rebuild lock of `projection` (one rebuild of a projection at a
/// time, across processes) and records the rebuild as running, so that the
/// `projections` query shows it at once.
pub async fn prepare(pool: &PgPool, projection: &str) -> Result<Rebuild, RebuildError> {
    prepare_counted(pool, projection, store_size(pool).await?).await
}

/// The events in the store.
async fn store_size(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM public.events")
        .fetch_one(pool)
        .await?;
    Ok(total as u64)
}

/// [`prepare`] with the store's size already counted.
async fn prepare_counted(
    pool: &PgPool,
    projection: &str,
    total: u64,
) -> Result<Rebuild, RebuildError> {
    let Some(name) = REBUILDABLE.iter().copied().find(|name| *name == projection) else {
        return Err(RebuildError::Unknown(projection.to_owned()));
    };
    let mut lock = PgConnection::connect_with(&pool.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(name)
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Err(RebuildError::AlreadyRunning(name.to_owned()));
    }
    progress::begin(pool, name, total as i64).await?;
    Ok(Rebuild {
        pool: pool.clone(),
        name,
        lock,
        total,
    })
}

impl Rebuild {
    /// The projection being rebuilt.
    pub fn projection(&self) -> &'static str {
        self.name
    }

    /// Folds the store into the shadow tables and swaps them in, calling
    /// `on_progress` after every batch; records the outcome. The store is
    /// read as by [`rebuild_all`], so reading the next batch overlaps
    /// folding this one.
    pub async fn run(
        self,
        options: &RebuildOptions,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RebuildReport, RebuildError> {
        let pool = self.pool.clone();
        let mut results = fold_together(&pool, vec![self], options, on_progress).await?;
        results.pop().expect("one result per rebuild")
    }

    /// Swaps a folded shadow in (or not, when folding failed after `done`
    /// events), records how the rebuild ended and releases its lock.
    async fn swap_and_finish(
        self,
        folded: Result<Fold, (u64, RebuildError)>,
        started: Instant,
    ) -> Result<RebuildReport, RebuildError> {
        let (done, result) = match folded {
            Ok(mut fold) => {
                let swapped = fold.swap().await;
                let done = fold.done();
                fold.close().await;
                (done, swapped)
            }
            Err((done, err)) => (done, Err(err)),
        };
        let error = result.as_ref().err().map(ToString::to_string);
        let recorded = progress::finish(&self.pool, self.name, done as i64, error.as_deref()).await;
        let _ = self.lock.close().await;
        result?;
        recorded?;
        let report = RebuildReport {
            projection: self.name,
            events: done,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            projection = report.projection,
            events = report.events,
            events_per_second = report.events_per_second() as u64,
            "rebuilt"
        );
        Ok(report)
    }
}

/// Rebuilds several projections (each one of [`REBUILDABLE`]) from ONE
/// read of the store: every batch is folded into all their shadows at once,
/// each on its own connections, then each catches up and swaps on its own
/// (all of them at the same time).
/// A projection that fails is left as it was without stopping the others;
/// the results come in the order of `projections`. `on_progress` sees the
/// shared pass.
pub async fn rebuild_all(
    pool: &PgPool,
    projections: &[&str],
    options: &RebuildOptions,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Result<RebuildReport, RebuildError>>, RebuildError> {
    let started = Instant::now();
    let mut rebuilds = Vec::new();
    let total = store_size(pool).await?;
    for name in projections {
        match prepare_counted(pool, name, total).await {
            Ok(rebuild) => rebuilds.push(rebuild),
            Err(err) => {
                for rebuild in rebuilds {
                    let not_started = Err((0, RebuildError::NotStarted(err.to_string())));
                    let _ = rebuild.swap_and_finish(not_started, started).await;
                }
                return Err(err);
            }
        }
    }
    fold_together(pool, rebuilds, options, on_progress).await
}
