//! No secret ever appears in plain text where it could leak: canary values
//! (passwords, credentials, keys) and every token the server hands out are
//! searched for in a `pg_dump` of the database, in the server's captured
//! logs (debug level), in `/metrics` and in GraphQL responses.
//!
//! This drives the real `jobsprint` binary, as an operator would.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;

const ADMIN_PASSWORD: &str = "canary-admin-password-4b7e1f";
const MEMBER_PASSWORD: &str = "canary-member-password-91c3aa";
const WRONG_PASSWORD: &str = "canary-wrong-password-d2e8b0";
const CREDENTIAL: &str = "canary-integration-credential-6f0a3c";
const FORGED_BEARER: &str = "canary.forged-bearer.5e9d71";
// Keys: base64 of 32 bytes whose text is itself a canary.
const MASTER_KEY: &str = "Y2FuYXJ5LW1hc3Rlci1rZXktMzJieXRlcy0wMDAwMDA=";
const JWT_KEY: &str = "Y2FuYXJ5LWp3dC1zaWduaW5nLWtleS0zMmJ5dGVzLTA=";

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_jobsprint")
}

fn environment(command: &mut Command, database_url: &str) {
    // Each test database gets its own topic and consumer groups on the
    // test broker (KAFKA_BROKERS, set by `make test`).
    let database = database_url.rsplit('/').next().unwrap_or("canary");
    command
        .env("DATABASE_URL", database_url)
        .env("JOBSPRINT_KAFKA_TOPIC", format!("canary.{database}"))
        .env("JOBSPRINT_KAFKA_GROUP_PREFIX", format!("canary.{database}"))
        .env("JOBSPRINT_MASTER_KEYS", format!("m1:{MASTER_KEY}"))
        .env("JOBSPRINT_MASTER_KEY_ID", "m1")
        .env("JOBSPRINT_JWT_KEYS", format!("j1:{JWT_KEY}"))
        .env("JOBSPRINT_JWT_KEY_ID", "j1")
        .env("JOBSPRINT_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env_remove("JOBSPRINT_SECRET_KEY")
        .env_remove("JOBSPRINT_SECRET_KEY_FILE");
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(database_url: &str, log: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_file = std::fs::File::create(log).unwrap();
    let mut command = Command::new(binary());
    environment(&mut command, database_url);
    let child = command
        .arg("serve")
        .env("JOBSPRINT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/readyz", server.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server did not become ready: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

async fn gql(
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
    responses: &mut Vec<String>,
) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    responses.push(text.clone());
    serde_json::from_str(&text).unwrap()
}

#[sqlx::test(migrations = false)]
async fn secrets_never_reach_the_store_logs_metrics_or_responses(pool: PgPool) {
    let url = support::database_url(&pool).await;
    let dir = std::env::temp_dir().join(format!("jobsprint-canaries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");

    // The operator bootstraps the first admin with a password.
    let mut command = Command::new(binary());
    environment(&mut command, &url);
    let bootstrap = command
        .args([
            "admin",
            "bootstrap",
            "--tenant-name",
            "Canary Inc",
            "--email",
            "admin@canary.test",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    bootstrap
        .stdin
        .as_ref()
        .unwrap()
        .write_all(ADMIN_PASSWORD.as_bytes())
        .unwrap();
    let output = bootstrap.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("bootstrap prints JSON");
    let tenant_id = printed["tenant_id"].as_str().unwrap().to_owned();
    let admin_token = printed["api_token"].as_str().unwrap().to_owned();
    let bootstrap_logs = String::from_utf8_lossy(&output.stderr).into_owned();

    let server = serve(&url, &log).await;
    let base = server.base.clone();
    let mut responses = Vec::new();
    let mut issued = vec![admin_token.clone()];

    let login = "mutation($t: ID!, $e: String!, $p: String!) { login(tenantId: $t, email: $e, password: $p) { accessToken refreshToken } }";
    let wrong = gql(
        &base,
        None,
        login,
        json!({"t": tenant_id, "e": "admin@canary.test", "p": WRONG_PASSWORD}),
        &mut responses,
    )
    .await;
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let signed_in = gql(
        &base,
        None,
        login,
        json!({"t": tenant_id, "e": "admin@canary.test", "p": ADMIN_PASSWORD}),
        &mut responses,
    )
    .await;
    let access = signed_in["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{signed_in}"))
        .to_owned();
    issued.push(access.clone());
    issued.push(
        signed_in["data"]["login"]["refreshToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    let registered = gql(
        &base,
        Some(&access),
        "mutation($c: JSON!) { registerIntegration(input: {name: \"Mail\", kind: \"smtp\", credentials: $c}) { id } }",
        json!({"c": {"password": CREDENTIAL}}),
        &mut responses,
    )
    .await;
    assert!(registered["errors"].is_null(), "{registered}");

    let invited = gql(
        &base,
        Some(&access),
        "mutation { inviteUser(email: \"member@canary.test\", role: USER) { invitationToken } }",
        json!({}),
        &mut responses,
    )
    .await;
    let invitation = invited["data"]["inviteUser"]["invitationToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{invited}"))
        .to_owned();
    issued.push(invitation.clone());
    let member = gql(
        &base,
        None,
        "mutation($i: String!, $p: String!) { register(invitationToken: $i, displayName: \"M\", password: $p) { accessToken refreshToken } }",
        json!({"i": invitation, "p": MEMBER_PASSWORD}),
        &mut responses,
    )
    .await;
    let member_refresh = member["data"]["register"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{member}"))
        .to_owned();
    issued.push(
        member["data"]["register"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    issued.push(member_refresh.clone());
    let refreshed = gql(
        &base,
        None,
        "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }",
        json!({"r": member_refresh}),
        &mut responses,
    )
    .await;
    issued.push(
        refreshed["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{refreshed}"))
            .to_owned(),
    );

    let machine = gql(&base, Some(&access), "mutation { createApiToken(input: {name: \"ci\", scopes: [\"read:workflows\"]}) { token } }", json!({}), &mut responses).await;
    let machine_token = machine["data"]["createApiToken"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{machine}"))
        .to_owned();
    issued.push(machine_token.clone());
    let used = gql(
        &base,
        Some(&machine_token),
        "{ me { kind scopes } }",
        json!({}),
        &mut responses,
    )
    .await;
    assert_eq!(used["data"]["me"]["kind"], json!("api_token"), "{used}");

    let forged = gql(
        &base,
        Some(FORGED_BEARER),
        "{ me { kind } }",
        json!({}),
        &mut responses,
    )
    .await;
    assert_eq!(forged["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(server);

    let dump = Command::new("pg_dump")
        .arg("--data-only")
        .arg(&url)
        .output()
        .expect("pg_dump is installed with PostgreSQL");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    let logs = std::fs::read_to_string(&log).unwrap() + &bootstrap_logs;

    // Positive controls: the searches look at real content.
    assert!(
        dump.contains("Canary Inc") && dump.contains("IntegrationRegistered"),
        "the dump holds the events"
    );
    assert!(
        logs.contains("request served") && logs.contains("command applied"),
        "the logs were captured"
    );

    let planted = [
        ADMIN_PASSWORD,
        MEMBER_PASSWORD,
        WRONG_PASSWORD,
        CREDENTIAL,
        FORGED_BEARER,
        MASTER_KEY,
        JWT_KEY,
        "canary-master-key",
        "canary-jwt-signing-key",
    ];
    for canary in planted {
        assert!(!dump.contains(canary), "{canary} is in the database dump");
        assert!(!logs.contains(canary), "{canary} is in the logs");
        assert!(!metrics.contains(canary), "{canary} is in /metrics");
        assert!(
            responses.iter().all(|r| !r.contains(canary)),
            "{canary} is in a GraphQL response"
        );
    }
    for token in &issued {
        // Every token's secret part, not just the whole string: the last 43
        // characters of a `jsp_` token, the signature of a JWT.
        let secret = if token.starts_with("jsp_") {
            &token[token.len() - 43..]
        } else {
            token.rsplit('.').next().unwrap()
        };
        assert!(secret.len() >= 20, "a token's secret part is long");
        assert!(
            !dump.contains(secret),
            "an issued token is in the database dump"
        );
        assert!(!logs.contains(secret), "an issued token is in the logs");
        assert!(!metrics.contains(secret), "an issued token is in /metrics");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
