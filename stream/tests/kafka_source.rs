//! Projectors fed from the topic: each projection is its own consumer
//! group; its offsets are committed only after its batch transaction, and a
//! redelivery after a crash is recognized by the aggregate sequences.

mod support;

use std::time::Duration;

use async_trait::async_trait;
use projections::history::StoredEvent;
use projections::projector::{ApplyError, PoisonPolicy, Projection, Projector, ProjectorConfig};
use projections::source::EventSource;
use sqlx::{PgConnection, PgPool};
use stream::source::KafkaSource;
use support::*;

/// Records every applied event; a second apply of the same event would
/// break the primary key and poison the batch.
struct Seen;

#[async_trait]
impl Projection for Seen {
    const NAME: &'static str = "seen";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Execution"];

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        sqlx::query("INSERT INTO seen (aggregate_id, sequence, actor) VALUES ($1, $2, $3)")
            .bind(&event.aggregate_id)
            .bind(event.sequence)
            .bind(event.metadata["actor"].as_str())
            .execute(conn)
            .await?;
        Ok(())
    }
}

async fn seen_table(pool: &PgPool) {
    sqlx::query(
        "CREATE TABLE seen (aggregate_id text, sequence bigint, actor text,
                            PRIMARY KEY (aggregate_id, sequence))",
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn seen(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT aggregate_id, sequence FROM seen ORDER BY aggregate_id, sequence")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn config() -> ProjectorConfig {
    ProjectorConfig {
        batch_size: 50,
        on_poison: PoisonPolicy::Stop,
        idle_poll: Duration::from_millis(50),
        status_every: Duration::from_secs(60),
    }
}

async fn wait_for_rows(pool: &PgPool, count: usize) {
    for _ in 0..500 {
        if seen(pool).await.len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the projection holds {} rows, expected {count}",
        seen(pool).await.len()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_projector_on_the_topic_applies_each_event_once_across_a_crash(pool: PgPool) {
    seen_table(&pool).await;
    let settings = fresh_topic(3).await;
    let (stop_relay, relay) = spawn_relay(&pool, &settings);
    let mut conn = pool.acquire().await.unwrap();
    for sequence in 1..=5 {
        for aggregate in ["P", "Q", "R"] {
            insert(&mut conn, aggregate, sequence).await;
        }
    }
    // A projector reads a batch, applies it, and dies before the offsets
    // are committed.
    let projector = Projector::new(pool.clone(), Seen, config());
    let mut crashed = KafkaSource::new(&settings, Seen::NAME).unwrap();
    let mut batch = Vec::new();
    while batch.is_empty() {
        batch = crashed.next_batch(50).await.unwrap();
    }
    projector.apply_batch(&batch).await.unwrap();
    drop(crashed);
    let applied_before = seen(&pool).await.len();
    assert!(applied_before > 0);

    // Its successor in the same group gets those records again and skips
    // them; everything else is applied once, including later events.
    let source = KafkaSource::new(&settings, Seen::NAME)
        .unwrap()
        .with_poll_interval(Duration::from_millis(100));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        projector.run(source, shutdown).await.unwrap();
    });
    for aggregate in ["P", "Q", "R"] {
        insert(&mut conn, aggregate, 6).await;
    }
    wait_for_rows(&pool, 18).await;
    let rows = seen(&pool).await;
    let mut expected = Vec::new();
    for aggregate in ["P", "Q", "R"] {
        for sequence in 1..=6 {
            expected.push((aggregate.to_owned(), sequence));
        }
    }
    assert_eq!(rows, expected);
    let state: String =
        sqlx::query_scalar("SELECT state FROM projection_checkpoints WHERE projection = 'seen'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "running");
    let actors: i64 = sqlx::query_scalar("SELECT count(*) FROM seen WHERE actor = 'test'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actors, 18, "the metadata travels with each record");
    stop.send(true).unwrap();
    runner.await.unwrap();
    stop_relay.send(true).unwrap();
    relay.await.unwrap();
}
