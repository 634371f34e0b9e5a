//! Command ids make retries safe: applied once, answered alike, recorded
//! only when a client chose them. Each test has its own database.

mod support;

use std::sync::Arc;

use commands::CommandError;
use domain::error::ErrorKind;
use domain::workflow::WorkflowCommand;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

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
