//! The `executions` projection: one row per execution (status, trigger,
//! input, output or error, timings) and one per step (status, attempts,
//! timings, output or error, next retry), folded from Execution events.
//!
//! Timestamps are the events' `recorded_at`, never this process's clock, so
//! a rebuild gives identical rows. Only Execution events are read, and a
//! source keeps each aggregate's order, so the result does not depend on
//! how different executions' events interleave.
//!
//! A batch is folded in memory ([`fold`]): the rows of the executions it
//! touches are read once, every event is applied to them in order, and
//! they are written back with one statement per table, whatever the
//! number of events. Applying one event is the same fold over a batch of
//! one, so there is a single definition of what each event does.
//!
//! Every applied event also sends `pg_notify(`[`CHANGES_CHANNEL`]`, …)` in
//! the batch's transaction: PostgreSQL delivers it only if the batch
//! commits, and folds identical notifications of one transaction into one.
//! It goes through `jobsprint_notify`, which stays silent during a replay
//! (a rebuild must not wake subscribers with old changes).

mod fold;
mod rows;
mod step;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::bulk::{self, BulkWrite};
use crate::history::StoredEvent;
use crate::projector::{ApplyError, Projection, Replay};

/// The channel of change notifications. Each payload is a JSON object
/// `{"tenant_id", "execution_id", "workflow_id", "status"}` (see
/// [`ExecutionChange`]).
pub const CHANGES_CHANNEL: &str = "jobsprint_execution_changes";

/// One change notification, as sent on [`CHANGES_CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionChange {
    /// The execution's tenant.
    pub tenant_id: Uuid,
    /// The execution that changed.
    pub execution_id: Uuid,
    /// Its workflow.
    pub workflow_id: Uuid,
    /// Its status after the change (the stored form, e.g. `running`).
    pub status: String,
}

/// Folds Execution events into `executions` and `execution_steps`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutionsProjection;

#[async_trait]
impl Projection for ExecutionsProjection {
    const NAME: &'static str = "executions";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Execution"];
    const REPLAY: Replay = Replay::Rebuild(&["executions", "execution_steps"]);

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        self.apply_all(conn, &[event]).await.map_err(|(_, err)| err)
    }

    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)> {
        bulk::write_all(self, conn, events).await
    }
}

#[async_trait]
impl BulkWrite for ExecutionsProjection {
    /// Reads the rows of the batch's executions, folds every event into
    /// them in memory (a rejection names its event), then writes the
    /// changed rows back and sends the notifications.
    async fn write(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)> {
        let parsed = fold::parse_all(events)?;
        if parsed.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = parsed.iter().map(|event| event.id).collect();
        let mut batch = rows::load(conn, &ids)
            .await
            .map_err(|err| (0, err.into()))?;
        for event in parsed {
            let index = event.index;
            batch.apply(event).map_err(|err| (index, err))?;
        }
        rows::write(conn, batch)
            .await
            .map_err(|err| (0, err.into()))
    }
}
