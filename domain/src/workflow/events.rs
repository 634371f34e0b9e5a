//! Facts recorded by the workflow aggregate. Payloads are externally
//! tagged (`{"WorkflowCreated": {...}}`), the form the event store keeps.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::WorkflowDefinition;
use crate::ids::TenantId;

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
    /// The workflow got a new name.
    WorkflowRenamed {
        /// The old name.
        from: String,
        /// The new (trimmed) name.
        to: String,
    },
    /// The workflow was archived; it accepts no further changes.
    WorkflowArchived,
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
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
