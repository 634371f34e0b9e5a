//! Time travel: the state of one aggregate as of a moment, folded from its
//! own events with the domain's `apply` (the same fold the write side
//! uses), never from a read model or a snapshot.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::execution::Execution;
use domain::identity::{ApiToken, Session, Tenant, User};
use domain::integration::Integration;
use domain::workflow::Workflow;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The moment of a time-travel read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Every event recorded at or before this time.
    Time(DateTime<Utc>),
    /// Every event at or below this global position (the `position` a
    /// mutation answers).
    Position(i64),
}

impl FromStr for At {
    type Err = String;

    /// A whole number is a position; anything else must be an RFC 3339 time.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(position) = text.parse::<i64>() {
            return if position >= 0 {
                Ok(Self::Position(position))
            } else {
                Err(format!("a position is not negative: {position}"))
            };
        }
        DateTime::parse_from_rfc3339(text)
            .map(|time| Self::Time(time.with_timezone(&Utc)))
            .map_err(|err| format!("'{text}' is neither a position nor an RFC 3339 time ({err})"))
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time(time) => write!(f, "{}", time.to_rfc3339()),
            Self::Position(position) => write!(f, "position {position}"),
        }
    }
}

/// An aggregate's state as of a moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateState {
    /// `Workflow`, `Execution`, `Integration`, `Tenant`, `User`, `ApiToken`
    /// or `Session`.
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The owning tenant.
    pub tenant_id: Option<Uuid>,
    /// Events folded (the aggregate's version at that moment).
    pub version: i64,
    /// Global position of the last event folded.
    pub position: i64,
    /// When the last event folded was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The aggregate's state as the write side holds it, with password and
    /// token hashes redacted (credentials only ever exist sealed).
    pub state: Value,
}

/// Why a state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not an aggregate type of the store.
    #[error("unknown aggregate type '{0}' (one of: {list})", list = AGGREGATE_TYPES.join(", "))]
    UnknownType(String),
    /// A stored event does not fit the aggregate (corruption, or an event
    /// version this code does not know).
    #[error("event {sequence} of {aggregate_type} {aggregate_id} is unreadable: {error}")]
    Unreadable {
        /// The aggregate type.
        aggregate_type: String,
        /// The aggregate id.
        aggregate_id: String,
        /// The event's sequence.
        sequence: i64,
        /// Why.
        error: String,
    },
    /// A statement failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The aggregate types time travel knows.
pub const AGGREGATE_TYPES: [&str; 7] = [
    "Workflow",
    "Execution",
    "Integration",
    "Tenant",
    "User",
    "ApiToken",
    "Session",
];

/// The state of `aggregate_type` `aggregate_id` as of `at`: `None` when it
/// had no event by then, or when `tenant` is given and the aggregate is
/// another tenant's (which reads exactly like a missing one).
pub async fn state_at(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    at: At,
    tenant: Option<Uuid>,
) -> Result<Option<AggregateState>, StateError> {
    let Some(canonical) = AGGREGATE_TYPES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(aggregate_type))
    else {
        return Err(StateError::UnknownType(aggregate_type.to_owned()));
    };
    let events = events_until(pool, canonical, aggregate_id, at).await?;
    let Some(last) = events.last() else {
        return Ok(None);
    };
    let tenant_id = events
        .first()
        .and_then(|event| event.metadata.get(domain::metadata::TENANT_ID))
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Uuid>().ok());
    if tenant.is_some() && tenant != tenant_id {
        return Ok(None);
    }
    let (version, position, recorded_at) = (last.sequence, last.global_position, last.recorded_at);
    let state = match *canonical {
        "Workflow" => fold::<Workflow>(canonical, aggregate_id, events)?,
        "Execution" => fold::<Execution>(canonical, aggregate_id, events)?,
        "Integration" => fold::<Integration>(canonical, aggregate_id, events)?,
        "Tenant" => fold::<Tenant>(canonical, aggregate_id, events)?,
        "User" => fold::<User>(canonical, aggregate_id, events)?,
        "ApiToken" => fold::<ApiToken>(canonical, aggregate_id, events)?,
        _ => fold::<Session>(canonical, aggregate_id, events)?,
    };
    Ok(Some(AggregateState {
        aggregate_type: (*canonical).to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        tenant_id,
        version,
        position,
        recorded_at,
        state: projections::history::redact_hashes(state),
    }))
}

/// One stored event, as much as the fold needs.
#[derive(sqlx::FromRow)]
struct Row {
    sequence: i64,
    global_position: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
    recorded_at: DateTime<Utc>,
}

async fn events_until(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    at: At,
) -> Result<Vec<Row>, sqlx::Error> {
    let (position, time) = match at {
        At::Position(position) => (Some(position), None),
        At::Time(time) => (None, Some(time)),
    };
    sqlx::query_as(
        "SELECT sequence, global_position, event_type, event_version, payload, metadata,
                recorded_at
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
            AND ($3::bigint IS NULL OR global_position <= $3)
            AND ($4::timestamptz IS NULL OR recorded_at <= $4)
          ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(position)
    .bind(time)
    .fetch_all(pool)
    .await
}

fn fold<A: Aggregate>(
    aggregate_type: &str,
    aggregate_id: &str,
    events: Vec<Row>,
) -> Result<Value, StateError> {
    let mut aggregate = A::default();
    for row in events {
        let unreadable = |error: String| StateError::Unreadable {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence: row.sequence,
            error,
        };
        let payload = upcast(
            aggregate_type,
            &row.event_type,
            &row.event_version,
            row.payload,
        );
        let event: A::Event =
            serde_json::from_value(payload).map_err(|e| unreadable(e.to_string()))?;
        aggregate.apply(event);
    }
    serde_json::to_value(&aggregate).map_err(|err| StateError::Unreadable {
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        sequence: 0,
        error: err.to_string(),
    })
}

/// The stored payload in its current shape (the same upcasters the write
/// side loads aggregates with).
fn upcast(aggregate_type: &str, event_type: &str, event_version: &str, payload: Value) -> Value {
    let stored = domain::upcast::Versioned {
        event_version: event_version.to_owned(),
        payload,
    };
    domain::upcast::upcast(aggregate_type, event_type, stored).payload
}
