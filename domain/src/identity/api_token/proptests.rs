//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip.

use proptest::prelude::*;

use super::*;
use crate::access::Role;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn scopes() -> impl Strategy<Value = Vec<Scope>> {
    prop::collection::vec(prop::sample::select(Scope::ALL.to_vec()), 0..4)
}

fn command() -> impl Strategy<Value = Command<ApiTokenCommand>> {
    let body = prop_oneof![
        1 => (scopes(), prop::sample::select(Role::ALL.to_vec())).prop_map(|(scopes, creator_role)| {
            ApiTokenCommand::Create {
                name: "ci".into(),
                scopes,
                secret_hash: SecretHash::new("h".into()),
                created_by: UserId(uuid::Uuid::from_u128(1)),
                creator_role,
                expires_at: None,
            }
        }),
        2 => prop::option::of(strategies::text())
            .prop_map(|reason| ApiTokenCommand::Revoke { reason }),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..4u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = ApiTokenEvent> {
    prop_oneof![
        (
            strategies::uuid(),
            strategies::text(),
            scopes(),
            "[0-9a-f]{0,64}",
            strategies::uuid(),
            prop::option::of(strategies::instant())
        )
            .prop_map(|(tenant, name, scopes, hash, creator, expires_at)| {
                ApiTokenEvent::ApiTokenCreated {
                    tenant_id: TenantId(tenant),
                    name,
                    scopes,
                    secret_hash: SecretHash::new(hash),
                    created_by: UserId(creator),
                    expires_at,
                }
            }),
        prop::option::of(strategies::text())
            .prop_map(|reason| ApiTokenEvent::ApiTokenRevoked { reason }),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(commands in prop::collection::vec(command(), 1..12)) {
        let create = ApiTokenCommand::Create {
            name: "ci".into(),
            scopes: vec![Scope::ReadWorkflows],
            secret_hash: SecretHash::new("h".into()),
            created_by: UserId(uuid::Uuid::from_u128(1)),
            creator_role: Role::Viewer,
            expires_at: None,
        };
        let mut state = ApiToken::default();
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
        let replayed: ApiToken = replay(events);
        prop_assert_eq!(&replayed, &state);
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<ApiToken>(snapshot).unwrap(), state);
    }

    #[test]
    fn created_tokens_never_exceed_their_creators_role(
        scopes in scopes(),
        role in prop::sample::select(Role::ALL.to_vec()),
    ) {
        let create = ApiTokenCommand::Create {
            name: "ci".into(),
            scopes,
            secret_hash: SecretHash::new("h".into()),
            created_by: UserId(uuid::Uuid::from_u128(1)),
            creator_role: role,
            expires_at: None,
        };
        let mut state = ApiToken::default();
        if run(&mut state, Command::new(TenantId::DEFAULT, create)).is_ok() {
            prop_assert!(!state.scopes().is_empty());
            for scope in state.scopes() {
                for permission in scope.permissions() {
                    prop_assert!(role.permissions().contains(permission), "{} got {}", role, scope);
                }
            }
        }
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<ApiTokenEvent>(&json).unwrap(), event);
    }
}
