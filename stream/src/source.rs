//! The Kafka source of the projectors: the events topic read by one consumer
//! group per projection (`<prefix>.<projection>`).
//!
//! Offsets are committed only in [`EventSource::acknowledge`], which the
//! projector calls after its batch transaction (read-model writes and
//! checkpoint) committed: a crash before that redelivers, and the
//! projector's per-aggregate sequences skip what was already applied. The
//! topic is keyed by aggregate id, so each aggregate's events arrive in
//! order; different aggregates may interleave differently than in the store.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use projections::commit_order::{CommittedEvent, Cursor};
use projections::source::{EventSource, SourceError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::cloudevents::from_record;
use crate::kafka::KafkaSettings;

/// One projection's consumer of the events topic.
pub struct KafkaSource {
    consumer: StreamConsumer,
    topic: String,
    poll: Duration,
    /// Per partition: the first offset delivered and not yet acknowledged,
    /// and the next offset to commit.
    pending: BTreeMap<i32, (i64, i64)>,
}

impl KafkaSource {
    /// A consumer of `settings.topic` in the group of `projection`.
    pub fn new(settings: &KafkaSettings, projection: &str) -> Result<Self, KafkaError> {
        let group = format!("{}.{projection}", settings.group_prefix);
        let consumer: StreamConsumer = settings.consumer(&group).create()?;
        consumer.subscribe(&[&settings.topic])?;
        Ok(Self {
            consumer,
            topic: settings.topic.clone(),
            poll: Duration::from_secs(1),
            pending: BTreeMap::new(),
        })
    }

    /// The same, answering an empty batch after `poll` without records.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}

/// Reads one record into its event and notes its offset as pending.
fn take<M: Message>(
    topic: &str,
    pending: &mut BTreeMap<i32, (i64, i64)>,
    message: &M,
) -> Result<CommittedEvent, SourceError> {
    let (partition, offset) = (message.partition(), message.offset());
    let entry = pending.entry(partition).or_insert((offset, offset + 1));
    entry.1 = offset + 1;
    let headers = message.headers();
    from_record(message.key(), message.payload(), |name| {
        headers.and_then(|h| {
            h.iter()
                .find(|header| header.key == name)
                .and_then(|header| header.value)
        })
    })
    .map_err(|err| {
        SourceError::Unavailable(format!(
            "{topic} partition {partition} offset {offset}: {err}"
        ))
    })
}

fn unavailable(err: KafkaError) -> SourceError {
    SourceError::Unavailable(err.to_string())
}

#[async_trait]
impl EventSource for KafkaSource {
    /// Goes back to the first unacknowledged record of every partition (the
    /// group's committed offsets); `after` is not needed, since the
    /// projector's sequences recognize anything it already applied.
    async fn seek(&mut self, _after: Cursor) -> Result<(), SourceError> {
        let pending = std::mem::take(&mut self.pending);
        for (partition, (first, _)) in pending {
            self.consumer
                .seek(
                    &self.topic,
                    partition,
                    Offset::Offset(first),
                    Duration::from_secs(5),
                )
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<CommittedEvent>, SourceError> {
        let mut events = Vec::new();
        let mut wait = self.poll;
        while events.len() < max.max(1) {
            // The first record is awaited up to the poll interval; the rest
            // only if already fetched.
            match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) => break,
                Ok(message) => {
                    let message = message.map_err(unavailable)?;
                    events.push(take(&self.topic, &mut self.pending, &message)?);
                }
            }
            wait = Duration::ZERO;
        }
        Ok(events)
    }

    async fn acknowledge(&mut self, _through: Cursor) -> Result<(), SourceError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, (_, next)) in &self.pending {
            offsets
                .add_partition_offset(&self.topic, *partition, Offset::Offset(*next))
                .map_err(unavailable)?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Async)
            .map_err(unavailable)?;
        self.pending.clear();
        Ok(())
    }
}
