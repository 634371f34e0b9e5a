//! Shared setup of the chain tests: raw events of a tenant written straight
//! into the store, the sealer, and tampering as a DBA would.

#![allow(dead_code)]

use replay::chain::seal::{Sealer, SealerConfig};
use replay::chain::verify::{verify, BrokenLink, ChainReport};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Inserts one event of `tenant`'s aggregate `aggregate` at `sequence`;
/// its global position.
pub async fn append(
    pool: &PgPool,
    tenant: Uuid,
    aggregate: &str,
    sequence: i64,
    payload: Value,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Workflow', $1, $2, 'WorkflowRenamed', '1', $3, $4)
         RETURNING global_position",
    )
    .bind(aggregate)
    .bind(sequence)
    .bind(payload)
    .bind(json!({
        "tenant_id": tenant.to_string(),
        "actor": "user:auditor",
        "command_id": Uuid::now_v7().to_string(),
        "correlation_id": Uuid::now_v7().to_string(),
        "causation_id": Uuid::now_v7().to_string(),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// `count` events of one new aggregate of `tenant`; their positions.
pub async fn history(pool: &PgPool, tenant: Uuid, count: i64) -> Vec<i64> {
    let aggregate = Uuid::now_v7().to_string();
    let mut positions = Vec::new();
    for sequence in 1..=count {
        let payload = json!({"WorkflowRenamed": {"name": format!("name {sequence}"), "ratio": 0.1 * sequence as f64}});
        positions.push(append(pool, tenant, &aggregate, sequence, payload).await);
    }
    positions
}

/// A sealer with small batches, so tests cross batch boundaries.
pub fn sealer(pool: &PgPool) -> Sealer {
    Sealer::new(
        pool.clone(),
        SealerConfig {
            batch_size: 3,
            ..SealerConfig::default()
        },
    )
}

/// Seals every event written so far; how many it sealed. The xmin horizon
/// is cluster-wide, so another database's open transaction may hold the
/// sealer back for a moment: this waits (boundedly) until nothing is left.
pub async fn seal(pool: &PgPool) -> u64 {
    let sealer = sealer(pool);
    let mut sealed = 0;
    for _ in 0..6000 {
        sealed += sealer.seal_all().await.unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e, chain_cursor k
              WHERE (e.transaction_id, e.global_position) > (k.transaction_id, k.global_position)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if left == 0 {
            return sealed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("events stayed unsealed for a minute");
}

/// Runs `sql` as the tables' owner acting as a DBA: triggers off and the
/// revoked privileges granted back for one transaction.
pub async fn tamper(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE events DISABLE TRIGGER USER;
         ALTER TABLE event_chain DISABLE TRIGGER USER;
         GRANT UPDATE, DELETE, TRUNCATE ON events, event_chain TO CURRENT_USER;",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
    sqlx::raw_sql(
        "REVOKE UPDATE, DELETE, TRUNCATE ON events, event_chain FROM CURRENT_USER;
         ALTER TABLE events ENABLE TRIGGER USER;
         ALTER TABLE event_chain ENABLE TRIGGER USER;",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The verification of every chain.
pub async fn report(pool: &PgPool) -> ChainReport {
    verify(pool, None).await.unwrap()
}

/// The first broken link of `tenant`'s chain (panics when it holds).
pub async fn broken(pool: &PgPool, tenant: Uuid) -> BrokenLink {
    let report = verify(pool, Some(tenant)).await.unwrap();
    assert!(!report.ok, "{report}");
    report.tenants[0].broken.clone().unwrap()
}

/// The event id at `position`.
pub async fn event_id(pool: &PgPool, position: i64) -> Uuid {
    sqlx::query_scalar("SELECT event_id FROM events WHERE global_position = $1")
        .bind(position)
        .fetch_one(pool)
        .await
        .unwrap()
}
