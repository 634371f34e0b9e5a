//! The projectors `serve` runs in the background, one task per projection,
//! each fed by its own source on the configured bus, all stopped together
//! at shutdown.

use std::time::Duration;

use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::StoreSource;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Bus;

/// The running projectors.
pub struct Projectors {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts every projection on `bus`.
pub fn start(pool: &PgPool, bus: Bus, config: &ProjectorConfig) -> Projectors {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    spawn(&mut tasks, pool, bus, config, WorkflowsProjection, &stopped);
    spawn(
        &mut tasks,
        pool,
        bus,
        config,
        ExecutionsProjection,
        &stopped,
    );
    spawn(
        &mut tasks,
        pool,
        bus,
        config,
        IntegrationsProjection,
        &stopped,
    );
    spawn(&mut tasks, pool, bus, config, AuditLogProjection, &stopped);
    tracing::info!(?bus, projections = tasks.len(), "projectors started");
    Projectors { stop, tasks }
}

fn spawn<P: Projection>(
    tasks: &mut JoinSet<()>,
    pool: &PgPool,
    bus: Bus,
    config: &ProjectorConfig,
    projection: P,
    stopped: &watch::Receiver<bool>,
) {
    let projector = Projector::new(pool.clone(), projection, config.clone());
    let source = match bus {
        Bus::Store => StoreSource::new(pool.clone()),
    };
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(err) = projector.run(source, shutdown).await {
            tracing::error!(projection = P::NAME, error = %err, "projector ended");
        }
    });
}

impl Projectors {
    /// Asks every projector to stop after its current batch and waits for
    /// them, at most `grace`.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("projectors did not stop in time; abandoning them");
            self.tasks.abort_all();
        }
    }
}
