//! The in-process cache of aggregate states (docs/adr/0005-aggregate-cache.md).
//!
//! After a commit the state the handler left is kept, so the next command on
//! that aggregate needs no read at all. A cached state is only ever trusted
//! when the decision it led to commits: the events' primary key
//! `(aggregate_type, aggregate_id, sequence)` refuses a write based on a
//! stale state (another process wrote first), and the command layer
//! re-decides rejections and no-ops on a freshly loaded state.

use std::collections::HashMap;
use std::sync::Mutex;

/// A committed state of one aggregate.
#[derive(Debug, Clone)]
pub struct Cached<A> {
    /// The state after the last committed event.
    pub aggregate: A,
    /// The sequence of that event.
    pub sequence: usize,
    /// The number of the aggregate's latest snapshot.
    pub snapshot: Option<usize>,
}

/// A bounded map from aggregate id to its last committed state.
#[derive(Debug)]
pub struct AggregateCache<A> {
    entries: Mutex<HashMap<String, Cached<A>>>,
    capacity: usize,
}

impl<A: Clone> AggregateCache<A> {
    /// A cache of at most `capacity` aggregates; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// A copy of the cached state of `id`.
    pub fn get(&self, id: &str) -> Option<Cached<A>> {
        self.lock().get(id).cloned()
    }

    /// Remembers the committed state of `id`.
    pub fn put(&self, id: &str, cached: Cached<A>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            // Evicting an arbitrary entry costs the next command on it one
            // load; a cold aggregate is the common victim at this size.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(id.to_owned(), cached);
    }

    /// Forgets `id`; true when it was cached.
    pub fn remove(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached<A>>> {
        // A panic while holding the lock cannot leave a half-written entry.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Cached<usize> {
        Cached {
            aggregate: n,
            sequence: n,
            snapshot: None,
        }
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let cache = AggregateCache::new(2);
        cache.put("a", entry(1));
        cache.put("b", entry(2));
        cache.put("c", entry(3));
        let held = ["a", "b", "c"]
            .iter()
            .filter(|id| cache.get(id).is_some())
            .count();
        assert_eq!(held, 2);
        assert_eq!(
            cache.get("c").unwrap().sequence,
            3,
            "the newest entry is kept"
        );
        cache.put("c", entry(4));
        assert_eq!(
            cache.get("c").unwrap().aggregate,
            4,
            "updating an entry evicts nothing"
        );
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = AggregateCache::new(0);
        cache.put("a", entry(1));
        assert!(cache.get("a").is_none());
        assert!(!cache.remove("a"));
    }
}
