//! Property tests: replaying the events of any command sequence rebuilds
//! the state `handle` left, rejected commands change nothing, and every
//! event survives a JSON round trip and is written in its current version.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::ids::WorkflowId;
use crate::test_support::{replay, run, strategies, OTHER_TENANT};

fn small_definition() -> impl Strategy<Value = WorkflowDefinition> {
    (0..3u8, any::<bool>()).prop_map(|(tag, chained)| {
        let mut definition = WorkflowDefinition {
            nodes: vec![Node {
                id: "a".into(),
                node_type: NodeType::Transform,
                config: json!({ "expression": format!("v{tag}") }),
            }],
            edges: vec![],
            trigger: Trigger::Manual,
            settings: Default::default(),
        };
        if chained {
            definition.nodes.push(Node {
                id: "b".into(),
                node_type: NodeType::Delay,
                config: json!({ "duration": "5s" }),
            });
            definition.edges.push(Edge {
                from: "a".into(),
                to: "b".into(),
                when: None,
            });
        }
        definition
    })
}

fn command() -> impl Strategy<Value = Command<WorkflowCommand>> {
    let name = prop::sample::select(vec!["Report", " Report ", "Digest", "", "Alerts"]);
    let body = prop_oneof![
        1 => (name.clone(), small_definition()).prop_map(|(name, definition)| WorkflowCommand::Create {
            name: name.into(),
            description: "d".into(),
            definition,
        }),
        3 => small_definition().prop_map(|definition| WorkflowCommand::UpdateDefinition { definition }),
        3 => (0..4u32).prop_map(|version| WorkflowCommand::Publish { version }),
        3 => Just(WorkflowCommand::Unpublish),
        3 => name.prop_map(|name| WorkflowCommand::Rename { name: name.into() }),
        1 => Just(WorkflowCommand::Archive),
        2 => (0..3u128, any::<bool>(), 0..40i64, prop::sample::select(vec![0u32, 60, 600, 700_000]))
            .prop_map(|(id, new_trigger_id, minute, grace_seconds)| WorkflowCommand::RotateWebhookSecret {
                secret: sealed(&format!("s{minute}")),
                trigger_id: WebhookTriggerId(uuid::Uuid::from_u128(id)),
                new_trigger_id,
                at: chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute),
                grace_seconds,
            }),
        2 => (0..5i64, 1..4u64).prop_map(|(at, count)| {
            let from = chrono::DateTime::from_timestamp(1_800_000_000 + 60 * at, 0).unwrap();
            let to = from + chrono::Duration::minutes(i64::try_from(count).unwrap() - 1);
            WorkflowCommand::RecordSkippedRuns { from, to, count, catch_up: CatchUp::Skip }
        }),
    ];
    let tenant = prop_oneof![9 => Just(TenantId::DEFAULT), 1 => Just(OTHER_TENANT)];
    let expected = prop_oneof![4 => Just(None), 1 => (0..6u64).prop_map(Some)];
    (tenant, expected, body)
        .prop_map(|(tenant, expected, body)| Command::new(tenant, body).expecting(expected))
}

