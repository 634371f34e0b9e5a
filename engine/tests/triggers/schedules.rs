//! Schedule triggers: each slot once with two runners, one execution per
//! slot with two schedulers and after a lease takeover, catch-up after
//! downtime, and unpublishing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandConfig, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::{Schedule, WorkflowCommand};
use engine::triggers::{self, TriggersProjection};
use projections::projector::{Projector, ProjectorConfig};
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::reads::{
    recorded_at, starts_of, triggers_caught_up, until_started, workflow_events, Started, LIMIT,
};
use crate::support::{test_config, trigger_config, Harness};

fn scheduled(cron: &str, catch_up: &str) -> Value {
    json!({
        "nodes": [{"id": "tick", "type": "transform", "config": {"expression": "input"}}],
        "trigger": {"type": "schedule", "cron": cron, "timezone": "UTC", "catch_up": catch_up}
    })
}

fn slot_of(start: &Started) -> DateTime<Utc> {
    match start.trigger {
        ExecutionTrigger::Schedule { scheduled_for } => scheduled_for,
        ref other => panic!("not a scheduled start: {other:?}"),
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap()
}

/// Every slot the skip records cover, each record's count checked.
fn skipped_slots(schedule: &Schedule, skips: &[Value]) -> Vec<DateTime<Utc>> {
    let mut slots = Vec::new();
    for skip in skips {
        let (from, to) = (time(&skip["from"]), time(&skip["to"]));
        let mut covered = vec![from];
        while let Some(next) = schedule.next_after(*covered.last().unwrap()) {
            if next > to {
                break;
            }
            covered.push(next);
        }
        assert_eq!(Some(covered.len() as u64), skip["count"].as_u64(), "{skip}");
        slots.extend(covered);
    }
    slots
}

#[sqlx::test(migrations = "../migrations")]
async fn a_schedule_fires_each_slot_once_with_two_engines(pool: PgPool) {
    let mut h = Harness::start(pool, 0, test_config()).await;
    let every_second = Schedule::parse("*/1 * * * * *", "UTC").unwrap();
    let workflow = h.workflow(scheduled("*/1 * * * * *", "skip")).await;
    let published = recorded_at(&h, workflow, "WorkflowPublished").await;
    h.add_triggers(trigger_config());
    h.add_triggers(trigger_config());
    until_started(&h, workflow, 4).await;
    h.stop().await;

    let starts = starts_of(&h, workflow).await;
    let skips = workflow_events(&h, workflow, "ScheduledRunsSkipped").await;
    let mut handled: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for start in &starts {
        let slot = slot_of(start);
        assert_eq!(start.idempotency_key, Some(triggers::slot_key(slot)));
        assert_eq!(start.input, json!({"scheduled_for": slot}));
        *handled.entry(slot).or_default() += 1;
    }
    for slot in skipped_slots(&every_second, &skips) {
        *handled.entry(slot).or_default() += 1;
    }
    // From the first slot after the publication to the last one handled,
    // every slot ran or was recorded as skipped, exactly once.
    let first = every_second.next_after(published).unwrap();
    let last = *handled.keys().next_back().unwrap();
    let mut expected = vec![first];
    while *expected.last().unwrap() < last {
        expected.push(every_second.next_after(*expected.last().unwrap()).unwrap());
    }
    assert_eq!(handled.keys().copied().collect::<Vec<_>>(), expected);
    assert!(
        handled.values().all(|&times| times == 1),
        "a slot handled twice: {handled:?}"
    );
    assert!(starts.len() >= 4);
}

/// Runs only the trigger projection until the returned sender is used.
fn project_only(pool: &PgPool) -> tokio::sync::watch::Sender<bool> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let projector = Projector::new(pool.clone(), TriggersProjection, ProjectorConfig::default());
    let source = StoreSource::new(pool.clone());
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        projector.run(source, shutdown).await.unwrap();
    });
    stop
}

