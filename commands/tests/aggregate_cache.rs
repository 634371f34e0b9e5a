//! The aggregate cache never makes a decision on a stale state: two command
//! layers over one database stand in for two server processes.

use commands::{CommandConfig, CommandContext, CommandError, Commands};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::json;
use sqlx::PgPool;

fn ctx() -> CommandContext {
    CommandContext::new(TenantId::DEFAULT, "tester")
}

fn rename(name: &str) -> WorkflowCommand {
    WorkflowCommand::Rename { name: name.into() }
}

async fn two_processes_and_a_workflow(pool: &PgPool) -> (Commands, Commands, WorkflowId) {
    let a = Commands::new(pool.clone(), CommandConfig::default());
    let b = Commands::new(pool.clone(), CommandConfig::default());
    let id = WorkflowId::new_v7();
    let definition = WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "only", "type": "transform", "config": {"expression": "."}}],
        "trigger": {"type": "manual"}
    }))
    .unwrap();
    let create = WorkflowCommand::Create {
        name: "w".into(),
        description: String::new(),
        definition,
    };
    a.execute_workflow(&ctx(), id, create, None).await.unwrap();
    (a, b, id)
}

async fn stored_names(pool: &PgPool, id: WorkflowId) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT payload->'WorkflowRenamed'->>'name' FROM events
          WHERE aggregate_id = $1 AND event_type = 'WorkflowRenamed' ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_write_decided_on_a_stale_cache_is_redecided_not_lost(pool: PgPool) {
    let (a, b, id) = two_processes_and_a_workflow(&pool).await;
    a.execute_workflow(&ctx(), id, rename("one"), None)
        .await
        .unwrap(); // a caches v3
    b.execute_workflow(&ctx(), id, rename("two"), None)
        .await
        .unwrap(); // store at v4
    let third = a
        .execute_workflow(&ctx(), id, rename("three"), None)
        .await
        .unwrap();
    assert_eq!(third.version, 5);
    assert_eq!(stored_names(&pool, id).await, ["one", "two", "three"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_no_op_on_a_stale_cache_is_checked_against_the_store(pool: PgPool) {
    let (a, b, id) = two_processes_and_a_workflow(&pool).await;
    a.execute_workflow(&ctx(), id, rename("x"), None)
        .await
        .unwrap(); // a believes the name is x
    b.execute_workflow(&ctx(), id, rename("y"), None)
        .await
        .unwrap();
    let again = a
        .execute_workflow(&ctx(), id, rename("x"), None)
        .await
        .unwrap();
    assert_eq!(again.version, 5, "renaming back to x is a real change");
    assert_eq!(stored_names(&pool, id).await, ["x", "y", "x"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rejection_on_a_stale_cache_is_checked_against_the_store(pool: PgPool) {
    let (a, b, id) = two_processes_and_a_workflow(&pool).await;
    a.execute_workflow(&ctx(), id, rename("x"), None)
        .await
        .unwrap(); // a caches v3
    let seen = b
        .execute_workflow(&ctx(), id, rename("y"), None)
        .await
        .unwrap();
    // The client read v4 from b; a's cache still says v3.
    let ok = a
        .execute_workflow(&ctx(), id, rename("z"), Some(seen.version))
        .await
        .unwrap();
    assert_eq!(ok.version, 5);

    let stale = a
        .execute_workflow(&ctx(), id, rename("w"), Some(seen.version))
        .await
        .unwrap_err();
    assert!(matches!(stale, CommandError::Rejected { .. }), "{stale:?}");
    assert_eq!(stored_names(&pool, id).await, ["x", "y", "z"]);
}
