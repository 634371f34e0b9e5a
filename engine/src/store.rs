//! What the engine reads from the event store: the pinned definition of a
//! workflow version (immutable, so cached for good) and an execution's
//! events after a sequence, folded into its [`Run`] (both through
//! `commands::reads`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use commands::CommandError;
use domain::execution::Run;
use domain::ids::{ExecutionId, WorkflowId};
use domain::workflow::WorkflowDefinition;
use sqlx::PgPool;

/// Why the store could not give the engine what it needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading failed.
    #[error(transparent)]
    Read(#[from] CommandError),
    /// No such version was ever created.
    #[error("workflow {workflow_id} has no version {version}")]
    MissingVersion {
        /// The workflow.
        workflow_id: WorkflowId,
        /// The version.
        version: u32,
    },
}

type ByVersion = HashMap<(WorkflowId, u32), Arc<WorkflowDefinition>>;

/// Definitions by (workflow, version), shared by a process's workers.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    cache: Arc<Mutex<ByVersion>>,
}

impl Definitions {
    /// The definition of `workflow_id` at `version`.
    pub async fn get(
        &self,
        pool: &PgPool,
        workflow_id: WorkflowId,
        version: u32,
    ) -> Result<Arc<WorkflowDefinition>, StoreError> {
        let key = (workflow_id, version);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let definition = commands::reads::workflow_definition(pool, workflow_id, version)
            .await?
            .ok_or(StoreError::MissingVersion {
                workflow_id,
                version,
            })?;
        let definition = Arc::new(definition);
        self.lock().insert(key, definition.clone());
        Ok(definition)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByVersion> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Folds the events of `execution_id` after `run.version` into `run`:
/// reading only what is new keeps a step's cost flat however long the run.
pub async fn catch_up(
    pool: &PgPool,
    execution_id: ExecutionId,
    run: &mut Run,
) -> Result<(), StoreError> {
    Ok(commands::reads::catch_up_run(pool, execution_id, run).await?)
}
