//! The planner as a pure function: given a definition and an execution's
//! events, the next actions.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::{plan, Action, ExecutionEvent, ExecutionTrigger, RetryDecision, RetryPolicy, Run};
use crate::ids::{TenantId, WorkflowId};
use crate::workflow::WorkflowDefinition;

pub(super) fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

pub(super) fn definition(nodes: Value, edges: Value) -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({"nodes": nodes, "edges": edges})).unwrap()
}

pub(super) fn transform(id: &str) -> Value {
    json!({"id": id, "type": "transform", "config": {"expression": "."}})
}

pub(super) fn started() -> ExecutionEvent {
    ExecutionEvent::ExecutionStarted {
        tenant_id: TenantId::DEFAULT,
        workflow_id: WorkflowId::new_v7(),
        workflow_version: 1,
        input: json!({"n": 1}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: None,
    }
}

pub(super) fn scheduled(node: &str) -> ExecutionEvent {
    ExecutionEvent::StepScheduled {
        node_id: node.into(),
    }
}

pub(super) fn attempt(node: &str, attempt: u32) -> ExecutionEvent {
    ExecutionEvent::StepAttemptStarted {
        node_id: node.into(),
        attempt,
    }
}

fn completed(node: &str, output: Value) -> ExecutionEvent {
    ExecutionEvent::StepCompleted {
        node_id: node.into(),
        attempt: 1,
        output,
    }
}

fn failed(node: &str, attempt: u32, retryable: bool) -> ExecutionEvent {
    ExecutionEvent::StepFailed {
        node_id: node.into(),
        attempt,
        error: "boom".into(),
        retryable,
    }
}

/// Folds `events`, each recorded one second after the previous.
pub(super) fn run(events: &[ExecutionEvent]) -> Run {
    Run::from_events(events.iter().zip(0..).map(|(e, i)| (e, t(i))))
}

fn done(node: &str, output: Value) -> Vec<ExecutionEvent> {
    vec![scheduled(node), attempt(node, 1), completed(node, output)]
}

pub(super) fn actions(
    def: &WorkflowDefinition,
    events: &[ExecutionEvent],
    now: i64,
) -> Vec<Action> {
    plan(def, &run(events), t(now)).actions
}

pub(super) fn schedule(node: &str) -> Action {
    Action::Schedule {
        node_id: node.into(),
    }
}

#[test]
fn a_started_run_schedules_its_entry_node_then_follows_edges() {
    let def = definition(
        json!([transform("a"), transform("b")]),
        json!([{"from": "a", "to": "b"}]),
    );
    assert_eq!(actions(&def, &[started()], 1), vec![schedule("a")]);
    let events = [vec![started()], done("a", json!(1))].concat();
    assert_eq!(actions(&def, &events, 9), vec![schedule("b")]);
    let events = [events, vec![scheduled("b")]].concat();
    assert_eq!(
        actions(&def, &events, 9),
        vec![Action::Run {
            node_id: "b".into()
        }]
    );
}

#[test]
fn the_run_completes_with_the_output_of_its_end_node() {
    let def = definition(
        json!([transform("a"), transform("b")]),
        json!([{"from": "a", "to": "b"}]),
    );
    let events = [
        vec![started()],
        done("a", json!(1)),
        done("b", json!({"x": 2})),
    ]
    .concat();
    assert_eq!(
        actions(&def, &events, 9),
        vec![Action::Complete {
            output: json!({"x": 2})
        }]
    );
}

#[test]
fn only_the_taken_branch_runs_and_the_other_is_skipped() {
    let def = definition(
        json!([
            {"id": "check", "type": "condition", "config": {"expression": ".input.n > 0"}},
            transform("yes"),
            transform("no"),
            transform("after_no"),
        ]),
        json!([
            {"from": "check", "to": "yes", "when": "true"},
            {"from": "check", "to": "no", "when": "false"},
            {"from": "no", "to": "after_no"},
        ]),
    );
    let events = [vec![started()], done("check", json!({"branch": "true"}))].concat();
    assert_eq!(actions(&def, &events, 9), vec![schedule("yes")]);
    let events = [events, done("yes", json!("y"))].concat();
    assert_eq!(
        actions(&def, &events, 9),
        vec![Action::Complete { output: json!("y") }],
        "'no' and 'after_no' are skipped, so the run completes"
    );
}

#[test]
fn a_join_waits_for_every_input_and_runs_when_one_branch_was_taken() {
    let def = definition(
        json!([
            {"id": "check", "type": "condition", "config": {"expression": "true"}},
            transform("left"),
            transform("right"),
            transform("join"),
        ]),
        json!([
            {"from": "check", "to": "left", "when": "true"},
            {"from": "check", "to": "right"},
            {"from": "left", "to": "join"},
            {"from": "right", "to": "join"},
        ]),
    );
    let events = [vec![started()], done("check", json!({"branch": "true"}))].concat();
    assert_eq!(
        actions(&def, &events, 9),
        vec![schedule("left"), schedule("right")]
    );
    let events = [events, done("left", json!(1))].concat();
    assert_eq!(actions(&def, &events, 9), vec![schedule("right")]);
    let events = [events, done("right", json!(2))].concat();
    assert_eq!(actions(&def, &events, 9), vec![schedule("join")]);
}

#[test]
fn a_retryable_failure_is_retried_with_backoff_until_attempts_run_out() {
    let def = definition(json!([transform("a")]), json!([]));
    let mut events = vec![
        started(),
        scheduled("a"),
        attempt("a", 1),
        failed("a", 1, true),
    ];
    // failed at t(3); the first backoff is one second.
    assert_eq!(
        actions(&def, &events, 3),
        vec![Action::Retry {
            node_id: "a".into(),
            at: t(4)
        }]
    );
    for n in 2..=5 {
        events.push(ExecutionEvent::StepRetryScheduled {
            node_id: "a".into(),
            attempt: n,
            at: t(100 * i64::from(n)),
        });
        let p = plan(&def, &run(&events), t(100 * i64::from(n) - 1));
        assert_eq!(p.actions, vec![], "not due yet");
        assert_eq!(p.wake_at, Some(t(100 * i64::from(n))));
        assert_eq!(
            actions(&def, &events, 100 * i64::from(n)),
            vec![Action::Run {
                node_id: "a".into()
            }]
        );
        events.push(attempt("a", n));
        events.push(failed("a", n, true));
    }
    assert_eq!(
        actions(&def, &events, 1_000),
        vec![Action::Fail {
            error: "step 'a' failed on attempt 5: boom".into()
        }]
    );
}

#[test]
fn a_non_retryable_failure_fails_the_run_at_once() {
    let def = definition(json!([transform("a")]), json!([]));
    let events = [
        started(),
        scheduled("a"),
        attempt("a", 1),
        failed("a", 1, false),
    ];
    assert_eq!(
        actions(&def, &events, 9),
        vec![Action::Fail {
            error: "step 'a' failed on attempt 1: boom".into()
        }]
    );
}

#[test]
fn a_running_step_nobody_runs_is_recovered_as_a_new_attempt() {
    let def = definition(
        json!([{"id": "call", "type": "http", "config": {"url": "https://example.com"}}]),
        json!([]),
    );
    let events = [started(), scheduled("call"), attempt("call", 1)];
    assert_eq!(
        actions(&def, &events, 9),
        vec![Action::Recover {
            node_id: "call".into(),
            attempt: 1
        }]
    );
}

#[test]
fn a_delay_is_a_durable_timer_from_its_attempt_start() {
    let def = definition(
        json!([{"id": "wait", "type": "delay", "config": {"duration": "30s"}}]),
        json!([]),
    );
    // The attempt started at t(2).
    let events = [started(), scheduled("wait"), attempt("wait", 1)];
    let early = plan(&def, &run(&events), t(10));
    assert_eq!(early.actions, vec![]);
    assert_eq!(early.wake_at, Some(t(32)));
    assert_eq!(
        actions(&def, &events, 32),
        vec![Action::FinishDelay {
            node_id: "wait".into()
        }]
    );
}

#[test]
fn a_signal_completes_its_step_and_a_wait_times_out() {
    let def = definition(
        json!([{"id": "approve", "type": "wait_for_signal",
                "config": {"signal": "approval", "timeout": "1h"}}]),
        json!([]),
    );
    let waiting = vec![
        started(),
        scheduled("approve"),
        attempt("approve", 1),
        ExecutionEvent::StepWaitingForSignal {
            node_id: "approve".into(),
            signal: "approval".into(),
        },
    ];
    let p = plan(&def, &run(&waiting), t(60));
    assert_eq!((p.actions.clone(), p.wake_at), (vec![], Some(t(3 + 3600))));
    assert_eq!(
        actions(&def, &waiting, 3 + 3600),
        vec![Action::SignalTimedOut {
            node_id: "approve".into(),
            signal: "approval".into()
        }]
    );
    let received = [
        waiting,
        vec![ExecutionEvent::SignalReceived {
            node_id: "approve".into(),
            signal: "approval".into(),
            payload: json!({"ok": true}),
        }],
    ]
    .concat();
    assert_eq!(
        actions(&def, &received, 60),
        vec![Action::FinishSignal {
            node_id: "approve".into(),
            payload: json!({"ok": true})
        }]
    );
}

#[test]
fn a_finished_run_needs_nothing() {
    let def = definition(json!([transform("a")]), json!([]));
    let events = [
        started(),
        ExecutionEvent::ExecutionCancelled { reason: None },
    ];
    assert_eq!(plan(&def, &run(&events), t(9)), Default::default());
}

#[test]
fn backoff_is_1_2_4_8_16_seconds_and_retry_after_wins_when_longer() {
    let policy = RetryPolicy::default();
    let waits: Vec<u64> = (1..=5).map(|n| policy.backoff(n).as_secs()).collect();
    assert_eq!(waits, vec![1, 2, 4, 8, 16]);
    let at = |attempt, after: Option<u64>, jitter| {
        policy.after_failure(
            attempt,
            true,
            t(0),
            after.map(std::time::Duration::from_secs),
            jitter,
        )
    };
    assert_eq!(at(3, None, 0.0), RetryDecision::RetryAt(t(4)));
    assert_eq!(
        at(3, None, 0.5),
        RetryDecision::RetryAt(t(4) + Duration::milliseconds(400)),
        "jitter adds up to a fifth"
    );
    assert_eq!(at(1, Some(30), 0.0), RetryDecision::RetryAt(t(30)));
    assert!(matches!(at(5, None, 0.0), RetryDecision::GiveUp { .. }));
    assert!(matches!(
        policy.after_failure(1, false, t(0), None, 0.0),
        RetryDecision::GiveUp { .. }
    ));
}

#[test]
fn a_batch_records_a_steps_outcome_and_what_follows_in_one_write() {
    use super::step_tests::{accepts, rejects, running, schedule, start_attempt};
    use super::ExecutionCommand;
    let complete = ExecutionCommand::CompleteStep {
        node_id: "a".into(),
        output: json!(1),
    };
    accepts(
        running("a"),
        ExecutionCommand::Batch {
            commands: vec![complete.clone(), schedule("b"), start_attempt("b")],
        },
        vec![completed("a", json!(1)), scheduled("b"), attempt("b", 1)],
    );
    // The second command is refused, so the first is not recorded either.
    rejects(
        running("a"),
        ExecutionCommand::Batch {
            commands: vec![complete, start_attempt("zzz")],
        },
        "step 'zzz' was not scheduled; schedule it first",
    );
    rejects(
        running("a"),
        ExecutionCommand::Batch {
            commands: vec![ExecutionCommand::Batch { commands: vec![] }],
        },
        "commands must not start an execution or contain another batch",
    );
}
