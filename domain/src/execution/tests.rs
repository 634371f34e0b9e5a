//! Given/when/then tests of the execution's start and endings: envelope
//! checks, idempotent starts, terminal states.

use cqrs_es::test::TestFramework;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::OTHER_TENANT;

pub(super) type Given = TestFramework<Execution>;
pub(super) const T: TenantId = TenantId::DEFAULT;
pub(super) const W: WorkflowId = WorkflowId(Uuid::from_u128(7));
pub(super) const NOT_FOUND: &str = "execution not found; check the execution id";

pub(super) fn cmd(body: ExecutionCommand) -> Command<ExecutionCommand> {
    Command::new(T, body)
}

fn start(workflow_id: WorkflowId) -> ExecutionCommand {
    ExecutionCommand::Start {
        workflow_id,
        workflow_version: 2,
        input: json!({"order": 1}),
        trigger: ExecutionTrigger::Webhook {
            delivery_id: Some("d-1".into()),
        },
        idempotency_key: Some("order-1".into()),
    }
}

pub(super) fn started() -> Vec<ExecutionEvent> {
    vec![ExecutionEvent::ExecutionStarted {
        tenant_id: T,
        workflow_id: W,
        workflow_version: 2,
        input: json!({"order": 1}),
        trigger: ExecutionTrigger::Webhook {
            delivery_id: Some("d-1".into()),
        },
        idempotency_key: Some("order-1".into()),
    }]
}

pub(super) fn and(
    mut events: Vec<ExecutionEvent>,
    more: impl IntoIterator<Item = ExecutionEvent>,
) -> Vec<ExecutionEvent> {
    events.extend(more);
    events
}

fn ended(event: ExecutionEvent) -> Vec<ExecutionEvent> {
    and(started(), [event])
}

fn all_commands() -> Vec<ExecutionCommand> {
    vec![
        ExecutionCommand::ScheduleStep {
            node_id: "a".into(),
        },
        ExecutionCommand::StartStepAttempt {
            node_id: "a".into(),
        },
        ExecutionCommand::CompleteStep {
            node_id: "a".into(),
            output: json!(1),
        },
        ExecutionCommand::FailStep {
            node_id: "a".into(),
            error: "e".into(),
            retryable: true,
        },
        ExecutionCommand::ScheduleRetry {
            node_id: "a".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        },
        ExecutionCommand::WaitForSignal {
            node_id: "a".into(),
            signal: "s".into(),
        },
        ExecutionCommand::ReceiveSignal {
            signal: "s".into(),
            payload: json!(null),
        },
        ExecutionCommand::Cancel { reason: None },
        ExecutionCommand::Complete {
            output: json!({"done": true}),
        },
        ExecutionCommand::Fail {
            error: "boom".into(),
        },
        ExecutionCommand::TimeOut,
    ]
}

#[test]
fn start_records_everything_about_the_run() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(start(W)))
        .then_expect_events(started());
    let state: Execution = crate::test_support::replay(started());
    assert_eq!(state.status(), Some(ExecutionStatus::Running));
    assert_eq!(
        (state.workflow_id(), state.workflow_version()),
        (Some(W), 2)
    );
    assert_eq!(state.idempotency_key(), Some("order-1"));
    assert!(matches!(
        state.trigger(),
        Some(ExecutionTrigger::Webhook { .. })
    ));
}

#[test]
fn repeating_start_for_the_same_workflow_is_a_no_op_even_after_the_end() {
    Given::with(())
        .given(started())
        .when(cmd(start(W)))
        .then_expect_events(vec![]);
    Given::with(())
        .given(ended(ExecutionEvent::ExecutionTimedOut))
        .when(cmd(start(W)))
        .then_expect_events(vec![]);
}

#[test]
fn start_for_another_workflow_is_a_conflict() {
    let err = Given::with(())
        .given(started())
        .when(cmd(start(WorkflowId(Uuid::from_u128(8)))))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("execution already exists for workflow {W}; use another execution id or idempotency key")
    );
}

#[test]
fn start_validates_version_and_idempotency_key() {
    let mut zero = start(W);
    if let ExecutionCommand::Start {
        workflow_version, ..
    } = &mut zero
    {
        *workflow_version = 0;
    }
    Given::with(())
        .given_no_previous_events()
        .when(cmd(zero))
        .then_expect_error_message(
            "workflow_version must be 1 or more; versions are numbered from 1",
        );
    for key in [" ".to_owned(), "k".repeat(201)] {
        let mut body = start(W);
        if let ExecutionCommand::Start {
            idempotency_key, ..
        } = &mut body
        {
            *idempotency_key = Some(key);
        }
        let err = Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(
            err.to_string()
                .starts_with("idempotency_key must be 1 to 200 characters"),
            "{err}"
        );
    }
}

#[test]
fn start_over_another_tenants_execution_looks_missing() {
    Given::with(())
        .given(started())
        .when(Command::new(OTHER_TENANT, start(W)))
        .then_expect_error_message(NOT_FOUND);
}

