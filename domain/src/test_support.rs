//! Helpers shared by the aggregate tests.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

/// Runs `handle` on `aggregate` the way the framework does (events applied
/// as they are written) and returns the events written.
pub(crate) fn run<A: Aggregate<Services = ()>>(
    aggregate: &mut A,
    command: A::Command,
) -> Result<Vec<A::Event>, A::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime always builds");
    runtime.block_on(async {
        let sink = EventSink::<A>::default();
        aggregate.handle(command, &(), &sink).await?;
        Ok(sink.collect().await)
    })
}

/// Folds events onto a fresh aggregate.
pub(crate) fn replay<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> A {
    let mut aggregate = A::default();
    for event in events {
        aggregate.apply(event);
    }
    aggregate
}

/// Another tenant than [`crate::ids::TenantId::DEFAULT`].
pub(crate) const OTHER_TENANT: crate::ids::TenantId =
    crate::ids::TenantId(uuid::Uuid::from_u128(0xbad));

/// Proptest strategies shared by the round-trip tests.
pub(crate) mod strategies {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;
    use serde_json::Value;

    /// Small JSON values without floats (serde_json's default float parsing
    /// may differ from the printed value by one ulp, which is not what a
    /// round-trip test is about).
    pub(crate) fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Instants between 1970 and 2100 with nanosecond precision.
    pub(crate) fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
    }

    /// Arbitrary text, including unicode and quotes.
    pub(crate) fn text() -> impl Strategy<Value = String> {
        ".{0,20}"
    }

    /// Any UUID.
    pub(crate) fn uuid() -> impl Strategy<Value = uuid::Uuid> {
        any::<u128>().prop_map(uuid::Uuid::from_u128)
    }
}
