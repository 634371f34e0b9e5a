//! Typed identifiers: one newtype per kind of object, so a workflow id can
//! never be passed where an execution id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::Email;

/// A string that could not be parsed as an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {kind} id; expected a UUID such as 0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d")]
pub struct IdError {
    /// Which kind of id was expected ("tenant", "workflow", ...).
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) id.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| IdError {
                    kind: $kind,
                    input: s.to_owned(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies a tenant: every aggregate belongs to exactly one.
    TenantId,
    "tenant"
);
uuid_id!(
    /// Identifies a workflow aggregate.
    WorkflowId,
    "workflow"
);
uuid_id!(
    /// Identifies an integration aggregate.
    IntegrationId,
    "integration"
);
uuid_id!(
    /// Identifies an execution aggregate (one run of a workflow).
    ExecutionId,
    "execution"
);

uuid_id!(
    /// Identifies a user aggregate: one member of one tenant (see
    /// [`UserId::for_email`]).
    UserId,
    "user"
);
uuid_id!(
    /// Identifies an API token aggregate.
    ApiTokenId,
    "API token"
);
uuid_id!(
    /// Identifies a session aggregate (one refresh-token family).
    SessionId,
    "session"
);

impl TenantId {
    /// The tenant used until authentication lands.
    pub const DEFAULT: TenantId = TenantId(Uuid::from_u128(1));
}

impl ExecutionId {
    /// The UUID v5 namespace of idempotency-derived execution ids. Never
    /// change it: doing so would let retried requests start duplicate runs.
    pub const IDEMPOTENCY_NAMESPACE: Uuid =
        Uuid::from_u128(0x0704_33af_f525_4f15_9328_9900_198e_c730);

    /// The execution id for an idempotency key: the same tenant, workflow and
    /// key always give the same id, so a retried request finds the execution
    /// the first attempt started instead of starting another one.
    pub fn for_idempotency_key(tenant: TenantId, workflow: WorkflowId, key: &str) -> ExecutionId {
        // Tenant and workflow are fixed-length UUIDs, so the '/' separators
        // cannot make two different triples collide.
        let name = format!("{tenant}/{workflow}/{key}");
        ExecutionId(Uuid::new_v5(&Self::IDEMPOTENCY_NAMESPACE, name.as_bytes()))
    }
}

impl UserId {
    /// The UUID v5 namespace of email-derived user ids. Never change it:
    /// every existing user would get a new id, and an email could join its
    /// tenant a second time.
    pub const EMAIL_NAMESPACE: Uuid = Uuid::from_u128(0xe018_5f84_2abe_49f9_adf2_4cfe_8fa6_7d70);

    /// The id of the user with `email` in `tenant`. Users are per tenant and
    /// the id is a function of tenant and (normalized) email, so the event
    /// store's primary key makes an email unique within a tenant with no
    /// side table, while the same person in two tenants is two users.
    pub fn for_email(tenant: TenantId, email: &Email) -> UserId {
        // The tenant is a fixed-length UUID, so the '/' cannot make two
        // different pairs collide.
        let name = format!("{tenant}/{email}");
        UserId(Uuid::new_v5(&Self::EMAIL_NAMESPACE, name.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tenant_is_the_documented_uuid() {
        assert_eq!(
            TenantId::DEFAULT.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
    }

    #[test]
    fn ids_round_trip_through_display_from_str_and_serde() {
        let id = WorkflowId::new_v7();
        assert_eq!(id.to_string().parse::<WorkflowId>(), Ok(id));
        let json = serde_json::to_value(id).unwrap();
        assert_eq!(json, serde_json::Value::String(id.to_string()));
        assert_eq!(serde_json::from_value::<WorkflowId>(json).unwrap(), id);
    }

    #[test]
    fn bad_ids_name_the_input_and_the_kind() {
        let err = "nope".parse::<ExecutionId>().unwrap_err();
        assert!(err
            .to_string()
            .starts_with("'nope' is not a valid execution id"));
    }

    #[test]
    fn idempotency_keys_map_to_stable_distinct_ids() {
        let t = TenantId::DEFAULT;
        let w = WorkflowId(Uuid::from_u128(42));
        let a = ExecutionId::for_idempotency_key(t, w, "order-1");
        assert_eq!(a, ExecutionId::for_idempotency_key(t, w, "order-1"));
        assert_ne!(a, ExecutionId::for_idempotency_key(t, w, "order-2"));
        let other = WorkflowId(Uuid::from_u128(43));
        assert_ne!(a, ExecutionId::for_idempotency_key(t, other, "order-1"));
        assert_eq!(a.0.get_version_num(), 5);
        // Pinned: a different id for the same key would let a retried
        // request start a second execution.
        assert_eq!(a.to_string(), "14009327-7e17-5ff7-b811-7a7658352fa6");
    }

    #[test]
    fn user_ids_are_per_tenant_and_normalized_email() {
        let email = |raw: &str| Email::parse(raw).unwrap();
        let t = TenantId::DEFAULT;
        let a = UserId::for_email(t, &email("ada@example.com"));
        assert_eq!(a, UserId::for_email(t, &email("  Ada@Example.COM ")));
        assert_ne!(a, UserId::for_email(t, &email("bob@example.com")));
        let other = TenantId(Uuid::from_u128(2));
        assert_ne!(a, UserId::for_email(other, &email("ada@example.com")));
        assert_eq!(a.0.get_version_num(), 5);
        // Pinned: a different id for the same email would orphan every
        // existing user and let the email join the tenant again.
        assert_eq!(a.to_string(), "0a7e33a8-5cd3-5dca-aace-b11172f519ca");
    }
}
