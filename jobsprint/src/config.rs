//! Typed configuration, read once from flags and `JOBSPRINT_*` variables.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::secrets::SecretString;
use sqlx::PgPool;

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the projectors read committed events from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bus {
    /// The events topic the relay fills (each projection is a consumer
    /// group); needs `KAFKA_BROKERS`.
    Kafka,
    /// Straight from the event store, in commit order (single-node
    /// deployments without Kafka).
    Store,
}

/// The broker, the events topic and the relay.
#[derive(Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Kafka-protocol brokers, `host:port[,host:port]`. When set, this
    /// process also runs the relay (one process at a time holds its lease).
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// The topic every committed event is published to.
    #[arg(long, env = "JOBSPRINT_KAFKA_TOPIC", default_value = stream::kafka::DEFAULT_TOPIC)]
    pub kafka_topic: String,
    /// Partitions of the topic when this process creates it.
    #[arg(long, env = "JOBSPRINT_KAFKA_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_partitions: i32,
    /// Prefix of the projections' consumer groups (`<prefix>.<projection>`).
    #[arg(
        long,
        env = "JOBSPRINT_KAFKA_GROUP_PREFIX",
        default_value = "jobsprint.projection"
    )]
    pub kafka_group_prefix: String,
    /// Longest time the broker may hold a consumer's fetch without records,
    /// in ms: with tansu the delivery delay it adds; with Apache Kafka raise
    /// it (100+) for near-zero idle fetches at no latency cost.
    #[arg(long, env = "JOBSPRINT_KAFKA_FETCH_WAIT_MS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub kafka_fetch_wait_ms: u64,
    /// Whether this process runs the relay when brokers are set.
    #[arg(long, env = "JOBSPRINT_RELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay: bool,
}

impl KafkaArgs {
    /// The broker settings, when brokers are set.
    pub fn settings(&self) -> Option<stream::kafka::KafkaSettings> {
        let brokers = self
            .kafka_brokers
            .as_deref()
            .filter(|b| !b.trim().is_empty())?;
        Some(
            stream::kafka::KafkaSettings::new(brokers)
                .with_topic(&self.kafka_topic)
                .with_group_prefix(&self.kafka_group_prefix)
                .with_fetch_wait(std::time::Duration::from_millis(self.kafka_fetch_wait_ms)),
        )
    }
}

/// What a projection does with an event it cannot apply (after writing it
/// to its dead-letter table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnPoison {
    /// Stop just before it until the code is fixed (restart or retry).
    Stop,
    /// Skip it and go on.
    Skip,
}

/// Settings of anything that talks to the database.
#[derive(Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Largest number of pooled connections.
    #[arg(long, env = "JOBSPRINT_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: u32,
    /// Log format.
    #[arg(long, env = "JOBSPRINT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The master keys that wrap the tenants' data keys, which seal integration
/// credentials (docs/adr/0003-secret-encryption.md).
#[derive(Args)]
pub struct MasterKeyArgs {
    /// Master keys, comma-separated `id:base64-of-32-bytes` entries. All of
    /// them unwrap data keys; the active one wraps new ones.
    #[arg(long, env = "JOBSPRINT_MASTER_KEYS", hide_env_values = true)]
    pub master_keys: Option<String>,
    /// Id of the active master key, one of JOBSPRINT_MASTER_KEYS (may be left
    /// out when that holds a single key).
    #[arg(long, env = "JOBSPRINT_MASTER_KEY_ID")]
    pub master_key_id: Option<String>,
    /// Legacy: base64 of one 32-byte key, used as the only master key when
    /// JOBSPRINT_MASTER_KEYS is unset.
    #[arg(long, env = "JOBSPRINT_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Legacy: file holding that key (used when JOBSPRINT_SECRET_KEY is unset).
    #[arg(long, env = "JOBSPRINT_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Legacy: the id of that key.
    #[arg(long, env = "JOBSPRINT_SECRET_KEY_ID", default_value = "k1")]
    pub secret_key_id: String,
}

