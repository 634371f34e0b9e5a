//! Helpers of the webhook tests: a published webhook workflow with its
//! secret, signed deliveries, and the executions they started.

use auth::Secret;
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::support::*;

/// The rotateWebhookSecret mutation, every field selected.
pub const ROTATE: &str = "mutation($input: RotateWebhookSecretInput!) {
  rotateWebhookSecret(input: $input) {
    workflowId triggerId path secret previousSecretsValidUntil version position commandId } }";

/// A published workflow started by webhooks, and its first secret.
pub struct Hook {
    /// The workflow id.
    pub workflow: String,
    /// `/webhooks/<triggerId>`.
    pub path: String,
    /// Its current secret.
    pub secret: String,
}

/// The support definition, started by webhooks.
pub fn webhook_definition() -> Value {
    let mut definition = definition();
    definition["trigger"] = json!({"type": "webhook"});
    definition
}

/// Rotates the secret of `workflow` (with `extra` input fields) and waits
/// until the trigger index has it.
pub async fn rotate(app: &TestApp, workflow: &str, extra: Value) -> Value {
    let mut input = json!({"workflowId": workflow});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let response = app.gql(ROTATE, json!({"input": input})).await;
    let rotated = response["data"]["rotateWebhookSecret"].clone();
    assert!(rotated.is_object(), "{response}");
    // Deliveries find the trigger through the read model.
    app.wait_for_position(&rotated["position"]).await;
    rotated
}

/// A new workflow with `definition`, published when `publish`.
pub async fn workflow(app: &TestApp, definition: Value, publish: bool) -> String {
    let created = app
        .gql(
            CREATE,
            json!({"input": {"name": "Orders", "definition": definition}}),
        )
        .await;
    let id = created["data"]["createWorkflow"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    if publish {
        let published = app
            .gql(PUBLISH, json!({"input": {"id": id, "version": 1}}))
            .await;
        assert!(published["errors"].is_null(), "{published}");
    }
    id
}

/// A published webhook workflow with its first secret.
pub async fn hook(app: &TestApp) -> Hook {
    let workflow = workflow(app, webhook_definition(), true).await;
    let rotated = rotate(app, &workflow, json!({})).await;
    Hook {
        workflow,
        path: rotated["path"].as_str().unwrap().to_owned(),
        secret: rotated["secret"].as_str().unwrap().to_owned(),
    }
}

/// Posts `body` to `path`, signed with `secrets` at `t` (now when `None`),
/// with extra headers; (status, JSON answer).
pub async fn deliver(
    app: &TestApp,
    path: &str,
    body: &[u8],
    secrets: &[&str],
    t: Option<i64>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    let t = t.unwrap_or_else(|| Utc::now().timestamp());
    let mut request = app
        .client
        .post(format!("{}{path}", app.base))
        .body(body.to_vec());
    if !secrets.is_empty() {
        let header = auth::webhook::sign_all(&secrets, body, t);
        request = request.header("X-Jobsprint-Signature", header);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Every `ExecutionStarted`: (execution id, payload, metadata), in order.
pub async fn executions(pool: &PgPool) -> Vec<(String, Value, Value)> {
    sqlx::query_as(
        "SELECT aggregate_id, payload -> 'ExecutionStarted', metadata FROM events
          WHERE aggregate_type = 'Execution' AND event_type = 'ExecutionStarted'
          ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The `extensions.code` of an answer's first error.
pub fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer}"))
}
