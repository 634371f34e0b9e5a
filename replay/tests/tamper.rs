//! Tamper evidence: a clean store verifies; an edited field, a deleted row,
//! two swapped rows, a truncated tail and an event inserted behind the
//! chain are each found, and the report names the first bad event.

mod support;

use replay::chain::verify::Problem;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

/// Two tenants, five events for `a` and three for `b`, all sealed.
async fn sealed_store(pool: &PgPool) -> (Uuid, Vec<i64>, Uuid) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut positions = history(pool, a, 2).await;
    history(pool, b, 3).await;
    positions.extend(history(pool, a, 3).await);
    assert_eq!(seal(pool).await, 8);
    (a, positions, b)
}

/// The other tenant's chain still holds.
async fn holds(pool: &PgPool, tenant: Uuid) {
    let report = replay::chain::verify::verify(pool, Some(tenant))
        .await
        .unwrap();
    assert!(report.ok, "{report}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_clean_store_verifies_and_counts_what_is_not_sealed(pool: PgPool) {
    let (a, _, b) = sealed_store(&pool).await;
    history(&pool, a, 2).await;
    let report = report(&pool).await;
    assert!(report.ok, "{report}");
    let a_report = report.tenants.iter().find(|t| t.tenant_id == a).unwrap();
    assert_eq!((a_report.sealed, a_report.unsealed), (5, 2));
    let b_report = report.tenants.iter().find(|t| t.tenant_id == b).unwrap();
    assert_eq!((b_report.sealed, b_report.unsealed), (3, 0));
    assert!(report.to_string().contains("2 not sealed yet"), "{report}");
    seal(&pool).await;
    let report = replay::chain::verify::verify(&pool, Some(a)).await.unwrap();
    assert!(report.ok, "{report}");
    assert_eq!(
        (report.tenants[0].sealed, report.tenants[0].unsealed),
        (7, 0)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_edited_field_is_found_at_its_event(pool: PgPool) {
    let (a, positions, b) = sealed_store(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET payload = '{{\"WorkflowRenamed\": {{\"name\": \"forged\", \"ratio\": 0.3}}}}'
              WHERE global_position = {}",
            positions[3]
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::ContentChanged, "{link}");
    assert_eq!(link.chain_seq, Some(4));
    assert_eq!(link.global_position, Some(positions[3]));
    assert_eq!(link.event_id, Some(event_id(&pool, positions[3]).await));
    assert_eq!(link.aggregate_type.as_deref(), Some("Workflow"));
    holds(&pool, b).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_edited_metadata_field_is_found(pool: PgPool) {
    let (a, positions, _) = sealed_store(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{{actor}}', '\"user:mallory\"')::json
              WHERE global_position = {}",
            positions[1]
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(
        (link.problem, link.chain_seq),
        (Problem::ContentChanged, Some(2))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_deleted_row_is_found_at_its_event(pool: PgPool) {
    let (a, positions, b) = sealed_store(&pool).await;
    let deleted = event_id(&pool, positions[1]).await;
    tamper(
        &pool,
        &format!(
            "DELETE FROM events WHERE global_position = {}",
            positions[1]
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::EventMissing, "{link}");
    assert_eq!(link.chain_seq, Some(2));
    assert_eq!(link.global_position, Some(positions[1]));
    assert_eq!(link.event_id, Some(deleted));
    holds(&pool, b).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn two_swapped_rows_are_found_at_the_first(pool: PgPool) {
    let (a, positions, b) = sealed_store(&pool).await;
    let (first, second) = (positions[2], positions[3]);
    let first_id = event_id(&pool, first).await;
    // Each event moves to the other's position; everything else is kept.
    tamper(
        &pool,
        &format!(
            "CREATE TEMP TABLE swapped ON COMMIT DROP AS
                 SELECT * FROM events WHERE global_position IN ({first}, {second});
             DELETE FROM events WHERE global_position IN ({first}, {second});
             INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata, global_position,
                                 transaction_id, event_id, recorded_at)
             OVERRIDING SYSTEM VALUE
                 SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata,
                        CASE global_position WHEN {first} THEN {second} ELSE {first} END,
                        transaction_id, event_id, recorded_at
                   FROM swapped;"
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::EventReplaced, "{link}");
    assert_eq!(link.chain_seq, Some(3));
    assert_eq!(link.global_position, Some(first));
    assert_eq!(link.event_id, Some(first_id));
    holds(&pool, b).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn two_swapped_sequences_are_found_at_the_first(pool: PgPool) {
    let (a, positions, _) = sealed_store(&pool).await;
    let (first, second) = (positions[2], positions[3]);
    // The order within the aggregate is swapped (sequences 1 and 2).
    tamper(
        &pool,
        &format!(
            "UPDATE events SET sequence = 1000 WHERE global_position = {first};
             UPDATE events SET sequence = 1 WHERE global_position = {second};
             UPDATE events SET sequence = 2 WHERE global_position = {first};"
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(
        (link.problem, link.chain_seq, link.global_position),
        (Problem::ContentChanged, Some(3), Some(first))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_truncated_tail_is_found_where_the_chain_stops(pool: PgPool) {
    let (a, positions, b) = sealed_store(&pool).await;
    let cut = format!("{}, {}", positions[3], positions[4]);
    tamper(
        &pool,
        &format!(
            "DELETE FROM events WHERE global_position IN ({cut});
             DELETE FROM event_chain WHERE global_position IN ({cut});"
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::TailTruncated, "{link}");
    assert_eq!(link.chain_seq, Some(4));
    assert!(link.detail.contains("head is seq 5"), "{link}");
    holds(&pool, b).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_truncated_chain_names_the_first_event_it_lost(pool: PgPool) {
    let (a, positions, _) = sealed_store(&pool).await;
    let lost = event_id(&pool, positions[3]).await;
    tamper(
        &pool,
        &format!(
            "DELETE FROM event_chain WHERE global_position IN ({}, {})",
            positions[3], positions[4]
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::TailTruncated, "{link}");
    assert_eq!(link.chain_seq, Some(4));
    assert_eq!(link.global_position, Some(positions[3]));
    assert_eq!(link.event_id, Some(lost));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_truncated_events_table_is_found_at_the_first_event(pool: PgPool) {
    let (a, positions, b) = sealed_store(&pool).await;
    tamper(&pool, "TRUNCATE events").await;
    let link = broken(&pool, a).await;
    assert_eq!(
        (link.problem, link.chain_seq, link.global_position),
        (Problem::EventMissing, Some(1), Some(positions[0]))
    );
    let report = replay::chain::verify::verify(&pool, Some(b)).await.unwrap();
    assert!(!report.ok);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_inserted_behind_the_chain_is_found(pool: PgPool) {
    let (a, _, b) = sealed_store(&pool).await;
    let planted = Uuid::now_v7();
    tamper(
        &pool,
        &format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, transaction_id, event_id)
             VALUES ('Workflow', 'planted', 1, 'WorkflowRenamed', '1', '{{}}',
                     '{{\"tenant_id\": \"{a}\"}}', '3'::xid8, '{planted}')"
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.problem, Problem::NotChained, "{link}");
    assert_eq!(link.event_id, Some(planted));
    assert_eq!(link.aggregate_id.as_deref(), Some("planted"));
    holds(&pool, b).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rewritten_chain_hash_is_found_at_its_row(pool: PgPool) {
    let (a, positions, _) = sealed_store(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE event_chain SET hash = repeat('a', 64) WHERE global_position = {}",
            positions[1]
        ),
    )
    .await;
    let link = broken(&pool, a).await;
    assert_eq!(link.chain_seq, Some(2), "{link}");
    assert_eq!(link.problem, Problem::ContentChanged);
}
