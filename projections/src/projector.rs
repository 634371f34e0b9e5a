//! The projector runtime: applies batches of committed events to a
//! projection's read model with an exactly-once effect.
//!
//! Each batch is ONE PostgreSQL transaction holding the read-model writes,
//! the projection's checkpoint and the last applied sequence of every
//! aggregate in the batch, so a crash at any point neither loses nor
//! double-applies. An event at or below its aggregate's last sequence is a
//! redelivery and is skipped; one further ahead is a gap and fails the
//! projection (it never skips). An event the projection cannot apply goes to
//! `projection_dead_letters`, and the projection stops or skips it by its
//! [`PoisonPolicy`]. See docs/adr/0007-projections.md.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};

use crate::batch::BatchOutcome;
use crate::checkpoint::{self, AggregateKey, ProjectionState};
use crate::history::StoredEvent;
use crate::source::{EventSource, SourceError};
use crate::status;

/// A read model folded from events.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the key of its checkpoint, sequences and dead letters.
    const NAME: &'static str;
    /// The aggregate types it reads. Events of other types only move the
    /// checkpoint; no sequence is tracked for them.
    const AGGREGATE_TYPES: &'static [&'static str];

    /// Whether it may run during a replay. The default is [`Replay::Never`]:
    /// a projection has to say which tables it alone writes before a rebuild
    /// may replace them.
    const REPLAY: Replay = Replay::Never;

    /// Applies one event inside the batch's transaction. Must not commit,
    /// and must not depend on the order of two different aggregates' events
    /// (a Kafka source keeps only each aggregate's order).
    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError>;

    /// Applies the events of one batch that are due, in order, inside the
    /// batch's transaction; on failure, the index of the event that failed.
    /// The default applies them one by one; a projection may write them
    /// with fewer statements, with the same effect.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)> {
        for (index, event) in events.iter().enumerate() {
            self.apply(conn, event).await.map_err(|err| (index, err))?;
        }
        Ok(())
    }
}

/// Whether a projection may run during a replay (a rebuild of its read
/// model from the event store, docs/adr/0015-rebuilds.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// It only folds events into these tables, which no one else writes: a
    /// rebuild folds the whole store into shadow copies of them and swaps
    /// them in. Its notifications go through `jobsprint_notify`, which is
    /// silent during a replay.
    Rebuild(&'static [&'static str]),
    /// It has effects beyond its tables (it runs work, wakes processes,
    /// seals evidence): it never runs during a replay.
    Never,
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// This code cannot apply this event (malformed payload, unknown
    /// version, a read-model rule): a poison event.
    #[error("{0}")]
    Rejected(String),
    /// A statement failed; see [`ApplyError::is_poison`].
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ApplyError {
    /// Whether retrying the same event cannot help. Connection, resource,
    /// shutdown and serialization failures are transient (the batch is
    /// retried); anything the database refused because of the statement or
    /// its data is poison.
    pub fn is_poison(&self) -> bool {
        match self {
            Self::Rejected(_) => true,
            Self::Database(sqlx::Error::Database(err)) => {
                let code = err.code().unwrap_or_default();
                !["08", "40", "53", "57", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
            }
            Self::Database(err) => matches!(
                err,
                sqlx::Error::RowNotFound
                    | sqlx::Error::ColumnNotFound(_)
                    | sqlx::Error::ColumnDecode { .. }
                    | sqlx::Error::Decode(_)
                    | sqlx::Error::TypeNotFound { .. }
                    | sqlx::Error::Encode(_)
            ),
        }
    }
}

/// What a projection does with an event it cannot apply, once dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonPolicy {
    /// Stop just before it (state `Stopped`) until a fix: nothing after it
    /// is applied out of order.
    Stop,
    /// Skip it and go on; its aggregate's sequence still advances.
    Skip,
}

/// How a projector runs.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Most events per batch (one transaction). Small keeps transactions
    /// short: an open writing transaction holds every commit-order reader back.
    pub batch_size: usize,
    /// What to do with poison events.
    pub on_poison: PoisonPolicy,
    /// How often a halted projection looks whether it was resumed, and the
    /// first pause after a failure (doubling up to 30 s).
    pub idle_poll: Duration,
    /// How often the status metrics (lag, dead letters) are refreshed.
    pub status_every: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            on_poison: PoisonPolicy::Stop,
            idle_poll: Duration::from_millis(500),
            status_every: Duration::from_secs(5),
        }
    }
}

/// A runner failure that is not about one event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The projector's own statements failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Applying an event failed for a transient reason; the batch is retried.
    #[error("applying an event: {0}")]
    Apply(#[source] ApplyError),
}

impl ProjectorError {
    fn is_closed(&self) -> bool {
        matches!(
            self,
            Self::Database(sqlx::Error::PoolClosed)
                | Self::Source(SourceError::Closed)
                | Self::Apply(ApplyError::Database(sqlx::Error::PoolClosed))
        )
    }
}

/// One projection's runner.
pub struct Projector<P: Projection> {
    pub(crate) pool: PgPool,
    pub(crate) projection: P,
    pub(crate) config: ProjectorConfig,
    /// The aggregates' last applied sequences, when kept in memory
    /// ([`Projector::with_sequences_in_memory`]) rather than in
    /// `projection_aggregate_sequences`.
    pub(crate) sequences: Mutex<Option<HashMap<AggregateKey, i64>>>,
}

