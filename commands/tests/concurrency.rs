//! Expected versions, write races, snapshots and tenancy of the command
//! layer against a real PostgreSQL. Each test has its own database.

mod support;

use std::sync::Arc;

use commands::{CommandConfig, CommandContext, CommandError, Commands};
use domain::error::ErrorKind;
use domain::execution::ExecutionCommand;
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::WorkflowCommand;
use serde_json::json;
use sqlx::{PgPool, Row};
use support::*;
use uuid::Uuid;

#[sqlx::test(migrations = "../migrations")]
async fn a_stale_expected_version_is_a_conflict_and_writes_nothing(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    let err = commands
        .execute_workflow(
            &ctx(),
            id,
            WorkflowCommand::Rename { name: "X".into() },
            Some(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Rejected {
                kind: ErrorKind::Conflict,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains('2'),
        "names the current version: {err}"
    );
    assert_eq!(event_count(&pool, id).await, 2);

    let ok = commands
        .execute_workflow(
            &ctx(),
            id,
            WorkflowCommand::Rename { name: "X".into() },
            Some(2),
        )
        .await
        .unwrap();
    assert_eq!(ok.version, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn racing_writers_without_expected_version_all_land_in_order(pool: PgPool) {
    // Two command layers stand in for two server processes: within one,
    // commands on an aggregate queue; between them, they race and retry.
    let servers = [Arc::new(commands(&pool)), Arc::new(commands(&pool))];
    let id = create(&servers[0], &ctx()).await;
    let tasks = (0..10).map(|i| {
        let commands = servers[i % 2].clone();
        tokio::spawn(async move {
            let rename = WorkflowCommand::Rename {
                name: format!("name {i}"),
            };
            commands.execute_workflow(&ctx(), id, rename, None).await
        })
    });
    let results = futures::future::join_all(tasks).await;
    let mut versions: Vec<u64> = results
        .into_iter()
        .map(|r| r.unwrap().expect("retried until applied").version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (3..=12).collect::<Vec<_>>());
    let sequences: Vec<i64> = sqlx::query_scalar(
        "SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY global_position",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(sequences, (1..=12).collect::<Vec<_>>());
}

#[sqlx::test(migrations = "../migrations")]
async fn snapshots_bound_the_events_loaded_per_command(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    for i in 0..61 {
        let rename = WorkflowCommand::Rename {
            name: format!("n{i}"),
        };
        commands
            .execute_workflow(&ctx(), id, rename, None)
            .await
            .unwrap();
    }
    let row = sqlx::query(
        "SELECT last_sequence, payload FROM snapshots WHERE aggregate_type = 'Workflow' AND aggregate_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .expect("a snapshot exists");
    let last_sequence: i64 = row.get("last_sequence");
    let payload: serde_json::Value = row.get("payload");
    assert_eq!(last_sequence, 60, "snapshots every 20 events: 20, 40, 60");
    assert_eq!(
        payload["version"],
        json!(60),
        "the snapshot holds exactly the events it claims"
    );

    // The state rebuilt from snapshot + tail accepts the next command at the
    // right version.
    let next = commands
        .execute_workflow(
            &ctx(),
            id,
            WorkflowCommand::Rename {
                name: "last".into(),
            },
            Some(63),
        )
        .await
        .unwrap();
    assert_eq!(next.version, 64);
}

#[sqlx::test(migrations = "../migrations")]
async fn attempts_stay_exact_across_snapshot_boundaries(pool: PgPool) {
    // Snapshot after every third event, so the attempt counter is loaded
    // from snapshots mid-run; a snapshot that folded an event twice would
    // number the second attempt 3.
    let commands = Commands::new(
        pool.clone(),
        CommandConfig {
            snapshot_every: 3,
            ..CommandConfig::default()
        },
    );
    let workflow = published(&commands).await;
    let started = commands
        .start_execution(&ctx(), start(workflow, None))
        .await
        .unwrap();
    let id: ExecutionId = started.aggregate_id.parse().unwrap();
    let step = || "fetch".to_owned();
    let run = [
        ExecutionCommand::ScheduleStep { node_id: step() },
        ExecutionCommand::StartStepAttempt { node_id: step() },
        ExecutionCommand::FailStep {
            node_id: step(),
            error: "503".into(),
            retryable: true,
        },
        ExecutionCommand::ScheduleRetry {
            node_id: step(),
            at: chrono::Utc::now(),
        },
        ExecutionCommand::StartStepAttempt { node_id: step() },
        ExecutionCommand::FailStep {
            node_id: step(),
            error: "503".into(),
            retryable: true,
        },
        ExecutionCommand::ScheduleRetry {
            node_id: step(),
            at: chrono::Utc::now(),
        },
        ExecutionCommand::StartStepAttempt { node_id: step() },
    ];
    for command in run {
        commands
            .execute_execution(&ctx(), id, command, None)
            .await
            .unwrap();
    }
    let attempts: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload->'StepAttemptStarted'->'attempt' FROM events
          WHERE aggregate_id = $1 AND event_type = 'StepAttemptStarted' ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let snapshots: i64 =
        sqlx::query_scalar("SELECT current_snapshot FROM snapshots WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(snapshots, 3, "snapshots at events 3, 6 and 9");
}

#[sqlx::test(migrations = "../migrations")]
async fn another_tenants_aggregate_is_not_found(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    let intruder = CommandContext::new(TenantId(Uuid::new_v4()), "intruder");
    let err = commands
        .execute_workflow(&intruder, id, WorkflowCommand::Archive, None)
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
    let missing = commands
        .execute_workflow(&ctx(), WorkflowId::new_v7(), WorkflowCommand::Archive, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        missing.to_string(),
        "another tenant's workflow reads exactly like a missing one"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn stored_events_carry_ids_times_and_full_metadata(pool: PgPool) {
    let commands = commands(&pool);
    let mut context = ctx().with_command_id(Some(Uuid::new_v4()));
    context.correlation_id = Some(Uuid::new_v4());
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "Meta".into(),
        description: "d".into(),
        definition: definition(),
    };
    let outcome = commands
        .execute_workflow(&context, id, create, None)
        .await
        .unwrap();

    let rows = sqlx::query(
        "SELECT global_position, event_id, recorded_at, metadata, transaction_id::text AS xid
           FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let last_position: i64 = rows[1].get("global_position");
    assert_eq!(outcome.position, last_position);
    assert_eq!(
        rows[0].get::<String, _>("xid"),
        rows[1].get::<String, _>("xid"),
        "one transaction"
    );
    let metadata: serde_json::Value = rows[0].get("metadata");
    assert_eq!(metadata["tenant_id"], json!(TenantId::DEFAULT.to_string()));
    assert_eq!(metadata["actor"], json!("tester"));
    assert_eq!(
        metadata["command_id"],
        json!(context.command_id.unwrap().to_string())
    );
    assert_eq!(
        metadata["correlation_id"],
        json!(context.correlation_id.unwrap().to_string())
    );
    assert_eq!(
        metadata["causation_id"],
        json!(context.command_id.unwrap().to_string())
    );
    assert_eq!(metadata["trace_id"], json!(context.trace_id));
}

#[sqlx::test(migrations = "../migrations")]
async fn migrations_run_again_change_nothing(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    commands::migrate::run(&pool)
        .await
        .expect("a second run is a no-op");
    commands::migrate::run(&pool).await.expect("and a third");
    assert_eq!(event_count(&pool, id).await, 2);
}
