//! The pass shared by the rebuilds of [`super::rebuild_all`]: the store is
//! read once, each batch is handed to every projection's fold (each in a
//! task of its own), then each fold catches up and swaps.

use std::sync::Arc;
use std::time::Instant;

use projections::commit_order::{CommittedEvent, Cursor};
use projections::projector::Projection;
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::{EventSource, SourceError, StoreSource};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::fold::{self, Fold};
use super::{Progress, Rebuild, RebuildError, RebuildOptions, RebuildReport};

/// Folds one read of the store into the shadows of `rebuilds`, then swaps
/// each in; see [`super::rebuild_all`].
pub(super) async fn fold_together(
    pool: &PgPool,
    rebuilds: Vec<Rebuild>,
    options: &RebuildOptions,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Result<RebuildReport, RebuildError>>, RebuildError> {
    let started = Instant::now();
    let total = rebuilds.iter().map(|r| r.total).max().unwrap_or(0);
    // Each fold runs in a task of its own (the projections' work spreads
    // over the cores, on their own connections) and gets every batch
    // through a short queue, so reading the next batch overlaps folding
    // this one.
    let mut feeds = Vec::new();
    let mut tasks = Vec::new();
    for rebuild in &rebuilds {
        let opened = open(pool, rebuild.name, options).await;
        let (feed, batches) = mpsc::channel::<SharedBatch>(2);
        feeds.push(feed);
        tasks.push(tokio::spawn(follow(opened, batches)));
    }
    let read = feed_all(pool, options, &feeds, total, on_progress).await;
    drop(feeds);
    let unread = read.as_ref().err().map(ToString::to_string);
    // Then each catches up, builds its indexes and swaps, all at once: most
    // of that is one server backend's work each, so it spreads over the
    // cores too.
    let finishing = rebuilds.into_iter().zip(tasks).map(|(rebuild, task)| {
        let unread = unread.clone();
        async move {
            let mut folded = task.await.unwrap_or_else(|ended| {
                let error = format!("the rebuild's task ended: {ended}");
                Err((0, RebuildError::NotStarted(error)))
            });
            if let Some(err) = unread {
                // The store could not be read to the end: nothing is swapped.
                if let Ok(fold) = folded {
                    let done = fold.done();
                    fold.close().await;
                    let err = RebuildError::Source(SourceError::Unavailable(err));
                    folded = Err((done, err));
                }
            }
            rebuild.swap_and_finish(folded, started).await
        }
    });
    let results = futures::future::join_all(finishing).await;
    read?;
    Ok(results)
}

/// A batch of the shared pass, with its last cursor, handed to every fold.
type SharedBatch = Arc<(Vec<CommittedEvent>, Cursor)>;

/// Reads the store once, in batches, and hands every batch to each feed.
async fn feed_all(
    pool: &PgPool,
    options: &RebuildOptions,
    feeds: &[mpsc::Sender<SharedBatch>],
    total: u64,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), SourceError> {
    let mut source = StoreSource::new(pool.clone()).with_poll_interval(fold::CAUGHT_UP_WAIT);
    let mut done = 0;
    loop {
        let events = source.next_batch(options.batch_size).await?;
        let Some(through) = events.last().map(|event| event.cursor) else {
            return Ok(());
        };
        let count = events.len() as u64;
        let batch = Arc::new((events, through));
        for feed in feeds {
            // A fold that failed has stopped listening; the others go on.
            let _ = feed.send(batch.clone()).await;
        }
        done += count;
        on_progress(Progress {
            events_done: done,
            events_total: total.max(done),
        });
    }
}

/// Folds every batch it is fed into `fold`'s shadow; the fold, ready to
/// catch up and swap, once the feed ends. A fold that fails is closed.
async fn follow(
    fold: Result<Fold, RebuildError>,
    mut batches: mpsc::Receiver<SharedBatch>,
) -> Result<Fold, (u64, RebuildError)> {
    let mut fold = fold.map_err(|err| (0, err))?;
    while let Some(batch) = batches.recv().await {
        let (events, through) = &*batch;
        if let Err(err) = fold.apply(events, *through).await {
            let done = fold.done();
            fold.close().await;
            return Err((done, err));
        }
    }
    Ok(fold)
}

/// Opens the rebuild of one of [`super::REBUILDABLE`] with its own projection code.
async fn open(pool: &PgPool, name: &str, options: &RebuildOptions) -> Result<Fold, RebuildError> {
    match name {
        WorkflowsProjection::NAME => Fold::open(pool, WorkflowsProjection, options).await,
        ExecutionsProjection::NAME => Fold::open(pool, ExecutionsProjection, options).await,
        IntegrationsProjection::NAME => Fold::open(pool, IntegrationsProjection, options).await,
        AuditLogProjection::NAME => Fold::open(pool, AuditLogProjection, options).await,
        other => Err(RebuildError::Unknown(other.to_owned())),
    }
}
