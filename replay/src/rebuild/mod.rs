//! Rebuilds of read models from the event store (never from Kafka
//! retention) while the live tables keep serving (docs/adr/0015-rebuilds.md).
//!
//! 1. Empty shadow copies of the projection's tables (and of the runner's
//!    bookkeeping) are made in a schema of their own (`shadow`).
//! 2. The projection's own code folds the whole store into them (`fold.rs`), in commit
//!    order, in short batches, through a pool whose `search_path` puts the
//!    shadow schema first and whose `jobsprint.replay` setting silences
//!    notifications.
//! 3. The swap transaction locks the live checkpoint row (the live runner
//!    waits), lets the shadow catch up with the stream, checks that the
//!    shadow has every aggregate at least as far as the live one, moves the
//!    live tables out and the shadow ones in, and installs the shadow's
//!    checkpoint and sequences. The live runner then goes on from there:
//!    what it still holds is recognised as redelivered by sequence.
//!
//! A rebuild that fails anywhere before the swap's commit leaves the live
//! tables untouched; its shadow schema is dropped. One rebuild of a
//! projection runs at a time (a session advisory lock).

mod fold;
mod progress;
mod shadow;

use std::time::{Duration, Instant};

use projections::projector::{PoisonPolicy, Projection, ProjectorError, Replay};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::SourceError;
use sqlx::{Connection, PgConnection, PgPool};

use fold::Fold;
pub use progress::{status, statuses, RebuildStatus};

/// The projections a rebuild may replace (each declares
/// [`Replay::Rebuild`]). The relay, the engine's projections and the hash
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
    /// The projection declares [`Replay::Never`].
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
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM public.events")
        .fetch_one(pool)
        .await?;
    progress::begin(pool, name, total).await?;
    Ok(Rebuild {
        pool: pool.clone(),
        name,
        lock,
        total: total as u64,
    })
}

impl Rebuild {
    /// The projection being rebuilt.
    pub fn projection(&self) -> &'static str {
        self.name
    }

    /// Folds the store into the shadow tables and swaps them in, calling
    /// `on_progress` after every batch; records the outcome.
    pub async fn run(
        self,
        options: &RebuildOptions,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RebuildReport, RebuildError> {
        match self.name {
            WorkflowsProjection::NAME => {
                self.run_with(WorkflowsProjection, options, on_progress)
                    .await
            }
            ExecutionsProjection::NAME => {
                self.run_with(ExecutionsProjection, options, on_progress)
                    .await
            }
            IntegrationsProjection::NAME => {
                self.run_with(IntegrationsProjection, options, on_progress)
                    .await
            }
            _ => {
                self.run_with(AuditLogProjection, options, on_progress)
                    .await
            }
        }
    }

    async fn run_with<P: Projection>(
        self,
        projection: P,
        options: &RebuildOptions,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RebuildReport, RebuildError> {
        let Replay::Rebuild(tables) = P::REPLAY else {
            return Err(RebuildError::NotReplayable(P::NAME));
        };
        let started = Instant::now();
        let pool = &self.pool;
        let mut fold = Fold::new(pool, P::NAME, options, on_progress, self.total);
        let result = fold.fold_and_swap(projection, tables).await;
        if let Err(err) = shadow::drop_leftovers(pool, P::NAME).await {
            tracing::warn!(projection = P::NAME, error = %err, "shadow tables not dropped");
        }
        let error = result.as_ref().err().map(ToString::to_string);
        progress::finish(pool, P::NAME, fold.done() as i64, error.as_deref()).await?;
        let done = fold.done();
        let _ = self.lock.close().await;
        result?;
        let report = RebuildReport {
            projection: P::NAME,
            events: done,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            projection = P::NAME,
            events = report.events,
            events_per_second = report.events_per_second() as u64,
            "rebuilt"
        );
        Ok(report)
    }
}
