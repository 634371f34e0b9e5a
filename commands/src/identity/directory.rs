//! Reads of identity aggregates for authentication, trusted for a short
//! time: a logout or role change reaches every process within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cqrs_es::{Aggregate, EventStore};
use domain::identity::{ApiToken, Session, User};

use crate::cache::AggregateCache;
use crate::error::{from_aggregate_error, CommandError};
use crate::event_store::SnapshotStore;
use crate::store::EventRepository;

/// Time-bounded reads of users, sessions and API tokens.
pub(crate) struct Directory {
    users: Shelf<User>,
    sessions: Shelf<Session>,
    api_tokens: Shelf<ApiToken>,
}

impl Directory {
    pub(crate) fn new(repo: EventRepository, snapshot_every: usize, ttl: Duration) -> Self {
        Self {
            users: Shelf::new(&repo, snapshot_every, ttl),
            sessions: Shelf::new(&repo, snapshot_every, ttl),
            api_tokens: Shelf::new(&repo, snapshot_every, ttl),
        }
    }

    pub(crate) async fn user(&self, id: &str) -> Result<Arc<User>, CommandError> {
        self.users.get(id).await
    }

    pub(crate) async fn session(&self, id: &str) -> Result<Arc<Session>, CommandError> {
        self.sessions.get(id).await
    }

    pub(crate) async fn api_token(&self, id: &str) -> Result<Arc<ApiToken>, CommandError> {
        self.api_tokens.get(id).await
    }

    /// Forgets what this process knows of `id`, after it changed it.
    pub(crate) fn forget(&self, id: &str) {
        self.users.forget(id);
        self.sessions.forget(id);
        self.api_tokens.forget(id);
    }
}

struct Shelf<A: Aggregate + Clone> {
    store: SnapshotStore<A>,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<A>)>>,
}

/// Entries kept per kind before the shelf is cleared of expired ones.
const SWEEP_AT: usize = 50_000;

impl<A: Aggregate<Services = ()> + Clone> Shelf<A>
where
    A::Error: domain::error::DomainError,
{
    fn new(repo: &EventRepository, snapshot_every: usize, ttl: Duration) -> Self {
        Self {
            // Never the command path's cache: authentication must see other
            // processes' writes within `ttl`.
            store: SnapshotStore::new(
                repo.clone(),
                snapshot_every,
                Arc::new(AggregateCache::new(0)),
            ),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn get(&self, id: &str) -> Result<Arc<A>, CommandError> {
        if let Some((at, state)) = self.lock().get(id) {
            if at.elapsed() < self.ttl {
                return Ok(state.clone());
            }
        }
        let context = self
            .store
            .load_aggregate(id)
            .await
            .map_err(from_aggregate_error::<A::Error>)?;
        let state = Arc::new(context.aggregate);
        let mut entries = self.lock();
        if entries.len() >= SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(id.to_owned(), (Instant::now(), state.clone()));
        Ok(state)
    }

    fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<A>)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
