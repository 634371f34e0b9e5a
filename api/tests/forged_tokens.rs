//! Forged and invalid credentials: every one is refused with
//! `UNAUTHENTICATED` before any resolver runs (nothing is written).

mod support;

use chrono::Utc;
use domain::access::Role;
use serde_json::json;
use sqlx::PgPool;
use support::*;

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Now, once at most 400 ms of the current second have passed (waiting for
/// the next second otherwise).
async fn early_in_a_second() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    let into = now.timestamp_subsec_millis();
    if into <= 400 {
        return now;
    }
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(1_000 - into))).await;
    Utc::now()
}

/// Sends a mutation that would write an event if any resolver ran.
async fn attempt(app: &TestApp, header: &str) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("authorization", header)
        .json(&json!({"query": CREATE, "variables": {"input": {"name": "forged", "definition": definition()}}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn forged_access_tokens_are_refused_before_any_resolver(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    // A plain user's token: forgeries that raise the role must not work.
    let (_, valid) = app.member(&app.tenant, Role::User).await;
    let claims = app
        .jwt
        .verify(&valid, Utc::now())
        .expect("the fixture's token is valid");

    // The same token, unforged, works: the matrix cannot pass vacuously.
    let (status, body) = attempt(&app, &format!("Bearer {valid}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let baseline = event_count(&pool).await;

    let count = auth::forgery::forged_tokens(&app.jwt_config, &claims, Utc::now()).len();
    assert!(count >= 30, "{count} forged tokens");
    for index in 0..count {
        // The time forgeries sit one second past the leeway of the second
        // they were forged in: each is forged afresh early in a second and
        // sent at once, so the server checks it in that same second.
        let now = early_in_a_second().await;
        let (name, token) =
            auth::forgery::forged_tokens(&app.jwt_config, &claims, now).swap_remove(index);
        let (status, body) = attempt(&app, &format!("Bearer {token}")).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{name}: {body}"
        );
        assert!(body["data"].is_null(), "{name}: {body}");
    }
    assert_eq!(
        event_count(&pool).await,
        baseline,
        "a forged token ran a resolver"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn revoked_disabled_foreign_and_malformed_credentials_are_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let a = &app.tenant;
    let b = app.new_tenant("Tenant B").await;
    let mut cases: Vec<(String, String)> = Vec::new();

    // A logged-out session.
    let (_, logged_out) = app.member(a, Role::User).await;
    let logout = app
        .gql_as(Some(&logged_out), "mutation { logout }", json!({}))
        .await;
    assert_eq!(logout["data"]["logout"], json!(true), "{logout}");
    cases.push((
        "session revoked by logout".into(),
        format!("Bearer {logged_out}"),
    ));

    // A disabled user.
    let (disabled_id, disabled) = app.member(a, Role::User).await;
    let disable = app
        .gql_as(
            Some(&app.user_token(a, Role::Admin).await),
            "mutation($u: ID!) { disableUser(userId: $u) { version } }",
            json!({"u": disabled_id}),
        )
        .await;
    assert!(disable["errors"].is_null(), "{disable}");
    cases.push(("user disabled".into(), format!("Bearer {disabled}")));

    // A correctly signed token whose tenant is A but whose session and user are B's.
    let (_, of_b) = app.member(&b, Role::Admin).await;
    let claims = app.jwt.verify(&of_b, Utc::now()).unwrap();
    let (crossed, _) = app.jwt.issue(
        claims.sub,
        a.tenant_id.parse().unwrap(),
        claims.sid,
        "admin",
        Utc::now(),
    );
    cases.push((
        "token of another tenant".into(),
        format!("Bearer {crossed}"),
    ));

    // API tokens: revoked, wrong secret, unknown id, malformed.
    let created = app
        .gql_as(Some(&app.user_token(a, Role::Admin).await), "mutation { createApiToken(input: {name: \"ci\", scopes: [\"write:workflows\"]}) { id token } }", json!({}))
        .await;
    let token = created["data"]["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_id = created["data"]["createApiToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = attempt(&app, &format!("Bearer {token}")).await;
    assert_eq!(status, 200, "a fresh API token works: {body}");
    let mut wrong_secret = token.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    cases.push((
        "API token with a wrong secret".into(),
        format!("Bearer {wrong_secret}"),
    ));
    cases.push((
        "API token never issued".into(),
        format!(
            "Bearer jsp_at_{}_{}",
            uuid::Uuid::new_v4().simple(),
            "x".repeat(43)
        ),
    ));
    cases.push(("malformed API token".into(), "Bearer jsp_at_nothing".into()));
    let revoke = app
        .gql_as(
            Some(&app.user_token(a, Role::Admin).await),
            "mutation($id: ID!) { revokeApiToken(id: $id) { version } }",
            json!({"id": token_id}),
        )
        .await;
    assert!(revoke["errors"].is_null(), "{revoke}");
    cases.push(("API token revoked".into(), format!("Bearer {token}")));
    cases.push(("not a bearer scheme".into(), format!("Basic {token}")));
    cases.push(("empty bearer".into(), "Bearer ".into()));

    let baseline = event_count(&pool).await;
    for (name, header) in &cases {
        let (status, body) = attempt(&app, header).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{name}: {body}"
        );
    }
    assert_eq!(
        event_count(&pool).await,
        baseline,
        "a refused credential ran a resolver"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (email, password) = app.member_with_password(&app.tenant, Role::User).await;
    const LOGIN: &str = "mutation($t: ID!, $e: String!, $p: String!) { login(tenantId: $t, email: $e, password: $p) { accessToken refreshToken } }";
    const REFRESH: &str =
        "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }";
    let login = app
        .gql_as(
            None,
            LOGIN,
            json!({"t": app.tenant.tenant_id, "e": email, "p": password}),
        )
        .await;
    let first = login["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();

    let rotated = app.gql_as(None, REFRESH, json!({"r": first})).await;
    let second = rotated["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{rotated}"))
        .to_owned();
    let access = rotated["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    let me = app
        .gql_as(Some(&access), "{ me { kind role } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], json!("user"), "{me}");

    // The spent token again: refused, and the whole family dies with it.
    let reused = app.gql_as(None, REFRESH, json!({"r": first})).await;
    assert_eq!(
        reused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{reused}"
    );
    let after = app.gql_as(None, REFRESH, json!({"r": second})).await;
    assert_eq!(
        after["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{after}"
    );
    let status = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&access)
        .json(&json!({"query": "{ me { kind } }"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "the family's access token died too");

    let wrong = app
        .gql_as(
            None,
            LOGIN,
            json!({"t": app.tenant.tenant_id, "e": email, "p": "not the password at all"}),
        )
        .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{wrong}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_role_change_applies_to_tokens_already_issued(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (user_id, token) = app.member(&app.tenant, Role::User).await;
    let create = json!({"input": {"name": "w", "definition": definition()}});
    assert!(app.gql_as(Some(&token), CREATE, create.clone()).await["errors"].is_null());
    let admin = app.user_token(&app.tenant, Role::Admin).await;
    let demote = app
        .gql_as(
            Some(&admin),
            "mutation($u: ID!) { changeUserRole(userId: $u, role: VIEWER) { version } }",
            json!({"u": user_id}),
        )
        .await;
    assert!(demote["errors"].is_null(), "{demote}");
    let refused = app.gql_as(Some(&token), CREATE, create).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
}
