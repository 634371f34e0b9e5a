//! The webhook path end to end, through the real `jobsprint serve` (API,
//! projectors and engine in one process): a signed delivery answers 202
//! with the execution id, the engine runs the execution to completion with
//! the delivery's body as input, and a replayed delivery starts nothing.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;

const KEY: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn jobsprint(url: &str) -> Command {
    let database = url.rsplit('/').next().unwrap_or("webhook");
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobsprint"));
    command
        .env("DATABASE_URL", url)
        .env("JOBSPRINT_KAFKA_TOPIC", format!("webhook.{database}"))
        .env(
            "JOBSPRINT_KAFKA_GROUP_PREFIX",
            format!("webhook.{database}"),
        )
        .env("JOBSPRINT_MASTER_KEYS", format!("m1:{KEY}"))
        .env("JOBSPRINT_JWT_KEYS", format!("j1:{KEY}"))
        .env("JOBSPRINT_JWT_KEY_ID", "j1")
        .env_remove("JOBSPRINT_SECRET_KEY")
        .env_remove("JOBSPRINT_SECRET_KEY_FILE");
    command
}

async fn gql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"].clone()
}

#[sqlx::test(migrations = false)]
async fn a_signed_delivery_runs_its_workflow_and_a_replay_starts_nothing(pool: PgPool) {
    let url = support::database_url(&pool).await;
    let name = url.rsplit('/').next().unwrap_or("webhook").to_owned();

    let bootstrap = jobsprint(&url)
        .args([
            "admin",
            "bootstrap",
            "--tenant-name",
            "Hooks",
            "--email",
            "admin@hooks.test",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(bootstrap.status.success());
    let printed: Value = serde_json::from_slice(&bootstrap.stdout).unwrap();
    let token = printed["api_token"].as_str().unwrap().to_owned();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("jobsprint-webhook-e2e-{name}.log"));
    let _server = Server(
        jobsprint(&url)
            .arg("serve")
            .env("JOBSPRINT_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/readyz"))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "the server did not become ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let definition = json!({
        "nodes": [{"id": "greet", "type": "transform",
                   "config": {"expression": "\"hello \\(input.body.name)\""}}],
        "trigger": {"type": "webhook"}
    });
    let created = gql(
        &base,
        &token,
        "mutation($d: JSON!) { createWorkflow(input: {name: \"Greeter\", definition: $d}) { id } }",
        json!({"d": definition}),
    )
    .await;
    let workflow = created["createWorkflow"]["id"].as_str().unwrap().to_owned();
    gql(
        &base,
        &token,
        "mutation($id: ID!) { publishWorkflow(input: {id: $id, version: 1}) { version } }",
        json!({"id": workflow}),
    )
    .await;
    let rotated = gql(
        &base,
        &token,
        "mutation($id: ID!) { rotateWebhookSecret(input: {workflowId: $id}) { path secret } }",
        json!({"id": workflow}),
    )
    .await;
    let path = rotated["rotateWebhookSecret"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = auth::Secret::from(
        rotated["rotateWebhookSecret"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    let body = br#"{"name": "Ada"}"#;
    let deliver = || async {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        reqwest::Client::new()
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("x-jobsprint-delivery", "delivery-1")
            .header(
                auth::webhook::SIGNATURE_HEADER,
                auth::webhook::sign(&secret, body, now),
            )
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    };
    // The trigger's URL resolves once the read model has the rotation.
    let deadline = Instant::now() + Duration::from_secs(10);
    let accepted = loop {
        let response = deliver().await;
        if response.status() != 404 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    let execution = accepted["executionId"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    let output = loop {
        let done: Option<Value> = sqlx::query_scalar(
            "SELECT payload FROM events WHERE aggregate_type = 'Execution' AND aggregate_id = $1
                AND event_type = 'ExecutionCompleted'",
        )
        .bind(&execution)
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(done) = done {
            break done["ExecutionCompleted"]["output"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the engine did not complete {execution}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(output, json!("hello Ada"));

    let replayed: Value = deliver().await.json().await.unwrap();
    assert_eq!(replayed["executionId"], execution.as_str());
    assert_eq!(replayed["duplicate"], true);
    let started: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ExecutionStarted'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(started, 1, "a replayed delivery starts nothing");
}
