//! Given/when/then tests of the step lifecycle: schedule, attempts,
//! completion, failure, retries and signals.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::tests::{and, cmd, started, Given};
use super::*;
use crate::error::{DomainError, ErrorKind};

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

pub(super) fn failed(node: &str, attempt: u32, retryable: bool) -> ExecutionEvent {
    ExecutionEvent::StepFailed {
        node_id: node.into(),
        attempt,
        error: "503".into(),
        retryable,
    }
}

pub(super) fn waiting(node: &str, signal: &str) -> ExecutionEvent {
    ExecutionEvent::StepWaitingForSignal {
        node_id: node.into(),
        signal: signal.into(),
    }
}

pub(super) fn running(node: &str) -> Vec<ExecutionEvent> {
    and(started(), [scheduled(node), attempt(node, 1)])
}

pub(super) fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

pub(super) fn rejects(given: Vec<ExecutionEvent>, body: ExecutionCommand, message: &str) {
    let err = Given::with(())
        .given(given)
        .when(cmd(body))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.to_string(), message);
    assert_ne!(err.kind(), ErrorKind::NotFound);
}

pub(super) fn accepts(
    given: Vec<ExecutionEvent>,
    body: ExecutionCommand,
    events: Vec<ExecutionEvent>,
) {
    Given::with(())
        .given(given)
        .when(cmd(body))
        .then_expect_events(events);
}

pub(super) fn schedule(node: &str) -> ExecutionCommand {
    ExecutionCommand::ScheduleStep {
        node_id: node.into(),
    }
}

pub(super) fn start_attempt(node: &str) -> ExecutionCommand {
    ExecutionCommand::StartStepAttempt {
        node_id: node.into(),
    }
}

pub(super) fn complete(node: &str, output: serde_json::Value) -> ExecutionCommand {
    ExecutionCommand::CompleteStep {
        node_id: node.into(),
        output,
    }
}

pub(super) fn fail(node: &str, retryable: bool) -> ExecutionCommand {
    ExecutionCommand::FailStep {
        node_id: node.into(),
        error: "503".into(),
        retryable,
    }
}

#[test]
fn schedule_step_queues_a_new_step() {
    accepts(started(), schedule("a"), vec![scheduled("a")]);
    let state: Execution = crate::test_support::replay(and(started(), [scheduled("a")]));
    assert_eq!(
        state.step("a").map(StepState::status),
        Some(StepStatus::Scheduled)
    );
}

