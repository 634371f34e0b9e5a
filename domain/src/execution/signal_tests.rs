//! Given/when/then tests of signals: a running step waits for a named
//! signal, and delivering it resumes the step.

use serde_json::json;

use super::step_tests::{accepts, attempt, complete, rejects, running, scheduled, waiting};
use super::tests::{and, cmd, started, Given};
use super::*;
use crate::error::{DomainError, ErrorKind};

#[test]
fn wait_for_signal_pauses_a_running_step() {
    let body = ExecutionCommand::WaitForSignal {
        node_id: "a".into(),
        signal: "approved".into(),
    };
    accepts(running("a"), body, vec![waiting("a", "approved")]);
    let state: Execution =
        crate::test_support::replay(and(running("a"), [waiting("a", "approved")]));
    assert_eq!(
        state.step("a").and_then(StepState::waiting_for),
        Some("approved")
    );
}

#[test]
fn wait_for_signal_requires_a_running_step_and_a_free_signal() {
    let wait = |node: &str, signal: &str| ExecutionCommand::WaitForSignal {
        node_id: node.into(),
        signal: signal.into(),
    };
    rejects(
        and(started(), [scheduled("a")]),
        wait("a", "s"),
        "step 'a' was not started; start an attempt first",
    );
    rejects(
        and(running("a"), [waiting("a", "s")]),
        wait("a", "t"),
        "step 'a' is waiting for signal 's'; deliver the signal first",
    );
    let two = and(
        running("a"),
        [waiting("a", "s"), scheduled("b"), attempt("b", 1)],
    );
    rejects(
        two,
        wait("b", "s"),
        "step 'a' is already waiting for signal 's'; use a distinct signal name per step",
    );
    let err = Given::with(())
        .given(running("a"))
        .when(cmd(wait("a", "")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        (ErrorKind::Validation, "signal must not be empty")
    );
}

#[test]
fn receive_signal_resumes_the_waiting_step() {
    let body = ExecutionCommand::ReceiveSignal {
        signal: "approved".into(),
        payload: json!({"by": "ann"}),
    };
    let given = and(running("a"), [waiting("a", "approved")]);
    let received = ExecutionEvent::SignalReceived {
        node_id: "a".into(),
        signal: "approved".into(),
        payload: json!({"by": "ann"}),
    };
    accepts(given.clone(), body, vec![received.clone()]);
    // The step runs again; the engine then completes it like any other.
    let resumed = and(given, [received]);
    let state: Execution = crate::test_support::replay(resumed.clone());
    assert_eq!(
        state.step("a").map(StepState::status),
        Some(StepStatus::Running)
    );
    assert_eq!(state.step("a").and_then(StepState::waiting_for), None);
    accepts(
        resumed,
        complete("a", json!({"by": "ann"})),
        vec![ExecutionEvent::StepCompleted {
            node_id: "a".into(),
            attempt: 1,
            output: json!({"by": "ann"}),
        }],
    );
}

#[test]
fn receive_signal_requires_a_waiting_step() {
    let body = || ExecutionCommand::ReceiveSignal {
        signal: "approved".into(),
        payload: json!(null),
    };
    rejects(
        running("a"),
        body(),
        "no step is waiting for signal 'approved'; check the signal name",
    );
    let received = ExecutionEvent::SignalReceived {
        node_id: "a".into(),
        signal: "approved".into(),
        payload: json!(null),
    };
    let err = Given::with(())
        .given(and(running("a"), [waiting("a", "approved"), received]))
        .when(cmd(body()))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
}
