//! Shared setup for the command-layer tests: a command layer over the
//! test's own freshly migrated database, and a few ready-made aggregates.

#![allow(dead_code)]

use std::sync::Arc;

use commands::executions::StartExecution;
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::{CommandConfig, CommandContext, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::json;
use sqlx::PgPool;

/// A valid two-node definition.
pub fn definition() -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({
        "nodes": [
            {"id": "fetch", "type": "http", "config": {"url": "https://example.com/items"}},
            {"id": "shape", "type": "transform", "config": {"expression": ".body"}}
        ],
        "edges": [{"from": "fetch", "to": "shape"}],
        "trigger": {"type": "manual"}
    }))
    .expect("valid definition")
}

/// A command layer with a fresh key.
pub fn commands(pool: &PgPool) -> Commands {
    Commands::new(
        pool.clone(),
        CommandConfig {
            secrets: Some(Arc::new(DataKeys::new(
                pool.clone(),
                MasterKeys::generate("k1"),
            ))),
            ..CommandConfig::default()
        },
    )
}

/// The default tenant, as `tester`.
pub fn ctx() -> CommandContext {
    CommandContext::new(TenantId::DEFAULT, "tester")
}

/// A new workflow.
pub async fn create(commands: &Commands, ctx: &CommandContext) -> WorkflowId {
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "Sync items".into(),
        description: String::new(),
        definition: definition(),
    };
    commands
        .execute_workflow(ctx, id, create, None)
        .await
        .unwrap();
    id
}

/// Events stored for one aggregate.
pub async fn event_count(pool: &PgPool, aggregate_id: impl ToString) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(aggregate_id.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
}
/// A new workflow with version 1 published.
pub async fn published(commands: &Commands) -> WorkflowId {
    let id = create(commands, &ctx()).await;
    commands
        .execute_workflow(&ctx(), id, WorkflowCommand::Publish { version: 1 }, None)
        .await
        .unwrap();
    id
}

/// A manual start of `workflow_id`.
pub fn start(workflow_id: WorkflowId, key: Option<&str>) -> StartExecution {
    StartExecution {
        workflow_id,
        input: json!({"customer": 42}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: key.map(str::to_owned),
    }
}
