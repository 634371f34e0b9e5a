//! The sealer and the append-only store: the application cannot update,
//! delete or truncate events; sealing twice changes nothing; concurrent
//! sealers build one chain; the running sealer follows new commits.

mod support;

use std::time::Duration;

use replay::record::GENESIS_HASH;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

#[sqlx::test(migrations = "../migrations")]
async fn the_application_cannot_update_delete_or_truncate_events(pool: PgPool) {
    let tenant = Uuid::now_v7();
    let position = history(&pool, tenant, 1).await[0];
    seal(&pool).await;
    for table in ["events", "event_chain"] {
        for sql in [
            format!("UPDATE {table} SET event_id = gen_random_uuid() WHERE global_position = {position}"),
            format!("DELETE FROM {table} WHERE global_position = {position}"),
            format!("TRUNCATE {table}"),
        ] {
            let err = sqlx::raw_sql(&sql).execute(&pool).await.unwrap_err();
            assert!(err.to_string().contains("permission denied"), "{sql}: {err}");
        }
    }
    // The owner may grant itself the privileges back; the triggers still
    // refuse, until it disables them on purpose.
    sqlx::raw_sql("GRANT UPDATE, DELETE, TRUNCATE ON events, event_chain TO CURRENT_USER")
        .execute(&pool)
        .await
        .unwrap();
    for sql in [
        format!("UPDATE events SET payload = '{{}}' WHERE global_position = {position}"),
        format!("DELETE FROM events WHERE global_position = {position}"),
        "TRUNCATE events".to_owned(),
        format!("DELETE FROM event_chain WHERE global_position = {position}"),
        "TRUNCATE event_chain".to_owned(),
    ] {
        let err = sqlx::raw_sql(&sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("are append-only"), "{sql}: {err}");
    }
    assert!(report(&pool).await.ok);
}

#[sqlx::test(migrations = "../migrations")]
async fn sealing_twice_changes_nothing(pool: PgPool) {
    let tenant = Uuid::now_v7();
    history(&pool, tenant, 7).await;
    assert_eq!(seal(&pool).await, 7);
    let before: Vec<(i64, String)> = chain(&pool, tenant).await;
    assert_eq!(seal(&pool).await, 0);
    assert_eq!(chain(&pool, tenant).await, before);
    let seqs: Vec<i64> = before.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let first_prev: String = sqlx::query_scalar(
        "SELECT prev_hash FROM event_chain WHERE tenant_id = $1 AND chain_seq = 1",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(first_prev, GENESIS_HASH);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_sealers_build_one_chain(pool: PgPool) {
    let tenants = [Uuid::now_v7(), Uuid::now_v7()];
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            let tenant = tenants[i % 2];
            tokio::spawn(async move { history(&pool, tenant, 10).await })
        })
        .collect();
    let sealers: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let sealer = sealer(&pool);
                let mut sealed = 0;
                for _ in 0..20 {
                    sealed += sealer.seal_all().await.unwrap();
                    tokio::task::yield_now().await;
                }
                sealed
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let mut sealed = 0;
    for sealer in sealers {
        sealed += sealer.await.unwrap();
    }
    sealed += seal(&pool).await;
    assert_eq!(sealed, 40, "every event sealed exactly once");
    for tenant in tenants {
        let seqs: Vec<i64> = chain(&pool, tenant)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    }
    let report = report(&pool).await;
    assert!(report.ok, "{report}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_running_sealer_follows_new_commits_and_stops(pool: PgPool) {
    let tenant = Uuid::now_v7();
    history(&pool, tenant, 2).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sealer(&pool).run(async move {
        let _ = stopped.await;
    }));
    history(&pool, tenant, 5).await;
    // Bounded wait for the asynchronous sealer (not a timing assertion).
    let mut chained = 0;
    for _ in 0..1200 {
        chained = chain(&pool, tenant).await.len();
        if chained == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chained, 7);
    let _ = stop.send(());
    running.await.unwrap();
    let report = report(&pool).await;
    assert!(report.ok, "{report}");
}

async fn chain(pool: &PgPool, tenant: Uuid) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT chain_seq, hash FROM event_chain WHERE tenant_id = $1 ORDER BY chain_seq",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}
