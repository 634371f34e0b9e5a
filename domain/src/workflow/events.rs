//! Facts recorded by the workflow aggregate. Payloads are externally
//! tagged (`{"WorkflowCreated": {...}}`), the form the event store keeps.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{CatchUp, WebhookTriggerId, WorkflowDefinition};
use crate::ids::TenantId;
use crate::integration::SealedSecret;

/// Something that happened to a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkflowEvent {
    /// The workflow was created (always followed by version 1).
    WorkflowCreated {
        /// The owning tenant.
        tenant_id: TenantId,
        /// Trimmed name.
        name: String,
        /// Trimmed description.
        description: String,
    },
    /// A new immutable version of the definition was saved.
    WorkflowVersionCreated {
        /// 1 for the first definition, then +1 per change.
        version: u32,
        /// The validated definition.
        definition: WorkflowDefinition,
    },
    /// A version became the one that triggers run.
    WorkflowPublished {
        /// The published version.
        version: u32,
        /// The version it replaces, if one was published.
        previous: Option<u32>,
    },
    /// The workflow no longer runs on its triggers.
    WorkflowUnpublished {
        /// The version that was published.
        version: u32,
    },
    /// The workflow got a new name. Version 2: version 1 called the fields
    /// `from` and `to` (see `crate::upcast`).
    WorkflowRenamed {
        /// The name it had.
        previous_name: String,
        /// The new (trimmed) name.
        name: String,
    },
    /// The workflow was archived; it accepts no further changes.
    WorkflowArchived,
    /// Slots of the published schedule came due while no engine ran and
    /// did not run, by the schedule's catch-up policy (recorded by the
    /// engine's scheduler; a slot that ran is its execution's start).
    ScheduledRunsSkipped {
        /// The first skipped slot.
        from: DateTime<Utc>,
        /// The last skipped slot.
        to: DateTime<Utc>,
        /// Slots skipped from `from` to `to`, both included.
        count: u64,
        /// The policy that skipped them.
        catch_up: CatchUp,
    },
    /// The webhook trigger got a new secret (and was made, on the first
    /// rotation). Only ciphertext: the plain secret was shown once to the
    /// caller and is kept nowhere.
    WebhookSecretRotated {
        /// The id in the trigger's URL (new on the first rotation or when a
        /// new URL was asked for).
        trigger_id: WebhookTriggerId,
        /// The new current secret.
        secret: SealedSecret,
        /// When the rotation happened.
        rotated_at: DateTime<Utc>,
        /// Every earlier secret stops working at this time at the latest;
        /// `None` when there were none.
        previous_valid_until: Option<DateTime<Utc>>,
    },
}

impl DomainEvent for WorkflowEvent {
    fn event_type(&self) -> String {
        match self {
            WorkflowEvent::WorkflowCreated { .. } => "WorkflowCreated",
            WorkflowEvent::WorkflowVersionCreated { .. } => "WorkflowVersionCreated",
            WorkflowEvent::WorkflowPublished { .. } => "WorkflowPublished",
            WorkflowEvent::WorkflowUnpublished { .. } => "WorkflowUnpublished",
            WorkflowEvent::WorkflowRenamed { .. } => "WorkflowRenamed",
            WorkflowEvent::WorkflowArchived => "WorkflowArchived",
            WorkflowEvent::ScheduledRunsSkipped { .. } => "ScheduledRunsSkipped",
            WorkflowEvent::WebhookSecretRotated { .. } => "WebhookSecretRotated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            // v1 called the names `from` and `to`: crate::upcast::STEPS.
            WorkflowEvent::WorkflowRenamed { .. } => "2",
            _ => "1",
        }
        .to_owned()
    }
}
