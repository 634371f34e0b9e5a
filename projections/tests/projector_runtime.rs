//! The projector's runtime behaviour against real PostgreSQL: the
//! held-transaction rule, wake-ups on notification, shutdown and lag.

mod support;

use std::time::Duration;

use projections::batch::{BatchCounts, BatchOutcome};
use projections::checkpoint::ProjectionState;
use projections::commit_order::Cursor;
use projections::projector::{PoisonPolicy, Projection, Projector};
use projections::status::{projection_status, wait_for_position, WaitError};
use sqlx::{Connection, PgConnection, PgPool};
use support::*;

const NAME: &str = Recorder::NAME;

async fn held_transaction(pool: PgPool, commit_a: bool) {
    recorder_table(&pool).await;
    spawn(&pool, Recorder::default(), PoisonPolicy::Stop);
    let options = pool.connect_options();
    let mut a = PgConnection::connect_with(&options).await.unwrap();
    let mut b = PgConnection::connect_with(&options).await.unwrap();

    let mut tx_a = a.begin().await.unwrap();
    insert(
        &mut tx_a,
        "Thing",
        "A",
        1,
        "ThingHappened",
        serde_json::json!({}),
    )
    .await;
    insert(
        &mut b,
        "Thing",
        "B",
        1,
        "ThingHappened",
        serde_json::json!({}),
    )
    .await;
    let b2 = insert(
        &mut b,
        "Thing",
        "B",
        2,
        "ThingHappened",
        serde_json::json!({}),
    )
    .await;

    let waited = wait_for_position(&pool, NAME, b2, Duration::from_millis(500)).await;
    assert!(
        matches!(waited, Err(WaitError::Timeout { reached: 0, .. })),
        "{waited:?}"
    );
    assert!(
        recorded(&pool).await.is_empty(),
        "the projection passed the open transaction A"
    );

    if commit_a {
        tx_a.commit().await.unwrap();
    } else {
        tx_a.rollback().await.unwrap();
    }
    wait_for(&pool, NAME, b2).await;
    let expected: &[&str] = if commit_a {
        &["A:1", "B:1", "B:2"]
    } else {
        &["B:1", "B:2"]
    };
    assert_eq!(recorded(&pool).await, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_held_transaction_that_commits_is_applied_first(pool: PgPool) {
    held_transaction(pool, true).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_held_transaction_that_rolls_back_is_never_applied(pool: PgPool) {
    held_transaction(pool, false).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_notification_wakes_an_idle_projector_long_before_its_poll(pool: PgPool) {
    recorder_table(&pool).await;
    let projector = Projector::new(
        pool.clone(),
        Recorder::default(),
        config(PoisonPolicy::Stop),
    );
    let source = projections::source::StoreSource::new(pool.clone())
        .with_poll_interval(Duration::from_secs(60));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    let first = thing(&pool, "a", 1).await;
    wait_for(&pool, NAME, first).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // idle, listening

    let started = std::time::Instant::now();
    let next = thing(&pool, "a", 2).await;
    wait_for(&pool, NAME, next).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_runner_stops_cleanly_on_shutdown(pool: PgPool) {
    recorder_table(&pool).await;
    let last = thing(&pool, "a", 1).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_until(&pool, Recorder::default(), PoisonPolicy::Stop, async move {
        let _ = stopped.await;
    });
    wait_for(&pool, NAME, last).await;
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the runner stops within seconds")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    thing(&pool, "a", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recorded(&pool).await, ["a:1"], "nothing applied after stop");
}

#[sqlx::test(migrations = "../migrations")]
async fn status_reports_lag_until_the_projection_catches_up(pool: PgPool) {
    recorder_table(&pool).await;
    let mut last = 0;
    for sequence in 1..=3 {
        last = thing(&pool, "a", sequence).await;
    }
    // The row exists once a runner started; lag counts every committed
    // event beyond the checkpoint.
    let projector = Projector::new(
        pool.clone(),
        Recorder::default(),
        config(PoisonPolicy::Stop),
    );
    assert_eq!(
        projector.apply_batch(&[]).await.unwrap(),
        BatchOutcome::Committed {
            through: Cursor::default(),
            counts: BatchCounts::default()
        }
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let status = projection_status(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(
        (status.lag_events, status.dead_letters, status.state),
        (3, 0, ProjectionState::Running)
    );
    assert!(status.lag_seconds >= 0.02, "{status:?}");

    spawn(&pool, Recorder::default(), PoisonPolicy::Stop);
    wait_for(&pool, NAME, last).await;
    let status = projection_status(&pool, NAME).await.unwrap().unwrap();
    assert_eq!((status.lag_events, status.lag_seconds), (0, 0.0));
    assert_eq!(status.cursor.global_position, last);
    assert!(matches!(
        wait_for_position(&pool, NAME, last + 1000, Duration::from_millis(10)).await,
        Err(WaitError::UnknownPosition(_))
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_writer_that_skipped_the_notification_waits_one_poll_at_most(pool: PgPool) {
    recorder_table(&pool).await;
    let projector = Projector::new(
        pool.clone(),
        Recorder::default(),
        config(PoisonPolicy::Stop),
    );
    let source = projections::source::StoreSource::new(pool.clone())
        .with_poll_interval(Duration::from_secs(1));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    let first = thing(&pool, "a", 1).await;
    wait_for(&pool, NAME, first).await;
    tokio::time::sleep(Duration::from_millis(400)).await; // idle, listening

    // Another writer's notification is in flight (it holds the trigger's
    // advisory lock), so this one sends none; then that writer rolls back.
    let mut notifier = PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    let mut in_flight = notifier.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(7669456938382552692)")
        .execute(&mut *in_flight)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let next = thing(&pool, "a", 2).await;
    in_flight.rollback().await.unwrap();
    wait_for(&pool, NAME, next).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(recorded(&pool).await, ["a:1", "a:2"]);
}

/// A Kafka source with several partitions keeps only each aggregate's
/// order: a later event of one aggregate can be applied before an earlier
/// one of another. Read-your-writes must not be answered by the checkpoint
/// alone, which then stands past the unapplied event.
#[sqlx::test(migrations = "../migrations")]
async fn read_your_writes_waits_for_the_awaited_aggregate_not_only_the_checkpoint(pool: PgPool) {
    recorder_table(&pool).await;
    let first = thing(&pool, "a", 1).await;
    thing(&pool, "b", 1).await;
    let events = committed(&pool, 2).await;
    let projector = Projector::new(
        pool.clone(),
        Recorder::default(),
        config(PoisonPolicy::Stop),
    );
    // b's partition delivered first: the checkpoint passes a's event.
    projector.apply_batch(&events[1..]).await.unwrap();
    let early = wait_for_position(&pool, Recorder::NAME, first, Duration::from_millis(300)).await;
    assert!(
        matches!(early, Err(WaitError::Timeout { .. })),
        "answered before a's event was applied: {early:?}"
    );
    projector.apply_batch(&events[..1]).await.unwrap();
    wait_for_position(&pool, Recorder::NAME, first, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(recorded(&pool).await, ["b:1", "a:1"]);
}
