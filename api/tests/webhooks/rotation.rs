//! Rotating a trigger's secret: earlier secrets keep working for the grace
//! window only, a new URL replaces the old one, and the secret is shown
//! once and kept only as ciphertext.

use serde_json::json;
use sqlx::PgPool;

use crate::hooks::*;
use crate::support::*;

#[sqlx::test(migrations = "../migrations")]
async fn rotation_keeps_earlier_secrets_for_the_grace_window_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let second = rotate(&app, &hook.workflow, json!({})).await;
    assert_eq!(second["path"], json!(hook.path), "the URL stays");
    assert!(second["previousSecretsValidUntil"].is_string(), "{second}");
    let new = second["secret"].as_str().unwrap();
    assert_ne!(new, hook.secret);
    for secret in [hook.secret.as_str(), new] {
        let (status, answer) = deliver(&app, &hook.path, b"{}", &[secret], None, &[]).await;
        assert_eq!(status, 202, "both secrets work in the window: {answer}");
    }

    // No grace (a leak): every earlier secret stops at once.
    let third = rotate(&app, &hook.workflow, json!({"graceSeconds": 0})).await;
    let newest = third["secret"].as_str().unwrap();
    for old in [hook.secret.as_str(), new] {
        let (status, answer) = deliver(&app, &hook.path, b"{}", &[old], None, &[]).await;
        assert_eq!(status, 401, "{answer}");
        // A sender signing with old and new secrets during its switch.
        let (status, _) = deliver(&app, &hook.path, b"{}", &[old, newest], None, &[]).await;
        assert_eq!(status, 202);
    }

    // A new URL: the old one is gone, the new one works.
    let moved = rotate(
        &app,
        &hook.workflow,
        json!({"newUrl": true, "graceSeconds": 0}),
    )
    .await;
    let moved_path = moved["path"].as_str().unwrap();
    assert_ne!(moved_path, hook.path);
    let latest = moved["secret"].as_str().unwrap();
    let (status, _) = deliver(&app, &hook.path, b"{}", &[latest], None, &[]).await;
    assert_eq!(status, 404);
    let (status, _) = deliver(&app, moved_path, b"{}", &[latest], None, &[]).await;
    assert_eq!(status, 202);

    let too_long = app
        .gql(
            ROTATE,
            json!({"input": {"workflowId": hook.workflow, "graceSeconds": 604_801}}),
        )
        .await;
    assert_eq!(error_code(&too_long), "VALIDATION", "{too_long}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_secret_is_shown_once_and_kept_only_as_ciphertext(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    assert!(
        hook.secret.starts_with("whsec_") && hook.secret.len() > 40,
        "{}",
        hook.secret
    );

    let history = app
        .gql(EVENTS, json!({"type": "WORKFLOW", "id": hook.workflow}))
        .await;
    let text = history.to_string();
    assert!(text.contains("WebhookSecretRotated"), "{text}");
    assert!(text.contains("ciphertext"), "{text}");
    assert!(!text.contains(&hook.secret), "the secret is in the history");
    let workflow = app
        .gql(
            "query($id: ID!) { workflow(id: $id) { id name status } }",
            json!({"id": hook.workflow}),
        )
        .await;
    assert!(workflow["errors"].is_null(), "{workflow}");
    assert!(!workflow.to_string().contains(&hook.secret));
    let stored: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(payload::text || metadata::text, ''), '') FROM events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        !stored.contains(&hook.secret),
        "the secret is in the event store"
    );
    let secret_part = hook.secret.trim_start_matches("whsec_");
    assert!(!stored.contains(secret_part));
    let index: String = sqlx::query_scalar("SELECT row_to_json(t)::text FROM webhook_triggers t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !index.contains(secret_part) && !index.contains("ciphertext"),
        "{index}"
    );

    // Other tenants cannot rotate it (nor learn that it exists).
    let other = app.new_tenant("Tenant B").await;
    let foreign = app
        .gql_as(
            Some(&other.admin_token),
            ROTATE,
            json!({"input": {"workflowId": hook.workflow}}),
        )
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND", "{foreign}");
}
