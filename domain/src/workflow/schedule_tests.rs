//! Tests of schedule triggers: the `catch_up` policy in definitions (old
//! events still load), [`Schedule::plan`] on time and after downtime, in a
//! time zone across a DST change, and the `RecordSkippedRuns` command
//! given/when/then.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::tests::{archived, cmd, created, published, with, Given, ARCHIVED};
use super::*;
use crate::error::{DomainError, ErrorKind};

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap()
}

fn schedule_trigger(extra: Value) -> Value {
    let mut trigger = json!({"type": "schedule", "cron": "0 * * * *", "timezone": "UTC"});
    trigger
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({
        "nodes": [{"id": "a", "type": "transform", "config": {"expression": "1"}}],
        "trigger": trigger
    })
}

fn catch_up_of(raw: Value) -> Result<CatchUp, String> {
    match WorkflowDefinition::parse(&raw)
        .map_err(|err| err.to_string())?
        .trigger
    {
        Trigger::Schedule { catch_up, .. } => Ok(catch_up),
        other => panic!("not a schedule: {other:?}"),
    }
}

#[test]
fn catch_up_defaults_to_skip_and_parses_both_policies() {
    assert_eq!(catch_up_of(schedule_trigger(json!({}))), Ok(CatchUp::Skip));
    let skip = schedule_trigger(json!({"catch_up": "skip"}));
    assert_eq!(catch_up_of(skip), Ok(CatchUp::Skip));
    let run_once = schedule_trigger(json!({"catch_up": "run_once"}));
    let definition = WorkflowDefinition::parse(&run_once).unwrap();
    assert_eq!(catch_up_of(run_once), Ok(CatchUp::RunOnce));
    // The JSON form names the policy and reads back the same.
    assert_eq!(
        definition.to_json()["trigger"]["catch_up"],
        json!("run_once")
    );
    assert_eq!(
        WorkflowDefinition::parse(&definition.to_json()).unwrap(),
        definition
    );
}

#[test]
fn an_unknown_or_mistyped_catch_up_is_rejected_by_name() {
    assert_eq!(
        catch_up_of(schedule_trigger(json!({"catch_up": "run_all"}))),
        Err(
            "trigger.catch_up 'run_all' is not a catch-up policy (expected one of skip, run_once)"
                .into()
        )
    );
    assert_eq!(
        catch_up_of(schedule_trigger(json!({"catch_up": 1}))),
        Err("trigger.catch_up must be a string (found a number)".into())
    );
}

#[test]
fn a_schedule_recorded_before_catch_up_existed_loads_as_skip() {
    let old = json!({"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris"});
    assert_eq!(
        serde_json::from_value::<Trigger>(old).unwrap(),
        Trigger::Schedule {
            cron: "0 9 * * *".into(),
            timezone: "Europe/Paris".into(),
            catch_up: CatchUp::Skip,
        }
    );
}

fn hourly() -> Schedule {
    Schedule::parse("0 * * * *", "UTC").unwrap()
}

const GRACE: i64 = 60;

fn plan(schedule: &Schedule, covered: DateTime<Utc>, now: DateTime<Utc>, policy: CatchUp) -> Ticks {
    schedule.plan(covered, now, policy, Duration::seconds(GRACE), 10_000)
}

fn skipped(from: DateTime<Utc>, to: DateTime<Utc>, count: u64) -> Option<SkippedRuns> {
    Some(SkippedRuns { from, to, count })
}

#[test]
fn on_time_the_due_slot_fires_under_either_policy() {
    for policy in [CatchUp::Skip, CatchUp::RunOnce] {
        let ticks = plan(&hourly(), at(10, 0, 0), at(11, 0, 0), policy);
        assert_eq!(
            ticks,
            Ticks {
                fire: Some(at(11, 0, 0)),
                skipped: None,
                covered_through: at(11, 0, 0),
                next: Some(at(12, 0, 0)),
            }
        );
    }
}

