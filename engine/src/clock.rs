//! The engine's notion of now. Production uses the system clock; tests
//! move it forward to see retries and timers fire without waiting, and
//! the workers notice at once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;

/// The system clock plus an offset that only ever grows.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    moved: Arc<Notify>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Now, as the engine sees it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every clone) forward by `by`, waking workers
    /// that sleep until a due time.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// How long to sleep until `due` (at least a millisecond, at most
    /// `at_most`; `at_most` when nothing is due).
    pub fn sleep_until(
        &self,
        due: Option<DateTime<Utc>>,
        at_most: std::time::Duration,
    ) -> std::time::Duration {
        match due {
            Some(due) => (due - self.now())
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_millis(1))
                .min(at_most),
            None => at_most,
        }
    }

    /// Resolves when the clock is moved forward.
    pub async fn moved(&self) {
        self.moved.notified().await;
    }
}
