//! What can be asked of a workflow, and the rules that decide which events
//! each request produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::webhook::{empty_field, MAX_WEBHOOK_GRACE_SECONDS};
use super::{
    CatchUp, SkippedRuns, WebhookTriggerId, Workflow, WorkflowDefinition, WorkflowError,
    WorkflowEvent,
};
use crate::command::Command;
use crate::ids::TenantId;
use crate::integration::SealedSecret;
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
    /// Give the webhook trigger a new secret (making the trigger on first
    /// use); earlier secrets stay valid for `grace_seconds`.
    RotateWebhookSecret {
        /// The new secret, sealed by the command layer.
        secret: SealedSecret,
        /// The trigger id to use when the workflow has none yet, or when
        /// `new_trigger_id` asks for a new URL.
        trigger_id: WebhookTriggerId,
        /// Replace the trigger id (the URL) even if there is one.
        new_trigger_id: bool,
        /// When the rotation happens (the command layer's clock).
        at: DateTime<Utc>,
        /// How long earlier secrets keep working (0 revokes them at once);
        /// at most [`MAX_WEBHOOK_GRACE_SECONDS`].
        grace_seconds: u32,
    },
    /// Record schedule slots that did not run (sent by the engine's
    /// scheduler only); a range already recorded is a no-op.
    RecordSkippedRuns {
        /// The first skipped slot.
        from: DateTime<Utc>,
        /// The last skipped slot.
        to: DateTime<Utc>,
        /// Slots from `from` to `to`, both included (at least 1).
        count: u64,
        /// The policy that skipped them.
        catch_up: CatchUp,
    },
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
            WorkflowCommand::RotateWebhookSecret {
                secret,
                trigger_id,
                new_trigger_id,
                at,
                grace_seconds,
            } => self.rotate_webhook_secret(secret, trigger_id, new_trigger_id, at, grace_seconds),
            WorkflowCommand::RecordSkippedRuns {
                from,
                to,
                count,
                catch_up,
            } => self.record_skipped(SkippedRuns { from, to, count }, catch_up),
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
            previous_name: self.name.clone(),
            name,
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

    /// The trigger keeps its id unless a new one is asked for; earlier
    /// secrets end `grace_seconds` after the rotation.
    fn rotate_webhook_secret(
        &self,
        secret: SealedSecret,
        candidate: WebhookTriggerId,
        new_trigger_id: bool,
        at: DateTime<Utc>,
        grace_seconds: u32,
    ) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        if let Some(field) = empty_field(&secret) {
            return Err(WorkflowError::InvalidWebhookSecret { field });
        }
        if grace_seconds > MAX_WEBHOOK_GRACE_SECONDS {
            return Err(WorkflowError::WebhookGraceTooLong {
                requested: grace_seconds,
                max: MAX_WEBHOOK_GRACE_SECONDS,
            });
        }
        let trigger_id = match &self.webhook {
            Some(trigger) if !new_trigger_id => trigger.trigger_id(),
            _ => candidate,
        };
        let previous_valid_until = self
            .webhook
            .as_ref()
            .filter(|trigger| trigger.has_secrets())
            .map(|_| at + chrono::Duration::seconds(i64::from(grace_seconds)));
        Ok(vec![WorkflowEvent::WebhookSecretRotated {
            trigger_id,
            secret,
            rotated_at: at,
            previous_valid_until,
        }])
    }
}

/// The schedule's record of slots that did not run.
impl Workflow {
    /// Only a published workflow has a schedule that runs, a range must be
    /// consistent (one slot is `from == to`, more are `from < to`), and no
    /// slot is recorded twice.
    fn record_skipped(
        &self,
        runs: SkippedRuns,
        catch_up: CatchUp,
    ) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        let SkippedRuns { from, to, count } = runs;
        if self.published_version.is_none() {
            return Err(WorkflowError::NotPublished);
        }
        let consistent = match count {
            0 => false,
            1 => from == to,
            _ => from < to,
        };
        if !consistent {
            return Err(WorkflowError::InvalidSkippedRuns { from, to, count });
        }
        match self.skipped_through {
            // The same report again (a scheduler that took over after a crash).
            Some(through) if to <= through => return Ok(vec![]),
            // Partly reported already: the sender must plan again from the
            // last recorded slot, so no slot is counted twice.
            Some(through) if from <= through => {
                return Err(WorkflowError::SkippedRunsOverlap { from, through })
            }
            _ => {}
        }
        Ok(vec![WorkflowEvent::ScheduledRunsSkipped {
            from,
            to,
            count,
            catch_up,
        }])
    }
}

fn valid_name(name: &str) -> Result<String, WorkflowError> {
    text::bounded(name, MAX_NAME_CHARS, false).map_err(WorkflowError::InvalidName)
}
