//! One projection's rebuild work: its shadow tables, its own
//! [`Projector`] writing them, folding batches (read by itself, or handed
//! over by a pass shared with other projections), catching up, and the
//! swap transaction under the live checkpoint's writer lock (see the parent
//! module).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use projections::batch::BatchOutcome;
use projections::checkpoint;
use projections::commit_order::{CommittedEvent, Cursor};
use projections::projector::{Projection, Projector, ProjectorConfig, ProjectorError, Replay};
use projections::source::{EventSource, StoreSource};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgConnection, PgPool};

use super::{progress, shadow, RebuildError, RebuildOptions};

/// A batch that comes back empty after this long means the shadow has
/// caught up with the store's horizon.
pub(super) const CAUGHT_UP_WAIT: Duration = Duration::from_millis(50);
/// Swap attempts before giving up on catching up.
const SWAP_ATTEMPTS: usize = 5;

/// What a rebuild needs of a projector, whatever its projection.
#[async_trait]
trait ShadowProjector: Send + Sync {
    async fn apply(&self, events: &[CommittedEvent]) -> Result<BatchOutcome, ProjectorError>;
    async fn store_sequences(&self) -> Result<(), sqlx::Error>;
}

#[async_trait]
impl<P: Projection> ShadowProjector for Projector<P> {
    async fn apply(&self, events: &[CommittedEvent]) -> Result<BatchOutcome, ProjectorError> {
        self.apply_batch(events).await
    }

    async fn store_sequences(&self) -> Result<(), sqlx::Error> {
        Projector::store_sequences(self).await
    }
}

/// One projection's rebuild in progress: its shadow tables exist until
/// [`Fold::close`].
pub(super) struct Fold {
    pool: PgPool,
    name: &'static str,
    tables: &'static [&'static str],
    options: RebuildOptions,
    shadow_pool: PgPool,
    projector: Box<dyn ShadowProjector>,
    source: StoreSource,
    done: u64,
    reported: Instant,
}

impl Fold {
    /// Makes fresh shadow tables for `projection` and the projector that
    /// writes them, reading the store from its start.
    pub(super) async fn open<P: Projection>(
        pool: &PgPool,
        projection: P,
        options: &RebuildOptions,
    ) -> Result<Self, RebuildError> {
        let Replay::Rebuild(tables) = P::REPLAY else {
            return Err(RebuildError::NotReplayable(P::NAME));
        };
        shadow::drop_leftovers(pool, P::NAME).await?;
        shadow::create(pool, P::NAME, tables).await?;
        let shadow_pool = shadow_pool(pool, P::NAME).await?;
        let config = ProjectorConfig {
            batch_size: options.batch_size,
            on_poison: options.on_poison,
            ..ProjectorConfig::default()
        };
        Ok(Self {
            pool: pool.clone(),
            name: P::NAME,
            tables,
            options: options.clone(),
            // The shadow is fresh and only this projector writes it: its
            // sequences stay in memory until the swap needs them.
            projector: Box::new(
                Projector::new(shadow_pool.clone(), projection, config).with_sequences_in_memory(),
            ),
            source: StoreSource::new(shadow_pool.clone()).with_poll_interval(CAUGHT_UP_WAIT),
            shadow_pool,
            done: 0,
            reported: Instant::now(),
        })
    }

    /// Events folded so far.
    pub(super) fn done(&self) -> u64 {
        self.done
    }

    /// Folds a batch read by someone else, after which its own reading
    /// goes on from `through`.
    pub(super) async fn apply(
        &mut self,
        events: &[CommittedEvent],
        through: Cursor,
    ) -> Result<(), RebuildError> {
        self.fold(events).await?;
        self.source.seek(through).await?;
        Ok(())
    }

