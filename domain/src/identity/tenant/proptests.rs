//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip.

use proptest::prelude::*;

use super::*;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn command() -> impl Strategy<Value = Command<TenantCommand>> {
    let name = prop::sample::select(vec!["Acme", " Acme ", "Globex", "", "Initech"]);
    let body = prop_oneof![
        1 => name.clone().prop_map(|name| TenantCommand::Create { name: name.into() }),
        4 => name.prop_map(|name| TenantCommand::Rename { name: name.into() }),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..6u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = TenantEvent> {
    prop_oneof![
        (strategies::uuid(), strategies::text()).prop_map(|(id, name)| {
            TenantEvent::TenantCreated {
                tenant_id: TenantId(id),
                name,
            }
        }),
        (strategies::text(), strategies::text())
            .prop_map(|(from, to)| TenantEvent::TenantRenamed { from, to }),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(commands in prop::collection::vec(command(), 1..20)) {
        let create = TenantCommand::Create { name: "Acme".into() };
        let mut state = Tenant::default();
        let mut events = Vec::new();
        for command in std::iter::once(Command::new(TenantId::DEFAULT, create)).chain(commands) {
            let before = state.clone();
            match run(&mut state, command) {
                Ok(written) => events.extend(written),
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
        }
        prop_assert!(state.exists());
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: Tenant = replay(events);
        prop_assert_eq!(&replayed, &state);
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Tenant>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<TenantEvent>(&json).unwrap(), event);
    }
}
