//! The circuit breaker of an integration, as an engine process sees it:
//! five failures open it (an event; the sixth call never leaves), it
//! half-opens after 60 s on the engine's clock, three successes close it,
//! and the integrations read model follows. Also: which integrations a
//! step may use at all.

use std::time::Duration;

use commands::CommandContext;
use domain::ids::TenantId;
use domain::integration::IntegrationCommand;
use domain::workflow::NodeType;
use engine::nodes::{NodeFailure, NodeSettings, Nodes};
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::integration_queries::{find_integration, CircuitState};
use projections::read_models::integrations::IntegrationsProjection;
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::stubs::HttpStub;
use super::support::{test_config, Harness};
use super::{integration, node, permissive, run, step_context};

/// The circuit events of `id`, with their payloads, in order; and the
/// position of the last.
async fn circuit_events(pool: &PgPool, id: impl ToString) -> (Vec<Value>, i64) {
    let rows: Vec<(Value, i64)> = sqlx::query_as(
        "SELECT payload::jsonb, global_position FROM events
          WHERE aggregate_type = 'Integration' AND aggregate_id = $1
            AND event_type LIKE 'Circuit%' ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    let last = rows.last().map_or(0, |(_, position)| *position);
    (rows.into_iter().map(|(payload, _)| payload).collect(), last)
}

/// The read model's circuit state once it has folded `position`.
async fn read_model_circuit(
    h: &Harness,
    id: domain::ids::IntegrationId,
    position: i64,
) -> CircuitState {
    projections::status::wait_for_position(
        &h.pool,
        IntegrationsProjection::NAME,
        position,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    find_integration(&h.pool, h.ctx.tenant_id.0, id.0)
        .await
        .unwrap()
        .expect("the integration has a row")
        .circuit_state
}

fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.as_object().unwrap().keys().next().unwrap().clone())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn five_failures_open_the_circuit_sixty_seconds_half_open_it_three_successes_close_it(
    pool: PgPool,
) {
    let h = Harness::start_with_secrets(pool.clone(), 0, test_config()).await;
    let projector = Projector::new(
        pool.clone(),
        IntegrationsProjection,
        ProjectorConfig::default(),
    );
    let source = StoreSource::new(pool.clone());
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    let stub = HttpStub::default();
    stub.answer("/flaky", 500, json!({"error": "down"}));
    let base = stub.serve().await;
    let api = integration(&h, &h.ctx, "http_api", json!({"base_url": base}), None).await;
    let (_, context) = step_context(&h, json!({})).await;
    let nodes = h.nodes(permissive());
    let call = node(
        "call",
        NodeType::Integration,
        json!({"integration_id": api.to_string(), "action": "request", "path": "/flaky"}),
    );

    for attempt in 1..=5 {
        let failure = run(&nodes, &call, &context).await.unwrap_err();
        assert!(
            failure.retryable && failure.message.contains("500"),
            "{attempt}: {failure:?}"
        );
    }
    assert_eq!(stub.hits("/flaky"), 5);
    let (events, opened_at) = circuit_events(&h.pool, api).await;
    assert_eq!(event_names(&events), ["CircuitOpened"]);
    assert_eq!(events[0]["CircuitOpened"]["failures"], json!(5));
    assert_eq!(
        read_model_circuit(&h, api, opened_at).await,
        CircuitState::Open
    );

    let refused = run(&nodes, &call, &context).await.unwrap_err();
    assert!(refused.retryable, "{refused:?}");
    let wait = refused.retry_after.expect("the time until it half-opens");
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(
        refused
            .message
            .starts_with("the circuit breaker of integration 'http_api test' is open after repeated failures, so no call was made"),
        "{}",
        refused.message
    );
    let another_process = h.nodes(permissive());
    let refused = run(&another_process, &call, &context).await.unwrap_err();
    assert!(
        refused.retry_after.is_some(),
        "it starts from the recorded circuit: {refused:?}"
    );
    assert_eq!(stub.hits("/flaky"), 5, "no call leaves an open circuit");

    h.clock.advance(Duration::from_secs(60));
    stub.answer("/flaky", 200, json!({"ok": true}));
    let trial = run(&nodes, &call, &context).await.unwrap();
    assert_eq!(trial["body"], json!({"ok": true}));
    let (events, half_opened_at) = circuit_events(&h.pool, api).await;
    assert_eq!(event_names(&events), ["CircuitOpened", "CircuitHalfOpened"]);
    assert_eq!(
        read_model_circuit(&h, api, half_opened_at).await,
        CircuitState::HalfOpen
    );
    for _ in 0..2 {
        run(&nodes, &call, &context).await.unwrap();
    }
    assert_eq!(stub.hits("/flaky"), 8);
    let (events, closed_at) = circuit_events(&h.pool, api).await;
    assert_eq!(
        event_names(&events),
        ["CircuitOpened", "CircuitHalfOpened", "CircuitClosed"]
    );
    assert_eq!(
        read_model_circuit(&h, api, closed_at).await,
        CircuitState::Closed
    );
    assert_eq!(
        nodes.breakers().unwrap().state(api),
        Some(domain::integration::CircuitState::Closed)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_half_open_circuit_opens_again_at_the_first_failure(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let stub = HttpStub::default();
    stub.answer("/flaky", 503, json!({"error": "down"}));
    let base = stub.serve().await;
    let api = integration(&h, &h.ctx, "http_api", json!({"base_url": base}), None).await;
    let (_, context) = step_context(&h, json!({})).await;
    let nodes = h.nodes(permissive());
    let call = node(
        "call",
        NodeType::Integration,
        json!({"integration_id": api.to_string(), "action": "request", "path": "/flaky"}),
    );
    for _ in 0..5 {
        run(&nodes, &call, &context).await.unwrap_err();
    }
    h.clock.advance(Duration::from_secs(61));
    let trial = run(&nodes, &call, &context).await.unwrap_err();
    assert!(
        trial.retry_after.is_none(),
        "the trial call went out: {trial:?}"
    );
    let refused = run(&nodes, &call, &context).await.unwrap_err();
    assert!(refused.retry_after.is_some(), "open again: {refused:?}");
    assert_eq!(stub.hits("/flaky"), 6);
    let (events, _) = circuit_events(&h.pool, api).await;
    assert_eq!(
        event_names(&events),
        ["CircuitOpened", "CircuitHalfOpened", "CircuitOpened"]
    );
    assert_eq!(events[2]["CircuitOpened"]["failures"], json!(1));
}

#[sqlx::test(migrations = "../migrations")]
async fn only_an_enabled_integration_of_the_executions_tenant_with_that_action_is_used(
    pool: PgPool,
) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let stub = HttpStub::default();
    stub.answer("/ok", 200, json!({}));
    let base = stub.serve().await;
    let (_, context) = step_context(&h, json!({})).await;
    let nodes = h.nodes(permissive());
    let request = |id: String, action: &str| {
        node(
            "call",
            NodeType::Integration,
            json!({"integration_id": id, "action": action, "path": "/ok"}),
        )
    };
    let expect = |failure: NodeFailure, message: &str| {
        assert_eq!(failure, NodeFailure::permanent(message));
    };
    let config = json!({"base_url": base});

    let other_tenant = CommandContext::new(TenantId(uuid::Uuid::now_v7()), "test");
    let foreign = integration(&h, &other_tenant, "http_api", config.clone(), None).await;
    let failure = run(&nodes, &request(foreign.to_string(), "request"), &context).await;
    expect(
        failure.unwrap_err(),
        &format!("integration {foreign} does not exist"),
    );

    let disabled = integration(&h, &h.ctx, "http_api", config.clone(), None).await;
    let disable = IntegrationCommand::SetEnabled { enabled: false };
    h.commands
        .execute_integration(&h.ctx, disabled, disable, None)
        .await
        .unwrap();
    let failure = run(&nodes, &request(disabled.to_string(), "request"), &context).await;
    expect(
        failure.unwrap_err(),
        &format!(
            "integration 'http_api test' ({disabled}) is disabled; enable it to run this step"
        ),
    );

    let removed = integration(&h, &h.ctx, "http_api", config.clone(), None).await;
    h.commands
        .execute_integration(&h.ctx, removed, IntegrationCommand::Remove, None)
        .await
        .unwrap();
    let failure = run(&nodes, &request(removed.to_string(), "request"), &context).await;
    expect(
        failure.unwrap_err(),
        &format!("integration 'http_api test' ({removed}) was removed"),
    );

    let api = integration(&h, &h.ctx, "http_api", config.clone(), None).await;
    let failure = run(&nodes, &request(api.to_string(), "post_message"), &context).await;
    expect(
        failure.unwrap_err(),
        "integration 'http_api test' (http_api) has no action 'post_message'; its actions: request",
    );
    let github = integration(&h, &h.ctx, "github", config, None).await;
    let failure = run(&nodes, &request(github.to_string(), "request"), &context).await;
    expect(
        failure.unwrap_err(),
        "integration 'github test' (github) has no actions this engine can run; integration nodes run integrations of kind http_api, slack_webhook, smtp",
    );
    assert_eq!(stub.hits("/ok"), 0);

    run(&nodes, &request(api.to_string(), "request"), &context)
        .await
        .unwrap();
    let without_access = Nodes::new(NodeSettings::default());
    let failure = run(
        &without_access,
        &request(api.to_string(), "request"),
        &context,
    )
    .await;
    expect(
        failure.unwrap_err(),
        "integration nodes need access to integrations, which this engine was not given",
    );
    assert_eq!(stub.hits("/ok"), 1);
}
