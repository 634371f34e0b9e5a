//! Rebuilds: read models folded again from the event store into shadow
//! tables and swapped in, while the live projectors and queries go on.

mod live;
mod writes;

use std::time::Duration;

use live::*;
use projections::projector::{PoisonPolicy, Projection};
use projections::read_models::executions::{ExecutionsProjection, CHANGES_CHANNEL};
use projections::read_models::workflow_queries::{list_workflows, WorkflowFilter};
use projections::read_models::workflows::WorkflowsProjection;
use projections::status::wait_for_position;
use replay::rebuild::{self, Progress, RebuildError, RebuildOptions, REBUILDABLE};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use writes::*;

#[sqlx::test(migrations = "../migrations")]
async fn a_rebuild_folds_the_same_rows_and_swaps_in_the_migrated_schema(pool: PgPool) {
    history(&pool, 4).await;
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    caught_up(&pool).await;
    let before = all_rows(&pool).await;
    let sequences = rows(&pool, "projection_aggregate_sequences").await;
    for table in [
        "workflows",
        "workflow_versions",
        "executions",
        "integrations",
        "audit_log",
    ] {
        let (_, rows) = before.iter().find(|(name, _)| *name == table).unwrap();
        assert!(
            !rows.as_array().unwrap().is_empty(),
            "{table} has rows to compare"
        );
    }
    // Damage the live read models: only a real rebuild restores them.
    sqlx::query("UPDATE workflows SET name = 'damaged'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE aggregate_type = 'Workflow'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM integrations")
        .execute(&pool)
        .await
        .unwrap();
    assert_ne!(all_rows(&pool).await, before);

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    for name in REBUILDABLE {
        let mut seen: Vec<Progress> = Vec::new();
        let report = rebuild::rebuild(
            &pool,
            name,
            &RebuildOptions {
                batch_size: 7,
                ..RebuildOptions::default()
            },
            &mut |p| seen.push(p),
        )
        .await
        .unwrap_or_else(|err| panic!("rebuilding {name}: {err}"));
        assert_eq!(
            report.events, events as u64,
            "{name} folded the whole store"
        );
        assert!(seen.len() > 1, "{name}: progress after every batch");
        assert!(seen
            .windows(2)
            .all(|w| w[0].events_done <= w[1].events_done));
        assert_eq!(seen.last().unwrap().events_done, report.events);
        let status = rebuild::status(&pool, name).await.unwrap().unwrap();
        assert_eq!(status.state, "succeeded", "{status:?}");
        assert_eq!(status.events_done, events);
        assert!(status.finished_at.is_some());
    }
    caught_up(&pool).await;
    let after = all_rows(&pool).await;
    for ((table, was), (_, now)) in before.iter().zip(&after) {
        assert_eq!(was, now, "{table} after the rebuild");
    }
    // The live runners go on from the rebuilt sequences: every aggregate
    // where it was, nothing to apply again, no gap.
    assert_eq!(
        rows(&pool, "projection_aggregate_sequences").await,
        sequences,
        "the aggregates' sequences after the rebuild"
    );

    // The swapped-in tables are the migrated ones: index names, keys and
    // the foreign key between executions and their steps.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'workflows' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(indexes, ["workflows_by_tenant", "workflows_pkey"]);
    let foreign: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
          WHERE conrelid = 'public.execution_steps'::regclass AND contype = 'f'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(foreign.contains("REFERENCES executions(id)"), "{foreign}");
    assert_eq!(
        leftover_schemas(&pool).await,
        0,
        "shadow and retired tables are dropped"
    );
    live.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn queries_answer_and_writes_land_while_a_rebuild_runs(pool: PgPool) {
    let tenants = history(&pool, 30).await;
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    caught_up(&pool).await;

    // Writes start once the rebuild folds its first batch.
    let (folding, mut started) = mpsc::unbounded_channel::<()>();
    let writer_pool = pool.clone();
    let tenant = tenants[0];
    let writer = tokio::spawn(async move {
        started.recv().await;
        let commands = commands(&writer_pool);
        let mut made = Vec::new();
        for n in 0..20 {
            let id = published(&commands, tenant, &format!("During {n}")).await;
            start(&commands, tenant, id).await;
            made.push(id);
        }
        made
    });
    let (reading, read_stop) = watch::channel(false);
    let reader_pool = pool.clone();
    let reader = tokio::spawn(async move {
        let mut reads = 0u64;
        while !*read_stop.borrow() {
            let page = list_workflows(
                &reader_pool,
                tenant.0,
                &WorkflowFilter::default(),
                None,
                100,
            )
            .await
            .expect("queries keep answering during the rebuild");
            assert!(
                page.items.len() >= 30,
                "the live table is never empty: {}",
                page.items.len()
            );
            reads += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reads
    });

    let options = RebuildOptions {
        batch_size: 25,
        ..RebuildOptions::default()
    };
    let mut tell = |_: Progress| {
        let _ = folding.send(());
    };
    rebuild::rebuild(&pool, WorkflowsProjection::NAME, &options, &mut tell)
        .await
        .unwrap();
    rebuild::rebuild(&pool, ExecutionsProjection::NAME, &options, &mut tell)
        .await
        .unwrap();
    let made = writer.await.unwrap();
    caught_up(&pool).await;
    let _ = reading.send(true);
    assert!(reader.await.unwrap() > 0);

    // Nothing written around the swap was lost or applied twice.
    let page = list_workflows(&pool, tenant.0, &WorkflowFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 50);
    for id in &made {
        let row = page
            .items
            .iter()
            .find(|w| w.id == id.0)
            .expect("a workflow made during the rebuild");
        assert_eq!(row.executions_count, 1, "{row:?}");
        assert_eq!(row.published_version, Some(1));
    }
    let executions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM executions WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(executions, 50);
    live.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_rebuild_leaves_the_live_tables_untouched(pool: PgPool) {
    history(&pool, 2).await;
    poison_workflow(&pool).await;
    history(&pool, 1).await;
    let live = Live::start(&pool, PoisonPolicy::Skip).await;
    caught_up(&pool).await;
    let before = all_rows(&pool).await;

    let err = rebuild::rebuild(
        &pool,
        WorkflowsProjection::NAME,
        &RebuildOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    match &err {
        RebuildError::Halted {
            projection, state, ..
        } => {
            assert_eq!((*projection, state.as_str()), ("workflows", "stopped"));
        }
        other => panic!("expected a halt, got {other}"),
    }
    assert_eq!(all_rows(&pool).await, before, "live tables as they were");
    assert_eq!(leftover_schemas(&pool).await, 0);
    let status = rebuild::status(&pool, "workflows").await.unwrap().unwrap();
    assert_eq!(status.state, "failed");
    assert!(status.error.unwrap().contains("halted"));

    // Skipping it, the rebuild succeeds and keeps the dead letter.
    let skip = RebuildOptions {
        on_poison: PoisonPolicy::Skip,
        ..RebuildOptions::default()
    };
    rebuild::rebuild(&pool, WorkflowsProjection::NAME, &skip, &mut |_| {})
        .await
        .unwrap();
    caught_up(&pool).await;
    assert_eq!(all_rows(&pool).await, before);
    let letters: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projection_dead_letters WHERE projection = 'workflows'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(letters, 1);
    live.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn one_rebuild_at_a_time_and_only_of_read_models(pool: PgPool) {
    let first = rebuild::prepare(&pool, "audit_log").await.unwrap();
    match rebuild::prepare(&pool, "audit_log").await {
        Err(RebuildError::AlreadyRunning(name)) => assert_eq!(name, "audit_log"),
        Err(other) => panic!("expected already running, got {other}"),
        Ok(_) => panic!("two rebuilds of one projection"),
    }
    // Another projection is free to rebuild meanwhile.
    rebuild::rebuild(
        &pool,
        "integrations",
        &RebuildOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    first
        .run(&RebuildOptions::default(), &mut |_| {})
        .await
        .unwrap();
    rebuild::rebuild(&pool, "audit_log", &RebuildOptions::default(), &mut |_| {})
        .await
        .unwrap();

    // A rebuild whose process dies before the swap reads as failed.
    let dying = rebuild::prepare(&pool, "workflows").await.unwrap();
    assert_eq!(
        rebuild::status(&pool, "workflows")
            .await
            .unwrap()
            .unwrap()
            .state,
        "running"
    );
    drop(dying);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = rebuild::status(&pool, "workflows").await.unwrap().unwrap();
        if status.state != "running" || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.state, "failed", "{status:?}");
    assert!(status.error.unwrap().contains("interrupted"));

    for name in ["engine_intake", "engine_triggers", "relay", "nonsense"] {
        match rebuild::rebuild(&pool, name, &RebuildOptions::default(), &mut |_| {}).await {
            Err(RebuildError::Unknown(unknown)) => assert_eq!(unknown, name),
            other => panic!("{name}: expected unknown, got {other:?}"),
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rebuild_wakes_no_subscriber(pool: PgPool) {
    let tenants = history(&pool, 3).await;
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    caught_up(&pool).await;
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(CHANGES_CHANNEL).await.unwrap();

    rebuild::rebuild(
        &pool,
        ExecutionsProjection::NAME,
        &RebuildOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    // A live change after the rebuild is the first thing the channel says.
    let commands = commands(&pool);
    let workflow = published(&commands, tenants[1], "After").await;
    let started = start(&commands, tenants[1], workflow).await;
    wait_for_position(
        &pool,
        ExecutionsProjection::NAME,
        started.position,
        Duration::from_secs(20),
    )
    .await
    .expect("the live projector applies changes after the swap");
    let note = tokio::time::timeout(Duration::from_secs(30), listener.recv())
        .await
        .expect("the live change is notified")
        .unwrap();
    let change: Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(
        change["execution_id"],
        started.aggregate_id.as_str(),
        "{change}"
    );
    live.stop().await;
}
