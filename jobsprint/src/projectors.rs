//! What `serve` runs in the background: the relay (when brokers are set;
//! one process at a time holds its lease) and one task per projection, each
//! fed by its own source on the configured bus (its own consumer group on
//! Kafka), the hash chain's sealer, all stopped together at shutdown.

use std::time::Duration;

use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::executions::ExecutionsProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::{EventSource, StoreSource};
use replay::chain::seal::{Sealer, SealerConfig};
use sqlx::PgPool;
use stream::kafka::KafkaSettings;
use stream::relay::{Relay, RelayConfig};
use stream::source::KafkaSource;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where the projectors read events.
#[derive(Debug, Clone)]
pub enum Feed {
    /// The events topic.
    Kafka(Box<KafkaSettings>),
    /// The event store in commit order.
    Store,
}

/// The running projectors.
pub struct Projectors {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts the relay to `relay` (when given) and every projection on `bus`.
pub fn start(
    pool: &PgPool,
    bus: &Feed,
    relay: Option<&KafkaSettings>,
    config: &ProjectorConfig,
) -> Projectors {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(settings) = relay {
        spawn_relay(&mut tasks, pool, settings, &stopped);
    }
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
    spawn_sealer(&mut tasks, pool, &stopped);
    tracing::info!(
        ?bus,
        relay = relay.is_some(),
        tasks = tasks.len(),
        "projectors started"
    );
    Projectors { stop, tasks }
}

fn spawn<P: Projection>(
    tasks: &mut JoinSet<()>,
    pool: &PgPool,
    bus: &Feed,
    config: &ProjectorConfig,
    projection: P,
    stopped: &watch::Receiver<bool>,
) {
    let projector = Projector::new(pool.clone(), projection, config.clone());
    match bus {
        Feed::Store => run(tasks, projector, StoreSource::new(pool.clone()), stopped),
        Feed::Kafka(settings) => match KafkaSource::new(settings, P::NAME) {
            Ok(source) => run(tasks, projector, source, stopped),
            Err(err) => {
                tracing::error!(projection = P::NAME, error = %err, "cannot consume the events topic")
            }
        },
    }
}

fn run<P: Projection, S: EventSource + 'static>(
    tasks: &mut JoinSet<()>,
    projector: Projector<P>,
    source: S,
    stopped: &watch::Receiver<bool>,
) {
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

fn spawn_relay(
    tasks: &mut JoinSet<()>,
    pool: &PgPool,
    settings: &KafkaSettings,
    stopped: &watch::Receiver<bool>,
) {
    let relay = match Relay::new(
        pool.clone(),
        settings,
        RelayConfig::for_topic(&settings.topic),
    ) {
        Ok(relay) => relay,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the relay");
            return;
        }
    };
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        relay
            .run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
    });
}

/// The hash chain's sealer (docs/adr/0013-hash-chain.md): any number of
/// processes may run one; they take turns on the chain's cursor.
fn spawn_sealer(tasks: &mut JoinSet<()>, pool: &PgPool, stopped: &watch::Receiver<bool>) {
    let sealer = Sealer::new(pool.clone(), SealerConfig::default());
    let mut stopped = stopped.clone();
    tasks.spawn(async move {
        sealer
            .run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
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
