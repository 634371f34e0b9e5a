//! The command layer against a real PostgreSQL: command ids, expected
//! versions, write races, snapshots, credential sealing and execution starts.
//! Each test gets its own freshly migrated database.

use std::sync::Arc;

use commands::executions::StartExecution;
use commands::integrations::RegisterIntegration;
use commands::secrets::{Keyring, SecretString};
use commands::{CommandConfig, CommandContext, CommandError, Commands};
use domain::error::ErrorKind;
use domain::execution::{ExecutionCommand, ExecutionTrigger};
use domain::ids::{ExecutionId, IntegrationId, TenantId, WorkflowId};
use domain::integration::IntegrationEvent;
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

fn definition() -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({
        "nodes": [
            {"id": "fetch", "type": "http", "config": {"url": "https://example.com/items"}},
            {"id": "shape", "type": "transform", "config": {"expression": ".body"}}
        ],
        "edges": [{"from": "fetch", "to": "shape"}],
        "trigger": {"type": "manual"}
    }))
    .expect("valid definition")
}

fn commands(pool: &PgPool) -> Commands {
    Commands::new(
        pool.clone(),
        CommandConfig {
            keyring: Some(Keyring::new("k1", &Keyring::generate_key()).unwrap()),
            ..CommandConfig::default()
        },
    )
}

fn ctx() -> CommandContext {
    CommandContext::new(TenantId::DEFAULT, "tester")
}

async fn create(commands: &Commands, ctx: &CommandContext) -> WorkflowId {
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "Sync items".into(),
        description: String::new(),
        definition: definition(),
    };
    commands
        .execute_workflow(ctx, id, create, None)
        .await
        .unwrap();
    id
}

async fn event_count(pool: &PgPool, aggregate_id: impl ToString) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(aggregate_id.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_command_id_sent_twice_is_applied_once_and_answered_alike(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    let retry = ctx().with_command_id(Some(Uuid::new_v4()));
    let rename = WorkflowCommand::Rename {
        name: "Renamed".into(),
    };

    let first = commands
        .execute_workflow(&retry, id, rename.clone(), None)
        .await
        .unwrap();
    let second = commands
        .execute_workflow(&retry, id, rename, None)
        .await
        .unwrap();

    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(
        (first.version, first.position),
        (second.version, second.position)
    );
    assert_eq!(first.version, 3, "created (2 events) then renamed once");
    assert_eq!(event_count(&pool, id).await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_retries_of_one_command_id_write_once(pool: PgPool) {
    let commands = Arc::new(commands(&pool));
    let id = create(&commands, &ctx()).await;
    let retry = ctx().with_command_id(Some(Uuid::new_v4()));
    let tasks = (0..8).map(|_| {
        let (commands, retry) = (commands.clone(), retry.clone());
        tokio::spawn(async move {
            let rename = WorkflowCommand::Rename {
                name: "Once".into(),
            };
            commands
                .execute_workflow(&retry, id, rename, None)
                .await
                .unwrap()
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(results.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(results
        .iter()
        .all(|r| r.version == 3 && r.position == results[0].position));
    assert_eq!(event_count(&pool, id).await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_command_id_reused_for_another_aggregate_is_a_conflict(pool: PgPool) {
    let commands = commands(&pool);
    let (a, b) = (
        create(&commands, &ctx()).await,
        create(&commands, &ctx()).await,
    );
    let reused = ctx().with_command_id(Some(Uuid::new_v4()));
    commands
        .execute_workflow(
            &reused,
            a,
            WorkflowCommand::Rename { name: "A".into() },
            None,
        )
        .await
        .unwrap();
    let err = commands
        .execute_workflow(
            &reused,
            b,
            WorkflowCommand::Rename { name: "B".into() },
            None,
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
    assert!(err.to_string().contains("already used"), "{err}");
    assert_eq!(event_count(&pool, b).await, 2);
}

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
    let commands = Arc::new(commands(&pool));
    let id = create(&commands, &ctx()).await;
    let tasks = (0..10).map(|i| {
        let commands = commands.clone();
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
    .fetch_all(commands.pool())
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
async fn credentials_are_stored_sealed_and_open_with_the_key(pool: PgPool) {
    let key = Keyring::generate_key();
    let keyring = Keyring::new("k-2026", &key).unwrap();
    let commands = Commands::new(
        pool.clone(),
        CommandConfig {
            keyring: Some(keyring.clone()),
            ..CommandConfig::default()
        },
    );
    let id = IntegrationId::new_v7();
    let canary = "canary-5f2c9e-plaintext-token";
    let register = RegisterIntegration {
        name: "Slack".into(),
        kind: "slack".into(),
        config: json!({"channel": "#ops"}),
        credentials: Some(SecretString::new(json!({"token": canary}).to_string())),
    };
    commands
        .register_integration(&ctx(), id, register)
        .await
        .unwrap();
    commands
        .rotate_integration_credentials(&ctx(), id, &SecretString::new(format!("{canary}-2")), None)
        .await
        .unwrap();

    let dump: String =
        sqlx::query_scalar("SELECT string_agg(payload::text || metadata::text, '') FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        !dump.contains("canary"),
        "plaintext credential reached the event store"
    );
    assert!(dump.contains("k-2026"), "events record the key id");

    let payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let event: IntegrationEvent = serde_json::from_value(payload).unwrap();
    let IntegrationEvent::IntegrationRegistered {
        credentials: Some(sealed),
        ..
    } = event
    else {
        panic!("expected IntegrationRegistered with credentials, got {event:?}");
    };
    let opened = keyring.open(TenantId::DEFAULT, id, &sealed).unwrap();
    assert_eq!(opened.expose(), json!({"token": canary}).to_string());
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_key_credentials_are_refused_not_stored(pool: PgPool) {
    let commands = Commands::new(pool.clone(), CommandConfig::default());
    let id = IntegrationId::new_v7();
    let register = RegisterIntegration {
        name: "Slack".into(),
        kind: "slack".into(),
        config: json!({}),
        credentials: Some(SecretString::new("token")),
    };
    let err = commands
        .register_integration(&ctx(), id, register)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("JOBSPRINT_SECRET_KEY"), "{err}");
    assert_eq!(event_count(&pool, id).await, 0);
}

async fn published(commands: &Commands) -> WorkflowId {
    let id = create(commands, &ctx()).await;
    commands
        .execute_workflow(&ctx(), id, WorkflowCommand::Publish { version: 1 }, None)
        .await
        .unwrap();
    id
}

fn start(workflow_id: WorkflowId, key: Option<&str>) -> StartExecution {
    StartExecution {
        workflow_id,
        input: json!({"customer": 42}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: key.map(str::to_owned),
    }
}

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
async fn only_client_chosen_command_ids_are_recorded(pool: PgPool) {
    let commands = commands(&pool);
    let id = create(&commands, &ctx()).await;
    commands
        .execute_workflow(
            &ctx(),
            id,
            WorkflowCommand::Rename { name: "a".into() },
            None,
        )
        .await
        .unwrap();
    let chosen = ctx().with_command_id(Some(Uuid::new_v4()));
    commands
        .execute_workflow(
            &chosen,
            id,
            WorkflowCommand::Rename { name: "b".into() },
            None,
        )
        .await
        .unwrap();

    let recorded: Vec<Uuid> = sqlx::query_scalar("SELECT command_id FROM command_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(recorded, [chosen.command_id.unwrap()]);
}