impl MasterKeyArgs {
    /// The configured master keys, or `None` when no key is configured.
    /// Errors name variables and key ids, never key material.
    pub fn master_keys(&self) -> anyhow::Result<Option<MasterKeys>> {
        let legacy = self.secret_key.is_some() || self.secret_key_file.is_some();
        if let Some(list) = &self.master_keys {
            if legacy {
                tracing::warn!(
                    "JOBSPRINT_MASTER_KEYS is set, so JOBSPRINT_SECRET_KEY(_FILE) is ignored; \
                     list that key there if secrets were sealed under it"
                );
            }
            let keys = MasterKeys::parse(
                &SecretString::new(list.as_str()),
                self.master_key_id.as_deref(),
            )
            .context("invalid JOBSPRINT_MASTER_KEYS / JOBSPRINT_MASTER_KEY_ID")?;
            return Ok(Some(keys));
        }
        if let Some(id) = &self.master_key_id {
            anyhow::bail!("JOBSPRINT_MASTER_KEY_ID is '{id}' but JOBSPRINT_MASTER_KEYS is not set");
        }
        let key = match (&self.secret_key, &self.secret_key_file) {
            (Some(key), _) => SecretString::new(key.as_str()),
            (None, Some(path)) => SecretString::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the secret key file {}", path.display()))?,
            ),
            (None, None) => return Ok(None),
        };
        let id = self.secret_key_id.clone();
        let keys = MasterKeys::new(&id, [(id.clone(), key)])
            .context("invalid JOBSPRINT_SECRET_KEY / JOBSPRINT_SECRET_KEY_FILE")?;
        Ok(Some(keys))
    }
}

/// Settings of `jobsprint serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to serve HTTP on.
    #[arg(long, env = "JOBSPRINT_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    #[command(flatten)]
    pub keys: MasterKeyArgs,
    #[command(flatten)]
    pub jwt: crate::access::JwtArgs,
    #[command(flatten)]
    pub rates: crate::access::RateArgs,
    /// A snapshot is written every this many events of an aggregate.
    #[arg(long, env = "JOBSPRINT_SNAPSHOT_EVERY", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub snapshot_every: u32,
    /// Aggregates per type whose last committed state stays in memory
    /// (0: load every aggregate from the store for every command).
    #[arg(long, env = "JOBSPRINT_AGGREGATE_CACHE", default_value_t = 10_000)]
    pub aggregate_cache: usize,
    /// Whether GraphQL introspection is allowed.
    #[arg(long, env = "JOBSPRINT_GRAPHQL_INTROSPECTION", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "JOBSPRINT_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Where the projectors read events: `kafka` (the events topic) or
    /// `store` (the event store in commit order). Default: `kafka` when
    /// `KAFKA_BROKERS` is set, else `store`.
    #[arg(long, env = "JOBSPRINT_BUS", value_enum)]
    pub bus: Option<Bus>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// What a projection does with an event it cannot apply.
    #[arg(long, env = "JOBSPRINT_PROJECTION_ON_POISON", value_enum, default_value_t = OnPoison::Stop)]
    pub projection_on_poison: OnPoison,
    #[command(flatten)]
    pub engine: crate::engine_process::EngineArgs,
}

impl ServeArgs {
    /// The command layer's settings, sealing credentials with data keys in
    /// `pool` under `master` (`None` refuses credentials).
    pub fn command_config(
        &self,
        pool: &PgPool,
        master: Option<MasterKeys>,
    ) -> commands::CommandConfig {
        let secrets = match master {
            Some(master) => {
                tracing::info!(
                    active = master.active_id(),
                    configured = ?master.ids().collect::<Vec<_>>(),
                    "master keys"
                );
                Some(Arc::new(DataKeys::new(pool.clone(), master)))
            }
            None => {
                tracing::warn!(
                    "no JOBSPRINT_MASTER_KEYS: integrations with credentials will be refused"
                );
                None
            }
        };
        commands::CommandConfig {
            snapshot_every: self.snapshot_every as usize,
            cache_capacity: self.aggregate_cache,
            secrets,
            ..commands::CommandConfig::default()
        }
    }

    /// The projectors' settings.
    pub fn projector_config(&self) -> projections::projector::ProjectorConfig {
        projections::projector::ProjectorConfig {
            on_poison: match self.projection_on_poison {
                OnPoison::Stop => projections::projector::PoisonPolicy::Stop,
                OnPoison::Skip => projections::projector::PoisonPolicy::Skip,
            },
            ..projections::projector::ProjectorConfig::default()
        }
    }

