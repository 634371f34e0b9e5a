//! The `jobsprint` binary: `serve` the API, run the `engine` alone,
//! `migrate` the database, run `admin` tasks and `replay` tools.

mod access;
mod admin;
mod config;
mod engine_process;
mod projectors;
mod replay;
mod telemetry;

/// mimalloc: folding and serving allocate a small map or string per JSON
/// field of every event, where glibc's allocator spends a tenth of the
/// process's time (docs/adr/0015-rebuilds.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use commands::identity::{Identity, IdentityConfig};

use crate::config::{Bus, DatabaseArgs, ServeArgs};

/// Jobsprint: an event-sourced automation backend.
#[derive(Parser)]
#[command(name = "jobsprint", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrates the database, runs the projectors and serves GraphQL, health
    /// and metrics over HTTP.
    Serve(Box<ServeArgs>),
    /// Migrates the database and runs only the execution engine (no HTTP,
    /// no projectors); takes the same settings as `serve`.
    Engine(Box<ServeArgs>),
    /// Applies the database migrations that are not applied yet, then exits.
    Migrate(DatabaseArgs),
    /// Operator tasks: the first admin, tenants, master key rotation, keys.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Replay, audit and compliance: rebuilds, time travel, the hash chain,
    /// exports.
    Replay {
        #[command(subcommand)]
        command: replay::ReplayCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.database.log_format);
            serve(*args).await
        }
        Command::Engine(args) => {
            telemetry::init(args.database.log_format);
            run_engine(*args).await
        }
        Command::Migrate(args) => {
            telemetry::init(args.log_format);
            let pool = connect(&args).await?;
            commands::migrate::run(&pool)
                .await
                .context("migrating the database")?;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Admin { command } => admin::run(command).await,
        Command::Replay { command } => replay::run(command).await,
    }
}

async fn connect(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&args.database_url)
        .await
        .with_context(|| format!("connecting to {}", config::redact(&args.database_url)))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let master_keys = args.keys.master_keys()?;
    let jwt = args.jwt.service()?;
    let metrics = telemetry::install_metrics()?;
    let pool = connect(&args.database).await?;
    commands::migrate::run(&pool)
        .await
        .context("migrating the database")?;
    let command_config = args.command_config(&pool, master_keys);
    let api_config = args.api_config();
    let commands = Arc::new(commands::Commands::new(pool.clone(), command_config));
    let engine = args
        .engine
        .enabled
        .then(|| engine_process::start(&pool, commands.clone(), &args.engine));
    let identity = Arc::new(Identity::new(commands, jwt, IdentityConfig::default()));
    let listener = tokio::net::TcpListener::bind(&args.http_addr)
        .await
        .with_context(|| format!("binding {}", args.http_addr))?;
    let kafka = args.kafka.settings();
    let bus = match (args.bus, &kafka) {
        (Some(Bus::Store), _) | (None, None) => projectors::Feed::Store,
        (Some(Bus::Kafka) | None, Some(settings)) => {
            projectors::Feed::Kafka(Box::new(settings.clone()))
        }
        (Some(Bus::Kafka), None) => {
            anyhow::bail!("JOBSPRINT_BUS=kafka needs KAFKA_BROKERS (or use JOBSPRINT_BUS=store)")
        }
    };
    if let Some(settings) = &kafka {
        settings
            .ensure_topic(args.kafka.kafka_partitions)
            .await
            .with_context(|| {
                format!(
                    "creating the topic {} on {}",
                    settings.topic, settings.brokers
                )
            })?;
    }
    let relay = kafka.as_ref().filter(|_| args.kafka.relay);
    let projectors = projectors::start(&pool, &bus, relay, &args.projector_config());
    let state = api::AppState::new(&api_config, pool, identity, Some(metrics));
    let app = api::app(&api_config, state);
    tracing::info!(addr = %listener.local_addr()?, "serving GraphQL at /graphql");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP");
    projectors.stop(std::time::Duration::from_secs(10)).await;
    if let Some(engine) = engine {
        engine.stop().await;
    }
    served
}

async fn run_engine(args: ServeArgs) -> anyhow::Result<()> {
    let master_keys = args.keys.master_keys()?;
    let pool = connect(&args.database).await?;
    commands::migrate::run(&pool)
        .await
        .context("migrating the database")?;
    let command_config = args.command_config(&pool, master_keys);
    let commands = Arc::new(commands::Commands::new(pool.clone(), command_config));
    let engine = engine_process::start(&pool, commands, &args.engine);
    shutdown_signal().await;
    engine.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let help = Cli::command()
            .find_subcommand_mut("admin")
            .expect("an admin subcommand")
            .render_long_help()
            .to_string();
        assert!(
            help.contains("rotate-key")
                && help.contains("generate-key")
                && help.contains("bootstrap"),
            "{help}"
        );
    }
}