    /// Catches up with the store, writes out the sequences kept in memory,
    /// gives the shadow its plain indexes and foreign keys, then swaps the
    /// shadow tables in, in one transaction under the live projection's
    /// writer lock, once the shadow has every aggregate at least as far as
    /// the live projection.
    pub(super) async fn swap(&mut self) -> Result<(), RebuildError> {
        self.catch_up().await?;
        // The swap compares the sequences with the live ones, and moves
        // them in. Written while the indexes are built: other tables, other
        // connections.
        tokio::try_join!(
            self.projector.store_sequences(),
            shadow::complete(&self.pool, self.name, self.tables),
        )?;
        self.catch_up().await?;
        for _ in 0..SWAP_ATTEMPTS {
            let mut tx = self.pool.begin().await?;
            tx.execute("SET LOCAL lock_timeout = '10s'").await?;
            sqlx::query(
                "INSERT INTO public.projection_checkpoints (projection) VALUES ($1)
                 ON CONFLICT DO NOTHING",
            )
            .bind(self.name)
            .execute(&mut *tx)
            .await?;
            // The live runner waits for this lock until the swap ends.
            checkpoint::lock_writers(&mut tx, "public.projection_checkpoints", self.name).await?;
            self.catch_up().await?;
            if live_ahead(&mut tx, self.name).await? > 0 {
                tx.rollback().await?;
                continue;
            }
            shadow::swap(&mut tx, self.name, self.tables).await?;
            tx.commit().await?;
            self.report(true).await;
            return Ok(());
        }
        Err(RebuildError::Behind(self.name))
    }

    /// Closes the shadow's connections and drops whatever is left of the
    /// shadow tables (all of them unless the swap happened).
    pub(super) async fn close(self) {
        self.shadow_pool.close().await;
        if let Err(err) = shadow::drop_leftovers(&self.pool, self.name).await {
            tracing::warn!(projection = self.name, error = %err, "shadow tables not dropped");
        }
    }

    /// Folds batches into the shadow until the store has nothing more below
    /// its horizon.
    async fn catch_up(&mut self) -> Result<(), RebuildError> {
        loop {
            let events = self.source.next_batch(self.options.batch_size).await?;
            if events.is_empty() {
                return Ok(());
            }
            self.fold(&events).await?;
        }
    }

    async fn fold(&mut self, events: &[CommittedEvent]) -> Result<(), RebuildError> {
        let halted = |state: String, error: String| RebuildError::Halted {
            projection: self.name,
            state,
            error,
        };
        match self.projector.apply(events).await? {
            BatchOutcome::Committed { .. } => {}
            BatchOutcome::Halted { state, error, .. } => {
                return Err(halted(state.to_string(), error))
            }
            BatchOutcome::NotRunning(state) => {
                let error = "the shadow projection is halted".to_owned();
                return Err(halted(state.to_string(), error));
            }
        }
        self.done += events.len() as u64;
        self.report(false).await;
        Ok(())
    }

    async fn report(&mut self, always: bool) {
        if always || self.reported.elapsed() >= self.options.report_every {
            self.reported = Instant::now();
            if let Err(err) = progress::report(&self.pool, self.name, self.done as i64).await {
                tracing::warn!(projection = self.name, error = %err, "rebuild progress not saved");
            }
        }
    }
}

/// Aggregates the live projection has applied further than the shadow.
async fn live_ahead(conn: &mut PgConnection, projection: &str) -> Result<i64, sqlx::Error> {
    let shadow = shadow::shadow_schema(projection);
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM public.projection_aggregate_sequences AS live
          WHERE live.projection = $1
            AND NOT EXISTS (SELECT 1 FROM {shadow}.projection_aggregate_sequences AS s
                             WHERE s.projection = live.projection
                               AND s.aggregate_type = live.aggregate_type
                               AND s.aggregate_id = live.aggregate_id
                               AND s.last_sequence >= live.last_sequence)"
    ))
    .bind(projection)
    .fetch_one(conn)
    .await
}

/// Connections that write the shadow tables: the shadow schema first on the
/// `search_path` (the projection's unqualified names resolve there; the
/// store's `events` still resolves to `public`), notifications silenced,
/// and commits not waiting for the disk: a crash loses nothing that
/// matters, since a rebuild that did not swap is thrown away (the swap
/// itself commits on the main pool, durably).
async fn shadow_pool(pool: &PgPool, projection: &str) -> Result<PgPool, sqlx::Error> {
    let search_path = format!(
        "SET search_path = {}, public",
        shadow::shadow_schema(projection)
    );
    PgPoolOptions::new()
        .max_connections(3)
        .after_connect(move |conn, _| {
            let search_path = search_path.clone();
            Box::pin(async move {
                conn.execute(search_path.as_str()).await?;
                conn.execute("SET jobsprint.replay = on").await?;
                conn.execute("SET synchronous_commit = off").await?;
                Ok(())
            })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
}
