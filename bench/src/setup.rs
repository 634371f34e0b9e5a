//! A dedicated, freshly migrated database for the benchmark.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

const DATABASE: &str = "jobsprint_bench";

/// Drops and recreates `jobsprint_bench` on the server of `url`, migrates it
/// and adds `bench_raw`, a table shaped exactly like `events`.
pub async fn fresh_database(url: &str, clients: usize) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("parsing DATABASE_URL")?;
    let mut admin = PgConnection::connect_with(&options)
        .await
        .context("connecting")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;

    let pool = PgPoolOptions::new()
        .max_connections(clients as u32 + 4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.database(DATABASE).disable_statement_logging())
        .await?;
    commands::migrate::run(&pool).await?;
    sqlx::query("CREATE TABLE bench_raw (LIKE events INCLUDING ALL)")
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// `url` pointing at the benchmark's database instead of its own.
pub fn bench_url(url: &str) -> String {
    let (server, rest) = url.rsplit_once('/').unwrap_or((url, ""));
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{server}/{DATABASE}{query}")
}
