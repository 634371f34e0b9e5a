//! Events written the way the product writes them: through the command
//! layer, for the rebuild and time-travel tests.

#![allow(dead_code)]

use std::sync::Arc;

use commands::executions::StartExecution;
use commands::integrations::RegisterIntegration;
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::secrets::SecretString;
use commands::{CommandConfig, CommandContext, CommandOutcome, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{IntegrationId, TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A command layer with a fresh master key.
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

/// `tenant`, as `auditor-test`.
pub fn ctx(tenant: TenantId) -> CommandContext {
    CommandContext::new(tenant, "auditor-test")
}

/// A one-node definition calling `url`.
pub fn definition(url: &str) -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "fetch", "type": "http", "config": {"url": url}}],
        "trigger": {"type": "manual"}
    }))
    .expect("valid definition")
}

/// Runs one workflow command; its outcome.
pub async fn workflow(
    commands: &Commands,
    tenant: TenantId,
    id: WorkflowId,
    command: WorkflowCommand,
) -> CommandOutcome {
    commands
        .execute_workflow(&ctx(tenant), id, command, None)
        .await
        .expect("workflow command")
}

/// A new, published workflow named `name`.
pub async fn published(commands: &Commands, tenant: TenantId, name: &str) -> WorkflowId {
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: name.into(),
        description: String::new(),
        definition: definition("https://example.com/a"),
    };
    workflow(commands, tenant, id, create).await;
    workflow(
        commands,
        tenant,
        id,
        WorkflowCommand::Publish { version: 1 },
    )
    .await;
    id
}

/// A manual start of `workflow_id`.
pub async fn start(
    commands: &Commands,
    tenant: TenantId,
    workflow_id: WorkflowId,
) -> CommandOutcome {
    let start = StartExecution {
        workflow_id,
        input: json!({"customer": 42}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: None,
    };
    commands
        .start_execution(&ctx(tenant), start)
        .await
        .expect("start")
}

/// A registered integration with credentials.
pub async fn integration(commands: &Commands, tenant: TenantId, name: &str) -> IntegrationId {
    let id = IntegrationId::new_v7();
    let register = RegisterIntegration {
        name: name.into(),
        kind: "http_api".into(),
        config: json!({"base_url": "https://api.example.com"}),
        credentials: Some(SecretString::new("sk-live-secret")),
    };
    commands
        .register_integration(&ctx(tenant), id, register)
        .await
        .expect("register");
    id
}

/// Stores a `WorkflowCreated` that the workflows projection cannot apply
/// (a malformed payload) and every other read model can.
pub async fn poison_workflow(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, 1, 'WorkflowCreated', '1', '{\"WorkflowCreated\": {\"bogus\": 1}}', $2)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(json!({"tenant_id": Uuid::now_v7(), "actor": "someone"}))
    .execute(pool)
    .await
    .unwrap();
}
