//! The relay against real PostgreSQL and the real broker: it never passes
//! an open transaction, a crash between publish and cursor save loses
//! nothing, many concurrent writers end up on the topic exactly once after
//! deduplication and in per-aggregate order, and one relay runs at a time.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use projections::commit_order::read_committed;
use sqlx::{Connection, PgConnection, PgPool};
use stream::lease::Lease;
use stream::relay::Relay;
use support::*;

/// The xmin horizon is cluster-wide: one test's open transaction holds
/// every relay back, so the held-transaction variants take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The topic holds every stored event, and only those (counts and a few
/// examples, not thousands of ids, when not).
fn assert_same_events(published: &HashSet<String>, stored: &HashSet<String>) {
    let missing: Vec<_> = stored.difference(published).take(5).collect();
    let extra: Vec<_> = published.difference(stored).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} of {} stored events missing from the topic (e.g. {missing:?}); {} unknown (e.g. {extra:?})",
        stored.difference(published).count(),
        stored.len(),
        published.difference(stored).count(),
    );
}

fn ids(records: &[Received]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "{}{}",
                r.header("ce_subject"),
                r.header("jobsprint_sequence")
            )
        })
        .collect()
}

async fn held_transaction(pool: PgPool, commit: bool) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let settings = fresh_topic(1).await;
    let (stop, relay) = spawn_relay(&pool, &settings);
    let mut a = PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    let mut held = a.begin().await.unwrap();
    insert(&mut held, "A", 1).await;
    let mut b = pool.acquire().await.unwrap();
    insert(&mut b, "B", 1).await;
    insert(&mut b, "B", 2).await;
    // B's events are committed but behind A's open transaction: nothing
    // may be published yet.
    let early = read_topic(&settings, 1, Duration::from_millis(1500)).await;
    assert_eq!(
        ids(&early),
        Vec::<String>::new(),
        "the relay passed an open transaction"
    );
    let expected = if commit {
        held.commit().await.unwrap();
        vec!["A1", "B1", "B2"]
    } else {
        held.rollback().await.unwrap();
        vec!["B1", "B2"]
    };
    let records = read_topic(&settings, expected.len(), Duration::from_secs(10)).await;
    assert_eq!(ids(&records), expected);
    // Nothing more comes.
    wait_for_relay(&pool, &settings.topic, Duration::from_secs(10)).await;
    let all = read_topic(&settings, expected.len() + 1, Duration::from_millis(500)).await;
    assert_eq!(ids(&all), expected);
    stop.send(true).unwrap();
    relay.await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn the_relay_waits_for_an_open_transaction_and_then_publishes_it_first(pool: PgPool) {
    held_transaction(pool, true).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_relay_skips_nothing_when_the_open_transaction_rolls_back(pool: PgPool) {
    held_transaction(pool, false).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_relay_killed_between_publish_and_cursor_save_loses_nothing(pool: PgPool) {
    let settings = fresh_topic(3).await;
    let mut conn = pool.acquire().await.unwrap();
    for sequence in 1..=3 {
        insert(&mut conn, "X", sequence).await;
        insert(&mut conn, "Y", sequence).await;
    }
    // The first relay publishes, the broker acknowledges, and it dies
    // before saving its cursor.
    let relay = Relay::new(pool.clone(), &settings, relay_config(&settings)).unwrap();
    let lease = relay.wait_for_lease().await.unwrap();
    // (Another test's open transaction may hold the horizon a moment.)
    let mut events = Vec::new();
    for _ in 0..500 {
        events = read_committed(&pool, lease.cursor(), 100).await.unwrap();
        if events.len() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.len(), 6);
    relay.publish(&events).await.unwrap();
    drop(lease);
    drop(relay);
    // The next one starts from the saved cursor and publishes them again.
    let (stop, task) = spawn_relay(&pool, &settings);
    insert(&mut conn, "X", 4).await;
    wait_for_relay(&pool, &settings.topic, Duration::from_secs(10)).await;
    stop.send(true).unwrap();
    task.await.unwrap();

    let records = read_topic(&settings, 13, Duration::from_secs(2)).await;
    assert_eq!(records.len(), 13, "6 published twice, 1 once");
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for record in &records {
        by_id
            .entry(record.header("ce_id"))
            .or_default()
            .push(record);
    }
    let stored: HashSet<String> = sqlx::query_scalar("SELECT event_id::text FROM events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let published: HashSet<String> = by_id.keys().map(|id| id.to_string()).collect();
    assert_same_events(&published, &stored);
    for (id, copies) in &by_id {
        assert!(copies.len() <= 2, "{id} published {} times", copies.len());
        assert!(
            copies.iter().all(|c| c.same_content(copies[0])),
            "the duplicates of {id} differ"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_writers_reach_the_topic_exactly_once_in_aggregate_order(pool: PgPool) {
    let settings = fresh_topic(3).await;
    let (stop, relay) = spawn_relay(&pool, &settings);
    let writers = 8;
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect_with(&pool.connect_options())
                .await
                .unwrap();
            let mut next: HashMap<String, i64> = HashMap::new();
            let mut round = 0u64;
            while tokio::time::Instant::now() < until {
                round += 1;
                let aggregate = format!("w{writer}-{}", round % 4);
                let sequence = next.entry(aggregate.clone()).or_insert(1);
                let mut tx = conn.begin().await.unwrap();
                // Some transactions write two events; some roll back.
                insert(&mut tx, &aggregate, *sequence).await;
                let many = round.is_multiple_of(3);
                if many {
                    insert(&mut tx, &aggregate, *sequence + 1).await;
                }
                if round.is_multiple_of(7) {
                    tx.rollback().await.unwrap();
                    continue;
                }
                tx.commit().await.unwrap();
                *sequence += if many { 2 } else { 1 };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT event_id::text, aggregate_id, sequence FROM events")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(stored.len() > 500, "only {} events written", stored.len());
    wait_for_relay(&pool, &settings.topic, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    relay.await.unwrap();

    let records = read_topic(&settings, stored.len(), Duration::from_secs(5)).await;
    let mut first_seen = HashSet::new();
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in &records {
        if first_seen.insert(record.header("ce_id").to_owned()) {
            let sequence = record.header("jobsprint_sequence").parse().unwrap();
            order
                .entry(record.header("ce_subject").to_owned())
                .or_default()
                .push(sequence);
        }
    }
    let stored_ids: HashSet<String> = stored.iter().map(|(id, _, _)| id.clone()).collect();
    assert_same_events(&first_seen, &stored_ids);
    for (aggregate, sequences) in &order {
        let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
        assert_eq!(
            sequences, &expected,
            "{aggregate} out of order on the topic"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn one_relay_publishes_at_a_time_and_another_takes_over(pool: PgPool) {
    let settings = fresh_topic(1).await;
    let (stop_first, first) = spawn_relay(&pool, &settings);
    let mut conn = pool.acquire().await.unwrap();
    insert(&mut conn, "L", 1).await;
    wait_for_relay(&pool, &settings.topic, Duration::from_secs(10)).await;
    let (stop_second, second) = spawn_relay(&pool, &settings);
    // The second waits: its lease attempts fail while the first holds it.
    assert!(
        Lease::try_acquire(&pool, &settings.topic, "probe")
            .await
            .unwrap()
            .is_none(),
        "the lease is held by the first relay"
    );
    let fencing_before: i64 =
        sqlx::query_scalar("SELECT fencing FROM relay_cursors WHERE relay = $1")
            .bind(&settings.topic)
            .fetch_one(&pool)
            .await
            .unwrap();
    // The first dies without a word (its task and connections dropped).
    first.abort();
    let _ = first.await;
    drop(stop_first);
    insert(&mut conn, "L", 2).await;
    wait_for_relay(&pool, &settings.topic, Duration::from_secs(10)).await;
    let fencing_after: i64 =
        sqlx::query_scalar("SELECT fencing FROM relay_cursors WHERE relay = $1")
            .bind(&settings.topic)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        fencing_after,
        fencing_before + 1,
        "the second relay took the lease over"
    );
    let records = read_topic(&settings, 2, Duration::from_secs(2)).await;
    assert_eq!(ids(&records), ["L1", "L2"]);
    stop_second.send(true).unwrap();
    second.await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_relay_that_lost_its_lease_cannot_move_the_cursor(pool: PgPool) {
    let mut first = Lease::try_acquire(&pool, "fenced", "first")
        .await
        .unwrap()
        .unwrap();
    // Its lock connection is cut (as by a network partition)…
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
          WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
            AND objid = (hashtextextended('jobsprint.relay:fenced', 0) & 4294967295)::oid",
    )
    .execute(&pool)
    .await
    .unwrap();
    // …so another takes over,
    let mut second = None;
    for _ in 0..50 {
        second = Lease::try_acquire(&pool, "fenced", "second").await.unwrap();
        if second.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = second.expect("the lease is free once its holder's connection is gone");
    assert_eq!(second.fencing(), first.fencing() + 1);
    // and the first one's save is refused.
    let cursor = projections::commit_order::Cursor {
        transaction_id: 1,
        global_position: 99,
    };
    assert!(first.save(cursor).await.is_err());
    let saved: i64 =
        sqlx::query_scalar("SELECT global_position FROM relay_cursors WHERE relay = 'fenced'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(saved, 0);
}
