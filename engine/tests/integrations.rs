//! `ai` and `integration` nodes against local stubs only: an
//! OpenAI-compatible endpoint, an API with each authentication style, a
//! Slack webhook and an SMTP server; the circuit breaker of each
//! integration (in `integrations/breaker.rs`); credentials never in a
//! step's output, error or events.

#[path = "integrations/breaker.rs"]
mod breaker;
#[path = "integrations/email.rs"]
mod email;
#[path = "integrations/stubs.rs"]
mod stubs;
mod support;

use std::time::Duration;

use base64::Engine as _;
use commands::integrations::RegisterIntegration;
use commands::secrets::SecretString;
use commands::CommandContext;
use domain::execution::ExecutionStatus;
use domain::ids::{ExecutionId, IntegrationId};
use domain::workflow::{Node, NodeType};
use engine::nodes::{NodeFailure, NodeSettings, Nodes};
use serde_json::{json, Value};
use sqlx::PgPool;
use stubs::HttpStub;
use support::{test_config, Harness};

const LIMIT: Duration = Duration::from_secs(20);
const AI_KEY: &str = "sk-test-5f2c9e0d";

/// Registers an integration of the harness's tenant (`ctx`); its id.
async fn integration(
    h: &Harness,
    ctx: &CommandContext,
    kind: &str,
    config: Value,
    credentials: Option<Value>,
) -> IntegrationId {
    let id = IntegrationId::new_v7();
    let input = RegisterIntegration {
        name: format!("{kind} test"),
        kind: kind.into(),
        config,
        credentials: credentials.map(|c| SecretString::new(c.to_string())),
    };
    h.commands
        .register_integration(ctx, id, input)
        .await
        .unwrap();
    id
}

/// An execution of the harness's tenant that no engine runs, and the
/// context a step of it sees.
async fn step_context(h: &Harness, input: Value) -> (ExecutionId, Value) {
    let workflow = h
        .workflow(
            json!({"nodes": [{"id": "noop", "type": "transform", "config": {"expression": "."}}]}),
        )
        .await;
    let id = h.start_execution(workflow, input.clone()).await;
    let context = json!({"input": input, "steps": {}, "execution": {"id": id, "attempt": 1}});
    (id, context)
}

fn node(id: &str, node_type: NodeType, config: Value) -> Node {
    Node {
        id: id.into(),
        node_type,
        config,
    }
}

/// Runs `node` once as a step of `execution`.
async fn run(nodes: &Nodes, node: &Node, context: &Value) -> Result<Value, NodeFailure> {
    let key = format!(
        "{}:{}",
        context["execution"]["id"].as_str().unwrap(),
        node.id
    );
    nodes.run(node, context, &key).await
}

fn permissive() -> NodeSettings {
    test_config().nodes
}

/// Fails when `secret` appears in any event payload or metadata.
async fn assert_not_in_events(pool: &PgPool, secret: &str) {
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(payload::text || metadata::text, '') FROM events")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(!dump.contains(secret), "{secret} reached the event store");
}

fn chat_completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test-0613",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A short story."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}
    })
}