fn event() -> impl Strategy<Value = WorkflowEvent> {
    let definition = (
        prop::collection::vec(
            (
                strategies::text(),
                prop::sample::select(NodeType::ALL.to_vec()),
                strategies::json(),
            ),
            0..4,
        ),
        prop::collection::vec(
            (
                strategies::text(),
                strategies::text(),
                prop::option::of(strategies::text()),
            ),
            0..4,
        ),
        trigger(),
    )
        .prop_map(|(nodes, edges, trigger)| WorkflowDefinition {
            nodes: nodes
                .into_iter()
                .map(|(id, node_type, config)| Node {
                    id,
                    node_type,
                    config,
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|(from, to, when)| Edge { from, to, when })
                .collect(),
            trigger,
            settings: Default::default(),
        });
    prop_oneof![
        (strategies::uuid(), strategies::text(), strategies::text()).prop_map(
            |(tenant, name, description)| WorkflowEvent::WorkflowCreated {
                tenant_id: TenantId(tenant),
                name,
                description,
            }
        ),
        (any::<u32>(), definition).prop_map(|(version, definition)| {
            WorkflowEvent::WorkflowVersionCreated {
                version,
                definition,
            }
        }),
        (any::<u32>(), any::<Option<u32>>())
            .prop_map(|(version, previous)| WorkflowEvent::WorkflowPublished { version, previous }),
        any::<u32>().prop_map(|version| WorkflowEvent::WorkflowUnpublished { version }),
        (strategies::text(), strategies::text()).prop_map(|(previous_name, name)| {
            WorkflowEvent::WorkflowRenamed {
                previous_name,
                name,
            }
        }),
        Just(WorkflowEvent::WorkflowArchived),
        (
            strategies::uuid(),
            strategies::text(),
            strategies::instant(),
            prop::option::of(strategies::instant()),
        )
            .prop_map(|(id, tag, rotated_at, previous_valid_until)| {
                WorkflowEvent::WebhookSecretRotated {
                    trigger_id: WebhookTriggerId(id),
                    secret: sealed(&tag),
                    rotated_at,
                    previous_valid_until,
                }
            }),
        (
            strategies::instant(),
            0..1_000_000i64,
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(from, length, count, run_once)| {
                WorkflowEvent::ScheduledRunsSkipped {
                    from,
                    to: from + chrono::Duration::seconds(length),
                    count,
                    catch_up: if run_once {
                        CatchUp::RunOnce
                    } else {
                        CatchUp::Skip
                    },
                }
            }),
    ]
}

fn sealed(tag: &str) -> crate::integration::SealedSecret {
    crate::integration::SealedSecret {
        key_id: "dek-1".into(),
        algorithm: "AES-256-GCM".into(),
        nonce: "bm9uY2U=".into(),
        ciphertext: format!("c-{tag}"),
    }
}

fn trigger() -> impl Strategy<Value = Trigger> {
    let status = prop::sample::select(vec![
        CompletionStatus::Succeeded,
        CompletionStatus::Failed,
        CompletionStatus::Cancelled,
        CompletionStatus::TimedOut,
        CompletionStatus::Any,
    ]);
    prop_oneof![
        Just(Trigger::Manual),
        Just(Trigger::Webhook),
        (strategies::text(), strategies::text(), any::<bool>()).prop_map(
            |(cron, timezone, run_once)| Trigger::Schedule {
                cron,
                timezone,
                catch_up: if run_once {
                    CatchUp::RunOnce
                } else {
                    CatchUp::Skip
                },
            }
        ),
        (strategies::uuid(), status).prop_map(|(id, on_status)| Trigger::Event {
            workflow_id: WorkflowId(id),
            on_status,
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_events_rebuilds_the_handled_state(
        first in small_definition(),
        commands in prop::collection::vec(command(), 1..30),
    ) {
        let create = WorkflowCommand::Create {
            name: "Report".into(),
            description: String::new(),
            definition: first,
        };
        let mut state = Workflow::default();
        let mut events = Vec::new();
        let mut accepted = 0;
        for command in std::iter::once(Command::new(TenantId::DEFAULT, create)).chain(commands) {
            let before = state.clone();
            match run(&mut state, command) {
                Ok(written) => {
                    accepted += 1;
                    events.extend(written);
                }
                Err(_) => prop_assert_eq!(&state, &before, "a rejection must not change the state"),
            }
        }
        prop_assert!(accepted >= 1, "the first command always creates the workflow");
        prop_assert_eq!(state.version(), events.len() as u64);
        let replayed: Workflow = replay(events);
        prop_assert_eq!(
            serde_json::to_value(&replayed).unwrap(),
            serde_json::to_value(&state).unwrap()
        );
        // The snapshot form loads back to the same state.
        let snapshot = serde_json::to_value(&state).unwrap();
        prop_assert_eq!(serde_json::from_value::<Workflow>(snapshot).unwrap(), state);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<WorkflowEvent>(&json).unwrap(), event);
    }

    #[test]
    fn every_event_as_written_is_already_current(event in event()) {
        use cqrs_es::DomainEvent;
        let written = crate::upcast::Versioned {
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
        };
        prop_assert_eq!(
            crate::upcast::upcast("Workflow", &event.event_type(), written.clone()),
            written
        );
    }
}
