//! Shared setup for the projector tests: raw events written straight into
//! the store, a projection that records what it applies, and runners in the
//! background.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use projections::checkpoint::{self, Checkpoint, ProjectionState};
use projections::history::StoredEvent;
use projections::projector::{
    ApplyError, PoisonPolicy, Projection, Projector, ProjectorConfig, ProjectorError,
};
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Inserts one version-1 event as a writer would (autocommit unless `conn`
/// is in a transaction); its global position.
pub async fn insert(
    conn: &mut PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    event_type: &str,
    payload: Value,
) -> i64 {
    let event = (aggregate_type, aggregate_id, sequence, event_type);
    insert_version(conn, event, "1", payload).await
}

/// [`insert`] of `(aggregate_type, aggregate_id, sequence, event_type)` in
/// schema version `version`.
pub async fn insert_version(
    conn: &mut PgConnection,
    (aggregate_type, aggregate_id, sequence, event_type): (&str, &str, i64, &str),
    version: &str,
    payload: Value,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, '{}') RETURNING global_position",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(event_type)
    .bind(version)
    .bind(payload)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Inserts one `Thing` event through the pool; its global position.
pub async fn thing(pool: &PgPool, id: &str, sequence: i64) -> i64 {
    thing_with(pool, id, sequence, json!({"n": sequence})).await
}

/// Inserts one `Thing` event with `payload`; its global position.
pub async fn thing_with(pool: &PgPool, id: &str, sequence: i64, payload: Value) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    insert(&mut conn, "Thing", id, sequence, "ThingHappened", payload).await
}

/// A payload the recorder refuses until it is fixed.
pub fn poison() -> Value {
    json!({"poison": true})
}

/// Records every event it applies in `recorded`, in order. Refuses
/// payloads with `poison` until `fixed`; with `block_at`, writes that
/// event's row, signals `entered` and then never finishes (a process that
/// dies mid-batch).
#[derive(Clone, Default)]
pub struct Recorder {
    pub fixed: Arc<AtomicBool>,
    pub block_at: Option<(String, i64)>,
    pub entered: Arc<Notify>,
}

impl Recorder {
    /// Lets poison payloads through from now on.
    pub fn fix(&self) {
        self.fixed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Projection for Recorder {
    const NAME: &'static str = "recorder";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Thing"];

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        if event.payload.get("poison").is_some() && !self.fixed.load(Ordering::SeqCst) {
            return Err(ApplyError::Rejected("cannot apply a poison thing".into()));
        }
        sqlx::query(
            "INSERT INTO recorded (aggregate_id, sequence, global_position) VALUES ($1, $2, $3)",
        )
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .bind(event.global_position)
        .execute(&mut *conn)
        .await?;
        if self.block_at.as_ref() == Some(&(event.aggregate_id.clone(), event.sequence)) {
            self.entered.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Creates the recorder's table.
pub async fn recorder_table(pool: &PgPool) {
    sqlx::query(
        "CREATE TABLE recorded (n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                aggregate_id text NOT NULL, sequence bigint NOT NULL,
                                global_position bigint NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// What the recorder applied, in order, as `id:sequence`.
pub async fn recorded(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT aggregate_id || ':' || sequence FROM recorded ORDER BY n")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Test settings: quick polls.
pub fn config(on_poison: PoisonPolicy) -> ProjectorConfig {
    ProjectorConfig {
        batch_size: 100,
        on_poison,
        idle_poll: Duration::from_millis(20),
        status_every: Duration::from_millis(100),
    }
}

/// Runs `projection` over the store until `shutdown` completes.
pub fn spawn_until<P: Projection>(
    pool: &PgPool,
    projection: P,
    on_poison: PoisonPolicy,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<Result<(), ProjectorError>> {
    let projector = Projector::new(pool.clone(), projection, config(on_poison));
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(200));
    tokio::spawn(async move { projector.run(source, shutdown).await })
}

/// Runs `projection` over the store until the pool closes.
pub fn spawn<P: Projection>(
    pool: &PgPool,
    projection: P,
    on_poison: PoisonPolicy,
) -> JoinHandle<Result<(), ProjectorError>> {
    spawn_until(pool, projection, on_poison, std::future::pending())
}

/// Waits until `projection` is in `state` (at most 10 s); its checkpoint.
pub async fn wait_for_state(pool: &PgPool, projection: &str, state: ProjectionState) -> Checkpoint {
    for _ in 0..1000 {
        if let Some(current) = checkpoint::read(pool, projection).await.unwrap() {
            if current.state == state {
                return current;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{projection} never became {state}");
}

/// Waits until `projection` has handled the event at `position`.
pub async fn wait_for(pool: &PgPool, projection: &str, position: i64) {
    projections::status::wait_for_position(pool, projection, position, Duration::from_secs(10))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
}

/// The first `count` committed events from the start of the store. Polls:
/// the xmin horizon is cluster-wide, so another test's open transaction
/// may hide them for a moment.
pub async fn committed(
    pool: &PgPool,
    count: usize,
) -> Vec<projections::commit_order::CommittedEvent> {
    use projections::commit_order::{read_committed, Cursor};
    for _ in 0..1000 {
        let events = read_committed(pool, Cursor::default(), count as i64)
            .await
            .unwrap();
        if events.len() == count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} events never became readable");
}
