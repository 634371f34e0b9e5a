//! What Execution events mean to triggers: a scheduled run's start covers
//! its slot, and an ending owes a start to every event trigger watching
//! the execution's workflow with a matching status (an outbox row, written
//! in the projection's batch transaction, so it exists exactly when the
//! ending was applied).
//!
//! The endings carry no workflow id: it comes from the execution's own
//! `ExecutionStarted` in the store (the engine's work table forgets ended
//! executions). Only a target of the source's tenant is started, and a
//! chain of event-triggered runs stops at [`MAX_CHAIN_DEPTH`], so two
//! workflows triggering each other cannot run forever.

use domain::execution::{ExecutionEvent, ExecutionStatus, ExecutionTrigger};
use domain::ids::WorkflowId;
use domain::workflow::CompletionStatus;
use projections::history::StoredEvent;
use projections::projector::{ApplyError, Projection};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::projection::{covered, notify, TriggersProjection, OUTBOX};

/// The longest chain of runs started by event triggers, each by the
/// previous one's ending; the ending of the last one starts nothing.
pub const MAX_CHAIN_DEPTH: u64 = 16;

/// Applies one Execution event of execution `id`.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    id: Uuid,
    event: &StoredEvent,
    parsed: ExecutionEvent,
) -> Result<(), ApplyError> {
    let (status, output, error) = match parsed {
        ExecutionEvent::ExecutionStarted {
            workflow_id,
            trigger: ExecutionTrigger::Schedule { scheduled_for },
            ..
        } => return covered(conn, workflow_id, scheduled_for).await,
        ExecutionEvent::ExecutionCompleted { output } => {
            (ExecutionStatus::Completed, output, Value::Null)
        }
        ExecutionEvent::ExecutionFailed { error } => {
            (ExecutionStatus::Failed, Value::Null, json!(error))
        }
        ExecutionEvent::ExecutionCancelled { .. } => {
            (ExecutionStatus::Cancelled, Value::Null, Value::Null)
        }
        ExecutionEvent::ExecutionTimedOut => (ExecutionStatus::TimedOut, Value::Null, Value::Null),
        _ => return Ok(()),
    };
    let ending = Ending {
        execution_id: id,
        status,
        output,
        error,
    };
    ended(conn, event, ending).await
}

struct Ending {
    execution_id: Uuid,
    status: ExecutionStatus,
    output: Value,
    error: Value,
}

/// The start of the execution, joined with the triggers watching its
/// workflow in its tenant: no row when nothing watches it.
type Watchers = Vec<(Uuid, String, serde_json::Value)>;

async fn ended(
    conn: &mut PgConnection,
    event: &StoredEvent,
    ending: Ending,
) -> Result<(), ApplyError> {
    let watchers: Watchers = sqlx::query_as(
        "SELECT t.target_workflow_id, t.on_status, e.payload::jsonb
           FROM events e
           JOIN engine_event_triggers t
             ON t.source_workflow_id = (e.payload -> 'ExecutionStarted' ->> 'workflow_id')::uuid
            AND t.tenant_id = (e.payload -> 'ExecutionStarted' ->> 'tenant_id')::uuid
          WHERE e.aggregate_type = 'Execution' AND e.aggregate_id = $1
            AND e.event_type = 'ExecutionStarted'",
    )
    .bind(&event.aggregate_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut owed = 0;
    for (target, on_status, started) in watchers {
        let on_status: CompletionStatus = serde_json::from_value(json!(on_status))
            .map_err(|err| ApplyError::Rejected(format!("trigger of {target}: {err}")))?;
        if !on_status.matches(ending.status) {
            continue;
        }
        let ExecutionEvent::ExecutionStarted {
            tenant_id,
            workflow_id,
            input,
            trigger,
            ..
        } = serde_json::from_value(started).map_err(|err| {
            ApplyError::Rejected(format!("start of {}: {err}", ending.execution_id))
        })?
        else {
            continue;
        };
        let depth = chain_depth(&trigger, &input);
        if depth > MAX_CHAIN_DEPTH {
            tracing::warn!(projection = TriggersProjection::NAME, execution_id = %ending.execution_id,
                           target_workflow_id = %target, depth,
                           "event trigger not fired: the chain of triggered runs is too long");
            continue;
        }
        let input = target_input(&ending, workflow_id, depth);
        sqlx::query(
            "INSERT INTO engine_trigger_outbox
                 (target_workflow_id, source_execution_id, source_sequence, tenant_id, input,
                  correlation_id, causation_id, due_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(target)
        .bind(ending.execution_id)
        .bind(event.sequence)
        .bind(tenant_id.0)
        .bind(&input)
        .bind(metadata_uuid(event, domain::metadata::CORRELATION_ID))
        .bind(event.event_id)
        .bind(event.recorded_at)
        .execute(&mut *conn)
        .await?;
        owed += 1;
    }
    if owed > 0 {
        notify(conn, OUTBOX).await?;
    }
    Ok(())
}

/// 1 for a run started otherwise than by an event trigger; one more than
/// its source's depth for a run an event trigger started.
fn chain_depth(trigger: &ExecutionTrigger, input: &Value) -> u64 {
    match trigger {
        ExecutionTrigger::Event { .. } => input["source"]["depth"]
            .as_u64()
            .unwrap_or(1)
            .saturating_add(1),
        _ => 1,
    }
}

/// The input of a run started by an event trigger: what the source was and
/// how it ended.
fn target_input(ending: &Ending, workflow_id: WorkflowId, depth: u64) -> Value {
    json!({
        "source": {
            "execution_id": ending.execution_id,
            "workflow_id": workflow_id,
            "status": ending.status,
            "output": ending.output,
            "error": ending.error,
            "depth": depth,
        }
    })
}

fn metadata_uuid(event: &StoredEvent, key: &str) -> Option<Uuid> {
    event
        .metadata
        .get(key)
        .and_then(Value::as_str)
        .and_then(|raw| Uuid::parse_str(raw).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_count_event_triggered_runs_only() {
        let source = domain::ids::ExecutionId(Uuid::nil());
        let event = ExecutionTrigger::Event {
            source_execution_id: source,
        };
        assert_eq!(chain_depth(&ExecutionTrigger::Manual, &json!({})), 1);
        assert_eq!(chain_depth(&event, &json!({"source": {"depth": 3}})), 4);
        assert_eq!(chain_depth(&event, &json!({"other": 1})), 2);
    }
}
