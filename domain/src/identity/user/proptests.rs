//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip.

use proptest::prelude::*;

use super::*;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn hash() -> impl Strategy<Value = SecretHash> {
    prop::sample::select(vec!["h1", "h2", "h3"]).prop_map(|h| SecretHash::new(h.into()))
}

fn email() -> impl Strategy<Value = Email> {
    prop_oneof![
        4 => Just("ada@example.com"),
        1 => Just("bob@example.com"),
    ]
    .prop_map(|raw| Email::parse(raw).unwrap())
}

fn first() -> impl Strategy<Value = UserCommand> {
    prop_oneof![
        (role(), hash()).prop_map(|(role, password_hash)| UserCommand::Create {
            email: Email::parse("ada@example.com").unwrap(),
            display_name: "Ada".into(),
            role,
            password_hash,
        }),
        (role(), hash(), strategies::instant()).prop_map(|(role, invitation_hash, expires_at)| {
            UserCommand::Invite {
                email: Email::parse("ada@example.com").unwrap(),
                role,
                invitation_hash,
                expires_at,
            }
        }),
    ]
}

fn command() -> impl Strategy<Value = Command<UserCommand>> {
    let name = prop::sample::select(vec!["Ada", " Ada L ", ""]);
    let body = prop_oneof![
        1 => (email(), name.clone(), role(), hash()).prop_map(|(email, name, role, password_hash)| {
            UserCommand::Create { email, display_name: name.into(), role, password_hash }
        }),
        2 => (email(), role(), hash(), strategies::instant()).prop_map(
            |(email, role, invitation_hash, expires_at)| UserCommand::Invite {
                email,
                role,
                invitation_hash,
                expires_at,
            }
        ),
        3 => (hash(), name, hash(), strategies::instant()).prop_map(
            |(invitation_hash, name, password_hash, now)| UserCommand::AcceptInvitation {
                invitation_hash,
                display_name: name.into(),
                password_hash,
                now,
            }
        ),
        2 => role().prop_map(|role| UserCommand::ChangeRole { role }),
        2 => hash().prop_map(|password_hash| UserCommand::ChangePassword { password_hash }),
        1 => Just(UserCommand::Disable),
        1 => Just(UserCommand::Enable),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..8u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = UserEvent> {
    let any_email = ("[a-z0-9._+-]{1,12}", "[a-z]{1,8}", "[a-z]{2,4}")
        .prop_map(|(local, host, tld)| Email::parse(&format!("{local}@{host}.{tld}")).unwrap());
    let any_hash = "[A-Za-z0-9$=+/.-]{0,40}".prop_map(SecretHash::new);
    prop_oneof![
        (
            strategies::uuid(),
            any_email.clone(),
            strategies::text(),
            role()
        )
            .prop_map(
                |(tenant, email, display_name, role)| UserEvent::UserCreated {
                    tenant_id: TenantId(tenant),
                    email,
                    display_name,
                    role,
                }
            ),
        (
            strategies::uuid(),
            any_email,
            role(),
            any_hash.clone(),
            strategies::instant()
        )
            .prop_map(|(tenant, email, role, invitation_hash, expires_at)| {
                UserEvent::UserInvited {
                    tenant_id: TenantId(tenant),
                    email,
                    role,
                    invitation_hash,
                    expires_at,
                }
            }),
        strategies::text().prop_map(|display_name| UserEvent::InvitationAccepted { display_name }),
        any_hash.prop_map(|password_hash| UserEvent::PasswordSet { password_hash }),
        (role(), role()).prop_map(|(from, to)| UserEvent::UserRoleChanged { from, to }),
        Just(UserEvent::UserDisabled),
        Just(UserEvent::UserEnabled),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(
        first in first(),
        commands in prop::collection::vec(command(), 1..30),
    ) {
        let mut state = User::default();
        let mut events = Vec::new();
        for command in std::iter::once(Command::new(TenantId::DEFAULT, first)).chain(commands) {
            let before = state.clone();
            match run(&mut state, command) {
                Ok(written) => events.extend(written),
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
        }
        prop_assert!(state.exists());
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: User = replay(events);
        prop_assert_eq!(&replayed, &state);
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<User>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<UserEvent>(&json).unwrap(), event);
    }
}