/// Longest pause between attempts after failures.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Where the runner's loop stands.
enum Flow {
    /// The checkpoint row exists and a halted state was cleared.
    Started,
    /// The stop signal came.
    Shutdown,
    /// The projection is halted: wait, then look again.
    Halted,
}

impl<P: Projection> Projector<P> {
    /// A runner of `projection` over the read model and store in `pool`.
    pub fn new(pool: PgPool, projection: P, config: ProjectorConfig) -> Self {
        Self {
            pool,
            projection,
            config,
            sequences: Mutex::new(None),
        }
    }

    /// The same, keeping the aggregates' last applied sequences in memory
    /// instead of reading and writing `projection_aggregate_sequences` in
    /// every batch, until [`Projector::store_sequences`]. Only for a fresh
    /// projection state that this runner alone writes and that is thrown
    /// away if the process dies first: a rebuild's shadow (it saves a read
    /// and an upsert of a row per aggregate per batch).
    pub fn with_sequences_in_memory(self) -> Self {
        *self.lock_sequences() = Some(HashMap::new());
        self
    }

    /// Writes the sequences kept in memory to `projection_aggregate_sequences`
    /// (under the writer lock) and keeps them there from now on; nothing
    /// when they are already there.
    pub async fn store_sequences(&self) -> Result<(), sqlx::Error> {
        let Some(kept) = self.lock_sequences().take() else {
            return Ok(());
        };
        let stored = async {
            let mut tx = self.pool.begin().await?;
            checkpoint::lock(&mut tx, P::NAME).await?;
            checkpoint::save_sequences(&mut tx, P::NAME, &kept).await?;
            tx.commit().await
        };
        let result = stored.await;
        if result.is_err() {
            // Not stored: they stay in memory.
            *self.lock_sequences() = Some(kept);
        }
        result
    }

    pub(crate) fn lock_sequences(&self) -> MutexGuard<'_, Option<HashMap<AggregateKey, i64>>> {
        self.sequences
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads `source` from the checkpoint and applies every batch until
    /// `shutdown` completes (or the pool is closed); a batch being applied
    /// is finished first. A halted projection is resumed once at start (a
    /// restart is the usual way to run fixed code) and otherwise waits for
    /// [`checkpoint::resume`]. Failures are retried with backoff.
    pub async fn run<S: EventSource>(
        &self,
        mut source: S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProjectorError> {
        tokio::pin!(shutdown);
        let mut pause = self.config.idle_poll;
        let mut started = false;
        let mut reported = Instant::now();
        loop {
            let outcome = if started {
                self.follow(&mut source, &mut reported, &mut shutdown).await
            } else {
                self.restart().await.map(|()| Flow::Started)
            };
            match outcome {
                Ok(Flow::Shutdown) => return Ok(()),
                Ok(Flow::Started) => {
                    started = true;
                    continue;
                }
                Ok(Flow::Halted) => pause = self.config.idle_poll,
                Err(err) if err.is_closed() => return Ok(()),
                Err(err) => {
                    tracing::warn!(projection = P::NAME, error = %err, "projector failed; retrying");
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Follows the source from the checkpoint while the projection runs;
    /// returns on shutdown, when it is halted, or when something fails.
    async fn follow<S: EventSource, F: Future<Output = ()>>(
        &self,
        source: &mut S,
        reported: &mut Instant,
        shutdown: &mut Pin<&mut F>,
    ) -> Result<Flow, ProjectorError> {
        let Some(start) = checkpoint::read(&self.pool, P::NAME).await? else {
            return Ok(Flow::Halted);
        };
        if start.state != ProjectionState::Running {
            return Ok(Flow::Halted);
        }
        source.seek(start.cursor).await?;
        loop {
            let events = tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(Flow::Shutdown),
                events = source.next_batch(self.config.batch_size) => events?,
            };
            if reported.elapsed() >= self.config.status_every {
                *reported = Instant::now();
                if let Err(err) = status::refresh_metrics(&self.pool, P::NAME).await {
                    tracing::warn!(projection = P::NAME, error = %err, "status not refreshed");
                }
            }
            if events.is_empty() {
                continue;
            }
            match self.apply_batch(&events).await? {
                BatchOutcome::Committed { through, .. } => source.acknowledge(through).await?,
                BatchOutcome::Halted { state, error, .. } => {
                    tracing::error!(projection = P::NAME, %state, error, "projection halted");
                    return Ok(Flow::Halted);
                }
                BatchOutcome::NotRunning(_) => return Ok(Flow::Halted),
            }
        }
    }

    async fn restart(&self) -> Result<(), ProjectorError> {
        status::register_metrics(P::NAME);
        let mut tx = self.pool.begin().await?;
        let current = checkpoint::lock(&mut tx, P::NAME).await?;
        if current.state != ProjectionState::Running {
            tracing::warn!(projection = P::NAME, state = %current.state,
                           error = current.error.as_deref().unwrap_or(""),
                           "resuming a halted projection at start");
            checkpoint::set_state(&mut tx, P::NAME, ProjectionState::Running, None).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
