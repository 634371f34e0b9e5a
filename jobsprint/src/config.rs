//! Typed configuration, read once from flags and `JOBSPRINT_*` variables.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use commands::secrets::{Keyring, SecretString};

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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

/// Settings of `jobsprint serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to serve HTTP on.
    #[arg(long, env = "JOBSPRINT_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// Base64 of the 32-byte key that seals integration credentials.
    #[arg(long, env = "JOBSPRINT_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the secret key (used when JOBSPRINT_SECRET_KEY is unset).
    #[arg(long, env = "JOBSPRINT_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Id recorded with every secret sealed under the key, so keys can rotate.
    #[arg(long, env = "JOBSPRINT_SECRET_KEY_ID", default_value = "k1")]
    pub secret_key_id: String,
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
}

impl ServeArgs {
    /// The command layer's settings.
    pub fn command_config(&self) -> anyhow::Result<commands::CommandConfig> {
        let key = match (&self.secret_key, &self.secret_key_file) {
            (Some(key), _) => Some(SecretString::new(key.clone())),
            (None, Some(path)) => Some(SecretString::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the secret key file {}", path.display()))?,
            )),
            (None, None) => None,
        };
        let keyring = match key {
            Some(key) => Some(Keyring::new(self.secret_key_id.clone(), &key)?),
            None => {
                tracing::warn!(
                    "no JOBSPRINT_SECRET_KEY: integrations with credentials will be refused"
                );
                None
            }
        };
        Ok(commands::CommandConfig {
            snapshot_every: self.snapshot_every as usize,
            cache_capacity: self.aggregate_cache,
            keyring,
            ..commands::CommandConfig::default()
        })
    }

    /// The HTTP layer's settings.
    pub fn api_config(&self) -> api::ApiConfig {
        api::ApiConfig {
            body_limit_bytes: self.body_limit_bytes,
            introspection: self.introspection,
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
