//! Shared setup of the stream tests: a fresh topic on the real broker
//! (`KAFKA_BROKERS`, set by `make test`), writers that insert events as the
//! command side does, and a plain consumer that reads the topic back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{PgConnection, PgPool};
use stream::kafka::KafkaSettings;
use stream::relay::{Relay, RelayConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The tenant of every test event.
pub const TENANT: &str = "0b4b1c9e-6f1a-4c43-8d55-3b0c1f0e7a11";

/// Settings for a new topic of `partitions` on the test broker.
pub async fn fresh_topic(partitions: i32) -> KafkaSettings {
    let brokers = std::env::var("KAFKA_BROKERS").expect(
        "KAFKA_BROKERS must name the test broker: run `make test`, or \
         `eval \"$(scripts/services.sh)\"` first",
    );
    let run = Uuid::new_v4().simple().to_string();
    let settings = KafkaSettings::new(brokers)
        .with_topic(format!("test.events.{run}"))
        .with_group_prefix(format!("test.{run}"));
    settings.ensure_topic(partitions).await.unwrap();
    settings
}

/// Inserts one event as a command would (autocommit unless `conn` is in a
/// transaction).
pub async fn insert(conn: &mut PgConnection, aggregate_id: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Execution', $1, $2, 'StepCompleted', '1', $3, $4)",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(serde_json::json!({"StepCompleted": {"node_id": format!("n{sequence}"), "attempt": 1}}))
    .bind(serde_json::json!({"tenant_id": TENANT, "actor": "test",
                             "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}))
    .execute(conn)
    .await
    .unwrap();
}

/// The relay config of a test: quick to take over and to poll.
pub fn relay_config(settings: &KafkaSettings) -> RelayConfig {
    let mut config = RelayConfig::for_topic(&settings.topic);
    config.poll = Duration::from_millis(200);
    config.lease_retry = Duration::from_millis(100);
    config
}

/// A relay running in the background until the sender is dropped or set.
pub fn spawn_relay(
    pool: &PgPool,
    settings: &KafkaSettings,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let relay = Relay::new(pool.clone(), settings, relay_config(settings)).unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
    });
    (stop, task)
}

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Partition and offset.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The key.
    pub key: Vec<u8>,
    /// Every header, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The value.
    pub value: Vec<u8>,
}

impl Received {
    /// A header's text.
    pub fn header(&self, name: &str) -> &str {
        let (_, value) = self
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .unwrap_or_else(|| panic!("no {name} header"));
        std::str::from_utf8(value).unwrap()
    }

    /// Whether `other` is the same record apart from where it sits (a
    /// redelivery's content).
    pub fn same_content(&self, other: &Received) -> bool {
        self.key == other.key && self.headers == other.headers && self.value == other.value
    }
}

/// Reads every partition of the topic from the start (assigned, no group)
/// until `count` records arrived or nothing came for `quiet`; records in
/// partition, offset order.
pub async fn read_topic(settings: &KafkaSettings, count: usize, quiet: Duration) -> Vec<Received> {
    let config = settings.consumer(&format!("reader.{}", Uuid::new_v4()));
    let consumer: StreamConsumer = config.create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&settings.topic), Duration::from_secs(10))
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions
            .add_partition_offset(&settings.topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let mut seen = BTreeMap::new();
    while seen.len() < count {
        let Ok(message) = tokio::time::timeout(quiet, consumer.recv()).await else {
            break;
        };
        let message = message.unwrap();
        let headers = message.headers().map_or_else(Vec::new, |h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        });
        let received = Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().unwrap_or_default().to_vec(),
            headers,
            value: message.payload().unwrap_or_default().to_vec(),
        };
        seen.insert((received.partition, received.offset), received);
    }
    seen.into_values().collect()
}

/// The relay's saved cursor position.
pub async fn relay_position(pool: &PgPool, relay: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(max(global_position), 0) FROM relay_cursors WHERE relay = $1",
    )
    .bind(relay)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until the relay's saved cursor is past every event in the store
/// (at most `limit`).
pub async fn wait_for_relay(pool: &PgPool, relay: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e
              WHERE NOT EXISTS (SELECT 1 FROM relay_cursors r
                                 WHERE r.relay = $1
                                   AND (e.transaction_id, e.global_position)
                                       <= (r.transaction_id, r.global_position))",
        )
        .bind(relay)
        .fetch_one(pool)
        .await
        .unwrap();
        if behind == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay is still {behind} events behind after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
