//! What can be asked of a workflow, and the rules that decide which events
//! each request produces.

use serde::{Deserialize, Serialize};

use super::{Workflow, WorkflowDefinition, WorkflowError, WorkflowEvent};
use crate::command::Command;
use crate::ids::TenantId;
use crate::text;

/// Longest workflow name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest workflow description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// A request to change a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkflowCommand {
    /// Create the workflow with its first definition (version 1).
    Create {
        /// 1 to 200 characters after trimming.
        name: String,
        /// Up to 2000 characters after trimming.
        description: String,
        /// The first definition.
        definition: WorkflowDefinition,
    },
    /// Save a new version; identical to the latest version is a no-op.
    UpdateDefinition {
        /// The new definition.
        definition: WorkflowDefinition,
    },
    /// Make a version the one triggers run.
    Publish {
        /// An existing version number.
        version: u32,
    },
    /// Stop running on triggers.
    Unpublish,
    /// Change the name.
    Rename {
        /// 1 to 200 characters after trimming.
        name: String,
    },
    /// Freeze the workflow for good (unpublishing it first).
    Archive,
}

impl Workflow {
    /// Checks a command against the current state and returns the events it
    /// produces; writes nothing, so a rejection leaves the state untouched.
    pub(super) fn decide(
        &self,
        command: Command<WorkflowCommand>,
    ) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        let creates = matches!(command.body, WorkflowCommand::Create { .. });
        command.check_envelope(self.tenant_id, self.version, creates)?;
        if self.archived && !matches!(command.body, WorkflowCommand::Archive) {
            return Err(WorkflowError::Archived);
        }
        match command.body {
            WorkflowCommand::Create {
                name,
                description,
                definition,
            } => self.create(command.tenant_id, &name, &description, definition),
            WorkflowCommand::UpdateDefinition { definition } => self.update(definition),
            WorkflowCommand::Publish { version } => self.publish(version),
            WorkflowCommand::Unpublish => Ok(self
                .published_version
                .map(|version| WorkflowEvent::WorkflowUnpublished { version })
                .into_iter()
                .collect()),
            WorkflowCommand::Rename { name } => self.rename(&name),
            WorkflowCommand::Archive => Ok(self.archive()),
        }
    }

    fn create(
        &self,
        tenant_id: TenantId,
        name: &str,
        description: &str,
        definition: WorkflowDefinition,
    ) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        if self.exists() {
            return Err(WorkflowError::AlreadyExists);
        }
        let name = valid_name(name)?;
        let description = text::bounded(description, MAX_DESCRIPTION_CHARS, true)
            .map_err(WorkflowError::InvalidDescription)?;
        definition.validate()?;
        Ok(vec![
            WorkflowEvent::WorkflowCreated {
                tenant_id,
                name,
                description,
            },
            WorkflowEvent::WorkflowVersionCreated {
                version: 1,
                definition,
            },
        ])
    }

    fn update(&self, definition: WorkflowDefinition) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        // Validated again although the API parsed it: a command may come
        // from anywhere, and an invalid version must never be recorded.
        definition.validate()?;
        if self.latest_definition.as_ref() == Some(&definition) {
            return Ok(vec![]);
        }
        let version = self
            .latest_version
            .checked_add(1)
            .ok_or(WorkflowError::TooManyVersions)?;
        Ok(vec![WorkflowEvent::WorkflowVersionCreated {
            version,
            definition,
        }])
    }

    fn publish(&self, version: u32) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        if version == 0 || version > self.latest_version {
            return Err(WorkflowError::UnknownVersion {
                requested: version,
                latest: self.latest_version,
            });
        }
        if self.published_version == Some(version) {
            return Ok(vec![]);
        }
        Ok(vec![WorkflowEvent::WorkflowPublished {
            version,
            previous: self.published_version,
        }])
    }

    fn rename(&self, name: &str) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        let name = valid_name(name)?;
        if name == self.name {
            return Ok(vec![]);
        }
        Ok(vec![WorkflowEvent::WorkflowRenamed {
            from: self.name.clone(),
            to: name,
        }])
    }

    /// Archiving a published workflow records the unpublication first, so
    /// whoever stops triggers listens to one event, not two.
    fn archive(&self) -> Vec<WorkflowEvent> {
        if self.archived {
            return vec![];
        }
        let unpublish = self
            .published_version
            .map(|version| WorkflowEvent::WorkflowUnpublished { version });
        unpublish
            .into_iter()
            .chain([WorkflowEvent::WorkflowArchived])
            .collect()
    }
}

fn valid_name(name: &str) -> Result<String, WorkflowError> {
    text::bounded(name, MAX_NAME_CHARS, false).map_err(WorkflowError::InvalidName)
}