async fn schedule_row(
    pool: &PgPool,
    workflow: WorkflowId,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT covered_through, next_fire_at FROM engine_schedules WHERE workflow_id = $1",
    )
    .bind(workflow.0)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn two_schedulers_claiming_one_due_slot_start_one_execution(pool: PgPool) {
    let h = Harness::start(pool.clone(), 0, test_config()).await;
    let stop = project_only(&pool);
    let workflow = h.workflow(scheduled("0 0 * * * *", "skip")).await;
    triggers_caught_up(&h).await;
    let (published, slot) = schedule_row(&pool, workflow).await.expect("a schedule row");
    assert_eq!(
        published,
        recorded_at(&h, workflow, "WorkflowPublished").await
    );
    let config = trigger_config();
    let (a, b) = (
        Commands::new(pool.clone(), CommandConfig::default()),
        Commands::new(pool.clone(), CommandConfig::default()),
    );
    let (owner_a, owner_b) = (Uuid::new_v4(), Uuid::new_v4());
    let now = slot + chrono::Duration::seconds(1);
    let (claimed_a, claimed_b) = tokio::join!(
        triggers::fire_due(&pool, &a, owner_a, now, &config),
        triggers::fire_due(&pool, &b, owner_b, now, &config),
    );
    assert_eq!(claimed_a.unwrap() + claimed_b.unwrap(), 1, "one claim");
    let starts = starts_of(&h, workflow).await;
    assert_eq!(starts.len(), 1);
    assert_eq!(slot_of(&starts[0]), slot);
    let key = triggers::slot_key(slot);
    assert_eq!(
        starts[0].id,
        ExecutionId::for_idempotency_key(TenantId::DEFAULT, workflow, &key)
    );
    triggers_caught_up(&h).await;

    // Scheduler A fires the slot again but dies before moving the row on;
    // B takes over once A's lease has expired and fires the slot again.
    sqlx::query(
        "UPDATE engine_schedules
            SET covered_through = $2, next_fire_at = $3, lease_owner = $4, lease_until = $5
          WHERE workflow_id = $1",
    )
    .bind(workflow.0)
    .bind(published)
    .bind(slot)
    .bind(owner_a)
    .bind(now + chrono::Duration::seconds(1))
    .execute(&pool)
    .await
    .unwrap();
    let held = triggers::fire_due(&pool, &b, owner_b, now, &config).await;
    assert_eq!(held.unwrap(), 0, "A's lease holds");
    let later = now + chrono::Duration::seconds(2);
    let taken = triggers::fire_due(&pool, &b, owner_b, later, &config).await;
    assert_eq!(taken.unwrap(), 1, "B takes the expired lease");
    assert_eq!(
        starts_of(&h, workflow).await.len(),
        1,
        "still one execution"
    );
    assert!(workflow_events(&h, workflow, "ScheduledRunsSkipped")
        .await
        .is_empty());
    let (covered, next) = schedule_row(&pool, workflow).await.unwrap();
    assert_eq!(covered, slot);
    assert_eq!(next, slot + chrono::Duration::hours(1));
    let _ = stop.send(true);
}

/// Publishes an hourly schedule with `catch_up`, then moves the clock 30
/// minutes past the fifth slot, as if no engine had run meanwhile, and
/// starts the triggers. The five slots.
async fn after_five_missed_hours(
    h: &mut Harness,
    catch_up: &str,
) -> (WorkflowId, Vec<DateTime<Utc>>) {
    let hourly = Schedule::parse("0 0 * * * *", "UTC").unwrap();
    let workflow = h.workflow(scheduled("0 0 * * * *", catch_up)).await;
    let mut slots = vec![hourly
        .next_after(recorded_at(h, workflow, "WorkflowPublished").await)
        .unwrap()];
    while slots.len() < 5 {
        slots.push(hourly.next_after(*slots.last().unwrap()).unwrap());
    }
    let target = slots[4] + chrono::Duration::minutes(30);
    h.clock.advance((target - h.clock.now()).to_std().unwrap());
    h.add_triggers(trigger_config());
    (workflow, slots)
}