#[sqlx::test(migrations = "../migrations")]
async fn an_ai_step_records_the_completion_and_its_token_usage(pool: PgPool) {
    let mut h = Harness::start_with_secrets(pool, 1, test_config()).await;
    let stub = HttpStub::default();
    stub.answer("/v1/chat/completions", 200, chat_completion());
    let base = stub.serve().await;
    let config = json!({"base_url": format!("{base}/v1/"), "model": "gpt-test"});
    let ai = integration(&h, &h.ctx, "ai", config, Some(json!({"api_key": AI_KEY}))).await;
    let workflow = h
        .workflow(json!({"nodes": [{"id": "ask", "type": "ai", "config": {
            "integration_id": ai.to_string(), "prompt": "Summarise: {{ input.text }}",
            "system": "Be brief.", "temperature": 0.2, "max_tokens": 50}}]}))
        .await;
    let id = h
        .start_execution(workflow, json!({"text": "a long story"}))
        .await;
    let run = h.finished(id, LIMIT).await;
    assert_eq!(
        run.status,
        Some(ExecutionStatus::Completed),
        "{:?}",
        run.steps
    );
    assert_eq!(
        run.steps["ask"].output,
        Some(json!({
            "content": "A short story.", "model": "gpt-test-0613", "finish_reason": "stop",
            "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}
        }))
    );
    let received = stub.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(request.headers["authorization"], format!("Bearer {AI_KEY}"));
    assert_eq!(request.headers["idempotency-key"], format!("{id}:ask"));
    assert_eq!(
        request.json(),
        json!({"model": "gpt-test", "temperature": 0.2, "max_tokens": 50, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Summarise: a long story"}
        ]})
    );
    assert_not_in_events(&h.pool, AI_KEY).await;
    h.stop().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn ai_failures_are_classified_and_never_show_the_key(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let stub = HttpStub::default();
    let base = stub.serve().await;
    let config = json!({"base_url": base, "model": "gpt-test"});
    let ai = integration(&h, &h.ctx, "ai", config, Some(json!({"api_key": AI_KEY}))).await;
    let (_, context) = step_context(&h, json!({})).await;
    let nodes = h.nodes(permissive());
    let ask = node(
        "ask",
        NodeType::Ai,
        json!({"integration_id": ai.to_string(), "prompt": "hi"}),
    );

    let echo = json!({"error": {"message": format!("Incorrect API key provided: {AI_KEY}")}});
    stub.answer("/chat/completions", 401, echo);
    let failure = run(&nodes, &ask, &context).await.unwrap_err();
    assert!(!failure.retryable, "{failure:?}");
    assert!(
        failure.message.contains("401")
            && failure.message.contains("Incorrect API key provided: ***"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(AI_KEY));

    for status in [429, 500] {
        stub.answer("/chat/completions", status, json!({"error": "busy"}));
        let failure = run(&nodes, &ask, &context).await.unwrap_err();
        assert!(failure.retryable, "{status}: {failure:?}");
    }
    stub.answer("/chat/completions", 200, json!({"choices": []}));
    let failure = run(&nodes, &ask, &context).await.unwrap_err();
    assert_eq!(
        (failure.message.as_str(), failure.retryable),
        (
            "the AI endpoint's answer is not a chat completion: it has no 'choices'",
            false
        )
    );

    let no_integration = node("ask", NodeType::Ai, json!({"prompt": "hi"}));
    let failure = run(&nodes, &no_integration, &context).await.unwrap_err();
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .starts_with("an ai node needs 'integration_id'"),
        "{}",
        failure.message
    );
    let api = integration(&h, &h.ctx, "http_api", json!({"base_url": base}), None).await;
    let wrong_kind = node(
        "ask",
        NodeType::Ai,
        json!({"integration_id": api.to_string(), "prompt": "hi"}),
    );
    let failure = run(&nodes, &wrong_kind, &context).await.unwrap_err();
    assert_eq!(
        failure,
        NodeFailure::permanent(
            "integration 'http_api test' (http_api) is not of kind 'ai', which an ai node needs"
        )
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn http_api_requests_carry_each_authentication_style(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let stub = HttpStub::default();
    stub.answer(
        "/api/orders/42",
        201,
        json!({"ok": true, "seen": "key-123456"}),
    );
    stub.answer("/me", 200, json!({"name": "Ada"}));
    let base = stub.serve().await;
    let (id, context) = step_context(&h, json!({"order": 42, "qty": 3})).await;
    let nodes = h.nodes(permissive());

    let api_key = integration(
        &h,
        &h.ctx,
        "http_api",
        json!({"base_url": format!("{base}/api/"), "api_key_header": "X-Api-Token",
               "headers": {"Accept": "application/json"}}),
        Some(json!({"api_key": "key-123456"})),
    )
    .await;
    let order = node(
        "order",
        NodeType::Integration,
        json!({"integration_id": api_key.to_string(), "action": "request", "method": "POST",
               "path": "/orders/{{ input.order }}", "query": {"expand": "items", "n": 2},
               "headers": {"X-Trace": "t-1"}, "body": {"qty": "{{ input.qty }}"}}),
    );
    let output = run(&nodes, &order, &context).await.unwrap();
    assert_eq!(output["status"], json!(201));
    assert_eq!(
        output["body"],
        json!({"ok": true, "seen": "***"}),
        "an echoed key is redacted"
    );
    let sent = &stub.received()[0];
    assert_eq!(
        (
            sent.method.as_str(),
            sent.path.as_str(),
            sent.query.as_deref()
        ),
        ("POST", "/api/orders/42", Some("expand=items&n=2"))
    );
    assert_eq!(sent.headers["x-api-token"], "key-123456");
    assert_eq!(sent.headers["accept"], "application/json");
    assert_eq!(sent.headers["x-trace"], "t-1");
    assert_eq!(sent.headers["idempotency-key"], format!("{id}:order"));
    assert!(!sent.headers.contains_key("authorization"));
    assert_eq!(sent.json(), json!({"qty": 3}));

    let bearer = integration(
        &h,
        &h.ctx,
        "http_api",
        json!({"base_url": base, "auth": "bearer"}),
        Some(json!({"token": "tok-abcdef"})),
    )
    .await;
    let basic = integration(
        &h,
        &h.ctx,
        "http_api",
        json!({"base_url": base}),
        Some(json!({"username": "ada", "password": "pw-secret"})),
    )
    .await;
    let encoded = base64::engine::general_purpose::STANDARD.encode("ada:pw-secret");
    for (integration_id, expected) in [
        (bearer, "Bearer tok-abcdef".to_owned()),
        (basic, format!("Basic {encoded}")),
    ] {
        let me = node(
            "me",
            NodeType::Integration,
            json!({"integration_id": integration_id.to_string(), "action": "request", "path": "me"}),
        );
        let output = run(&nodes, &me, &context).await.unwrap();
        assert_eq!(output["body"], json!({"name": "Ada"}));
        let sent = stub.received().pop().unwrap();
        assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", "/me"));
        assert_eq!(sent.headers["authorization"], expected);
    }

    stub.answer("/missing", 404, json!({"error": "no such thing"}));
    let missing = node(
        "missing",
        NodeType::Integration,
        json!({"integration_id": bearer.to_string(), "action": "request", "path": "/missing"}),
    );
    let failure = run(&nodes, &missing, &context).await.unwrap_err();
    assert!(
        !failure.retryable && failure.message.contains("404"),
        "{failure:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_slack_message_is_posted_to_the_webhook_which_stays_secret(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let stub = HttpStub::default();
    stub.answer("/services/T000/B000/XXXSECRET", 200, json!("ok"));
    let base = stub.serve().await;
    let (_, context) = step_context(&h, json!({"version": "1.4.2"})).await;
    let nodes = h.nodes(permissive());
    let slack = integration(
        &h,
        &h.ctx,
        "slack_webhook",
        json!({}),
        Some(json!({"webhook_url": format!("{base}/services/T000/B000/XXXSECRET")})),
    )
    .await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*1.4.2* is out"}}]);
    let post = node(
        "post",
        NodeType::Integration,
        json!({"integration_id": slack.to_string(), "action": "post_message",
               "text": "Deployed {{ input.version }}", "blocks": blocks}),
    );
    let output = run(&nodes, &post, &context).await.unwrap();
    assert_eq!(output, json!({"ok": true, "status": 200, "response": "ok"}));
    let sent = &stub.received()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.json(),
        json!({"text": "Deployed 1.4.2", "blocks": blocks})
    );

    let gone = integration(
        &h,
        &h.ctx,
        "slack_webhook",
        json!({}),
        Some(json!({"webhook_url": format!("{base}/services/T000/B000/GONESECRET")})),
    )
    .await;
    let post = node(
        "post",
        NodeType::Integration,
        json!({"integration_id": gone.to_string(), "action": "post_message", "text": "hi"}),
    );
    let failure = run(&nodes, &post, &context).await.unwrap_err();
    assert!(
        !failure.retryable && failure.message.contains("404"),
        "{failure:?}"
    );
    assert!(
        !failure.message.contains("GONESECRET"),
        "{}",
        failure.message
    );
}
