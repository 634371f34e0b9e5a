//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, a refresh is
//! either a rotation, a revocation or a rejection, and every event
//! survives a JSON round trip.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn hash() -> impl Strategy<Value = SecretHash> {
    prop::sample::select(vec!["h1", "h2", "h3"]).prop_map(|h| SecretHash::new(h.into()))
}

fn reason() -> impl Strategy<Value = RevocationReason> {
    prop::sample::select(vec![
        RevocationReason::Logout,
        RevocationReason::RefreshTokenReused,
        RevocationReason::UserDisabled,
        RevocationReason::RoleChanged,
        RevocationReason::Admin,
    ])
}

fn command() -> impl Strategy<Value = Command<SessionCommand>> {
    let instant = (0i64..1000).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap());
    let body = prop_oneof![
        1 => (hash(), instant.clone()).prop_map(|(refresh_hash, expires_at)| SessionCommand::Start {
            user_id: UserId(uuid::Uuid::from_u128(1)),
            refresh_hash,
            expires_at,
        }),
        6 => (0..5u32, hash(), hash(), instant.clone(), instant).prop_map(
            |(generation, presented_hash, new_hash, new_expires_at, now)| SessionCommand::Refresh {
                generation,
                presented_hash,
                new_hash,
                new_expires_at,
                now,
            }
        ),
        1 => reason().prop_map(|reason| SessionCommand::Revoke { reason }),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..6u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = SessionEvent> {
    let any_hash = "[0-9a-f]{0,64}".prop_map(SecretHash::new);
    prop_oneof![
        (
            strategies::uuid(),
            strategies::uuid(),
            any::<u32>(),
            any_hash.clone(),
            strategies::instant()
        )
            .prop_map(|(tenant, user, generation, refresh_hash, expires_at)| {
                SessionEvent::SessionStarted {
                    tenant_id: TenantId(tenant),
                    user_id: UserId(user),
                    generation,
                    refresh_hash,
                    expires_at,
                }
            }),
        (any::<u32>(), any_hash, strategies::instant()).prop_map(
            |(generation, refresh_hash, expires_at)| SessionEvent::SessionRefreshed {
                generation,
                refresh_hash,
                expires_at,
            }
        ),
        reason().prop_map(|reason| SessionEvent::SessionRevoked { reason }),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(commands in prop::collection::vec(command(), 1..30)) {
        let start = SessionCommand::Start {
            user_id: UserId(uuid::Uuid::from_u128(1)),
            refresh_hash: SecretHash::new("h1".into()),
            expires_at: Utc.timestamp_opt(900, 0).unwrap(),
        };
        let mut state = Session::default();
        let mut events = Vec::new();
        for command in std::iter::once(Command::new(TenantId::DEFAULT, start)).chain(commands) {
            let before = state.clone();
            let is_refresh = matches!(command.body, SessionCommand::Refresh { .. });
            match run(&mut state, command) {
                Ok(written) => {
                    if is_refresh && !written.is_empty() {
                        // A refresh either rotates (one generation up) or
                        // revokes the family; nothing else.
                        let rotated = state.generation() == before.generation() + 1 && !state.is_revoked();
                        let revoked = state.generation() == before.generation()
                            && state.revocation_reason() == Some(RevocationReason::RefreshTokenReused);
                        prop_assert!(rotated || revoked, "{:?} -> {:?}", before, state);
                    }
                    events.extend(written);
                }
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
        }
        prop_assert!(state.exists());
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: Session = replay(events);
        prop_assert_eq!(&replayed, &state);
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Session>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<SessionEvent>(&json).unwrap(), event);
    }
}
