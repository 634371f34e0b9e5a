//! The workflow aggregate: a named, versioned workflow definition that can
//! be published (made to run on its trigger), renamed and archived, and the
//! sealed secrets of its webhook trigger.
//!
//! Every definition change creates a new immutable version; executions pin
//! the version they run. The aggregate keeps only the latest definition
//! (for the "identical update is a no-op" rule), so its state does not grow
//! with the number of versions.

mod commands;
mod config;
mod definition;
mod error;
mod events;
mod parse;
mod schedule;
mod settings;
mod validate;
mod webhook;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod definition_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod schedule_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{WorkflowCommand, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
pub use config::{parse_duration, DurationError, HTTP_METHODS};
pub use definition::{
    CatchUp, CompletionStatus, Edge, Node, NodeType, Trigger, WorkflowDefinition, MAX_NODES,
};
pub use error::{DefinitionError, WorkflowError};
pub use events::WorkflowEvent;
pub use schedule::{Schedule, SkippedRuns, Ticks};
pub use settings::{WorkflowSettings, MAX_CONCURRENCY};
pub use webhook::{
    WebhookSecret, WebhookTrigger, WebhookTriggerId, DEFAULT_WEBHOOK_GRACE_SECONDS,
    MAX_WEBHOOK_GRACE_SECONDS, MAX_WEBHOOK_SECRETS,
};

use crate::command::Command;
use crate::ids::TenantId;

/// The state of one workflow, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workflow {
    tenant_id: Option<TenantId>,
    name: String,
    description: String,
    latest_version: u32,
    published_version: Option<u32>,
    archived: bool,
    latest_definition: Option<WorkflowDefinition>,
    webhook: Option<WebhookTrigger>,
    /// The last schedule slot recorded as skipped, so a repeated record
    /// (a scheduler taking over after a crash) is a no-op.
    skipped_through: Option<DateTime<Utc>>,
    version: u64,
}

impl Workflow {
    /// Number of events applied (the aggregate's version).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The owning tenant; `None` before creation.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// Whether the workflow has been created.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The current name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The highest definition version (0 before creation).
    pub fn latest_version(&self) -> u32 {
        self.latest_version
    }

    /// The version triggers run, if published.
    pub fn published_version(&self) -> Option<u32> {
        self.published_version
    }

    /// Whether the workflow is archived.
    pub fn is_archived(&self) -> bool {
        self.archived
    }

    /// The definition of the latest version.
    pub fn latest_definition(&self) -> Option<&WorkflowDefinition> {
        self.latest_definition.as_ref()
    }

    /// The last schedule slot recorded as skipped, if any.
    pub fn skipped_through(&self) -> Option<DateTime<Utc>> {
        self.skipped_through
    }

    /// The webhook trigger, once a secret was made for it.
    pub fn webhook(&self) -> Option<&WebhookTrigger> {
        self.webhook.as_ref()
    }
}

impl Aggregate for Workflow {
    const TYPE: &'static str = "Workflow";
    type Command = Command<WorkflowCommand>;
    type Event = WorkflowEvent;
    type Error = WorkflowError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            WorkflowEvent::WorkflowCreated {
                tenant_id,
                name,
                description,
            } => {
                self.tenant_id = Some(tenant_id);
                self.name = name;
                self.description = description;
            }
            WorkflowEvent::WorkflowVersionCreated {
                version,
                definition,
            } => {
                self.latest_version = version;
                self.latest_definition = Some(definition);
            }
            WorkflowEvent::WorkflowPublished { version, .. } => {
                self.published_version = Some(version);
            }
            WorkflowEvent::WorkflowUnpublished { .. } => self.published_version = None,
            WorkflowEvent::WorkflowRenamed { name, .. } => self.name = name,
            WorkflowEvent::WorkflowArchived => self.archived = true,
            WorkflowEvent::ScheduledRunsSkipped { to, .. } => {
                self.skipped_through = self.skipped_through.max(Some(to));
            }
            WorkflowEvent::WebhookSecretRotated {
                trigger_id,
                secret,
                rotated_at,
                previous_valid_until,
            } => {
                self.webhook = Some(WebhookTrigger::rotated(
                    self.webhook.take(),
                    trigger_id,
                    secret,
                    rotated_at,
                    previous_valid_until,
                ));
            }
        }
        self.version += 1;
    }
}
