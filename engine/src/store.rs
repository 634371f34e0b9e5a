//! What the engine reads from the event store: the pinned definition of a
//! workflow version (immutable, so cached for good) and an execution's
//! events after a sequence, folded into its [`Run`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::execution::{ExecutionEvent, Run};
use domain::ids::{ExecutionId, WorkflowId};
use domain::workflow::{WorkflowDefinition, WorkflowEvent};
use sqlx::PgPool;

/// Why the store could not give the engine what it needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// No such version was ever created.
    #[error("workflow {workflow_id} has no version {version}")]
    MissingVersion {
        /// The workflow.
        workflow_id: WorkflowId,
        /// The version.
        version: u32,
    },
    /// An event could not be read as the type it claims.
    #[error("unreadable event {sequence} of {aggregate_id}: {error}")]
    Unreadable {
        /// The aggregate.
        aggregate_id: String,
        /// Its sequence.
        sequence: i64,
        /// What serde said.
        error: String,
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
        let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
            "SELECT sequence, payload FROM events
              WHERE aggregate_type = 'Workflow' AND aggregate_id = $1
                AND event_type = 'WorkflowVersionCreated'
                AND (payload -> 'WorkflowVersionCreated' ->> 'version')::int = $2",
        )
        .bind(workflow_id.to_string())
        .bind(version as i32)
        .fetch_all(pool)
        .await?;
        let Some((sequence, payload)) = rows.into_iter().next() else {
            return Err(StoreError::MissingVersion {
                workflow_id,
                version,
            });
        };
        let event: WorkflowEvent =
            serde_json::from_value(payload).map_err(|err| StoreError::Unreadable {
                aggregate_id: workflow_id.to_string(),
                sequence,
                error: err.to_string(),
            })?;
        let WorkflowEvent::WorkflowVersionCreated { definition, .. } = event else {
            return Err(StoreError::MissingVersion {
                workflow_id,
                version,
            });
        };
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
    let id = execution_id.to_string();
    let rows: Vec<(i64, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT sequence, payload, recorded_at FROM events
          WHERE aggregate_type = 'Execution' AND aggregate_id = $1 AND sequence > $2
          ORDER BY sequence",
    )
    .bind(&id)
    .bind(run.version as i64)
    .fetch_all(pool)
    .await?;
    for (sequence, payload, recorded_at) in rows {
        let event: ExecutionEvent =
            serde_json::from_value(payload).map_err(|err| StoreError::Unreadable {
                aggregate_id: id.clone(),
                sequence,
                error: err.to_string(),
            })?;
        run.record(&event, recorded_at);
    }
    Ok(())
}
