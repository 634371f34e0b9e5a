//! Rebuilding every read model from one shared read of the store.

mod live;
mod writes;

use live::*;
use projections::projector::PoisonPolicy;
use replay::rebuild::{self, Progress, RebuildError, RebuildOptions, REBUILDABLE};
use sqlx::PgPool;
use writes::*;

#[sqlx::test(migrations = "../migrations")]
async fn one_shared_pass_rebuilds_every_read_model_while_the_live_ones_go_on(pool: PgPool) {
    history(&pool, 3).await;
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    caught_up(&pool).await;
    let before = all_rows(&pool).await;
    let sequences = rows(&pool, "projection_aggregate_sequences").await;
    sqlx::query("UPDATE executions SET status = 'failed'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log")
        .execute(&pool)
        .await
        .unwrap();
    assert_ne!(all_rows(&pool).await, before);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();

    let mut seen: Vec<Progress> = Vec::new();
    let options = RebuildOptions {
        batch_size: 5,
        ..RebuildOptions::default()
    };
    let results = rebuild::rebuild_all(&pool, &REBUILDABLE, &options, &mut |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(results.len(), REBUILDABLE.len());
    for (name, result) in REBUILDABLE.iter().zip(results) {
        let report = result.unwrap_or_else(|err| panic!("rebuilding {name}: {err}"));
        assert_eq!(report.projection, *name);
        assert_eq!(
            report.events, events as u64,
            "{name} folded the whole store"
        );
        let status = rebuild::status(&pool, name).await.unwrap().unwrap();
        assert_eq!(status.state, "succeeded", "{status:?}");
    }
    // One pass: the progress counts the store once, not once per projection.
    assert_eq!(seen.last().unwrap().events_done, events as u64);
    caught_up(&pool).await;
    let after = all_rows(&pool).await;
    for ((table, was), (_, now)) in before.iter().zip(&after) {
        assert_eq!(was, now, "{table} after the shared rebuild");
    }
    assert_eq!(
        rows(&pool, "projection_aggregate_sequences").await,
        sequences,
        "the aggregates' sequences after the shared rebuild"
    );
    live.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shared_pass_keeps_going_when_one_projection_halts(pool: PgPool) {
    history(&pool, 2).await;
    poison_workflow(&pool).await;
    history(&pool, 1).await;
    // No live projector runs here: wait until the store's horizon (held
    // back by any open transaction of the cluster) has passed every event,
    // so that the pass reads the poison event.
    below_horizon(&pool).await;
    let before = all_rows(&pool).await;
    let results =
        rebuild::rebuild_all(&pool, &REBUILDABLE, &RebuildOptions::default(), &mut |_| {})
            .await
            .unwrap();
    for (name, result) in REBUILDABLE.iter().zip(&results) {
        match *name {
            "workflows" => assert!(
                matches!(result, Err(RebuildError::Halted { .. })),
                "{result:?}"
            ),
            _ => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
    let status = rebuild::status(&pool, "workflows").await.unwrap().unwrap();
    assert_eq!(status.state, "failed");
    let after = all_rows(&pool).await;
    let (_, was) = before.iter().find(|(t, _)| *t == "workflows").unwrap();
    let (_, now) = after.iter().find(|(t, _)| *t == "workflows").unwrap();
    assert_eq!(was, now, "the halted projection's live table is untouched");
    let (_, executions) = after.iter().find(|(t, _)| *t == "executions").unwrap();
    assert_eq!(
        executions.as_array().unwrap().len(),
        6,
        "the others were swapped in"
    );
    assert_eq!(leftover_schemas(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rebuild_while_the_live_projections_are_down_moves_their_sequences_on(pool: PgPool) {
    let tenants = history(&pool, 1).await;
    let commands = commands(&pool);
    let renamed = published(&commands, tenants[0], "Before").await;
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    caught_up(&pool).await;
    live.stop().await;
    // Written while the live projections are down: the rebuild's shadow
    // gets further than the live sequences of this workflow, and has an
    // aggregate they never saw.
    let rename = |name: &str| domain::workflow::WorkflowCommand::Rename { name: name.into() };
    workflow(&commands, tenants[0], renamed, rename("During")).await;
    published(&commands, tenants[1], "New").await;

    for result in rebuild::rebuild_all(&pool, &REBUILDABLE, &RebuildOptions::default(), &mut |_| {})
        .await
        .unwrap()
    {
        result.unwrap();
    }
    let expected: i64 =
        sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
            .bind(renamed.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let live_sequences: Vec<i64> = sqlx::query_scalar(
        "SELECT last_sequence FROM projection_aggregate_sequences
          WHERE aggregate_id = $1 ORDER BY projection",
    )
    .bind(renamed.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        live_sequences,
        [expected, expected],
        "audit_log and workflows have the workflow where the rebuild left it"
    );

    // The live runners go on from there: the next event is neither a gap
    // nor a redelivery.
    let live = Live::start(&pool, PoisonPolicy::Stop).await;
    workflow(&commands, tenants[0], renamed, rename("After")).await;
    caught_up(&pool).await;
    let name: String = sqlx::query_scalar("SELECT name FROM workflows WHERE id = $1")
        .bind(renamed.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "After");
    live.stop().await;
}
