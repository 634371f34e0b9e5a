//! Old event versions on the write side: a workflow whose `WorkflowRenamed`
//! v1 row an old deployment wrote still loads (with or without a snapshot
//! before it) and takes commands; what is written now is v2.

mod support;

use commands::{CommandConfig, Commands};
use domain::ids::WorkflowId;
use domain::workflow::WorkflowCommand;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::{create, ctx};

/// Appends `WorkflowRenamed` v1 as an old deployment wrote it.
async fn old_rename(pool: &PgPool, id: WorkflowId, sequence: i64, from: &str, to: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, $2, 'WorkflowRenamed', '1', $3, $4)",
    )
    .bind(id.to_string())
    .bind(sequence)
    .bind(json!({"WorkflowRenamed": {"from": from, "to": to}}))
    .bind(json!({"tenant_id": ctx().tenant_id.0.to_string(), "actor": "old-deployment"}))
    .execute(pool)
    .await
    .unwrap();
}

/// A command layer that has never seen the aggregate (an empty cache: it
/// loads from the store).
fn fresh(pool: &PgPool, snapshot_every: usize) -> Commands {
    Commands::new(
        pool.clone(),
        CommandConfig {
            snapshot_every,
            ..CommandConfig::default()
        },
    )
}

fn rename(name: &str) -> WorkflowCommand {
    WorkflowCommand::Rename { name: name.into() }
}

/// `(sequence, event_version, payload)` of every stored rename.
async fn stored_renames(pool: &PgPool, id: WorkflowId) -> Vec<(i64, String, Value)> {
    sqlx::query_as(
        "SELECT sequence, event_version, payload FROM events
          WHERE aggregate_id = $1 AND event_type = 'WorkflowRenamed' ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Loads the workflow in a fresh command layer and checks the v1 rename
/// was folded in: renaming to its name is a no-op, another name is a v2
/// event naming the old one.
async fn behaves_after_the_v1_rename(pool: &PgPool, id: WorkflowId, snapshot_every: usize) {
    let commands = fresh(pool, snapshot_every);
    let same = commands
        .execute_workflow(&ctx(), id, rename("Legacy"), None)
        .await
        .unwrap();
    assert_eq!(same.version, 3, "the v1 name is the current name: a no-op");
    let renamed = fresh(pool, snapshot_every)
        .execute_workflow(&ctx(), id, rename("Current"), None)
        .await
        .unwrap();
    assert_eq!(renamed.version, 4);
    assert_eq!(
        stored_renames(pool, id).await,
        [
            (
                3,
                "1".to_owned(),
                json!({"WorkflowRenamed": {"from": "Sync items", "to": "Legacy"}})
            ),
            (
                4,
                "2".to_owned(),
                json!({"WorkflowRenamed": {"previous_name": "Legacy", "name": "Current"}})
            ),
        ],
        "the v1 row is untouched; the new event is v2"
    );
    // The new v2 event loads back too: renaming to it is a no-op.
    let back = fresh(pool, snapshot_every)
        .execute_workflow(&ctx(), id, rename("Current"), None)
        .await
        .unwrap();
    assert_eq!(back.version, 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_aggregate_with_a_v1_event_loads_from_its_events_and_takes_commands(pool: PgPool) {
    let id = create(&fresh(&pool, 20), &ctx()).await;
    old_rename(&pool, id, 3, "Sync items", "Legacy").await;
    behaves_after_the_v1_rename(&pool, id, 20).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_v1_event_after_a_snapshot_is_upcast_on_load(pool: PgPool) {
    // Created + version 1 = 2 events: a snapshot at sequence 2.
    let id = create(&fresh(&pool, 2), &ctx()).await;
    let snapshot: i64 = sqlx::query_scalar(
        "SELECT last_sequence FROM snapshots WHERE aggregate_type = 'Workflow' AND aggregate_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(snapshot, 2);
    old_rename(&pool, id, 3, "Sync items", "Legacy").await;
    behaves_after_the_v1_rename(&pool, id, 2).await;
}
