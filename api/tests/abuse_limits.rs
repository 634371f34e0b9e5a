//! Abuse limits answered before any resolver runs: aliases, root fields,
//! batches, and rate limits with `429` and `Retry-After`.

mod support;

use api::config::nonzero;
use api::rate_limit::RateQuota;
use api::ApiConfig;
use serde_json::json;
use sqlx::PgPool;
use support::*;

async fn event_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn too_many_aliases_or_root_fields_run_no_resolver(pool: PgPool) {
    let config = ApiConfig {
        graphql_max_aliases: 3,
        graphql_max_root_fields: 2,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool.clone(), config).await;

    let aliased: String = (0..4)
        .map(|i| format!("a{i}: events(aggregateType: WORKFLOW, aggregateId: \"x\") {{ pageInfo {{ hasNextPage }} }} "))
        .collect();
    let response = app.gql(&format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!(error_code(&response), "LIMIT_EXCEEDED", "{response}");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4 aliases"),
        "{response}"
    );

    // Three createWorkflow mutations at the root: refused whole, nothing written.
    let create = |n: u32| {
        format!("c{n}: createWorkflow(input: {{name: \"w{n}\", definition: {{nodes: [{{id: \"a\", type: \"transform\", config: {{expression: \".\"}}}}], trigger: {{type: \"manual\"}}}}}}) {{ id }} ")
    };
    let config = ApiConfig {
        graphql_max_root_fields: 2,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool.clone(), config).await;
    let baseline = event_rows(&pool).await;
    let response = app
        .gql(
            &format!("mutation {{ {} {} {} }}", create(1), create(2), create(3)),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "LIMIT_EXCEEDED", "{response}");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3 root fields"),
        "{response}"
    );
    assert_eq!(event_rows(&pool).await, baseline, "no resolver ran");

    // Fragments do not hide root fields.
    let response = app
        .gql(
            "query { ...A } fragment A on Query { a: __typename b: __typename c: __typename }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "LIMIT_EXCEEDED", "{response}");
}

#[sqlx::test(migrations = "../migrations")]
async fn batches_are_capped(pool: PgPool) {
    let config = ApiConfig {
        graphql_max_batch: 2,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;
    let post = |n: usize| {
        let batch: Vec<_> = (0..n).map(|_| json!({"query": "{ __typename }"})).collect();
        app.client
            .post(format!("{}/graphql", app.base))
            .json(&batch)
            .send()
    };
    let ok = post(2).await.unwrap();
    assert_eq!(ok.status(), 200);
    let answers: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(answers.as_array().map(Vec::len), Some(2), "{answers}");

    let refused = post(3).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body), "LIMIT_EXCEEDED");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_over_its_rate_gets_429_with_retry_after(pool: PgPool) {
    let config = ApiConfig {
        rate_per_ip: RateQuota {
            per_second: nonzero(1),
            burst: nonzero(3),
        },
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let response = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        &statuses[..3],
        [200, 200, 200],
        "the burst is allowed: {statuses:?}"
    );
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_authenticated_caller_over_its_rate_gets_429(pool: PgPool) {
    let config = ApiConfig {
        rate_per_caller: RateQuota {
            per_second: nonzero(1),
            burst: nonzero(2),
        },
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;
    let other = app.new_tenant("Other").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&app.tenant.admin_token)
            .json(&json!({"query": "{ me { kind } }"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], [200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    // The limit is per caller: another caller from the same address is served.
    let response = app
        .gql_as(Some(&other.admin_token), "{ me { kind } }", json!({}))
        .await;
    assert_eq!(
        response["data"]["me"]["kind"],
        json!("api_token"),
        "{response}"
    );
}
