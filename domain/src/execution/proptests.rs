//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::ids::ExecutionId;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn node() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned)
}

fn signal() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["s", "t"]).prop_map(str::to_owned)
}

fn output() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![json!(null), json!(1), json!({"k": "v"})])
}

fn trigger() -> impl Strategy<Value = ExecutionTrigger> {
    prop_oneof![
        Just(ExecutionTrigger::Manual),
        prop::option::of(strategies::text())
            .prop_map(|delivery_id| ExecutionTrigger::Webhook { delivery_id }),
        strategies::instant()
            .prop_map(|scheduled_for| ExecutionTrigger::Schedule { scheduled_for }),
        strategies::uuid().prop_map(|id| ExecutionTrigger::Event {
            source_execution_id: ExecutionId(id),
        }),
    ]
}

fn command() -> impl Strategy<Value = Command<ExecutionCommand>> {
    let body = prop_oneof![
        2 => (0..3u128, 0..3u32).prop_map(|(w, workflow_version)| ExecutionCommand::Start {
            workflow_id: WorkflowId(uuid::Uuid::from_u128(w)),
            workflow_version,
            input: json!({}),
            trigger: ExecutionTrigger::Manual,
            idempotency_key: None,
        }),
        20 => node().prop_map(|node_id| ExecutionCommand::ScheduleStep { node_id }),
        20 => node().prop_map(|node_id| ExecutionCommand::StartStepAttempt { node_id }),
        15 => (node(), output()).prop_map(|(node_id, output)| ExecutionCommand::CompleteStep { node_id, output }),
        12 => (node(), any::<bool>()).prop_map(|(node_id, retryable)| ExecutionCommand::FailStep {
            node_id,
            error: "e".into(),
            retryable,
        }),
        12 => (node(), strategies::instant()).prop_map(|(node_id, at)| ExecutionCommand::ScheduleRetry { node_id, at }),
        10 => (node(), signal()).prop_map(|(node_id, signal)| ExecutionCommand::WaitForSignal { node_id, signal }),
        10 => (signal(), output()).prop_map(|(signal, payload)| ExecutionCommand::ReceiveSignal { signal, payload }),
        1 => prop::option::of(strategies::text()).prop_map(|reason| ExecutionCommand::Cancel { reason }),
        1 => output().prop_map(|output| ExecutionCommand::Complete { output }),
        1 => Just(ExecutionCommand::Fail { error: "boom".into() }),
        1 => Just(ExecutionCommand::TimeOut),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..12u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = ExecutionEvent> {
    use strategies::{instant, json, text};
    prop_oneof![
        (
            strategies::uuid(),
            strategies::uuid(),
            any::<u32>(),
            json(),
            trigger(),
            prop::option::of(text())
        )
            .prop_map(
                |(tenant, workflow, workflow_version, input, trigger, idempotency_key)| {
                    ExecutionEvent::ExecutionStarted {
                        tenant_id: TenantId(tenant),
                        workflow_id: WorkflowId(workflow),
                        workflow_version,
                        input,
                        trigger,
                        idempotency_key,
                    }
                }
            ),
        text().prop_map(|node_id| ExecutionEvent::StepScheduled { node_id }),
        (text(), any::<u32>())
            .prop_map(|(node_id, attempt)| ExecutionEvent::StepAttemptStarted { node_id, attempt }),
        (text(), any::<u32>(), json()).prop_map(|(node_id, attempt, output)| {
            ExecutionEvent::StepCompleted {
                node_id,
                attempt,
                output,
            }
        }),
        (text(), any::<u32>(), text(), any::<bool>()).prop_map(
            |(node_id, attempt, error, retryable)| {
                ExecutionEvent::StepFailed {
                    node_id,
                    attempt,
                    error,
                    retryable,
                }
            }
        ),
        (text(), any::<u32>(), instant()).prop_map(|(node_id, attempt, at)| {
            ExecutionEvent::StepRetryScheduled {
                node_id,
                attempt,
                at,
            }
        }),
        (text(), text())
            .prop_map(|(node_id, signal)| ExecutionEvent::StepWaitingForSignal { node_id, signal }),
        (text(), text(), json()).prop_map(|(node_id, signal, payload)| {
            ExecutionEvent::SignalReceived {
                node_id,
                signal,
                payload,
            }
        }),
        prop::option::of(text()).prop_map(|reason| ExecutionEvent::ExecutionCancelled { reason }),
        json().prop_map(|output| ExecutionEvent::ExecutionCompleted { output }),
        text().prop_map(|error| ExecutionEvent::ExecutionFailed { error }),
        Just(ExecutionEvent::ExecutionTimedOut),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(commands in prop::collection::vec(command(), 1..60)) {
        let start = ExecutionCommand::Start {
            workflow_id: WorkflowId(uuid::Uuid::from_u128(0)),
            workflow_version: 1,
            input: json!({"x": 1}),
            trigger: ExecutionTrigger::Manual,
            idempotency_key: Some("key".into()),
        };
        let mut state = Execution::default();
        let mut events = Vec::new();
        for command in std::iter::once(Command::new(TenantId::DEFAULT, start)).chain(commands) {
            let before = state.clone();
            match run(&mut state, command) {
                Ok(written) => events.extend(written),
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
            // Attempt numbers only grow and start at 1.
            for step in state.steps().values() {
                prop_assert!(step.status() == StepStatus::Scheduled || step.attempts() >= 1);
            }
        }
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: Execution = replay(events);
        prop_assert_eq!(
            serde_json::to_value(&replayed).unwrap(),
            serde_json::to_value(&state).unwrap()
        );
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Execution>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<ExecutionEvent>(&json).unwrap(), event);
    }
}