#[test]
fn every_other_command_on_a_missing_or_foreign_execution_is_not_found() {
    for body in all_commands() {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body.clone()))
            .then_expect_error_message(NOT_FOUND);
        Given::with(())
            .given(started())
            .when(Command::new(OTHER_TENANT, body))
            .then_expect_error_message(NOT_FOUND);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(started())
        .when(cmd(ExecutionCommand::TimeOut).expecting(Some(3)))
        .then_expect_error_message(
            "expected version 3 but the execution is at version 1; reload it and retry",
        );
    Given::with(())
        .given(started())
        .when(cmd(ExecutionCommand::TimeOut).expecting(Some(1)))
        .then_expect_events(vec![ExecutionEvent::ExecutionTimedOut]);
}

#[test]
fn each_ending_is_recorded() {
    let cases = [
        (
            ExecutionCommand::Cancel {
                reason: Some("user".into()),
            },
            ExecutionEvent::ExecutionCancelled {
                reason: Some("user".into()),
            },
        ),
        (
            ExecutionCommand::Complete { output: json!([1]) },
            ExecutionEvent::ExecutionCompleted { output: json!([1]) },
        ),
        (
            ExecutionCommand::Fail {
                error: "boom".into(),
            },
            ExecutionEvent::ExecutionFailed {
                error: "boom".into(),
            },
        ),
        (ExecutionCommand::TimeOut, ExecutionEvent::ExecutionTimedOut),
    ];
    for (body, event) in cases {
        Given::with(())
            .given(started())
            .when(cmd(body))
            .then_expect_events(vec![event]);
    }
}

#[test]
fn complete_is_refused_while_a_step_is_active_and_allowed_after_failures() {
    let scheduled = and(
        started(),
        [ExecutionEvent::StepScheduled {
            node_id: "send".into(),
        }],
    );
    Given::with(())
        .given(scheduled.clone())
        .when(cmd(ExecutionCommand::Complete {
            output: json!(null),
        }))
        .then_expect_error_message(
            "step 'send' is still scheduled; complete or fail it before completing the execution",
        );
    let running = and(
        scheduled.clone(),
        [ExecutionEvent::StepAttemptStarted {
            node_id: "send".into(),
            attempt: 1,
        }],
    );
    Given::with(())
        .given(running.clone())
        .when(cmd(ExecutionCommand::Complete {
            output: json!(null),
        }))
        .then_expect_error_message(
            "step 'send' is still running; complete or fail it before completing the execution",
        );
    let failed = and(
        running,
        [ExecutionEvent::StepFailed {
            node_id: "send".into(),
            attempt: 1,
            error: "e".into(),
            retryable: false,
        }],
    );
    Given::with(())
        .given(failed)
        .when(cmd(ExecutionCommand::Complete {
            output: json!(null),
        }))
        .then_expect_events(vec![ExecutionEvent::ExecutionCompleted {
            output: json!(null),
        }]);
}

#[test]
fn a_repeat_of_the_ending_command_is_a_no_op() {
    let cases = [
        (
            ExecutionEvent::ExecutionCancelled { reason: None },
            ExecutionCommand::Cancel {
                reason: Some("again".into()),
            },
        ),
        (
            ExecutionEvent::ExecutionCompleted {
                output: json!({"a": 1, "b": 2}),
            },
            ExecutionCommand::Complete {
                output: json!({"b": 2, "a": 1}),
            },
        ),
        (
            ExecutionEvent::ExecutionFailed {
                error: "boom".into(),
            },
            ExecutionCommand::Fail {
                error: "boom".into(),
            },
        ),
        (ExecutionEvent::ExecutionTimedOut, ExecutionCommand::TimeOut),
    ];
    for (event, body) in cases {
        Given::with(())
            .given(ended(event))
            .when(cmd(body))
            .then_expect_events(vec![]);
    }
}

#[test]
fn a_finished_execution_rejects_everything_else() {
    let endings = [
        (
            ExecutionEvent::ExecutionCancelled { reason: None },
            "cancelled",
            7,
        ),
        (
            ExecutionEvent::ExecutionCompleted {
                output: json!({"done": true}),
            },
            "completed",
            8,
        ),
        (
            ExecutionEvent::ExecutionFailed { error: "x".into() },
            "failed",
            9,
        ),
        (ExecutionEvent::ExecutionTimedOut, "timed out", 10),
    ];
    for (event, word, repeat_index) in endings {
        for (index, body) in all_commands().into_iter().enumerate() {
            let result = Given::with(())
                .given(ended(event.clone()))
                .when(cmd(body))
                .inspect_result();
            if index == repeat_index {
                assert_eq!(result, Ok(vec![]));
                continue;
            }
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidState);
            assert_eq!(
                err.to_string(),
                format!("execution is already {word}; it accepts no further commands")
            );
        }
    }
    Given::with(())
        .given(ended(ExecutionEvent::ExecutionCompleted {
            output: json!(1),
        }))
        .when(cmd(ExecutionCommand::Complete { output: json!(2) }))
        .then_expect_error_message(
            "execution is already completed; it accepts no further commands",
        );
}

#[test]
fn events_have_stable_names_and_versions() {
    use cqrs_es::DomainEvent;
    let event = &started()[0];
    assert_eq!(event.event_type(), "ExecutionStarted");
    assert_eq!(event.event_version(), "1");
    let payload = serde_json::to_value(event).unwrap();
    assert_eq!(payload["ExecutionStarted"]["trigger"]["type"], "webhook");
    assert_eq!(
        ExecutionEvent::ExecutionTimedOut.event_type(),
        "ExecutionTimedOut"
    );
}
