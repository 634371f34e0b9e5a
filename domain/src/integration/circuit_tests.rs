//! Given/when/then tests of `RecordCircuitTransition`: the breaker's
//! edges are recorded, repeats and late reports are no-ops, impossible
//! edges are refused, and the aggregate folds the circuit.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::{replay, OTHER_TENANT};

type Given = TestFramework<Integration>;
const T: TenantId = TenantId::DEFAULT;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn record(transition: Transition) -> Command<IntegrationCommand> {
    Command::new(
        T,
        IntegrationCommand::RecordCircuitTransition { transition },
    )
}

fn open(seconds: i64) -> Transition {
    Transition::Opened {
        at: at(seconds),
        failures: 5,
    }
}

fn half_open(seconds: i64) -> Transition {
    Transition::HalfOpened { at: at(seconds) }
}

fn close(seconds: i64) -> Transition {
    Transition::Closed { at: at(seconds) }
}

fn registered() -> IntegrationEvent {
    IntegrationEvent::IntegrationRegistered {
        tenant_id: T,
        name: "Billing API".into(),
        kind: "http_api".into(),
        config: json!({"base_url": "https://billing.example.com"}),
        credentials: None,
    }
}

fn opened_event(seconds: i64) -> IntegrationEvent {
    IntegrationEvent::CircuitOpened {
        at: at(seconds),
        failures: 5,
    }
}

fn given(more: Vec<IntegrationEvent>) -> Vec<IntegrationEvent> {
    std::iter::once(registered()).chain(more).collect()
}

#[test]
fn a_closed_circuit_opens() {
    Given::with(())
        .given(given(vec![]))
        .when(record(open(0)))
        .then_expect_events(vec![opened_event(0)]);
}

#[test]
fn an_open_circuit_half_opens_and_a_half_open_one_closes_or_opens_again() {
    Given::with(())
        .given(given(vec![opened_event(0)]))
        .when(record(half_open(60)))
        .then_expect_events(vec![IntegrationEvent::CircuitHalfOpened { at: at(60) }]);
    let half_opened = || {
        given(vec![
            opened_event(0),
            IntegrationEvent::CircuitHalfOpened { at: at(60) },
        ])
    };
    Given::with(())
        .given(half_opened())
        .when(record(close(70)))
        .then_expect_events(vec![IntegrationEvent::CircuitClosed { at: at(70) }]);
    Given::with(())
        .given(half_opened())
        .when(record(Transition::Opened {
            at: at(65),
            failures: 1,
        }))
        .then_expect_events(vec![IntegrationEvent::CircuitOpened {
            at: at(65),
            failures: 1,
        }]);
}

#[test]
fn a_transition_to_the_recorded_state_is_a_no_op() {
    Given::with(())
        .given(given(vec![opened_event(0)]))
        .when(record(open(10)))
        .then_expect_events(vec![]);
    Given::with(())
        .given(given(vec![]))
        .when(record(close(10)))
        .then_expect_events(vec![]);
}

#[test]
fn a_transition_older_than_the_recorded_one_is_dropped() {
    Given::with(())
        .given(given(vec![
            opened_event(0),
            IntegrationEvent::CircuitHalfOpened { at: at(60) },
        ]))
        .when(record(open(30)))
        .then_expect_events(vec![]);
}

#[test]
fn impossible_edges_are_refused() {
    let cases = [
        (given(vec![]), half_open(1), "closed", "half_open"),
        (given(vec![opened_event(0)]), close(70), "open", "closed"),
    ];
    for (history, transition, from, to) in cases {
        let err = Given::with(())
            .given(history)
            .when(record(transition))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidState);
        assert_eq!(
            err.to_string(),
            format!(
                "the circuit of this integration is {from} and cannot become {to}; only closed or half_open -> open, open -> half_open and half_open -> closed are allowed"
            )
        );
    }
}

#[test]
fn transitions_need_an_existing_integration_of_the_tenant_that_is_not_removed() {
    Given::with(())
        .given_no_previous_events()
        .when(record(open(0)))
        .then_expect_error_message("integration not found; check the integration id");
    Given::with(())
        .given(given(vec![]))
        .when(Command::new(
            OTHER_TENANT,
            IntegrationCommand::RecordCircuitTransition {
                transition: open(0),
            },
        ))
        .then_expect_error_message("integration not found; check the integration id");
    Given::with(())
        .given(given(vec![IntegrationEvent::IntegrationRemoved]))
        .when(record(open(0)))
        .then_expect_error_message("integration is removed; register a new integration instead");
}

#[test]
fn a_disabled_integration_still_records_its_circuit() {
    Given::with(())
        .given(given(vec![IntegrationEvent::IntegrationDisabled]))
        .when(record(open(0)))
        .then_expect_events(vec![opened_event(0)]);
}

#[test]
fn the_aggregate_folds_the_circuit_and_names_the_events() {
    let state: Integration = replay(given(vec![]));
    assert_eq!(state.circuit(), Circuit::default());
    let events = given(vec![
        opened_event(0),
        IntegrationEvent::CircuitHalfOpened { at: at(60) },
    ]);
    let state: Integration = replay(events.clone());
    assert_eq!(
        state.circuit(),
        Circuit {
            state: CircuitState::HalfOpen,
            since: Some(at(60))
        }
    );
    let state: Integration = replay(
        events
            .into_iter()
            .chain([IntegrationEvent::CircuitClosed { at: at(70) }]),
    );
    assert_eq!(state.circuit(), close(70).circuit());
    assert_eq!(state.version(), 4);
    let names: Vec<String> = [
        opened_event(0),
        IntegrationEvent::CircuitHalfOpened { at: at(1) },
        IntegrationEvent::CircuitClosed { at: at(2) },
    ]
    .iter()
    .map(cqrs_es::DomainEvent::event_type)
    .collect();
    assert_eq!(
        names,
        ["CircuitOpened", "CircuitHalfOpened", "CircuitClosed"]
    );
    assert_eq!(
        serde_json::to_value(opened_event(0)).unwrap(),
        json!({"CircuitOpened": {"at": "2027-01-15T08:00:00Z", "failures": 5}})
    );
}

#[test]
fn a_snapshot_taken_before_circuits_existed_reads_as_closed() {
    let mut snapshot = serde_json::to_value(replay::<Integration>(given(vec![]))).unwrap();
    snapshot.as_object_mut().unwrap().remove("circuit");
    let state: Integration = serde_json::from_value(snapshot).unwrap();
    assert_eq!(state.circuit(), Circuit::default());
}