    /// The HTTP layer's settings.
    pub fn api_config(&self) -> api::ApiConfig {
        let (rate_per_ip, rate_per_caller) = self.rates.quotas();
        api::ApiConfig {
            body_limit_bytes: self.body_limit_bytes,
            introspection: self.introspection,
            rate_per_ip,
            rate_per_caller,
            ..api::ApiConfig::default()
        }
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commands::secrets::generate_key;

    fn args(master_keys: Option<String>, master_key_id: Option<&str>) -> MasterKeyArgs {
        MasterKeyArgs {
            master_keys,
            master_key_id: master_key_id.map(str::to_owned),
            secret_key: None,
            secret_key_file: None,
            secret_key_id: "k1".into(),
        }
    }

    /// The whole error chain, as the binary prints it.
    fn error(args: &MasterKeyArgs) -> String {
        format!("{:#}", args.master_keys().unwrap_err())
    }

    #[test]
    fn master_keys_name_the_active_one() {
        let (a, b) = (generate_key(), generate_key());
        let list = format!("old:{},new:{}", a.expose(), b.expose());
        let keys = args(Some(list), Some("new"))
            .master_keys()
            .unwrap()
            .unwrap();
        assert_eq!(keys.active_id(), "new");
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["new", "old"]);
        assert!(args(None, None).master_keys().unwrap().is_none());
    }

    #[test]
    fn the_legacy_single_key_is_one_master_key() {
        let dir = std::env::temp_dir().join(format!("jobsprint-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret.key");
        std::fs::write(&file, format!("{}\n", generate_key().expose())).unwrap();
        let legacy = MasterKeyArgs {
            secret_key_file: Some(file.clone()),
            ..args(None, None)
        };
        let keys = legacy.master_keys().unwrap().unwrap();
        assert_eq!(keys.active_id(), "k1");
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["k1"]);

        // JOBSPRINT_MASTER_KEYS wins over the legacy variables.
        let both = MasterKeyArgs {
            secret_key_file: Some(file),
            ..args(Some(format!("m1:{}", generate_key().expose())), None)
        };
        assert_eq!(both.master_keys().unwrap().unwrap().active_id(), "m1");
        std::fs::remove_dir_all(dir).unwrap();

        let short = MasterKeyArgs {
            secret_key: Some("c2hvcnQ=".into()),
            ..args(None, None)
        };
        let err = error(&short);
        assert!(err.contains("JOBSPRINT_SECRET_KEY"), "{err}");
        assert!(err.contains("decodes to 5 bytes"), "{err}");
    }

    #[test]
    fn bad_master_keys_are_clear_errors_without_key_material() {
        let good = generate_key();
        let good = good.expose();
        let cases = [
            (
                format!("m1:{good},m2:bm90LWJhc2U2NCE@@"),
                Some("m1"),
                "master key 'm2' is unusable: it is not valid base64",
            ),
            (
                format!("m1:{good},m2:c2hvcnQ="),
                Some("m1"),
                "master key 'm2' is unusable: it decodes to 5 bytes, not 32",
            ),
            (
                format!("m1:{good}"),
                Some("m2"),
                "the active master key 'm2' is not among the configured ones (m1)",
            ),
            (
                format!("m1:{good},m2:{good}"),
                None,
                "2 master keys are configured (m1, m2): name the active one",
            ),
            (
                format!("m1:{good},{good}"),
                Some("m1"),
                "entry 2 is not `id:base64-key`",
            ),
        ];
        for (list, active, expected) in cases {
            let err = error(&args(Some(list), active));
            assert!(
                err.starts_with("invalid JOBSPRINT_MASTER_KEYS / JOBSPRINT_MASTER_KEY_ID: "),
                "{err}"
            );
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
            for material in [good, "bm90LWJhc2U2NCE", "c2hvcnQ"] {
                assert!(!err.contains(material), "{err:?} shows key material");
            }
        }
        let err = error(&args(None, Some("m1")));
        assert_eq!(
            err,
            "JOBSPRINT_MASTER_KEY_ID is 'm1' but JOBSPRINT_MASTER_KEYS is not set"
        );
    }
}
