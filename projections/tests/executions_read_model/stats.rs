//! Per-day statistics against percentiles computed here, and a replay from
//! scratch that gives identical rows.

use chrono::{Duration, NaiveDate};
use domain::execution::ExecutionEvent;
use domain::ids::TenantId;
use projections::projector::PoisonPolicy;
use projections::read_models::execution_stats::workflow_stats;
use projections::read_models::executions::ExecutionsProjection;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::histories::*;
use super::support::*;
use super::NAME;

/// `percentile_cont`: linear interpolation between the closest ranks.
fn percentile(sorted: &[i64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    let fraction = rank - low as f64;
    sorted[low] as f64 + (sorted[high] - sorted[low]) as f64 * fraction
}

#[sqlx::test(migrations = "../migrations")]
async fn daily_stats_count_by_start_day_with_exact_percentiles_and_replay_is_identical(
    pool: PgPool,
) {
    let tenant = TenantId(Uuid::now_v7());
    let (workflow, other_workflow) = (Uuid::now_v7(), Uuid::now_v7());
    let day1 = t0();
    let day3 = day1 + Duration::days(2);
    let completed = || ExecutionEvent::ExecutionCompleted {
        output: json!(null),
    };
    let day1_durations = [
        1_200, 300, 4_500, 800, 15_000, 2_100, 650, 9_999, 120, 3_000, 7_777,
    ];
    let mut last = 0;
    for (n, duration) in day1_durations.iter().enumerate() {
        let ending = match n % 4 {
            1 => ExecutionEvent::ExecutionFailed {
                error: "boom".into(),
            },
            2 => ExecutionEvent::ExecutionCancelled { reason: None },
            _ => completed(),
        };
        // Spread over the day; the last one ends after midnight but counts
        // for the day it started.
        let at = day1 + Duration::minutes(70 * n as i64);
        last = simple_run(&pool, tenant, workflow, at, *duration, ending).await;
    }
    let ends_next_day = day1 + Duration::hours(13) + Duration::minutes(59);
    last = last.max(
        simple_run(
            &pool,
            tenant,
            workflow,
            ends_next_day,
            3_600_000,
            completed(),
        )
        .await,
    );
    // Still running on day 3, and another workflow's run on day 1.
    let running = Uuid::now_v7();
    append(&pool, running, 1, &[(day3, started(tenant, workflow))]).await;
    simple_run(&pool, tenant, other_workflow, day1, 5, completed()).await;
    let day3_durations = [50, 70];
    for duration in day3_durations {
        last = simple_run(&pool, tenant, workflow, day3, duration, completed()).await;
    }
    let finish = spawn_stoppable(&pool);
    let everything: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    wait_for(&pool, NAME, everything.max(last)).await;

    let from = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
    assert_eq!(
        workflow_stats(&pool, tenant.0, workflow, from, to)
            .await
            .unwrap(),
        None,
        "a workflow the workflows read model does not hold reads as missing"
    );
    // The `workflows` read model's row (its own projection is tested apart).
    sqlx::query(
        "INSERT INTO workflows (id, tenant_id, name, description, status, created_at, updated_at)
         VALUES ($1, $2, 'Stats', '', 'published', $3, $3)",
    )
    .bind(workflow)
    .bind(tenant.0)
    .bind(day1)
    .execute(&pool)
    .await
    .unwrap();
    let stats = workflow_stats(&pool, tenant.0, workflow, from, to)
        .await
        .unwrap()
        .expect("the workflow's days");
    assert_eq!(
        stats.iter().map(|d| d.day).collect::<Vec<_>>(),
        (0..4).map(|n| from + Duration::days(n)).collect::<Vec<_>>(),
        "one row per day, empty days included"
    );
    let mut day1_all: Vec<i64> = day1_durations.to_vec();
    day1_all.push(3_600_000);
    day1_all.sort_unstable();
    let first = &stats[0];
    assert_eq!(first.started, 12);
    assert_eq!(
        (
            first.succeeded,
            first.failed,
            first.cancelled,
            first.timed_out,
            first.running
        ),
        (6, 3, 3, 0, 0)
    );
    let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-6;
    assert!(
        close(first.duration_p50_ms, percentile(&day1_all, 0.5)),
        "{first:?}"
    );
    assert!(
        close(first.duration_p95_ms, percentile(&day1_all, 0.95)),
        "{first:?}"
    );
    assert_eq!((stats[1].started, stats[1].duration_p50_ms), (0, None));
    let third = &stats[2];
    assert_eq!((third.started, third.succeeded, third.running), (3, 2, 1));
    assert!(close(third.duration_p50_ms, percentile(&[50, 70], 0.5)));
    assert!(close(third.duration_p95_ms, percentile(&[50, 70], 0.95)));
    assert_eq!(stats[3].started, 0);
    let foreign = workflow_stats(&pool, Uuid::now_v7(), workflow, from, to)
        .await
        .unwrap();
    assert_eq!(foreign, None, "another tenant reads it as missing");

    // Replay from scratch: identical rows.
    let before = snapshot(&pool).await;
    assert_eq!(before.len(), 16 + 15, "16 executions, 15 with a step");
    finish.stop().await;
    sqlx::raw_sql(
        "TRUNCATE execution_steps, executions;
         DELETE FROM projection_aggregate_sequences WHERE projection = 'executions';
         DELETE FROM projection_checkpoints WHERE projection = 'executions';",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(snapshot(&pool).await.is_empty());
    spawn(&pool, ExecutionsProjection, PoisonPolicy::Stop);
    wait_for(&pool, NAME, everything).await;
    assert_eq!(snapshot(&pool).await, before);
}

/// A projector that [`Stoppable::stop`] ends.
struct Stoppable {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), projections::projector::ProjectorError>>,
}

impl Stoppable {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn spawn_stoppable(pool: &PgPool) -> Stoppable {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = spawn_until(pool, ExecutionsProjection, PoisonPolicy::Stop, shutdown);
    Stoppable { stop, task }
}
