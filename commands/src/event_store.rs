//! The `EventStore` every framework commits through.
//!
//! Loading is cqrs-es's own snapshot store over our repository, with the
//! domain's upcasters ([`AggregateUpcaster`]): the events after a snapshot
//! (or all of them) are folded in their current version. Committing is
//! ours: cqrs-es 0.5 builds a snapshot by applying the new events to the
//! context's aggregate, but `EventSink::write` has already applied them
//! during `handle`, so its snapshots fold every new event twice (a counter in
//! the state drifts by one per snapshot). Here the snapshot is the state the
//! handler left, which already holds every new event exactly once
//! (docs/adr/0002-cqrs-es.md).
//!
//! Committed states are kept in an [`AggregateCache`]; a load served from it
//! is reported to the command layer, which re-decides anything but a
//! committed write on fresh state.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};

use crate::cache::{AggregateCache, Cached};
use crate::store::{EventRepository, Snapshot};
use crate::upcast::AggregateUpcaster;
use crate::write_scope;

/// An event store that snapshots every `every` events.
pub struct SnapshotStore<A: Aggregate + Send + Sync> {
    repo: EventRepository,
    loader: PersistedEventStore<EventRepository, A>,
    every: usize,
    cache: Arc<AggregateCache<A>>,
}

impl<A: Aggregate + Send + Sync + Clone> SnapshotStore<A> {
    /// A store over `repo` writing a snapshot every `every` events and
    /// keeping committed states in `cache`.
    pub fn new(repo: EventRepository, every: usize, cache: Arc<AggregateCache<A>>) -> Self {
        let every = every.max(1);
        Self {
            loader: PersistedEventStore::new_snapshot_store(repo.clone(), every)
                .with_upcasters(vec![Box::new(AggregateUpcaster::of(A::TYPE))]),
            repo,
            every,
            cache,
        }
    }
}

impl<A: Aggregate + Send + Sync + Clone> EventStore<A> for SnapshotStore<A> {
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.loader.load_events(aggregate_id).await
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        if let Some(cached) = self.cache.get(aggregate_id) {
            write_scope::report_from_cache();
            return Ok(EventStoreAggregateContext {
                aggregate_id: aggregate_id.to_owned(),
                aggregate: cached.aggregate,
                current_sequence: cached.sequence,
                current_snapshot: cached.snapshot,
            });
        }
        self.loader.load_aggregate(aggregate_id).await
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let before = context.current_sequence;
        let after = before + events.len();
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(before + 1..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // A snapshot whenever the batch reaches or crosses a multiple of
        // `every`; it holds the whole batch, so it claims the whole batch.
        let snapshot = if after / self.every > before / self.every {
            Some(Snapshot {
                payload: serde_json::to_value(&context.aggregate)
                    .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?,
                last_sequence: after as u64,
                number: context.current_snapshot.map_or(1, |n| n as u64 + 1),
            })
        } else {
            None
        };
        let snapshot_number = snapshot.as_ref().map(|s| s.number as usize);
        if let Err(err) = self.repo.append(A::TYPE, &serialized, snapshot).await {
            // Whatever happened, the cached state can no longer be trusted.
            self.cache.remove(&context.aggregate_id);
            return Err(err.into());
        }
        self.cache.put(
            &context.aggregate_id,
            Cached {
                aggregate: context.aggregate,
                sequence: after,
                snapshot: snapshot_number.or(context.current_snapshot),
            },
        );
        Ok(envelopes)
    }
}
