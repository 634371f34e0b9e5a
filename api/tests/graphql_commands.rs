//! The GraphQL API through a real socket: the README's worked example,
//! every mutation, error codes and history reads.

mod support;

use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

async fn create_workflow(app: &TestApp) -> String {
    let created = app
        .gql(
            CREATE,
            json!({"input": {"name": "Order sync", "definition": definition()}}),
        )
        .await;
    created["data"]["createWorkflow"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn create_publish_start_and_read_the_history(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app
        .gql(
            CREATE,
            json!({"input": {"name": "Order sync", "definition": definition()}}),
        )
        .await;
    let created = &created["data"]["createWorkflow"];
    assert_eq!(
        created["version"],
        json!("2"),
        "WorkflowCreated + WorkflowVersionCreated"
    );
    assert!(
        created["position"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0,
        "64-bit position as a string"
    );
    let id = created["id"].as_str().unwrap();

    let published = app
        .gql(PUBLISH, json!({"input": {"id": id, "version": 1}}))
        .await;
    assert_eq!(
        published["data"]["publishWorkflow"]["version"],
        json!("3"),
        "{published}"
    );

    let started = app
        .gql(START, json!({"input": {"workflowId": id, "input": {"order": 7}, "idempotencyKey": "order-7"}}))
        .await;
    let execution = started["data"]["startExecution"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"));
    let again = app
        .gql(START, json!({"input": {"workflowId": id, "input": {"order": 7}, "idempotencyKey": "order-7"}}))
        .await;
    assert_eq!(
        again["data"]["startExecution"]["id"],
        json!(execution),
        "same key, same execution"
    );

    let history = app.gql(EVENTS, json!({"type": "WORKFLOW", "id": id})).await;
    let edges = history["data"]["events"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"));
    let types: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "WorkflowCreated",
            "WorkflowVersionCreated",
            "WorkflowPublished"
        ]
    );
    let sequences: Vec<&Value> = edges.iter().map(|e| &e["node"]["sequence"]).collect();
    assert_eq!(sequences, [&json!("1"), &json!("2"), &json!("3")]);
    let node = &edges[0]["node"];
    assert_eq!(node["eventVersion"], json!("1"));
    assert_eq!(
        node["payload"]["WorkflowCreated"]["name"],
        json!("Order sync")
    );
    for key in [
        "tenant_id",
        "actor",
        "command_id",
        "correlation_id",
        "causation_id",
        "trace_id",
    ] {
        assert!(
            node["metadata"][key].is_string(),
            "metadata lacks {key}: {node}"
        );
    }

    let run = app
        .gql(EVENTS, json!({"type": "EXECUTION", "id": execution}))
        .await;
    let node = &run["data"]["events"]["edges"][0]["node"];
    assert_eq!(node["eventType"], json!("ExecutionStarted"));
    assert_eq!(
        node["payload"]["ExecutionStarted"]["input"],
        json!({"order": 7})
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn history_pages_with_stable_cursors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = create_workflow(&app).await;
    for name in ["a", "b", "c"] {
        let renamed = app
            .gql(
                "mutation($id: ID!, $name: String!) { renameWorkflow(input: {id: $id, name: $name}) { version } }",
                json!({"id": id, "name": name}),
            )
            .await;
        assert!(renamed["errors"].is_null(), "{renamed}");
    }
    let page1 = app
        .gql(EVENTS, json!({"type": "WORKFLOW", "id": id, "first": 2}))
        .await;
    let info = &page1["data"]["events"]["pageInfo"];
    assert_eq!(info["hasNextPage"], json!(true));
    let page2 = app
        .gql(
            EVENTS,
            json!({"type": "WORKFLOW", "id": id, "first": 10, "after": info["endCursor"]}),
        )
        .await;
    let types: Vec<&str> = page2["data"]["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["WorkflowRenamed", "WorkflowRenamed", "WorkflowRenamed"]
    );
    assert_eq!(
        page2["data"]["events"]["pageInfo"]["hasNextPage"],
        json!(false)
    );

    let bad = app
        .gql(EVENTS, json!({"type": "WORKFLOW", "id": id, "first": 5000}))
        .await;
    assert_eq!(error_code(&bad), "VALIDATION");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invalid_definition_is_a_validation_error_naming_the_culprit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let baseline: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut bad = definition();
    bad["edges"] = json!([{"from": "fetch", "to": "nowhere"}]);
    let response = app
        .gql(
            CREATE,
            json!({"input": {"name": "Broken", "definition": bad}}),
        )
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nowhere"), "{message}");

    let mut no_url = definition();
    no_url["nodes"][0]["config"] = json!({});
    let response = app
        .gql(
            CREATE,
            json!({"input": {"name": "Broken", "definition": no_url}}),
        )
        .await;
    assert_eq!(error_code(&response), "VALIDATION");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fetch"),
        "{response}"
    );

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, baseline, "a rejected command writes nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn stale_versions_conflict_and_command_ids_deduplicate(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = create_workflow(&app).await;
    const RENAME: &str = "mutation($input: RenameWorkflowInput!) {
      renameWorkflow(input: $input) { version position duplicate } }";

    let stale = app
        .gql(
            RENAME,
            json!({"input": {"id": id, "name": "x", "expectedVersion": "1"}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");

    let command_id = uuid::Uuid::new_v4().to_string();
    let input =
        json!({"input": {"id": id, "name": "y", "expectedVersion": "2", "commandId": command_id}});
    let first = app.gql(RENAME, input.clone()).await;
    let second = app.gql(RENAME, input).await;
    assert_eq!(
        first["data"]["renameWorkflow"]["duplicate"],
        json!(false),
        "{first}"
    );
    assert_eq!(
        second["data"]["renameWorkflow"]["duplicate"],
        json!(true),
        "{second}"
    );
    assert_eq!(
        first["data"]["renameWorkflow"]["position"],
        second["data"]["renameWorkflow"]["position"]
    );

    // A retried create without an explicit id lands on the same workflow.
    let create = json!({"input": {"name": "Once", "definition": definition(), "commandId": uuid::Uuid::new_v4()}});
    let a = app.gql(CREATE, create.clone()).await;
    let b = app.gql(CREATE, create).await;
    assert_eq!(
        a["data"]["createWorkflow"]["id"],
        b["data"]["createWorkflow"]["id"]
    );
    assert_eq!(b["data"]["createWorkflow"]["duplicate"], json!(true));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_workflow_mutation_answers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = create_workflow(&app).await;
    let mut second = definition();
    second["nodes"][1]["config"]["expression"] = json!(".body");
    let steps = [
        ("mutation($id: ID!, $d: JSON!) { updateWorkflowDefinition(input: {id: $id, definition: $d}) { version } }", json!({"id": id, "d": second}), "updateWorkflowDefinition", "3"),
        ("mutation($id: ID!) { publishWorkflow(input: {id: $id, version: 2}) { version } }", json!({"id": id}), "publishWorkflow", "4"),
        ("mutation($id: ID!) { unpublishWorkflow(input: {id: $id}) { version } }", json!({"id": id}), "unpublishWorkflow", "5"),
        ("mutation($id: ID!) { renameWorkflow(input: {id: $id, name: \"New\"}) { version } }", json!({"id": id}), "renameWorkflow", "6"),
        ("mutation($id: ID!) { archiveWorkflow(input: {id: $id}) { version } }", json!({"id": id}), "archiveWorkflow", "7"),
    ];
    for (query, variables, field, version) in steps {
        let response = app.gql(query, variables).await;
        assert_eq!(
            response["data"][field]["version"],
            json!(version),
            "{field}: {response}"
        );
    }
    let archived = app
        .gql(
            "mutation($id: ID!) { renameWorkflow(input: {id: $id, name: \"Late\"}) { version } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&archived), "INVALID_STATE");
    let publish_missing = app
        .gql("mutation { publishWorkflow(input: {id: \"0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d\", version: 1}) { version } }", json!({}))
        .await;
    assert_eq!(error_code(&publish_missing), "NOT_FOUND");
    let bad_id = app
        .gql(
            "mutation { archiveWorkflow(input: {id: \"nope\"}) { version } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_id), "VALIDATION");
}

#[sqlx::test(migrations = "../migrations")]
async fn cancel_and_tenant_isolation(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = create_workflow(&app).await;
    app.gql(PUBLISH, json!({"input": {"id": id, "version": 1}}))
        .await;
    let started = app.gql(START, json!({"input": {"workflowId": id}})).await;
    let execution = started["data"]["startExecution"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let other_tenant = app.new_tenant("Other").await;
    let other = other_tenant.admin_token.as_str();
    let foreign_cancel = app
        .gql_as(
            Some(other),
            "mutation($id: ID!) { cancelExecution(input: {id: $id}) { version } }",
            json!({"id": execution}),
        )
        .await;
    assert_eq!(error_code(&foreign_cancel), "NOT_FOUND");
    let foreign_history = app
        .gql_as(Some(other), EVENTS, json!({"type": "WORKFLOW", "id": id}))
        .await;
    assert_eq!(
        foreign_history["data"]["events"]["edges"],
        json!([]),
        "another tenant sees nothing"
    );
    let foreign_start = app
        .gql_as(Some(other), START, json!({"input": {"workflowId": id}}))
        .await;
    assert_eq!(error_code(&foreign_start), "NOT_FOUND");

    let cancel =
        "mutation($id: ID!) { cancelExecution(input: {id: $id, reason: \"stop\"}) { version } }";
    let cancelled = app.gql(cancel, json!({"id": execution})).await;
    assert_eq!(
        cancelled["data"]["cancelExecution"]["version"],
        json!("2"),
        "{cancelled}"
    );
    let again = app.gql(cancel, json!({"id": execution})).await;
    assert_eq!(
        again["data"]["cancelExecution"]["version"],
        json!("2"),
        "idempotent repeat: {again}"
    );
}
