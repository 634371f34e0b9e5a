//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn sealed() -> impl Strategy<Value = SealedSecret> {
    (
        "[a-z0-9]{0,4}",
        strategies::text(),
        "[A-Za-z0-9+/=]{0,16}",
        "[A-Za-z0-9+/=]{0,32}",
    )
        .prop_map(|(key_id, algorithm, nonce, ciphertext)| SealedSecret {
            key_id,
            algorithm,
            nonce,
            ciphertext,
        })
}

fn transition() -> impl Strategy<Value = Transition> {
    prop_oneof![
        (strategies::instant(), 1..10u32)
            .prop_map(|(at, failures)| Transition::Opened { at, failures }),
        strategies::instant().prop_map(|at| Transition::HalfOpened { at }),
        strategies::instant().prop_map(|at| Transition::Closed { at }),
    ]
}

fn command() -> impl Strategy<Value = Command<IntegrationCommand>> {
    let config = prop::sample::select(vec![json!({}), json!({"a": 1}), json!({"a": 2}), json!([])]);
    let body = prop_oneof![
        1 => (
            prop::sample::select(vec!["slack", "Bad Kind", "http-2"]),
            config.clone(),
            prop::option::of(sealed())
        )
            .prop_map(|(kind, config, credentials)| IntegrationCommand::Register {
                name: "Slack".into(),
                kind: kind.into(),
                config,
                credentials,
            }),
        3 => config.prop_map(|config| IntegrationCommand::UpdateConfig { config }),
        3 => sealed().prop_map(|credentials| IntegrationCommand::RotateCredentials { credentials }),
        3 => any::<bool>().prop_map(|enabled| IntegrationCommand::SetEnabled { enabled }),
        3 => (
            any::<bool>(),
            prop::option::of(strategies::text()),
            any::<Option<u64>>(),
            strategies::instant()
        )
            .prop_map(|(healthy, message, latency_ms, checked_at)| {
                IntegrationCommand::RecordHealthCheck {
                    healthy,
                    message,
                    latency_ms,
                    checked_at,
                }
            }),
        3 => transition().prop_map(|transition| IntegrationCommand::RecordCircuitTransition { transition }),
        1 => Just(IntegrationCommand::Remove),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..6u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = IntegrationEvent> {
    prop_oneof![
        (
            strategies::uuid(),
            strategies::text(),
            strategies::text(),
            strategies::json(),
            prop::option::of(sealed())
        )
            .prop_map(|(tenant, name, kind, config, credentials)| {
                IntegrationEvent::IntegrationRegistered {
                    tenant_id: TenantId(tenant),
                    name,
                    kind,
                    config,
                    credentials,
                }
            }),
        strategies::json().prop_map(|config| IntegrationEvent::IntegrationConfigUpdated { config }),
        sealed().prop_map(
            |credentials| IntegrationEvent::IntegrationCredentialsRotated { credentials }
        ),
        Just(IntegrationEvent::IntegrationEnabled),
        Just(IntegrationEvent::IntegrationDisabled),
        (
            any::<bool>(),
            prop::option::of(strategies::text()),
            any::<Option<u64>>(),
            strategies::instant()
        )
            .prop_map(|(healthy, message, latency_ms, checked_at)| {
                IntegrationEvent::IntegrationHealthChecked {
                    healthy,
                    message,
                    latency_ms,
                    checked_at,
                }
            }),
        Just(IntegrationEvent::IntegrationRemoved),
        (strategies::instant(), any::<u32>())
            .prop_map(|(at, failures)| IntegrationEvent::CircuitOpened { at, failures }),
        strategies::instant().prop_map(|at| IntegrationEvent::CircuitHalfOpened { at }),
        strategies::instant().prop_map(|at| IntegrationEvent::CircuitClosed { at }),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(commands in prop::collection::vec(command(), 1..30)) {
        let register = IntegrationCommand::Register {
            name: "Slack".into(),
            kind: "slack".into(),
            config: json!({}),
            credentials: None,
        };
        let mut state = Integration::default();
        let mut events = Vec::new();
        for command in std::iter::once(Command::new(TenantId::DEFAULT, register)).chain(commands) {
            let before = state.clone();
            match run(&mut state, command) {
                Ok(written) => events.extend(written),
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
        }
        prop_assert!(state.exists());
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: Integration = replay(events);
        prop_assert_eq!(
            serde_json::to_value(&replayed).unwrap(),
            serde_json::to_value(&state).unwrap()
        );
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Integration>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<IntegrationEvent>(&json).unwrap(), event);
    }
}
