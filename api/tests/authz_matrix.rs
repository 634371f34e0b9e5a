//! The authorization matrix, generated from the schema itself: every query
//! and mutation field that takes an id, called by every role and an API
//! token of tenant B against every kind of object of tenant A. Nothing of A
//! may be read or written, and every refusal carries a clear code. A field
//! added later is covered without touching this file.

mod schema_walk;
mod support;

use std::collections::BTreeMap;

use domain::access::Role;
use schema_walk::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

/// A's objects carry this in their names: it must never reach B.
const MARKER: &str = "tenant-a-private-7c1d";

async fn tenant_a_state(pool: &PgPool, tenant: &str) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), coalesce(string_agg(payload::text, '' ORDER BY global_position), '')
           FROM events WHERE metadata->>'tenant_id' = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The matrix sends hundreds of requests per caller in a second or two; it
/// checks authorization, not the rate limits (api/tests/abuse_limits.rs
/// does), so its app allows that many.
async fn matrix_app(pool: PgPool) -> TestApp {
    let quota = api::rate_limit::RateQuota {
        per_second: api::config::nonzero(100_000),
        burst: api::config::nonzero(100_000),
    };
    let config = api::ApiConfig {
        rate_per_ip: quota,
        rate_per_caller: quota,
        ..api::ApiConfig::default()
    };
    spawn_app_with(pool, config).await
}

