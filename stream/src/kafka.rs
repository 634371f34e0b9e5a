//! Connection settings for the broker, tuned for low latency (NOTES.md:
//! librdkafka's defaults batch for hundreds of milliseconds).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// The default topic every event is published to.
pub const DEFAULT_TOPIC: &str = "jobsprint.events";

/// Where the broker is and which topic carries the events.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]` (`KAFKA_BROKERS`).
    pub brokers: String,
    /// The events topic (`JOBSPRINT_KAFKA_TOPIC`, default `jobsprint.events`).
    pub topic: String,
    /// Prefix of consumer group ids: a projection `p` reads as
    /// `<prefix>.<p>`.
    pub group_prefix: String,
    /// librdkafka's `fetch.wait.max.ms`: how long the broker may hold a
    /// fetch without records. Apache Kafka answers as soon as a record
    /// arrives, so a long wait costs no latency there; tansu 0.6 holds every
    /// fetch the full wait, so this bounds the delivery delay and sets the
    /// idle fetch rate (docs/adr/0008-event-stream.md).
    pub fetch_wait: Duration,
}

/// Default [`KafkaSettings::fetch_wait`].
pub const DEFAULT_FETCH_WAIT: Duration = Duration::from_millis(5);

impl KafkaSettings {
    /// Settings for `brokers` with the default topic and group prefix.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            group_prefix: "jobsprint.projection".to_owned(),
            fetch_wait: DEFAULT_FETCH_WAIT,
        }
    }

    /// The same with another fetch wait.
    pub fn with_fetch_wait(mut self, wait: Duration) -> Self {
        self.fetch_wait = wait;
        self
    }

    /// The same on another topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The same with another consumer group prefix.
    pub fn with_group_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.group_prefix = prefix.into();
        self
    }

    /// Producer settings: every record acknowledged by the broker
    /// (`acks=all`), sent without lingering, one request in flight per
    /// connection so a retried request cannot overtake the next one (order
    /// within a partition holds without the idempotent producer, whose
    /// sequence checks tansu 0.6's SQLite engine fails on; the relay
    /// publishes at least once anyway and consumers deduplicate).
    pub fn producer(&self) -> ClientConfig {
        let mut config = self.client();
        config
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "0")
            .set("batch.num.messages", "1000")
            .set("message.timeout.ms", "30000")
            .set("compression.type", "none");
        config
    }

    /// Consumer settings for group `group`: offsets committed only by the
    /// projector after its transaction, fetches answered as soon as a
    /// record is there.
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let mut config = self.client();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                self.fetch_wait.as_millis().max(1).to_string(),
            )
            .set("fetch.min.bytes", "1")
            .set("fetch.error.backoff.ms", "5")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        config
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "jobsprint")
            .set("socket.nagle.disable", "true")
            .set("topic.metadata.refresh.interval.ms", "10000");
        config
    }

    /// Creates the topic with `partitions` when it does not exist.
    pub async fn ensure_topic(&self, partitions: i32) -> Result<(), rdkafka::error::KafkaError> {
        let admin: AdminClient<DefaultClientContext> = self.client().create()?;
        let topic = NewTopic::new(&self.topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics([&topic], &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(rdkafka::error::KafkaError::AdminOp(code)).inspect_err(|_| {
                        tracing::error!(topic, ?code, "cannot create the topic");
                    })
                }
            }
        }
        Ok(())
    }
}
