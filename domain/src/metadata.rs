//! The metadata stored next to every event: who asked, on behalf of which
//! tenant, and which command, conversation and trace it belongs to.
//!
//! The event store keeps metadata as a string map; [`EventMetadata`] is the
//! typed view of that map.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::TenantId;

/// Key of the tenant id.
pub const TENANT_ID: &str = "tenant_id";
/// Key of the actor (user or system component) that issued the command.
pub const ACTOR: &str = "actor";
/// Key of the id of the command that produced the event.
pub const COMMAND_ID: &str = "command_id";
/// Key of the id shared by every command and event of one conversation.
pub const CORRELATION_ID: &str = "correlation_id";
/// Key of the id of the message (command or event) that caused this one.
pub const CAUSATION_ID: &str = "causation_id";
/// Key of the distributed-tracing trace id.
pub const TRACE_ID: &str = "trace_id";
/// Key of the address of the client whose request caused the event, when
/// it came over HTTP.
pub const CLIENT_IP: &str = "client_ip";
/// Key of that client's user agent, when it sent one.
pub const USER_AGENT: &str = "user_agent";

/// Typed metadata of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The tenant the event belongs to.
    pub tenant_id: TenantId,
    /// Who issued the command ("user:<id>", "engine", "scheduler", ...).
    pub actor: String,
    /// The command that produced the event.
    pub command_id: Uuid,
    /// Shared by everything that stems from one original request.
    pub correlation_id: Uuid,
    /// The message that directly caused the command.
    pub causation_id: Uuid,
    /// The trace the command was handled in (may be empty).
    pub trace_id: String,
    /// Where the request came from, when it came over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The requesting client's user agent, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Why a metadata map could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A required key is absent.
    #[error("event metadata is missing '{key}'; every event must be written with full metadata")]
    Missing {
        /// The absent key.
        key: &'static str,
    },
    /// A key holds a value of the wrong shape.
    #[error("event metadata '{key}' is '{value}', which is not a valid UUID")]
    InvalidUuid {
        /// The offending key.
        key: &'static str,
        /// The value found.
        value: String,
    },
}

impl EventMetadata {
    /// The string map the event store keeps.
    pub fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            (TENANT_ID.to_owned(), self.tenant_id.to_string()),
            (ACTOR.to_owned(), self.actor.clone()),
            (COMMAND_ID.to_owned(), self.command_id.to_string()),
            (CORRELATION_ID.to_owned(), self.correlation_id.to_string()),
            (CAUSATION_ID.to_owned(), self.causation_id.to_string()),
            (TRACE_ID.to_owned(), self.trace_id.clone()),
        ])
        .into_iter()
        .chain(
            [(CLIENT_IP, &self.client_ip), (USER_AGENT, &self.user_agent)]
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value.clone()?))),
        )
        .collect()
    }

    /// Reads the map written by [`EventMetadata::to_map`]; unknown keys are
    /// ignored so that later versions can add keys.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, MetadataError> {
        let get = |key: &'static str| {
            map.get(key)
                .map(String::as_str)
                .ok_or(MetadataError::Missing { key })
        };
        let uuid = |key: &'static str| {
            let value = get(key)?;
            Uuid::parse_str(value).map_err(|_| MetadataError::InvalidUuid {
                key,
                value: value.to_owned(),
            })
        };
        Ok(Self {
            tenant_id: TenantId(uuid(TENANT_ID)?),
            actor: get(ACTOR)?.to_owned(),
            command_id: uuid(COMMAND_ID)?,
            correlation_id: uuid(CORRELATION_ID)?,
            causation_id: uuid(CAUSATION_ID)?,
            trace_id: get(TRACE_ID)?.to_owned(),
            client_ip: map.get(CLIENT_IP).cloned(),
            user_agent: map.get(USER_AGENT).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventMetadata {
        EventMetadata {
            tenant_id: TenantId::DEFAULT,
            actor: "user:alice".into(),
            command_id: Uuid::from_u128(10),
            correlation_id: Uuid::from_u128(11),
            causation_id: Uuid::from_u128(12),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            client_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn metadata_round_trips_through_the_map() {
        let meta = sample();
        let map = meta.to_map();
        assert_eq!(map.len(), 6);
        assert_eq!(map[TENANT_ID], "00000000-0000-0000-0000-000000000001");
        assert_eq!(EventMetadata::from_map(&map), Ok(meta));
    }

    #[test]
    fn the_origin_of_a_request_travels_when_known() {
        let meta = EventMetadata {
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("curl/8.5".into()),
            ..sample()
        };
        let map = meta.to_map();
        assert_eq!(map.len(), 8);
        assert_eq!(map[CLIENT_IP], "203.0.113.7");
        assert_eq!(map[USER_AGENT], "curl/8.5");
        assert_eq!(EventMetadata::from_map(&map), Ok(meta));
    }

    #[test]
    fn missing_and_malformed_keys_are_named() {
        let mut map = sample().to_map();
        map.remove(ACTOR);
        let err = EventMetadata::from_map(&map).unwrap_err();
        assert_eq!(err, MetadataError::Missing { key: ACTOR });
        assert!(err.to_string().contains("'actor'"));

        let mut map = sample().to_map();
        map.insert(COMMAND_ID.into(), "x".into());
        let err = EventMetadata::from_map(&map).unwrap_err();
        assert!(err.to_string().contains("'command_id' is 'x'"));
    }
}
