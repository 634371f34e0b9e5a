//! What history shows and hides: integration credentials only as
//! ciphertext, identity history only to admins and without hashes.

mod support;

use serde_json::json;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = "../migrations")]
async fn integrations_never_echo_or_store_plain_credentials(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let canary = "canary-9d1e-api-secret";
    let registered = app
        .gql(
            "mutation($c: JSON!) { registerIntegration(input: {name: \"GitHub\", kind: \"github\", config: {org: \"acme\"}, credentials: $c}) { id version } }",
            json!({"c": {"token": canary}}),
        )
        .await;
    let id = registered["data"]["registerIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    let steps = [
        ("mutation($id: ID!) { updateIntegration(input: {id: $id, config: {org: \"acme2\"}}) { version } }", "updateIntegration", "2"),
        ("mutation($id: ID!) { rotateIntegrationCredentials(input: {id: $id, credentials: {token: \"canary-9d1e-api-secret-2\"}}) { version } }", "rotateIntegrationCredentials", "3"),
        ("mutation($id: ID!) { setIntegrationEnabled(input: {id: $id, enabled: false}) { version } }", "setIntegrationEnabled", "4"),
        ("mutation($id: ID!) { removeIntegration(input: {id: $id}) { version } }", "removeIntegration", "5"),
    ];
    for (query, field, version) in steps {
        let response = app.gql(query, json!({"id": id})).await;
        assert_eq!(
            response["data"][field]["version"],
            json!(version),
            "{field}: {response}"
        );
    }
    let history = app
        .gql(EVENTS, json!({"type": "INTEGRATION", "id": id}))
        .await;
    let text = history.to_string();
    assert!(text.contains("IntegrationCredentialsRotated"), "{text}");
    assert!(text.contains("ciphertext"), "{text}");
    assert!(
        !text.contains("canary"),
        "plaintext credentials in the history: {text}"
    );
    let stored: String =
        sqlx::query_scalar("SELECT string_agg(payload::text || metadata::text, '') FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!stored.contains("canary"));

    let bad_kind = app
        .gql(
            "mutation { registerIntegration(input: {name: \"X\", kind: \"Not A Kind\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_kind), "VALIDATION");
}

#[sqlx::test(migrations = "../migrations")]
async fn identity_history_is_for_admins_and_never_shows_hashes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (user_id, viewer_token) = app.member(&app.tenant, domain::access::Role::Viewer).await;
    let history = app
        .gql(EVENTS, json!({"type": "USER", "id": user_id}))
        .await;
    let edges = history["data"]["events"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"));
    let types: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["UserInvited", "InvitationAccepted", "PasswordSet"]);
    let text = history.to_string();
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        !text.contains("argon2"),
        "a password hash left the server: {text}"
    );
    for edge in edges {
        assert!(
            edge["node"]["metadata"]["actor"]
                .as_str()
                .unwrap()
                .starts_with("user:"),
            "who did it is recorded"
        );
    }

    let as_viewer = app
        .gql_as(
            Some(&viewer_token),
            EVENTS,
            json!({"type": "USER", "id": user_id}),
        )
        .await;
    assert_eq!(error_code(&as_viewer), "FORBIDDEN");
}
