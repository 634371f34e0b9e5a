//! The commit-order reader never passes a transaction that is still open:
//! the deterministic held-transaction test of shared NOTES.md.

use projections::commit_order::{read_committed, Cursor};
use sqlx::{Connection, PgConnection, PgPool};

async fn insert(conn: &mut PgConnection, aggregate_id: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, $2, 'WorkflowRenamed', '1', '{}', '{}')",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .execute(conn)
    .await
    .unwrap();
}

async fn ids(pool: &PgPool, after: Cursor) -> (Vec<String>, Cursor) {
    let events = read_committed(pool, after, 100).await.unwrap();
    let cursor = events.last().map_or(after, |e| e.cursor);
    let ids = events
        .into_iter()
        .map(|e| format!("{}{}", e.event.aggregate_id, e.event.sequence))
        .collect();
    (ids, cursor)
}

/// Reads until `count` events arrived (at most 10 s). The xmin horizon is
/// cluster-wide: a short writing transaction anywhere in the cluster (the
/// test harness creating or dropping another test's database) may delay
/// what a single read sees, never what it delivers.
async fn ids_until(pool: &PgPool, after: Cursor, count: usize) -> (Vec<String>, Cursor) {
    let (mut seen, mut cursor) = ids(pool, after).await;
    for _ in 0..1000 {
        if seen.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let (more, next) = ids(pool, cursor).await;
        seen.extend(more);
        cursor = next;
    }
    (seen, cursor)
}

/// The xmin horizon is cluster-wide: one variant's open transaction A holds
/// the other variant's reader back too, so the variants take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn held_transaction(pool: PgPool, commit_a: bool) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let options = pool.connect_options();
    let mut a = PgConnection::connect_with(&options).await.unwrap();
    let mut b = PgConnection::connect_with(&options).await.unwrap();

    let mut tx_a = a.begin().await.unwrap();
    insert(&mut tx_a, "A", 1).await; // takes the lower global position
    insert(&mut b, "B", 1).await; // autocommit
    insert(&mut b, "B", 2).await;

    let (seen, cursor) = ids(&pool, Cursor::default()).await;
    assert!(
        seen.is_empty(),
        "the reader passed the open transaction A: {seen:?}"
    );

    if commit_a {
        tx_a.commit().await.unwrap();
    } else {
        tx_a.rollback().await.unwrap();
    }
    let expected: &[&str] = if commit_a {
        &["A1", "B1", "B2"]
    } else {
        &["B1", "B2"]
    };
    let (seen, cursor) = ids_until(&pool, cursor, expected.len()).await;
    assert_eq!(seen, expected);

    let (again, _) = ids(&pool, cursor).await;
    assert!(again.is_empty(), "nothing is delivered twice: {again:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_held_transaction_that_commits_is_delivered_first(pool: PgPool) {
    held_transaction(pool, true).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_held_transaction_that_rolls_back_is_never_delivered(pool: PgPool) {
    held_transaction(pool, false).await;
}