#[test]
fn before_the_next_slot_nothing_happens() {
    let ticks = plan(&hourly(), at(10, 0, 0), at(10, 59, 59), CatchUp::RunOnce);
    assert_eq!(
        ticks,
        Ticks {
            fire: None,
            skipped: None,
            covered_through: at(10, 0, 0),
            next: Some(at(11, 0, 0)),
        }
    );
}

#[test]
fn after_downtime_skip_runs_nothing_and_run_once_runs_the_latest_slot() {
    let (covered, now) = (at(10, 0, 0), at(14, 30, 0));
    let skip = plan(&hourly(), covered, now, CatchUp::Skip);
    assert_eq!(skip.fire, None);
    assert_eq!(skip.skipped, skipped(at(11, 0, 0), at(14, 0, 0), 4));
    assert_eq!(skip.covered_through, at(14, 0, 0));
    assert_eq!(skip.next, Some(at(15, 0, 0)));
    let once = plan(&hourly(), covered, now, CatchUp::RunOnce);
    assert_eq!(once.fire, Some(at(14, 0, 0)));
    assert_eq!(once.skipped, skipped(at(11, 0, 0), at(13, 0, 0), 3));
    assert_eq!(once.covered_through, at(14, 0, 0));
    assert_eq!(once.next, Some(at(15, 0, 0)));
}

#[test]
fn a_latest_slot_within_the_grace_period_is_on_time_even_after_downtime() {
    let now = at(14, 0, 0) + Duration::seconds(GRACE);
    for policy in [CatchUp::Skip, CatchUp::RunOnce] {
        let ticks = plan(&hourly(), at(10, 0, 0), now, policy);
        assert_eq!(ticks.fire, Some(at(14, 0, 0)), "{policy}");
        assert_eq!(ticks.skipped, skipped(at(11, 0, 0), at(13, 0, 0), 3));
    }
    let late = plan(
        &hourly(),
        at(13, 0, 0),
        now + Duration::seconds(1),
        CatchUp::Skip,
    );
    assert_eq!(
        late.fire, None,
        "one second past the grace period is missed"
    );
    assert_eq!(late.skipped, skipped(at(14, 0, 0), at(14, 0, 0), 1));
}

#[test]
fn a_long_backlog_is_skipped_a_limited_number_of_slots_at_a_time() {
    let every_minute = Schedule::parse("* * * * *", "UTC").unwrap();
    let now = at(10, 10, 0);
    let grace = Duration::seconds(GRACE);
    let first = every_minute.plan(at(10, 0, 0), now, CatchUp::RunOnce, grace, 4);
    assert_eq!(first.fire, None, "more slots follow: these are all missed");
    assert_eq!(first.skipped, skipped(at(10, 1, 0), at(10, 4, 0), 4));
    assert_eq!(first.next, Some(at(10, 5, 0)), "already due: plan again");
    let second = every_minute.plan(first.covered_through, now, CatchUp::RunOnce, grace, 4);
    assert_eq!(second.skipped, skipped(at(10, 5, 0), at(10, 8, 0), 4));
    let last = every_minute.plan(second.covered_through, now, CatchUp::RunOnce, grace, 4);
    assert_eq!(last.fire, Some(at(10, 10, 0)));
    assert_eq!(last.skipped, skipped(at(10, 9, 0), at(10, 9, 0), 1));
    assert_eq!(last.next, Some(at(10, 11, 0)));
}

#[test]
fn slots_follow_the_time_zone_across_a_dst_change() {
    // 09:00 in Paris: 08:00 UTC before the change of 30 March 2025, 07:00 after.
    let paris = Schedule::parse("0 9 * * *", "Europe/Paris").unwrap();
    let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2025, 3, d, h, 0, 0).unwrap();
    let now = day(31, 7) + Duration::seconds(10);
    let ticks = paris.plan(
        day(29, 8),
        now,
        CatchUp::Skip,
        Duration::seconds(GRACE),
        100,
    );
    assert_eq!(ticks.fire, Some(day(31, 7)));
    assert_eq!(ticks.skipped, skipped(day(30, 7), day(30, 7), 1));
    assert_eq!(ticks.next, Some(day(1, 7) + Duration::days(31)));
}

