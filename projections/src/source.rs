//! Ordered sources of committed events for the projectors: the event store
//! itself today, a Kafka topic later. A projector reads through
//! [`EventSource`] and never knows which one it has.
//!
//! **Delivery contract** of every source: one aggregate's events arrive in
//! sequence order; an event may arrive more than once (after a restart, a
//! seek or a broker redelivery). The projector deduplicates and checks
//! continuity by aggregate sequence, so it needs nothing more. The store
//! source also keeps the global commit order; a Kafka source keyed by
//! aggregate id will keep only the per-aggregate order.
//!
//! Every source delivers events in their **current** version (upcast, see
//! [`crate::upcast`]): a projection only reads the shapes the domain
//! writes today, and a rebuild over old events sees them the same way.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::commit_order::{read_committed, CommittedEvent, Cursor};
use crate::upcast::current_committed;

/// The channel the `events` trigger notifies after every insert (a hint only).
pub const EVENTS_CHANNEL: &str = "jobsprint_events";

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is shut down (its pool was closed): the reader should stop.
    #[error("the event source is closed")]
    Closed,
    /// The event store could not be read; retry later.
    #[error("reading the event store: {0}")]
    Store(#[source] sqlx::Error),
    /// Another kind of source (a broker) failed; retry later.
    #[error("event source unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for SourceError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolClosed => Self::Closed,
            other => Self::Store(other),
        }
    }
}

/// An ordered source of committed events (see the module's delivery contract).
#[async_trait]
pub trait EventSource: Send {
    /// Resumes delivery just after `after`, the projection's checkpoint.
    /// Called before the first batch and whenever the projector goes back
    /// (after a halt or a batch that did not commit).
    async fn seek(&mut self, after: Cursor) -> Result<(), SourceError>;

    /// The next events, at most `max`, each with its commit-order cursor.
    /// Waits a bounded time when there is nothing, then answers an empty
    /// batch so the caller can look at its stop signal.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<CommittedEvent>, SourceError>;

    /// Everything up to and including `through` is applied and committed (a
    /// broker source commits its offsets here; the store needs nothing).
    async fn acknowledge(&mut self, through: Cursor) -> Result<(), SourceError> {
        let _ = through;
        Ok(())
    }
}

/// The event store read in commit order below the xmin horizon
/// ([`read_committed`], raw), each event upcast to its current version
/// before it is handed out, woken by `LISTEN jobsprint_events`. Notifications
/// are hints that may never come: the `events` trigger lets one notifying
/// transaction be in flight at a time (the others skip it), and a held
/// transaction that rolls back or wrote no event sends none. So the source
/// keeps looking quickly for a moment after each delivery and while
/// committed events wait behind an open transaction (every 2 ms for 50 ms
/// after a delivery, then less and less often, down to every 20 ms), and
/// polls on a bounded interval otherwise.
pub struct StoreSource {
    pool: PgPool,
    after: Cursor,
    poll: Duration,
    events: EventsListener,
    /// When events were last delivered.
    delivered_at: Option<Instant>,
    /// The next quick pause; kept across calls so a long transaction
    /// holding the horizon is polled at the slow end of the range.
    quick_pause: Duration,
}

/// First quick pause: after a delivery, or while committed events wait
/// behind an open transaction.
const QUICK_FIRST: Duration = Duration::from_millis(2);
/// Longest quick pause: a committed event waiting behind an open
/// transaction is seen at most this long after the horizon passes it (one
/// cheap `EXISTS` query per pause while a long transaction stays open).
const QUICK_MAX: Duration = Duration::from_millis(20);
/// How long after a delivery the source keeps looking quickly: writers
/// that committed without notifying are picked up within it.
const LINGER: Duration = Duration::from_millis(250);
/// How long after a delivery the pauses stay at [`QUICK_FIRST`] before
/// they double: under a steady load, events come every few milliseconds
/// and the horizon is held by command transactions that last about as
/// long, so a doubling pause would mostly add latency.
const QUICK_SPAN: Duration = Duration::from_millis(50);

impl StoreSource {
    /// A source over the store in `pool`, starting at the beginning; polls
    /// at least once a second.
    pub fn new(pool: PgPool) -> Self {
        Self {
            after: Cursor::default(),
            poll: Duration::from_secs(1),
            events: EventsListener::new(pool.clone(), Duration::from_secs(1)),
            pool,
            delivered_at: None,
            quick_pause: QUICK_FIRST,
        }
    }

