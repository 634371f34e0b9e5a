//! One rebuild's work: folding the store into the shadow tables with the
//! projection's own [`Projector`], catching up, and the swap transaction
//! under the live checkpoint row lock (see the parent module).

use std::time::{Duration, Instant};

use projections::batch::BatchOutcome;
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::source::{EventSource, StoreSource};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgConnection, PgPool};

use super::{progress, shadow, Progress, RebuildError, RebuildOptions};

/// A batch that comes back empty after this long means the shadow has
/// caught up with the store's horizon.
const CAUGHT_UP_WAIT: Duration = Duration::from_millis(50);
/// Swap attempts before giving up on catching up.
const SWAP_ATTEMPTS: usize = 5;

/// One rebuild's folding state.
pub(super) struct Fold<'a> {
    pool: &'a PgPool,
    name: &'static str,
    options: &'a RebuildOptions,
    on_progress: &'a mut (dyn FnMut(Progress) + Send),
    done: u64,
    total: u64,
    reported: Instant,
}

impl<'a> Fold<'a> {
    pub(super) fn new(
        pool: &'a PgPool,
        name: &'static str,
        options: &'a RebuildOptions,
        on_progress: &'a mut (dyn FnMut(Progress) + Send),
        total: u64,
    ) -> Self {
        Self {
            pool,
            name,
            options,
            on_progress,
            done: 0,
            total,
            reported: Instant::now(),
        }
    }

    /// Events folded so far.
    pub(super) fn done(&self) -> u64 {
        self.done
    }

    /// Folds the whole store into fresh shadow tables and swaps them in.
    pub(super) async fn fold_and_swap<P: Projection>(
        &mut self,
        projection: P,
        tables: &[&str],
    ) -> Result<(), RebuildError> {
        shadow::drop_leftovers(self.pool, self.name).await?;
        shadow::create(self.pool, self.name, tables).await?;
        let shadow_pool = shadow_pool(self.pool, self.name).await?;
        let config = ProjectorConfig {
            batch_size: self.options.batch_size,
            on_poison: self.options.on_poison,
            ..ProjectorConfig::default()
        };
        let projector = Projector::new(shadow_pool.clone(), projection, config);
        let mut source = StoreSource::new(shadow_pool.clone()).with_poll_interval(CAUGHT_UP_WAIT);
        let result = self
            .catch_up_and_swap(&projector, &mut source, tables)
            .await;
        shadow_pool.close().await;
        result
    }

    async fn catch_up_and_swap<P: Projection>(
        &mut self,
        projector: &Projector<P>,
        source: &mut StoreSource,
        tables: &[&str],
    ) -> Result<(), RebuildError> {
        self.catch_up(projector, source).await?;
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
            // The live runner waits on this row until the swap ends.
            sqlx::query(
                "SELECT 1 FROM public.projection_checkpoints WHERE projection = $1 FOR UPDATE",
            )
            .bind(self.name)
            .execute(&mut *tx)
            .await?;
            self.catch_up(projector, source).await?;
            if live_ahead(&mut tx, self.name).await? > 0 {
                tx.rollback().await?;
                continue;
            }
            shadow::swap(&mut tx, self.name, tables).await?;
            tx.commit().await?;
            self.report(true).await;
            return Ok(());
        }
        Err(RebuildError::Behind(self.name))
    }

    /// Folds batches into the shadow until the store has nothing more below
    /// its horizon.
    async fn catch_up<P: Projection>(
        &mut self,
        projector: &Projector<P>,
        source: &mut StoreSource,
    ) -> Result<(), RebuildError> {
        loop {
            let events = source.next_batch(self.options.batch_size).await?;
            if events.is_empty() {
                return Ok(());
            }
            match projector.apply_batch(&events).await? {
                BatchOutcome::Committed { .. } => {}
                BatchOutcome::Halted { state, error, .. } => {
                    return Err(RebuildError::Halted {
                        projection: self.name,
                        state: state.to_string(),
                        error,
                    })
                }
                BatchOutcome::NotRunning(state) => {
                    return Err(RebuildError::Halted {
                        projection: self.name,
                        state: state.to_string(),
                        error: "the shadow projection is halted".to_owned(),
                    })
                }
            }
            self.done += events.len() as u64;
            self.report(false).await;
        }
    }

    async fn report(&mut self, always: bool) {
        (self.on_progress)(Progress {
            events_done: self.done,
            events_total: self.total.max(self.done),
        });
        if always || self.reported.elapsed() >= self.options.report_every {
            self.reported = Instant::now();
            if let Err(err) = progress::report(self.pool, self.name, self.done as i64).await {
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
/// store's `events` still resolves to `public`), and notifications silenced.
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
                Ok(())
            })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
}