fn record(from: DateTime<Utc>, to: DateTime<Utc>, count: u64) -> WorkflowCommand {
    WorkflowCommand::RecordSkippedRuns {
        from,
        to,
        count,
        catch_up: CatchUp::RunOnce,
    }
}

fn recorded(from: DateTime<Utc>, to: DateTime<Utc>, count: u64) -> WorkflowEvent {
    WorkflowEvent::ScheduledRunsSkipped {
        from,
        to,
        count,
        catch_up: CatchUp::RunOnce,
    }
}

#[test]
fn skipped_runs_of_a_published_workflow_are_recorded_once() {
    Given::with(())
        .given(with(created(), [published(1)]))
        .when(cmd(record(at(11, 0, 0), at(13, 0, 0), 3)))
        .then_expect_events(vec![recorded(at(11, 0, 0), at(13, 0, 0), 3)]);
    let after_record = with(
        created(),
        [published(1), recorded(at(11, 0, 0), at(13, 0, 0), 3)],
    );
    // A scheduler taking over after a crash reports the same range again.
    Given::with(())
        .given(after_record.clone())
        .when(cmd(record(at(11, 0, 0), at(13, 0, 0), 3)))
        .then_expect_events(vec![]);
    Given::with(())
        .given(after_record.clone())
        .when(cmd(record(at(12, 0, 0), at(13, 0, 0), 2)))
        .then_expect_events(vec![]);
    Given::with(())
        .given(after_record.clone())
        .when(cmd(record(at(15, 0, 0), at(15, 0, 0), 1)))
        .then_expect_events(vec![recorded(at(15, 0, 0), at(15, 0, 0), 1)]);
    // A range reaching past the recorded one but starting inside it would
    // count slots twice: the scheduler plans again from the record.
    let err = Given::with(())
        .given(after_record)
        .when(cmd(record(at(13, 0, 0), at(14, 0, 0), 2)))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "skipped runs from 2026-03-02 13:00:00 UTC overlap the runs already recorded as skipped through 2026-03-02 13:00:00 UTC; report only the slots after it"
    );
}

#[test]
fn skipped_runs_are_rejected_when_unpublished_archived_or_inconsistent() {
    Given::with(())
        .given(created())
        .when(cmd(record(at(11, 0, 0), at(11, 0, 0), 1)))
        .then_expect_error_message(
            "workflow is not published, so its schedule does not run; publish a version first",
        );
    Given::with(())
        .given(archived())
        .when(cmd(record(at(11, 0, 0), at(11, 0, 0), 1)))
        .then_expect_error_message(ARCHIVED);
    for (from, to, count) in [
        (at(11, 0, 0), at(11, 0, 0), 0),
        (at(11, 0, 0), at(12, 0, 0), 1),
        (at(12, 0, 0), at(11, 0, 0), 2),
        (at(11, 0, 0), at(11, 0, 0), 2),
    ] {
        Given::with(())
            .given(with(created(), [published(1)]))
            .when(cmd(record(from, to, count)))
            .then_expect_error_message(&format!(
                "skipped runs from {from} to {to} cannot number {count}; one slot has from = to, more have from < to"
            ));
    }
}

#[test]
fn the_state_remembers_the_last_skipped_slot() {
    let mut workflow = Workflow::default();
    for event in with(
        created(),
        [published(1), recorded(at(11, 0, 0), at(13, 0, 0), 3)],
    ) {
        cqrs_es::Aggregate::apply(&mut workflow, event);
    }
    assert_eq!(workflow.skipped_through(), Some(at(13, 0, 0)));
}