    /// The same, looking at the store at least every `poll` without a
    /// notification (and answering an empty batch after that long).
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self.events.retry_after = self.poll;
        self
    }

    /// The cursor of the last event delivered.
    pub fn position(&self) -> Cursor {
        self.after
    }

    /// Whether committed events exist after the cursor that the horizon
    /// still hides: an older transaction is open and will end soon.
    async fn blocked(&self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE (transaction_id, global_position) > ($1::text::xid8, $2))",
        )
        .bind(self.after.transaction_id.to_string())
        .bind(self.after.global_position)
        .fetch_one(&self.pool)
        .await
    }
}

#[async_trait]
impl EventSource for StoreSource {
    async fn seek(&mut self, after: Cursor) -> Result<(), SourceError> {
        self.after = after;
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<CommittedEvent>, SourceError> {
        // Listen before reading, so a commit between the read and the wait
        // still wakes us.
        self.events.listen().await;
        let started = Instant::now();
        loop {
            let events = read_committed(&self.pool, self.after, max.max(1) as i64).await?;
            if let Some(last) = events.last() {
                self.after = last.cursor;
                self.delivered_at = Some(Instant::now());
                self.quick_pause = QUICK_FIRST;
                return Ok(events.into_iter().map(current_committed).collect());
            }
            let Some(left) = self.poll.checked_sub(started.elapsed()) else {
                return Ok(Vec::new());
            };
            let since = self.delivered_at.map(|at| at.elapsed());
            let lingering = since.is_some_and(|since| since < LINGER);
            if lingering || self.blocked().await? {
                // A notification still ends the pause at once; the pause
                // only bounds how late an unnotified commit is seen.
                self.events.wait(self.quick_pause.min(left)).await?;
                if since.is_none_or(|since| since >= QUICK_SPAN) {
                    self.quick_pause = (self.quick_pause * 2).min(QUICK_MAX);
                }
            } else {
                self.quick_pause = QUICK_FIRST;
                self.events.wait(left).await?;
            }
        }
    }
}

/// `LISTEN jobsprint_events` as a wake-up hint for a commit-order reader,
/// falling back to plain pauses while listening fails (it is retried
/// `retry_after` later). Never a delivery channel: a reader always reads
/// the store after waking.
pub struct EventsListener {
    pool: PgPool,
    listener: Option<PgListener>,
    /// When listening last failed.
    failed_at: Option<Instant>,
    /// How long after a failure listening is tried again.
    pub retry_after: Duration,
}

impl EventsListener {
    /// Not listening yet; [`EventsListener::listen`] starts.
    pub fn new(pool: PgPool, retry_after: Duration) -> Self {
        Self {
            pool,
            listener: None,
            failed_at: None,
            retry_after,
        }
    }

    /// Listens, unless it already does or listening failed less than
    /// `retry_after` ago. Call it before reading, so that a commit between
    /// the read and the wait still wakes the reader.
    pub async fn listen(&mut self) {
        if self.listener.is_some()
            || self
                .failed_at
                .is_some_and(|t| t.elapsed() < self.retry_after)
        {
            return;
        }
        let listening = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(EVENTS_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => {
                self.listener = Some(listener);
                self.failed_at = None;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot LISTEN for new events; polling");
                self.failed_at = Some(Instant::now());
            }
        }
    }

    /// Waits for a notification, at most `limit` (the whole `limit` when
    /// not listening). `Closed` once the pool is closed.
    pub async fn wait(&mut self, limit: Duration) -> Result<(), SourceError> {
        let Some(listener) = &mut self.listener else {
            tokio::time::sleep(limit).await;
            return Ok(());
        };
        match tokio::time::timeout(limit, listener.recv()).await {
            Err(_) | Ok(Ok(_)) => Ok(()),
            Ok(Err(sqlx::Error::PoolClosed)) => {
                self.listener = None;
                Err(SourceError::Closed)
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "lost the LISTEN connection; polling");
                self.listener = None;
                self.failed_at = Some(Instant::now());
                Ok(())
            }
        }
    }
}
