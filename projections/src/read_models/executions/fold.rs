//! What each Execution event does to the `executions` and
//! `execution_steps` rows, applied in memory to the rows of one batch.
//!
//! The rules: an execution's row is made by its `ExecutionStarted` and
//! moved by every later event (`updated_at`, last sequence and position);
//! an ending sets the status, the ending's value and the duration; a retry
//! undoes the ending and removes the steps it resets; a step's row is made
//! by its `StepScheduled` and moved by the step's later events. An event
//! with no row to apply to, or a second start, is rejected (poison).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::execution::ExecutionEvent;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::step::Step;
use super::ExecutionChange;
use crate::history::StoredEvent;
use crate::projector::ApplyError;
use crate::upcast::ensure_current;

/// The error text of an execution that ran out of time.
const TIMED_OUT: &str = "the execution ran out of time";

/// An `executions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Execution {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub status: String,
    pub trigger: Value,
    pub idempotency_key: Option<String>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cancel_reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub updated_at: DateTime<Utc>,
    pub last_sequence: i64,
    pub last_position: i64,
}

/// A step's row as the batch leaves it.
#[derive(Debug)]
pub(super) struct StepSlot {
    /// `None`: there is no such row (any more).
    pub row: Option<Step>,
    /// Whether the batch changed it (only those are written).
    pub changed: bool,
}

/// An event of the batch, read.
pub(super) struct Parsed {
    /// Its index in the batch.
    pub index: usize,
    /// The execution.
    pub id: Uuid,
    at: DateTime<Utc>,
    sequence: i64,
    position: i64,
    event_type: String,
    possibly_done: bool,
    event: ExecutionEvent,
}

/// Reads the batch's Execution events (others are not this projection's
/// and are left out), rejecting the first one that cannot be read.
pub(super) fn parse_all(events: &[&StoredEvent]) -> Result<Vec<Parsed>, (usize, ApplyError)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| event.aggregate_type == "Execution")
        .map(|(index, event)| parse(index, event).map_err(|err| (index, err)))
        .collect()
}

fn parse(index: usize, event: &StoredEvent) -> Result<Parsed, ApplyError> {
    ensure_current(event)?;
    let id = event.aggregate_id.parse().map_err(|_| {
        ApplyError::Rejected(format!(
            "execution id '{}' is not a UUID",
            event.aggregate_id
        ))
    })?;
    let parsed = ExecutionEvent::deserialize(&event.payload).map_err(|err| {
        ApplyError::Rejected(format!("malformed {} payload: {err}", event.event_type))
    })?;
    Ok(Parsed {
        index,
        id,
        at: event.recorded_at,
        sequence: event.sequence,
        position: event.global_position,
        event_type: event.event_type.clone(),
        possibly_done: possibly_done(event),
        event: parsed,
    })
}

/// The rows one batch reads and writes, and the notifications it sends.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The batch's executions that have a row, as the batch leaves them.
    pub executions: HashMap<Uuid, Execution>,
    /// Which of them the batch changed.
    pub changed: HashSet<Uuid>,
    /// Their steps, by (execution, node).
    pub steps: HashMap<(Uuid, String), StepSlot>,
    /// The change notifications, in order, each once.
    pub notifications: Vec<String>,
    notified: HashSet<String>,
}

/// How an event ends the execution, if it does.
enum Ending {
    None,
    Completed(Value),
    Failed(String),
    Cancelled(Option<String>),
    TimedOut,
}

