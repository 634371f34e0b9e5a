//! The feed of execution changes behind the subscriptions: ONE
//! `LISTEN jobsprint_execution_changes` per API process (per schema),
//! started by the first subscriber, reconnecting with backoff, fanned out to
//! every subscription through a broadcast channel. Nothing polls.
//!
//! The `executions` projection notifies inside its batch transaction, so a
//! notification means the read model already holds the change when it
//! arrives. A notification is sent for every applied event; subscribers
//! filter by tenant and id and then read the row.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use projections::read_models::executions::{ExecutionChange, CHANGES_CHANNEL};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;

/// How many changes a slow subscriber may fall behind before it is told it
/// lagged.
const CAPACITY: usize = 1024;
/// Longest pause between reconnection attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// How often an idle listener looks whether anyone still holds the feed.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    /// One execution changed.
    Changed(Arc<ExecutionChange>),
    /// The listener reconnected: notifications sent meanwhile are lost, so
    /// subscribers should read again what they follow.
    Resync,
}

/// The shared feed, kept in the schema's data.
pub(crate) struct ExecutionChanges {
    pool: PgPool,
    sender: broadcast::Sender<Signal>,
    started: AtomicBool,
}

impl ExecutionChanges {
    /// A feed over `pool`; it listens only once someone subscribes.
    pub(crate) fn new(pool: PgPool) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            pool,
            sender,
            started: AtomicBool::new(false),
        }
    }

    /// A receiver of every change from now on; starts the listener on the
    /// first call.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Signal> {
        let receiver = self.sender.subscribe();
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(listen(self.pool.clone(), self.sender.downgrade()));
        }
        receiver
    }
}

/// Listens until the feed is dropped or the pool closed, reconnecting
/// after failures (and telling subscribers to resync).
async fn listen(pool: PgPool, sender: broadcast::WeakSender<Signal>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match follow(&pool, &sender, &mut pause).await {
            Ok(()) => return,
            Err(_) if pool.is_closed() => return,
            Err(err) => {
                tracing::warn!(error = %err, channel = CHANGES_CHANNEL,
                               "execution change listener failed; reconnecting");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
        let Some(sender) = sender.upgrade() else {
            return;
        };
        let _ = sender.send(Signal::Resync);
    }
}

/// Forwards notifications until the feed is dropped (`Ok`) or the
/// connection fails.
async fn follow(
    pool: &PgPool,
    sender: &broadcast::WeakSender<Signal>,
    pause: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    *pause = Duration::from_millis(100);
    loop {
        let received = tokio::time::timeout(IDLE_CHECK, listener.try_recv()).await;
        let Some(sender) = sender.upgrade() else {
            return Ok(());
        };
        match received {
            Err(_idle) => continue,
            Ok(Err(err)) => return Err(err),
            // The connection was lost; the next call reconnects and
            // listens again, but what was sent meanwhile is gone.
            Ok(Ok(None)) => {
                let _ = sender.send(Signal::Resync);
            }
            Ok(Ok(Some(notification))) => {
                match serde_json::from_str::<ExecutionChange>(notification.payload()) {
                    Ok(change) => {
                        let _ = sender.send(Signal::Changed(Arc::new(change)));
                    }
                    Err(err) => tracing::warn!(error = %err, payload = notification.payload(),
                                               "unreadable execution change"),
                }
            }
        }
    }
}