#[sqlx::test(migrations = "../migrations")]
async fn no_role_of_one_tenant_reads_or_writes_another_tenants_objects(pool: PgPool) {
    let app = matrix_app(pool.clone()).await;
    let a = &app.tenant;
    let b = app.new_tenant("Tenant B").await;

    // A's objects, one of each kind that has an id.
    let workflow = app
        .create_workflow(&a.admin_token, &format!("{MARKER} workflow"))
        .await;
    let publish = app
        .gql_as(
            Some(&a.admin_token),
            PUBLISH,
            json!({"input": {"id": workflow, "version": 1}}),
        )
        .await;
    assert!(publish["errors"].is_null(), "{publish}");
    let started = app
        .gql_as(
            Some(&a.admin_token),
            START,
            json!({"input": {"workflowId": workflow}}),
        )
        .await;
    let execution = started["data"]["startExecution"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let integration = app
        .gql_as(
            Some(&a.admin_token),
            "mutation($n: String!) { registerIntegration(input: {name: $n, kind: \"github\"}) { id } }",
            json!({"n": format!("{MARKER} integration")}),
        )
        .await["data"]["registerIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (viewer_of_a, _) = app.member(a, Role::Viewer).await;
    let token_of_a = app
        .gql_as(
            Some(&app.user_token(a, Role::Admin).await),
            "mutation($n: String!) { createApiToken(input: {name: $n, scopes: [\"read:workflows\"]}) { id } }",
            json!({"n": format!("{MARKER} token")}),
        )
        .await["data"]["createApiToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign_ids = [
        &workflow,
        &execution,
        &integration,
        &viewer_of_a,
        &token_of_a,
    ];
    let before = tenant_a_state(&pool, &a.tenant_id).await;

    // B's callers: every role, and an admin:all API token.
    let mut callers = vec![("api token admin:all".to_owned(), b.admin_token.clone())];
    for role in Role::ALL {
        callers.push((format!("role {role}"), app.user_token(&b, role).await));
    }

    let introspection = app
        .gql_as(Some(&b.admin_token), INTROSPECT, json!({}))
        .await;
    let schema = Schema::of(&introspection);
    let all_fields: Vec<Field> = fields(&introspection, "query", "queryType")
        .into_iter()
        .chain(fields(&introspection, "mutation", "mutationType"))
        .collect();
    let with_ids: Vec<&Field> = all_fields
        .iter()
        .filter(|f| f.args.iter().any(|a| schema.takes_id(&a["type"])))
        .collect();
    assert!(
        with_ids.len() >= 15,
        "the schema has fields with ids: {}",
        with_ids.len()
    );

    let mut calls = 0;
    let mut codes = BTreeMap::<String, usize>::new();
    for field in &with_ids {
        for id in foreign_ids {
            let args: Vec<String> = field
                .args
                .iter()
                .filter(|a| required(&a["type"]) || schema.takes_id(&a["type"]))
                .map(|a| {
                    let name = a["name"].as_str().unwrap();
                    format!("{name}: {}", schema.literal(name, &a["type"], id))
                })
                .collect();
            let args = if args.is_empty() {
                String::new()
            } else {
                format!("({})", args.join(", "))
            };
            let operation = format!(
                "{} {{ {}{} {} }}",
                field.operation,
                field.name,
                args,
                selection(&schema, &field.returns)
            );
            for (who, token) in &callers {
                calls += 1;
                let response = app.gql_as(Some(token), &operation, json!({})).await;
                let text = response.to_string();
                assert!(
                    !text.contains(MARKER),
                    "{who} read A's data through {operation}: {text}"
                );
                let context = format!("{who}: {operation} -> {text}");
                match response["errors"][0]["extensions"]["code"].as_str() {
                    Some(code) => {
                        assert!(
                            [
                                "NOT_FOUND",
                                "FORBIDDEN",
                                "VALIDATION",
                                "UNAUTHENTICATED",
                                "CONFLICT",
                                "INVALID_STATE"
                            ]
                            .contains(&code),
                            "unclear refusal for {context}"
                        );
                        *codes.entry(code.to_owned()).or_default() += 1;
                    }
                    None if field.operation == "mutation" => {
                        // Accepted only as a write to B's own tenant (say, a
                        // new workflow whose id equals one of A's *other*
                        // aggregates): the check of A's history below proves
                        // nothing of A's changed.
                        *codes.entry("accepted in own tenant".into()).or_default() += 1;
                    }
                    None => {
                        let data = &response["data"][&field.name];
                        let empty =
                            data.is_null() || data["edges"].as_array().is_some_and(Vec::is_empty);
                        assert!(empty, "a cross-tenant query returned data: {context}");
                    }
                }
            }
        }
    }
    assert_eq!(
        tenant_a_state(&pool, &a.tenant_id).await,
        before,
        "tenant A's events changed"
    );
    assert!(
        codes.get("NOT_FOUND").copied().unwrap_or(0) > 0,
        "{codes:?}"
    );
    assert!(
        codes.get("FORBIDDEN").copied().unwrap_or(0) > 0,
        "{codes:?}"
    );
    eprintln!(
        "authorization matrix: {calls} calls over {} fields; refusals {codes:?}",
        with_ids.len()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn anonymous_callers_reach_only_sign_in(pool: PgPool) {
    let app = matrix_app(pool).await;
    let introspection = app
        .gql_as(Some(&app.tenant.admin_token), INTROSPECT, json!({}))
        .await;
    let schema = Schema::of(&introspection);
    let public = ["login", "register", "refreshToken"];
    let all_fields: Vec<Field> = fields(&introspection, "query", "queryType")
        .into_iter()
        .chain(fields(&introspection, "mutation", "mutationType"))
        .collect();
    for field in all_fields
        .iter()
        .filter(|f| !public.contains(&f.name.as_str()))
    {
        let args: Vec<String> = field
            .args
            .iter()
            .filter(|a| required(&a["type"]))
            .map(|a| {
                let name = a["name"].as_str().unwrap();
                format!(
                    "{name}: {}",
                    schema.literal(name, &a["type"], "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d")
                )
            })
            .collect();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let operation = format!(
            "{} {{ {}{} {} }}",
            field.operation,
            field.name,
            args,
            selection(&schema, &field.returns)
        );
        let response = app.gql_as(None, &operation, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{operation} -> {response}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn roles_get_exactly_their_permissions_in_their_own_tenant(pool: PgPool) {
    let app = matrix_app(pool).await;
    let a = &app.tenant;
    let create = json!({"input": {"name": "w", "definition": definition()}});
    let register =
        "mutation { registerIntegration(input: {name: \"i\", kind: \"http_api\"}) { id } }";
    let invite = "mutation { inviteUser(email: \"new@example.com\", role: VIEWER) { userId } }";
    let workflow = app.create_workflow(&a.admin_token, "hooked").await;
    let rotate = json!({"input": {"workflowId": workflow}});
    let rotate_query = "mutation($input: RotateWebhookSecretInput!) {
      rotateWebhookSecret(input: $input) { triggerId secret } }";
    // (role, may write workflows, may manage integrations, may invite)
    let expectations = [
        (Role::Admin, true, true, true),
        (Role::User, true, true, false),
        (Role::Executor, false, false, false),
        (Role::Viewer, false, false, false),
    ];
    for (role, writes, integrates, invites) in expectations {
        let token = app.user_token(a, role).await;
        let check = |response: Value, allowed: bool, what: &str| {
            if allowed {
                assert!(
                    response["errors"].is_null(),
                    "{role} should {what}: {response}"
                );
            } else {
                assert_eq!(
                    response["errors"][0]["extensions"]["code"], "FORBIDDEN",
                    "{role} must not {what}: {response}"
                );
            }
        };
        check(
            app.gql_as(Some(&token), CREATE, create.clone()).await,
            writes,
            "create workflows",
        );
        check(
            app.gql_as(Some(&token), register, json!({})).await,
            integrates,
            "register integrations",
        );
        check(
            app.gql_as(Some(&token), rotate_query, rotate.clone()).await,
            writes,
            "rotate webhook secrets",
        );
        if role != Role::Admin {
            check(
                app.gql_as(Some(&token), invite, json!({})).await,
                invites,
                "invite members",
            );
        }
    }
}