impl Batch {
    /// The batch over rows read from the database.
    pub(super) fn new(executions: Vec<Execution>, steps: Vec<Step>) -> Self {
        Self {
            executions: executions.into_iter().map(|row| (row.id, row)).collect(),
            steps: steps
                .into_iter()
                .map(|row| {
                    let key = (row.execution_id, row.node_id.clone());
                    (
                        key,
                        StepSlot {
                            row: Some(row),
                            changed: false,
                        },
                    )
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Applies one event to the rows.
    pub(super) fn apply(&mut self, event: Parsed) -> Result<(), ApplyError> {
        let id = event.id;
        let ending = match event.event {
            ExecutionEvent::ExecutionStarted {
                tenant_id,
                workflow_id,
                workflow_version,
                input,
                trigger,
                idempotency_key,
            } => {
                if self.executions.contains_key(&id) {
                    return Err(ApplyError::Rejected(format!(
                        "execution {id} is already started (its row exists)"
                    )));
                }
                let trigger = serde_json::to_value(trigger)
                    .map_err(|err| ApplyError::Rejected(format!("trigger: {err}")))?;
                let workflow_version = i32::try_from(workflow_version).map_err(|_| {
                    ApplyError::Rejected(format!("version {workflow_version} is out of range"))
                })?;
                let row = Execution {
                    id,
                    tenant_id: tenant_id.0,
                    workflow_id: workflow_id.0,
                    workflow_version,
                    status: "running".to_owned(),
                    trigger,
                    idempotency_key,
                    input,
                    output: None,
                    error: None,
                    cancel_reason: None,
                    started_at: event.at,
                    finished_at: None,
                    duration_ms: None,
                    updated_at: event.at,
                    last_sequence: event.sequence,
                    last_position: event.position,
                };
                self.executions.insert(id, row);
                Ending::None
            }
            ExecutionEvent::ExecutionCompleted { output } => Ending::Completed(output),
            ExecutionEvent::ExecutionFailed { error } => Ending::Failed(error),
            ExecutionEvent::ExecutionCancelled { reason } => Ending::Cancelled(reason),
            ExecutionEvent::ExecutionTimedOut => Ending::TimedOut,
            ExecutionEvent::ExecutionRetried {
                workflow_version,
                reset,
                ..
            } => {
                // Running again: the ending is undone, the reset steps are
                // gone until they are scheduled again.
                let row = self.row(id, &event.event_type)?;
                row.status = "running".to_owned();
                row.output = None;
                row.error = None;
                row.finished_at = None;
                row.duration_ms = None;
                row.workflow_version = i32::try_from(workflow_version).unwrap_or(i32::MAX);
                for node_id in reset {
                    self.steps.insert(
                        (id, node_id),
                        StepSlot {
                            row: None,
                            changed: true,
                        },
                    );
                }
                Ending::None
            }
            step => {
                self.apply_step(id, event.at, &event.event_type, event.possibly_done, step)?;
                Ending::None
            }
        };
        self.touch(
            id,
            event.at,
            event.sequence,
            event.position,
            &event.event_type,
            ending,
        )
    }

    fn row(&mut self, id: Uuid, event_type: &str) -> Result<&mut Execution, ApplyError> {
        self.executions.get_mut(&id).ok_or_else(|| {
            ApplyError::Rejected(format!(
                "execution {id} has no row to apply {event_type} to (its ExecutionStarted was not applied)"
            ))
        })
    }

    /// Moves the execution row to the event (status, ending and duration
    /// when it ends the run, `updated_at`, last sequence and position) and
    /// queues the change notification.
    fn touch(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        sequence: i64,
        position: i64,
        event_type: &str,
        ending: Ending,
    ) -> Result<(), ApplyError> {
        let row = self.row(id, event_type)?;
        let status = match ending {
            Ending::None => None,
            Ending::Completed(output) => {
                row.output = Some(output);
                Some("completed")
            }
            Ending::Failed(error) => {
                row.error = Some(error);
                Some("failed")
            }
            Ending::Cancelled(reason) => {
                row.cancel_reason = reason.or(row.cancel_reason.take());
                Some("cancelled")
            }
            Ending::TimedOut => {
                row.error = Some(TIMED_OUT.to_owned());
                Some("timed_out")
            }
        };
        if let Some(status) = status {
            row.status = status.to_owned();
            row.finished_at = Some(at);
            row.duration_ms = Some(duration_ms(row.started_at, at));
        }
        row.updated_at = at;
        row.last_sequence = sequence;
        row.last_position = position;
        let change = ExecutionChange {
            tenant_id: row.tenant_id,
            execution_id: id,
            workflow_id: row.workflow_id,
            status: row.status.clone(),
        };
        self.changed.insert(id);
        let payload = serde_json::to_string(&change)
            .map_err(|err| ApplyError::Rejected(format!("notification: {err}")))?;
        if self.notified.insert(payload.clone()) {
            self.notifications.push(payload);
        }
        Ok(())
    }

    /// Applies a step event to its step's row.
    fn apply_step(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        event_type: &str,
        possibly_done: bool,
        step: ExecutionEvent,
    ) -> Result<(), ApplyError> {
        let node_id = match &step {
            ExecutionEvent::StepScheduled { node_id } => {
                let tenant_id = self.row(id, event_type)?.tenant_id;
                let slot = self.steps.entry((id, node_id.clone())).or_insert(StepSlot {
                    row: None,
                    changed: false,
                });
                if slot.row.is_some() {
                    return Err(ApplyError::Rejected(format!(
                        "step {node_id} of execution {id} is already scheduled"
                    )));
                }
                slot.row = Some(Step::scheduled(id, node_id.clone(), tenant_id, at));
                slot.changed = true;
                return Ok(());
            }
            ExecutionEvent::StepAttemptStarted { node_id, .. }
            | ExecutionEvent::StepCompleted { node_id, .. }
            | ExecutionEvent::StepFailed { node_id, .. }
            | ExecutionEvent::StepRetryScheduled { node_id, .. }
            | ExecutionEvent::StepWaitingForSignal { node_id, .. }
            | ExecutionEvent::SignalReceived { node_id, .. } => node_id.clone(),
            _ => {
                return Err(ApplyError::Rejected(format!(
                    "{event_type} is not a step event"
                )))
            }
        };
        let slot = self
            .steps
            .get_mut(&(id, node_id.clone()))
            .filter(|slot| slot.row.is_some());
        let Some(StepSlot {
            row: Some(row),
            changed,
        }) = slot
        else {
            return Err(ApplyError::Rejected(format!(
                "step {node_id} of execution {id} has no row to apply {event_type} to"
            )));
        };
        row.apply(step, at, possibly_done)?;
        *changed = true;
        Ok(())
    }
}

/// `finished - started` in milliseconds, rounded half away from zero (as
/// PostgreSQL's `round` of the epoch difference did).
fn duration_ms(started: DateTime<Utc>, finished: DateTime<Utc>) -> i64 {
    let micros = (finished - started).num_microseconds().unwrap_or(i64::MAX);
    if micros >= 0 {
        (micros + 500) / 1000
    } else {
        (micros - 500) / 1000
    }
}

/// Whether a `StepFailed` says the failed attempt's effect may already have
/// happened (`"possibly_done": true` beside its fields). Version 1 of the
/// event has no such field, so this is false for every event stored today;
/// the column is there for the engine to fill.
fn possibly_done(event: &StoredEvent) -> bool {
    event.payload["StepFailed"]["possibly_done"].as_bool() == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn durations_round_half_away_from_zero() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let us = chrono::Duration::microseconds;
        assert_eq!(duration_ms(t, t + us(1_499)), 1);
        assert_eq!(duration_ms(t, t + us(1_500)), 2);
        assert_eq!(duration_ms(t, t + us(12_345_678)), 12_346);
        assert_eq!(duration_ms(t, t - us(1_500)), -2);
    }
}