#[test]
fn schedule_step_refuses_known_steps_and_blank_ids() {
    let given = and(started(), [scheduled("a")]);
    rejects(
        given,
        schedule("a"),
        "step 'a' is already scheduled; it cannot be scheduled twice",
    );
    rejects(
        running("a"),
        schedule("a"),
        "step 'a' is already running; it cannot be scheduled twice",
    );
    let done = and(
        running("a"),
        [ExecutionEvent::StepCompleted {
            node_id: "a".into(),
            attempt: 1,
            output: json!(1),
        }],
    );
    rejects(
        done,
        schedule("a"),
        "step 'a' already completed; a completed step cannot be scheduled again",
    );
    rejects(
        and(running("a"), [failed("a", 1, true)]),
        schedule("a"),
        "step 'a' has failed; use ScheduleRetry to run it again",
    );
    let err = Given::with(())
        .given(started())
        .when(cmd(schedule(" ")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(err.to_string(), "node_id must not be empty");
}

#[test]
fn schedule_step_stops_at_the_step_limit() {
    let given = and(
        started(),
        (0..MAX_STEPS).map(|i| scheduled(&format!("n{i}"))),
    );
    rejects(
        given,
        schedule("one-more"),
        "execution already has 500 steps, the limit; no more steps can be scheduled",
    );
}

#[test]
fn start_step_attempt_numbers_attempts_from_one() {
    accepts(
        and(started(), [scheduled("a")]),
        start_attempt("a"),
        vec![attempt("a", 1)],
    );
    let retry = ExecutionEvent::StepRetryScheduled {
        node_id: "a".into(),
        attempt: 2,
        at: at(),
    };
    accepts(
        and(running("a"), [failed("a", 1, true), retry]),
        start_attempt("a"),
        vec![attempt("a", 2)],
    );
}

#[test]
fn start_step_attempt_requires_a_scheduled_step() {
    rejects(
        started(),
        start_attempt("a"),
        "step 'a' was not scheduled; schedule it first",
    );
    rejects(
        running("a"),
        start_attempt("a"),
        "step 'a' is running; only a scheduled step can start an attempt",
    );
}

#[test]
fn complete_step_records_the_attempt_and_output() {
    accepts(
        running("a"),
        complete("a", json!({"ok": true})),
        vec![ExecutionEvent::StepCompleted {
            node_id: "a".into(),
            attempt: 1,
            output: json!({"ok": true}),
        }],
    );
}

#[test]
fn complete_step_repeated_with_the_same_output_is_a_no_op() {
    let done = and(
        running("a"),
        [ExecutionEvent::StepCompleted {
            node_id: "a".into(),
            attempt: 1,
            output: json!({"x": [1, 2]}),
        }],
    );
    accepts(done.clone(), complete("a", json!({"x": [1, 2]})), vec![]);
    rejects(
        done,
        complete("a", json!({"x": [2, 1]})),
        "step 'a' already completed with a different output",
    );
}

#[test]
fn complete_step_requires_a_running_step() {
    rejects(
        started(),
        complete("a", json!(1)),
        "step 'a' was not started; start an attempt first",
    );
    rejects(
        and(started(), [scheduled("a")]),
        complete("a", json!(1)),
        "step 'a' was not started; start an attempt first",
    );
    rejects(
        and(running("a"), [waiting("a", "ok")]),
        complete("a", json!(1)),
        "step 'a' is waiting for signal 'ok'; deliver the signal first",
    );
    rejects(
        and(running("a"), [failed("a", 1, true)]),
        complete("a", json!(1)),
        "step 'a' failed on attempt 1; schedule a retry to run it again",
    );
    let retry = ExecutionEvent::StepRetryScheduled {
        node_id: "a".into(),
        attempt: 2,
        at: at(),
    };
    rejects(
        and(running("a"), [failed("a", 1, true), retry]),
        complete("a", json!(1)),
        "step 'a' is scheduled for a retry, not running; start an attempt first",
    );
}

#[test]
fn fail_step_records_the_attempt_and_retryability() {
    accepts(running("a"), fail("a", true), vec![failed("a", 1, true)]);
    // Failing a wait is how a signal timeout is recorded.
    accepts(
        and(running("a"), [waiting("a", "ok")]),
        fail("a", false),
        vec![failed("a", 1, false)],
    );
}

#[test]
fn fail_step_requires_a_running_step() {
    rejects(
        and(started(), [scheduled("a")]),
        fail("a", true),
        "step 'a' was not started; start an attempt first",
    );
    rejects(
        and(running("a"), [failed("a", 1, true)]),
        fail("a", true),
        "step 'a' failed on attempt 1; schedule a retry to run it again",
    );
    let done = and(
        running("a"),
        [ExecutionEvent::StepCompleted {
            node_id: "a".into(),
            attempt: 1,
            output: json!(1),
        }],
    );
    rejects(done, fail("a", true), "step 'a' already completed");
}

#[test]
fn schedule_retry_announces_the_next_attempt() {
    let body = ExecutionCommand::ScheduleRetry {
        node_id: "a".into(),
        at: at(),
    };
    accepts(
        and(running("a"), [failed("a", 1, true)]),
        body,
        vec![ExecutionEvent::StepRetryScheduled {
            node_id: "a".into(),
            attempt: 2,
            at: at(),
        }],
    );
}

#[test]
fn schedule_retry_requires_a_retryable_failure() {
    let body = || ExecutionCommand::ScheduleRetry {
        node_id: "a".into(),
        at: at(),
    };
    rejects(
        and(running("a"), [failed("a", 1, false)]),
        body(),
        "step 'a' failed with a non-retryable error; it cannot be retried",
    );
    rejects(
        running("a"),
        body(),
        "step 'a' is running; only a failed step can be retried",
    );
    rejects(
        started(),
        body(),
        "step 'a' was not scheduled; schedule it first",
    );
}
