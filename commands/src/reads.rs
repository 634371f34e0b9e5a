//! Reads of the write side that decisions need beyond one aggregate's
//! state: the definition of any workflow version (the aggregate keeps only
//! the latest) and an execution's full history folded into a [`Run`]
//! (outputs and times included). The engine and `retry_execution` use
//! them. Events are read in their current version
//! ([`crate::upcast::current_payload`]).

use chrono::{DateTime, Utc};
use domain::execution::{ExecutionEvent, Run};
use domain::ids::{ExecutionId, WorkflowId};
use domain::workflow::{WorkflowDefinition, WorkflowEvent};
use sqlx::PgPool;

use crate::error::CommandError;
use crate::upcast::current_payload;

/// The definition of `workflow_id` at `version`, if that version exists.
pub async fn workflow_definition(
    pool: &PgPool,
    workflow_id: WorkflowId,
    version: u32,
) -> Result<Option<WorkflowDefinition>, CommandError> {
    // The filter reads the v1 shape of WorkflowVersionCreated: a v2 of it
    // has to keep `version` where it is or change this query.
    let row: Option<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT event_version, payload FROM events
          WHERE aggregate_type = 'Workflow' AND aggregate_id = $1
            AND event_type = 'WorkflowVersionCreated'
            AND (payload -> 'WorkflowVersionCreated' ->> 'version')::int = $2
          LIMIT 1",
    )
    .bind(workflow_id.to_string())
    .bind(version as i32)
    .fetch_optional(pool)
    .await?;
    let Some((event_version, payload)) = row else {
        return Ok(None);
    };
    let payload = current_payload("Workflow", "WorkflowVersionCreated", event_version, payload);
    match serde_json::from_value(payload) {
        Ok(WorkflowEvent::WorkflowVersionCreated { definition, .. }) => Ok(Some(definition)),
        Ok(_) => Ok(None),
        Err(err) => Err(CommandError::Internal(format!(
            "version {version} of workflow {workflow_id} is unreadable: {err}"
        ))),
    }
}

/// Folds the events of `execution_id` after `run.version` into `run`, so
/// a caller that keeps its `Run` reads only what is new.
pub async fn catch_up_run(
    pool: &PgPool,
    execution_id: ExecutionId,
    run: &mut Run,
) -> Result<(), CommandError> {
    let id = execution_id.to_string();
    let rows: Vec<(i64, String, String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT sequence, event_type, event_version, payload, recorded_at FROM events
          WHERE aggregate_type = 'Execution' AND aggregate_id = $1 AND sequence > $2
          ORDER BY sequence",
    )
    .bind(&id)
    .bind(run.version as i64)
    .fetch_all(pool)
    .await?;
    for (sequence, event_type, event_version, payload, recorded_at) in rows {
        let payload = current_payload("Execution", &event_type, event_version, payload);
        let event: ExecutionEvent = serde_json::from_value(payload).map_err(|err| {
            CommandError::Internal(format!(
                "event {sequence} of execution {id} is unreadable: {err}"
            ))
        })?;
        run.record(&event, recorded_at);
    }
    Ok(())
}
