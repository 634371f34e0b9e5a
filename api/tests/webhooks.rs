//! Webhook triggers through a real socket: `rotateWebhookSecret`, then
//! signed deliveries to `POST /webhooks/{triggerId}` that start executions,
//! once per delivery id, and every way a delivery is refused without
//! starting anything. Rotation and secrecy are in `webhooks/rotation.rs`.

#[path = "webhooks/hooks.rs"]
mod hooks;
#[path = "webhooks/rotation.rs"]
mod rotation;
mod support;

use api::config::nonzero;
use api::rate_limit::RateQuota;
use api::webhooks::MAX_WEBHOOK_BODY_BYTES;
use auth::webhook::sign;
use auth::Secret;
use chrono::Utc;
use hooks::*;
use serde_json::json;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = "../migrations")]
async fn a_signed_delivery_starts_an_execution_with_its_body_and_headers(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let body = br#"{"order": 7, "paid": true}"#;
    let (status, answer) = deliver(
        &app,
        &format!("{}?source=shop&tag=a&tag=b", hook.path),
        body,
        &[&hook.secret],
        None,
        &[
            ("Content-Type", "application/json"),
            ("User-Agent", "acme-shop/2"),
            ("X-Acme-Event", "order.paid"),
            ("X-Jobsprint-Delivery", "delivery-1"),
            ("Authorization", "Bearer not-forwarded"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["duplicate"], json!(false));
    let execution = answer["executionId"].as_str().unwrap();
    assert!(answer["position"].as_str().unwrap().parse::<i64>().unwrap() > 0);

    let started = executions(&pool).await;
    assert_eq!(started.len(), 1);
    let (id, payload, metadata) = &started[0];
    assert_eq!(id, execution);
    assert_eq!(payload["workflow_id"], json!(hook.workflow));
    assert_eq!(
        payload["input"],
        json!({
            "body": {"order": 7, "paid": true},
            "headers": {
                "content-type": "application/json",
                "user-agent": "acme-shop/2",
                "x-acme-event": "order.paid",
                "x-jobsprint-delivery": "delivery-1",
            },
            "query": {"source": "shop", "tag": ["a", "b"]},
        })
    );
    assert_eq!(
        payload["trigger"],
        json!({"type": "webhook", "delivery_id": "delivery-1"})
    );
    assert_eq!(payload["idempotency_key"], json!("webhook:delivery-1"));
    let trigger_id = hook.path.trim_start_matches("/webhooks/");
    assert_eq!(metadata["actor"], json!(format!("webhook:{trigger_id}")));
    assert_eq!(metadata["tenant_id"], json!(app.tenant.tenant_id));

    // A text body stays text.
    let (status, answer) = deliver(
        &app,
        &hook.path,
        b"a=1&b=2",
        &[&hook.secret],
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let started = executions(&pool).await;
    assert_eq!(started[1].1["input"]["body"], json!("a=1&b=2"));
    assert_eq!(
        started[1].1["trigger"],
        json!({"type": "webhook", "delivery_id": null})
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replayed_delivery_id_answers_the_same_execution_and_starts_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let send = |body: &'static [u8], header: &'static str| {
        let (app, hook) = (&app, &hook);
        async move {
            deliver(
                app,
                &hook.path,
                body,
                &[&hook.secret],
                None,
                &[(header, "d-42")],
            )
            .await
        }
    };
    let (status, first) = send(b"{\"n\": 1}", "X-Jobsprint-Delivery").await;
    assert_eq!(
        (status, &first["duplicate"]),
        (202, &json!(false)),
        "{first}"
    );
    // The sender retries (newly signed, even with another body), and then
    // names the delivery with the other header.
    for (body, header) in [
        (&b"{\"n\": 1}"[..], "X-Jobsprint-Delivery"),
        (&b"{\"n\": 2}"[..], "X-Jobsprint-Delivery"),
        (&b"{\"n\": 3}"[..], "Idempotency-Key"),
    ] {
        let (status, again) = send(body, header).await;
        assert_eq!(status, 202, "{again}");
        assert_eq!(again["executionId"], first["executionId"], "{again}");
        assert_eq!(again["position"], first["position"]);
        assert_eq!(again["duplicate"], json!(true), "{again}");
    }
    let started = executions(&pool).await;
    assert_eq!(started.len(), 1, "one delivery, one execution");
    assert_eq!(
        started[0].1["input"]["body"],
        json!({"n": 1}),
        "the first input is kept"
    );

    // Without a delivery id every delivery is new.
    for _ in 0..2 {
        let (status, _) = deliver(&app, &hook.path, b"{}", &[&hook.secret], None, &[]).await;
        assert_eq!(status, 202);
    }
    assert_eq!(executions(&pool).await.len(), 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_or_missing_signatures_are_refused_and_start_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let body = b"{\"order\": 7}";
    let stale = Utc::now().timestamp() - 600;
    let cases: [(&[&str], Option<i64>, &str); 3] = [
        (&["whsec_not-the-secret"], None, "signature does not match"),
        (&[], None, "the X-Jobsprint-Signature header is missing; sign the raw body with the trigger's secret"),
        (&[&hook.secret], Some(stale), "signature timestamp is outside the tolerance"),
    ];
    for (secrets, t, message) in cases {
        let (status, answer) = deliver(&app, &hook.path, body, secrets, t, &[]).await;
        assert_eq!(status, 401, "{message}: {answer}");
        assert_eq!(code(&answer), "UNAUTHENTICATED");
        assert_eq!(answer["errors"][0]["message"], json!(message));
    }
    let unsigned = app
        .client
        .post(format!("{}{}", app.base, hook.path))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.headers()["www-authenticate"],
        "HMAC-SHA256 header=\"X-Jobsprint-Signature\""
    );
    let (status, answer) = deliver(
        &app,
        &hook.path,
        body,
        &[],
        None,
        &[("X-Jobsprint-Signature", "v1=abc")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        answer["errors"][0]["message"],
        json!("signature header is malformed")
    );
    // Signed for another body.
    let header = sign(
        &Secret::new(hook.secret.as_str()),
        b"{}",
        Utc::now().timestamp(),
    );
    let (status, _) = deliver(
        &app,
        &hook.path,
        body,
        &[],
        None,
        &[("X-Jobsprint-Signature", &header)],
    )
    .await;
    assert_eq!(status, 401);
    assert!(executions(&pool).await.is_empty(), "nothing started");
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_triggers_and_non_webhook_workflows_answer_the_same_404(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let unknown = format!("/webhooks/{}", uuid::Uuid::new_v4());
    let (status, missing) = deliver(&app, &unknown, b"{}", &[&hook.secret], None, &[]).await;
    assert_eq!((status, code(&missing)), (404, "NOT_FOUND"), "{missing}");
    let (status, not_uuid) = deliver(&app, "/webhooks/nope", b"{}", &[], None, &[]).await;
    assert_eq!((status, &not_uuid), (404, &missing));

    // A workflow with a secret whose published version starts by hand:
    // even a correctly signed delivery learns nothing more.
    let manual = workflow(&app, definition(), true).await;
    let rotated = rotate(&app, &manual, json!({})).await;
    let path = rotated["path"].as_str().unwrap();
    let secret = rotated["secret"].as_str().unwrap();
    let (status, answer) = deliver(&app, path, b"{}", &[secret], None, &[]).await;
    assert_eq!((status, &answer), (404, &missing));
    assert!(executions(&pool).await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn unpublished_or_archived_workflows_refuse_deliveries(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let draft = workflow(&app, webhook_definition(), false).await;
    let rotated = rotate(&app, &draft, json!({})).await;
    let (path, secret) = (
        rotated["path"].as_str().unwrap(),
        rotated["secret"].as_str().unwrap(),
    );
    let (status, answer) = deliver(&app, path, b"{}", &[secret], None, &[]).await;
    assert_eq!((status, code(&answer)), (409, "INVALID_STATE"), "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no published version"));

    let archive = app
        .gql(
            "mutation($id: ID!) { archiveWorkflow(input: {id: $id}) { version } }",
            json!({"id": draft}),
        )
        .await;
    assert!(archive["errors"].is_null(), "{archive}");
    let (status, answer) = deliver(&app, path, b"{}", &[secret], None, &[]).await;
    assert_eq!((status, code(&answer)), (409, "INVALID_STATE"), "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("archived"));
    assert!(executions(&pool).await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn oversized_or_unreadable_bodies_are_refused_and_start_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let hook = hook(&app).await;
    let big = vec![b' '; MAX_WEBHOOK_BODY_BYTES + 1];
    let (status, answer) = deliver(&app, &hook.path, &big, &[&hook.secret], None, &[]).await;
    assert_eq!((status, code(&answer)), (413, "LIMIT_EXCEEDED"), "{answer}");
    let json_type = [("Content-Type", "application/json")];
    let (status, answer) = deliver(
        &app,
        &hook.path,
        b"{not json",
        &[&hook.secret],
        None,
        &json_type,
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "VALIDATION"), "{answer}");
    let (status, _) = deliver(&app, &hook.path, &[0xff, 0xfe], &[&hook.secret], None, &[]).await;
    assert_eq!(status, 415);
    let bad_id = [("X-Jobsprint-Delivery", "has spaces in it")];
    let (status, answer) = deliver(&app, &hook.path, b"{}", &[&hook.secret], None, &bad_id).await;
    assert_eq!((status, code(&answer)), (400, "VALIDATION"), "{answer}");
    // Unsigned bad input is refused for its signature first.
    let (status, _) = deliver(&app, &hook.path, b"{not json", &[], None, &json_type).await;
    assert_eq!(status, 401);
    // Exactly at the limit is accepted.
    let mut limit = vec![b' '; MAX_WEBHOOK_BODY_BYTES - 2];
    limit.splice(0..0, *b"{}");
    let (status, answer) = deliver(&app, &hook.path, &limit, &[&hook.secret], None, &[]).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        executions(&pool).await.len(),
        1,
        "only the good delivery started"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn deliveries_count_against_the_per_ip_rate_limit(pool: PgPool) {
    let quota = RateQuota {
        per_second: nonzero(1),
        burst: nonzero(2),
    };
    let config = api::ApiConfig {
        rate_per_ip: quota,
        ..api::ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;
    let path = format!("/webhooks/{}", uuid::Uuid::new_v4());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(deliver(&app, &path, b"{}", &[], None, &[]).await.0);
    }
    assert_eq!(statuses, [404, 404, 429]);
}
