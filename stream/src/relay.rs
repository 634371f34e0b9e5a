//! The relay: carries every committed event from the store to the events
//! topic, in commit order, at least once (docs/adr/0008-event-stream.md).
//!
//! It reads the store with the projectors' [`StoreSource`] (commit order
//! below the xmin horizon, woken by LISTEN/NOTIFY, bounded polling),
//! publishes a batch, waits until the broker acknowledged every record of
//! it, and only then saves its cursor under its [`Lease`], while it reads
//! the next batch (published only once that save succeeded). A relay that
//! dies between the acknowledgement and the save publishes that batch
//! again: the duplicates are byte-identical records (unless a deployment in
//! between added an upcaster for one of them: then the copy is in the newer
//! version, same `ce_id`), and consumers deduplicate by
//! `(aggregate, sequence)` or position.
//!
//! Events are published in their **current** version: the source hands
//! them out upcast and [`to_record`] upcasts whatever it is given, so
//! `ce_type` names the version of the payload (`….WorkflowRenamed.v2` for
//! a row stored as v1). The store is never rewritten
//! (docs/adr/0014-event-upcasting.md).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use projections::commit_order::{CommittedEvent, Cursor};
use projections::source::{EventSource, SourceError, StoreSource};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sqlx::PgPool;

use crate::cloudevents::to_record;
use crate::kafka::KafkaSettings;
use crate::lease::{Lease, LeaseError};

/// How a relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The relay's name: the key of its cursor and lease.
    pub name: String,
    /// Most events per published batch.
    pub batch_size: usize,
    /// Longest wait for new events without a notification.
    pub poll: Duration,
    /// How often a waiting relay tries to take the lease.
    pub lease_retry: Duration,
    /// Who holds the lease (host and process, shown in `relay_cursors`).
    pub holder: String,
}

impl RelayConfig {
    /// The relay of `topic`, with the defaults.
    pub fn for_topic(topic: &str) -> Self {
        Self {
            name: topic.to_owned(),
            batch_size: 500,
            poll: Duration::from_secs(1),
            lease_retry: Duration::from_millis(500),
            holder: format!("pid {}", std::process::id()),
        }
    }
}

/// Why the relay stopped pumping.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The lease is gone or its database failed.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The store could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The broker refused or did not acknowledge a record.
    #[error("publishing to Kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// One relay process.
pub struct Relay {
    pool: PgPool,
    producer: FutureProducer,
    topic: String,
    config: RelayConfig,
}

/// Longest pause after a failure.
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// How often an idle relay checks that its lease connection is alive.
const LEASE_CHECK: Duration = Duration::from_secs(5);

impl Relay {
    /// A relay of the store in `pool` to the broker in `settings`.
    pub fn new(
        pool: PgPool,
        settings: &KafkaSettings,
        config: RelayConfig,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            pool,
            producer: settings.producer().create()?,
            topic: settings.topic.clone(),
            config,
        })
    }

    /// Waits for the lease, then publishes until `shutdown` completes; a
    /// lost lease or a failure goes back to waiting (with backoff). The
    /// batch being published when `shutdown` comes is finished and saved.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut pause = self.config.lease_retry;
        loop {
            let lease = tokio::select! {
                biased;
                () = shutdown.as_mut() => break,
                lease = self.wait_for_lease() => lease,
            };
            let outcome = match lease {
                Ok(mut lease) => {
                    pause = self.config.lease_retry;
                    tracing::info!(
                        relay = self.config.name,
                        fencing = lease.fencing(),
                        position = lease.cursor().global_position,
                        "relay lease taken"
                    );
                    let outcome = self.pump(&mut lease, &mut shutdown).await;
                    lease.release().await;
                    outcome
                }
                Err(err) => Err(err.into()),
            };
            match outcome {
                Ok(()) => break,
                Err(RelayError::Source(SourceError::Closed)) => break,
                Err(err) => {
                    tracing::warn!(relay = self.config.name, error = %err, "relay stopped; retrying");
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        let _ = self.producer.flush(Duration::from_secs(5));
    }

    /// Takes the lease as soon as no other process holds it.
    pub async fn wait_for_lease(&self) -> Result<Lease, LeaseError> {
        loop {
            let holder = &self.config.holder;
            if let Some(lease) = Lease::try_acquire(&self.pool, &self.config.name, holder).await? {
                return Ok(lease);
            }
            tokio::time::sleep(self.config.lease_retry).await;
        }
    }

    /// Publishes batches from the lease's cursor until shutdown.
    async fn pump<F: Future<Output = ()>>(
        &self,
        lease: &mut Lease,
        shutdown: &mut Pin<&mut F>,
    ) -> Result<(), RelayError> {
        let mut source = StoreSource::new(self.pool.clone()).with_poll_interval(self.config.poll);
        source.seek(lease.cursor()).await?;
        let mut idle_since = tokio::time::Instant::now();
        // The cursor of the last published batch, saved while the next one
        // is read: the save is off the path from commit to topic.
        let mut unsaved: Option<Cursor> = None;
        loop {
            let read = async {
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => None,
                    events = source.next_batch(self.config.batch_size) => Some(events),
                }
            };
            let save = async {
                match unsaved.take() {
                    Some(cursor) => lease.save(cursor).await,
                    None => Ok(()),
                }
            };
            // A save is finished even when shutdown comes during the read.
            let (events, saved) = tokio::join!(read, save);
            saved?;
            let Some(events) = events else {
                return Ok(());
            };
            let events = events?;
            let Some(last) = events.last().map(|e| e.cursor) else {
                if idle_since.elapsed() >= LEASE_CHECK {
                    lease.check().await?;
                    idle_since = tokio::time::Instant::now();
                }
                continue;
            };
            self.publish(&events).await?;
            unsaved = Some(last);
            idle_since = tokio::time::Instant::now();
            metrics::counter!("jobsprint_relay_published_total").increment(events.len() as u64);
            metrics::gauge!("jobsprint_relay_position").set(last.global_position as f64);
        }
    }

    /// Publishes `events` in order and waits until the broker acknowledged
    /// every one (records of one aggregate keep their order in its
    /// partition: the producer is idempotent).
    pub async fn publish(&self, events: &[CommittedEvent]) -> Result<(), RelayError> {
        let mut deliveries = Vec::with_capacity(events.len());
        for committed in events {
            let record = to_record(committed);
            let headers =
                record
                    .headers
                    .iter()
                    .fold(OwnedHeaders::new(), |headers, (key, value)| {
                        headers.insert(Header {
                            key,
                            value: Some(value.as_bytes()),
                        })
                    });
            let future = FutureRecord::to(&self.topic)
                .key(&record.key)
                .payload(&record.value)
                .headers(headers);
            let delivery = self
                .producer
                .send_result(future)
                .map_err(|(err, _)| RelayError::Kafka(err))?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(err.into()),
                Err(_) => return Err(KafkaError::Canceled.into()),
            }
        }
        Ok(())
    }
}
