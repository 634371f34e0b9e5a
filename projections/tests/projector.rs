//! The projector runtime against real PostgreSQL: exactly-once effect under
//! redelivery and crashes, gaps, poison events and dead letters, the
//! held-transaction rule, wake-ups and shutdown.

mod support;

use std::time::Duration;

use projections::batch::{BatchCounts, BatchOutcome};
use projections::checkpoint::{self, ProjectionState};
use projections::commit_order::Cursor;
use projections::dead_letters::{list_dead_letters, retry_dead_letter, RetryError};
use projections::projector::{PoisonPolicy, Projection, Projector};
use projections::status::{projection_status, wait_for_position, WaitError};
use sqlx::{Connection, PgConnection, PgPool};
use support::*;

const NAME: &str = Recorder::NAME;

#[sqlx::test(migrations = "../migrations")]
async fn redelivered_batches_are_not_applied_twice(pool: PgPool) {
    recorder_table(&pool).await;
    for (id, sequence) in [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)] {
        thing(&pool, id, sequence).await;
    }
    let mut conn = pool.acquire().await.unwrap();
    insert(
        &mut conn,
        "Other",
        "x",
        1,
        "Unrelated",
        serde_json::json!({}),
    )
    .await;
    drop(conn);
    let batch = committed(&pool, 6).await;
    let projector = Projector::new(
        pool.clone(),
        Recorder::default(),
        config(PoisonPolicy::Stop),
    );

    let first = projector.apply_batch(&batch).await.unwrap();
    let last = batch.last().unwrap().cursor;
    let counts = |applied, duplicates| BatchCounts {
        applied,
        duplicates,
        passed: 1,
        dead_lettered: 0,
    };
    assert_eq!(
        first,
        BatchOutcome::Committed {
            through: last,
            counts: counts(5, 0)
        }
    );
    let again = projector.apply_batch(&batch).await.unwrap();
    assert_eq!(
        again,
        BatchOutcome::Committed {
            through: last,
            counts: counts(0, 5)
        },
        "the same batch delivered twice applies nothing the second time"
    );
    let applied = ["a:1", "b:1", "a:2", "b:2", "a:3"];
    assert_eq!(recorded(&pool).await, applied);

    // A cursor reset (a source that starts over) keeps the sequences: the
    // runner reads everything again and applies nothing.
    sqlx::query(
        "UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0
          WHERE projection = $1",
    )
    .bind(NAME)
    .execute(&pool)
    .await
    .unwrap();
    let next = thing(&pool, "a", 4).await;
    spawn(&pool, Recorder::default(), PoisonPolicy::Stop);
    wait_for(&pool, NAME, next).await;
    assert_eq!(recorded(&pool).await, [&applied[..], &["a:4"]].concat());
    let checkpoint = checkpoint::read(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(checkpoint.cursor.global_position, next);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stop_on_poison_keeps_the_read_model_consistent_with_the_checkpoint(pool: PgPool) {
    recorder_table(&pool).await;
    let mut positions = vec![thing(&pool, "a", 1).await, thing(&pool, "b", 1).await];
    positions.push(thing_with(&pool, "a", 2, poison()).await);
    positions.push(thing(&pool, "b", 2).await);
    positions.push(thing(&pool, "a", 3).await);
    let recorder = Recorder::default();
    spawn(&pool, recorder.clone(), PoisonPolicy::Stop);

    let stopped = wait_for_state(&pool, NAME, ProjectionState::Stopped).await;
    // Everything before the poison event committed with the checkpoint;
    // nothing after it was applied.
    assert_eq!(recorded(&pool).await, ["a:1", "b:1"]);
    assert_eq!(stopped.cursor.global_position, positions[1]);
    let error = stopped.error.unwrap();
    assert!(
        error.contains("ThingHappened of Thing a sequence 2")
            && error.contains("cannot apply a poison thing"),
        "{error}"
    );
    let letters = list_dead_letters(&pool, NAME).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (
            letter.aggregate_id.as_str(),
            letter.sequence,
            letter.global_position
        ),
        ("a", 2, positions[2])
    );
    assert_eq!(letter.event_type, "ThingHappened");
    assert_eq!(letter.error, "cannot apply a poison thing");
    assert_eq!(letter.payload, poison());
    let status = projection_status(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(
        (status.state, status.dead_letters, status.lag_events),
        (ProjectionState::Stopped, 1, 3)
    );
    assert!(status.lag_seconds > 0.0, "{status:?}");
    let waited = wait_for_position(&pool, NAME, positions[4], Duration::from_secs(1)).await;
    assert!(
        matches!(
            waited,
            Err(WaitError::Halted {
                state: ProjectionState::Stopped,
                ..
            })
        ),
        "{waited:?}"
    );

    // Fix the code and resume: the stopped event and the rest apply once,
    // in order, and the dead letter is gone.
    recorder.fix();
    assert_eq!(
        checkpoint::resume(&pool, NAME).await.unwrap(),
        Some(ProjectionState::Stopped)
    );
    wait_for(&pool, NAME, positions[4]).await;
    assert_eq!(recorded(&pool).await, ["a:1", "b:1", "a:2", "b:2", "a:3"]);
    assert!(list_dead_letters(&pool, NAME).await.unwrap().is_empty());
    let status = projection_status(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(
        (
            status.state,
            status.error,
            status.lag_events,
            status.lag_seconds
        ),
        (ProjectionState::Running, None, 0, 0.0)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_crash_between_apply_and_commit_loses_and_repeats_nothing(pool: PgPool) {
    recorder_table(&pool).await;
    let mut last = 0;
    for sequence in 1..=6 {
        last = thing(&pool, "a", sequence).await;
    }
    let dying = Recorder {
        block_at: Some(("a".into(), 4)),
        ..Recorder::default()
    };
    let entered = dying.entered.clone();
    let task = spawn(&pool, dying, PoisonPolicy::Stop);
    entered.notified().await;
    // The process dies with a:1..a:4 written in its open transaction.
    task.abort();
    let _ = task.await;
    let checkpoint = checkpoint::read(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(checkpoint.cursor, Cursor::default(), "nothing committed");
    assert!(recorded(&pool).await.is_empty());

    spawn(&pool, Recorder::default(), PoisonPolicy::Stop);
    wait_for(&pool, NAME, last).await;
    assert_eq!(
        recorded(&pool).await,
        ["a:1", "a:2", "a:3", "a:4", "a:5", "a:6"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_gap_fails_the_projection_and_names_the_aggregate_and_sequences(pool: PgPool) {
    recorder_table(&pool).await;
    let first = thing(&pool, "a", 1).await;
    thing(&pool, "b", 1).await;
    let after_gap = thing(&pool, "a", 3).await;
    thing(&pool, "b", 2).await;
    spawn(&pool, Recorder::default(), PoisonPolicy::Skip);

    let failed = wait_for_state(&pool, NAME, ProjectionState::Failed).await;
    let error = failed.error.unwrap();
    assert!(
        error.contains("gap in Thing a: expected sequence 2, found 3"),
        "{error}"
    );
    assert_eq!(recorded(&pool).await, ["a:1", "b:1"], "never skips a gap");
    assert!(failed.cursor.global_position > first);
    assert!(list_dead_letters(&pool, NAME).await.unwrap().is_empty());
    let waited = wait_for_position(&pool, NAME, after_gap, Duration::from_secs(1)).await;
    match waited {
        Err(WaitError::Halted { state, error, .. }) => {
            assert_eq!(state, ProjectionState::Failed);
            assert!(error.contains("expected sequence 2, found 3"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(recorded(&pool).await, ["a:1", "b:1"], "stays failed");
}

#[sqlx::test(migrations = "../migrations")]
async fn with_skip_a_poison_event_is_dead_lettered_and_later_events_apply(pool: PgPool) {
    recorder_table(&pool).await;
    thing(&pool, "a", 1).await;
    thing_with(&pool, "a", 2, poison()).await;
    thing(&pool, "b", 1).await;
    let last = thing(&pool, "a", 3).await;
    let recorder = Recorder::default();
    spawn(&pool, recorder.clone(), PoisonPolicy::Skip);

    wait_for(&pool, NAME, last).await;
    assert_eq!(
        recorded(&pool).await,
        ["a:1", "b:1", "a:3"],
        "a:3 is not a gap"
    );
    let status = projection_status(&pool, NAME).await.unwrap().unwrap();
    assert_eq!(
        (status.state, status.dead_letters),
        (ProjectionState::Running, 1)
    );
    let letters = list_dead_letters(&pool, NAME).await.unwrap();
    let id = letters[0].id;

    // Retried before the fix: still failing, one more attempt recorded.
    let retried = retry_dead_letter(&pool, &recorder, id).await;
    assert!(
        matches!(&retried, Err(RetryError::StillFailing(e)) if e == "cannot apply a poison thing"),
        "{retried:?}"
    );
    assert_eq!(list_dead_letters(&pool, NAME).await.unwrap()[0].attempts, 2);

    recorder.fix();
    retry_dead_letter(&pool, &recorder, id).await.unwrap();
    assert_eq!(recorded(&pool).await, ["a:1", "b:1", "a:3", "a:2"]);
    assert!(list_dead_letters(&pool, NAME).await.unwrap().is_empty());
    assert!(matches!(
        retry_dead_letter(&pool, &recorder, id).await,
        Err(RetryError::NotFound { .. })
    ));
    let next = thing(&pool, "a", 4).await;
    wait_for(&pool, NAME, next).await;
    assert_eq!(recorded(&pool).await, ["a:1", "b:1", "a:3", "a:2", "a:4"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn retry_dead_letter_resumes_a_stopped_projection_after_the_fix(pool: PgPool) {
    recorder_table(&pool).await;
    thing(&pool, "a", 1).await;
    thing_with(&pool, "a", 2, poison()).await;
    let last = thing(&pool, "a", 3).await;
    let recorder = Recorder::default();
    spawn(&pool, recorder.clone(), PoisonPolicy::Stop);
    wait_for_state(&pool, NAME, ProjectionState::Stopped).await;
    let id = list_dead_letters(&pool, NAME).await.unwrap()[0].id;

    recorder.fix();
    retry_dead_letter(&pool, &recorder, id).await.unwrap();
    wait_for(&pool, NAME, last).await;
    assert_eq!(recorded(&pool).await, ["a:1", "a:2", "a:3"], "a:2 once");
    assert!(list_dead_letters(&pool, NAME).await.unwrap().is_empty());
}

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
