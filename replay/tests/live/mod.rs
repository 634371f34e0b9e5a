//! The live side of the rebuild tests: the read-model projectors as
//! `serve` runs them, histories written through the command layer, and the
//! read-model rows to compare.

#![allow(dead_code)]

use std::time::Duration;

use domain::ids::TenantId;
use projections::projector::{PoisonPolicy, Projection, Projector, ProjectorConfig};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::StoreSource;
use projections::status::wait_for_position;
use replay::rebuild::REBUILDABLE;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::writes::*;
/// Every read-model table a rebuild replaces.
pub const TABLES: [&str; 8] = [
    "workflows",
    "workflow_versions",
    "workflow_execution_counts",
    "webhook_triggers",
    "executions",
    "execution_steps",
    "integrations",
    "audit_log",
];

/// The live projectors, as `serve` runs them.
pub struct Live {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Live {
    /// Runs them on a pool of their own: each holds a listening connection,
    /// more than a test's pool has to spare.
    pub async fn start(pool: &PgPool, on_poison: PoisonPolicy) -> Self {
        let pool = &PgPoolOptions::new()
            .max_connections(12)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let config = ProjectorConfig {
            on_poison,
            ..ProjectorConfig::default()
        };
        spawn(&mut tasks, pool, &config, WorkflowsProjection, &stopped);
        spawn(&mut tasks, pool, &config, ExecutionsProjection, &stopped);
        spawn(&mut tasks, pool, &config, IntegrationsProjection, &stopped);
        spawn(&mut tasks, pool, &config, AuditLogProjection, &stopped);
        Self { stop, tasks }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn spawn<P: Projection>(
    tasks: &mut JoinSet<()>,
    pool: &PgPool,
    config: &ProjectorConfig,
    projection: P,
    stopped: &watch::Receiver<bool>,
) {
    let projector = Projector::new(pool.clone(), projection, config.clone());
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(50));
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        projector
            .run(source, shutdown)
            .await
            .expect("live projector");
    });
}

pub async fn last_position(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until every rebuildable projection has applied the whole store.
pub async fn caught_up(pool: &PgPool) {
    let position = last_position(pool).await;
    for name in REBUILDABLE {
        wait_for_position(pool, name, position, Duration::from_secs(60))
            .await
            .unwrap_or_else(|err| panic!("{name} did not catch up: {err:?}"));
    }
}

/// Every row of `table`, as JSON, in a stable order.
pub async fn rows(pool: &PgPool, table: &str) -> Value {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(json_agg(r ORDER BY r::text), '[]')
           FROM (SELECT to_jsonb(t) AS r FROM {table} t) AS rows"
    ))
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn all_rows(pool: &PgPool) -> Vec<(&'static str, Value)> {
    let mut all = Vec::new();
    for table in TABLES {
        all.push((table, rows(pool, table).await));
    }
    all
}

/// Two tenants' worth of workflows, executions and integrations.
pub async fn history(pool: &PgPool, workflows: usize) -> Vec<TenantId> {
    let commands = commands(pool);
    let tenants = vec![TenantId(Uuid::now_v7()), TenantId(Uuid::now_v7())];
    for tenant in &tenants {
        for n in 0..workflows {
            let id = published(&commands, *tenant, &format!("Flow {n}")).await;
            start(&commands, *tenant, id).await;
        }
        integration(&commands, *tenant, "CRM").await;
    }
    tenants
}

pub async fn leftover_schemas(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'jobsprint\\_%'")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until every stored event is below the commit-order horizon
/// (another test's open transaction may hold it back for a moment).
pub async fn below_horizon(pool: &PgPool) {
    for _ in 0..1000 {
        let hidden: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if !hidden {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store's horizon never passed its events");
}
