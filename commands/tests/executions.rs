//! Starting and ending executions through the command layer.

mod support;

use commands::{CommandContext, CommandError};
use domain::error::ErrorKind;
use domain::execution::ExecutionCommand;
use domain::ids::{ExecutionId, TenantId};
use serde_json::json;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

#[sqlx::test(migrations = "../migrations")]
async fn the_same_idempotency_key_returns_the_same_execution(pool: PgPool) {
    let commands = commands(&pool);
    let workflow = published(&commands).await;

    let first = commands
        .start_execution(&ctx(), start(workflow, Some("order-17")))
        .await
        .unwrap();
    let again = commands
        .start_execution(&ctx(), start(workflow, Some("order-17")))
        .await
        .unwrap();
    let other = commands
        .start_execution(&ctx(), start(workflow, Some("order-18")))
        .await
        .unwrap();

    assert_eq!(first.aggregate_id, again.aggregate_id);
    assert_eq!(
        (first.version, first.position),
        (again.version, again.position)
    );
    assert_ne!(first.aggregate_id, other.aggregate_id);
    assert_eq!(event_count(&pool, &first.aggregate_id).await, 1);

    let payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1")
            .bind(&first.aggregate_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(payload["ExecutionStarted"]["workflow_version"], json!(1));
    assert_eq!(
        payload["ExecutionStarted"]["input"],
        json!({"customer": 42})
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn executions_start_only_from_a_published_workflow_of_ones_own_tenant(pool: PgPool) {
    let commands = commands(&pool);
    let draft = create(&commands, &ctx()).await;
    let err = commands
        .start_execution(&ctx(), start(draft, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Rejected {
                kind: ErrorKind::InvalidState,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("publish"), "{err}");

    let workflow = published(&commands).await;
    let intruder = CommandContext::new(TenantId(Uuid::new_v4()), "intruder");
    let err = commands
        .start_execution(&intruder, start(workflow, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Rejected {
                kind: ErrorKind::NotFound,
                ..
            }
        ),
        "{err:?}"
    );

    let executions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Execution'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(executions, 0, "rejected starts write nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_twice_is_an_idempotent_repeat(pool: PgPool) {
    let commands = commands(&pool);
    let workflow = published(&commands).await;
    let started = commands
        .start_execution(&ctx(), start(workflow, None))
        .await
        .unwrap();
    let id: ExecutionId = started.aggregate_id.parse().unwrap();
    let cancel = ExecutionCommand::Cancel {
        reason: Some("operator".into()),
    };

    let first = commands
        .execute_execution(&ctx(), id, cancel.clone(), None)
        .await
        .unwrap();
    let second = commands
        .execute_execution(&ctx(), id, cancel, None)
        .await
        .unwrap();
    assert_eq!(first.version, 2);
    assert_eq!(
        (second.version, second.position),
        (first.version, first.position)
    );

    let err = commands
        .execute_execution(
            &ctx(),
            id,
            ExecutionCommand::Complete { output: json!({}) },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Rejected {
                kind: ErrorKind::InvalidState,
                ..
            }
        ),
        "{err:?}"
    );
}