async fn until_skipped(h: &Harness, workflow: WorkflowId) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let skips = workflow_events(h, workflow, "ScheduledRunsSkipped").await;
        if !skips.is_empty() {
            return skips;
        }
        assert!(tokio::time::Instant::now() < deadline, "no skip recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn after_downtime_skip_runs_no_missed_slot_and_records_them(pool: PgPool) {
    let mut h = Harness::start(pool, 0, test_config()).await;
    let (workflow, slots) = after_five_missed_hours(&mut h, "skip").await;
    let skips = until_skipped(&h, workflow).await;
    assert_eq!(
        skips,
        vec![json!({"from": slots[0], "to": slots[4], "count": 5, "catch_up": "skip"})]
    );
    triggers_caught_up(&h).await;
    assert!(
        starts_of(&h, workflow).await.is_empty(),
        "no missed slot runs"
    );

    // The next slot is on time again and runs.
    let sixth = slots[4] + chrono::Duration::hours(1);
    let target = sixth + chrono::Duration::seconds(1);
    h.clock.advance((target - h.clock.now()).to_std().unwrap());
    let starts = until_started(&h, workflow, 1).await;
    assert_eq!(slot_of(&starts[0]), sixth);
    h.stop().await;
    assert_eq!(starts_of(&h, workflow).await.len(), 1);
    assert_eq!(
        workflow_events(&h, workflow, "ScheduledRunsSkipped")
            .await
            .len(),
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn after_downtime_run_once_runs_the_latest_missed_slot_once(pool: PgPool) {
    let mut h = Harness::start(pool, 0, test_config()).await;
    let (workflow, slots) = after_five_missed_hours(&mut h, "run_once").await;
    let starts = until_started(&h, workflow, 1).await;
    assert_eq!(slot_of(&starts[0]), slots[4]);
    let skips = until_skipped(&h, workflow).await;
    assert_eq!(
        skips,
        vec![json!({"from": slots[0], "to": slots[3], "count": 4, "catch_up": "run_once"})]
    );
    triggers_caught_up(&h).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.stop().await;
    assert_eq!(
        starts_of(&h, workflow).await.len(),
        1,
        "exactly one catch-up run"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn unpublishing_stops_the_schedule_and_republishing_does_not_catch_up(pool: PgPool) {
    let mut h = Harness::start(pool.clone(), 0, test_config()).await;
    let workflow = h.workflow(scheduled("*/1 * * * * *", "run_once")).await;
    h.add_triggers(trigger_config());
    until_started(&h, workflow, 2).await;
    let unpublish = WorkflowCommand::Unpublish;
    h.commands
        .execute_workflow(&h.ctx, workflow, unpublish, None)
        .await
        .unwrap();
    triggers_caught_up(&h).await;
    let unpublished = recorded_at(&h, workflow, "WorkflowUnpublished").await;
    assert_eq!(schedule_row(&pool, workflow).await, None);
    let stopped_at = starts_of(&h, workflow).await.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        starts_of(&h, workflow).await.len(),
        stopped_at,
        "no run while unpublished"
    );

    let publish = WorkflowCommand::Publish { version: 1 };
    h.commands
        .execute_workflow(&h.ctx, workflow, publish, None)
        .await
        .unwrap();
    let republished = recorded_at(&h, workflow, "WorkflowPublished").await;
    let starts = until_started(&h, workflow, stopped_at + 1).await;
    assert!(slot_of(&starts[stopped_at]) > republished);
    h.stop().await;
    for skip in workflow_events(&h, workflow, "ScheduledRunsSkipped").await {
        assert!(
            time(&skip["to"]) < unpublished || time(&skip["from"]) > republished,
            "the unpublished time is not caught up: {skip}"
        );
    }
}
