//! Workflow commands.

use domain::ids::WorkflowId;
use domain::workflow::WorkflowCommand;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::service::{CommandOutcome, Commands};

impl Commands {
    /// Applies a command to the workflow `id`.
    pub async fn execute_workflow(
        &self,
        ctx: &CommandContext,
        id: WorkflowId,
        command: WorkflowCommand,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError> {
        let name = workflow_command_name(&command);
        self.execute(
            &self.workflows,
            name,
            ctx,
            &id.to_string(),
            command,
            expected_version,
        )
        .await
    }
}

fn workflow_command_name(command: &WorkflowCommand) -> &'static str {
    match command {
        WorkflowCommand::Create { .. } => "CreateWorkflow",
        WorkflowCommand::UpdateDefinition { .. } => "UpdateWorkflowDefinition",
        WorkflowCommand::Publish { .. } => "PublishWorkflow",
        WorkflowCommand::Unpublish => "UnpublishWorkflow",
        WorkflowCommand::Rename { .. } => "RenameWorkflow",
        WorkflowCommand::Archive => "ArchiveWorkflow",
    }
}
