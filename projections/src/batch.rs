//! One batch, one transaction: the read-model writes of a batch of events
//! commit together with the projection's checkpoint and its aggregates'
//! last applied sequences (docs/adr/0007-projections.md).

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::PgConnection;

use crate::checkpoint::{self, AggregateKey, BatchRecord, ProjectionState};
use crate::commit_order::{CommittedEvent, Cursor};
use crate::history::StoredEvent;
use crate::projector::{PoisonPolicy, Projection, Projector, ProjectorError};
use crate::status;

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Events applied.
    pub applied: usize,
    /// Redeliveries skipped (sequence at or below the aggregate's last).
    pub duplicates: usize,
    /// Events of aggregate types the projection does not read.
    pub passed: usize,
    /// Events sent to the dead-letter table.
    pub dead_lettered: usize,
}

/// The result of [`Projector::apply_batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The whole batch committed; the checkpoint is at `through`.
    Committed {
        /// The checkpoint now.
        through: Cursor,
        /// What happened to the events.
        counts: BatchCounts,
    },
    /// The events before the halting one committed, then the projection
    /// halted (`Stopped` on poison, `Failed` on a gap).
    Halted {
        /// The checkpoint now (just before the halting event).
        through: Cursor,
        /// What happened to the events before it.
        counts: BatchCounts,
        /// The state it is in.
        state: ProjectionState,
        /// Why.
        error: String,
    },
    /// The projection was already halted; nothing was done.
    NotRunning(ProjectionState),
}

enum Attempt {
    Done(BatchOutcome),
    /// The event at this index is poison; the transaction was rolled back.
    Poisoned(usize, String),
}

impl<P: Projection> Projector<P> {
    /// Applies `events` (in source order) in one transaction with the
    /// checkpoint and the aggregates' sequences. Safe to call again with the
    /// same events: they are recognized as redeliveries. A poison event
    /// rolls the transaction back and the batch is replayed with that event
    /// dead-lettered, so the events before it still commit.
    pub async fn apply_batch(
        &self,
        events: &[CommittedEvent],
    ) -> Result<BatchOutcome, ProjectorError> {
        let mut poison = BTreeMap::new();
        loop {
            match self.attempt(events, &poison).await? {
                Attempt::Done(outcome) => {
                    let dead = match &outcome {
                        BatchOutcome::Committed { counts, .. }
                        | BatchOutcome::Halted { counts, .. } => counts.dead_lettered,
                        BatchOutcome::NotRunning(_) => 0,
                    };
                    status::count_dead_letters(P::NAME, dead);
                    return Ok(outcome);
                }
                Attempt::Poisoned(index, error) => {
                    let event = &events[index].event;
                    tracing::warn!(
                        projection = P::NAME,
                        aggregate_id = event.aggregate_id,
                        sequence = event.sequence,
                        position = event.global_position,
                        error,
                        "poison event"
                    );
                    poison.insert(index, error);
                }
            }
        }
    }

    async fn attempt(
        &self,
        events: &[CommittedEvent],
        poison: &BTreeMap<usize, String>,
    ) -> Result<Attempt, ProjectorError> {
        let mut tx = self.pool.begin().await?;
        let current = checkpoint::lock(&mut tx, P::NAME).await?;
        if current.state != ProjectionState::Running {
            return Ok(Attempt::Done(BatchOutcome::NotRunning(current.state)));
        }
        // Each aggregate once (a batch often holds many events of one).
        let keys: Vec<AggregateKey> = events
            .iter()
            .map(|c| &c.event)
            .filter(|e| P::AGGREGATE_TYPES.contains(&e.aggregate_type.as_str()))
            .map(|e| (e.aggregate_type.clone(), e.aggregate_id.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let kept = self.lock_sequences().as_ref().map(|kept| {
            keys.iter()
                .filter_map(|key| kept.get(key).map(|last| (key.clone(), *last)))
                .collect::<HashMap<_, _>>()
        });
        let in_memory = kept.is_some();
        let last = match kept {
            Some(last) => last,
            None => checkpoint::load_sequences(&mut tx, P::NAME, &keys).await?,
        };
        let mut batch = Progress {
            last,
            changed: HashMap::new(),
            applied: Vec::new(),
            pending: Vec::new(),
            counts: BatchCounts::default(),
            through: current.cursor,
        };
        let mut halt = None;
        for (index, committed) in events.iter().enumerate() {
            match self
                .step(&mut tx, &mut batch, committed, poison.get(&index))
                .await?
            {
                Step::Next => {}
                Step::Apply => batch.pending.push(index),
                Step::Halt(state, error) => {
                    halt = Some((state, error));
                    break;
                }
            }
        }
        // Everything to apply goes to the projection at once, in order, so
        // it may write the batch with a few statements.
        let pending: Vec<&StoredEvent> = batch.pending.iter().map(|&i| &events[i].event).collect();
        if let Err((at, err)) = self.projection.apply_all(&mut tx, &pending).await {
            // The transaction is dropped: rolled back.
            let index = batch.pending.get(at).copied().unwrap_or(0);
            if err.is_poison() {
                return Ok(Attempt::Poisoned(index, err.to_string()));
            }
            return Err(ProjectorError::Apply(err));
        }
        let (state, error) = match &halt {
            Some((state, error)) => (*state, Some(error.as_str())),
            None => (ProjectionState::Running, None),
        };
        let none = HashMap::new();
        let record = BatchRecord {
            cursor: batch.through,
            state,
            error,
            changed: if in_memory { &none } else { &batch.changed },
            // Clearing costs a probe per applied event: only when needed.
            applied: if current.dead_letters {
                &batch.applied
            } else {
                &[]
            },
        };
        checkpoint::commit_batch(&mut tx, P::NAME, record).await?;
        tx.commit().await?;
        if in_memory {
            if let Some(kept) = self.lock_sequences().as_mut() {
                kept.extend(batch.changed.drain());
            }
        }
        let (through, counts) = (batch.through, batch.counts);
        Ok(Attempt::Done(match halt {
            None => BatchOutcome::Committed { through, counts },
            Some((state, error)) => BatchOutcome::Halted {
                through,
                counts,
                state,
                error,
            },
        }))
    }

    /// Handles one event of the batch: passes it over, skips a redelivery,
    /// halts on a gap, dead-letters a known poison event, or marks it to be
    /// applied with the others after the loop.
    async fn step<'e>(
        &self,
        conn: &mut PgConnection,
        batch: &mut Progress<'e>,
        committed: &'e CommittedEvent,
        poison: Option<&String>,
    ) -> Result<Step, ProjectorError> {
        let event = &committed.event;
        if !P::AGGREGATE_TYPES.contains(&event.aggregate_type.as_str()) {
            batch.counts.passed += 1;
            batch.through = batch.through.max(committed.cursor);
            return Ok(Step::Next);
        }
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        let expected = batch.last.get(&key).copied().unwrap_or(0) + 1;
        if event.sequence < expected {
            batch.counts.duplicates += 1;
            batch.through = batch.through.max(committed.cursor);
            return Ok(Step::Next);
        }
        if event.sequence > expected {
            let error = gap_message(event, expected);
            return Ok(Step::Halt(ProjectionState::Failed, error));
        }
        if let Some(error) = poison {
            checkpoint::dead_letter(conn, P::NAME, committed, error).await?;
            batch.counts.dead_lettered += 1;
            if self.config.on_poison == PoisonPolicy::Stop {
                let error = stop_message(event, error);
                return Ok(Step::Halt(ProjectionState::Stopped, error));
            }
        } else {
            batch.counts.applied += 1;
            batch.applied.push(committed);
        }
        // To be applied, or dead-lettered and skipped: either way the
        // aggregate moves on, so its next event is not a gap. (If applying
        // fails, the whole transaction is rolled back.)
        batch.last.insert(key.clone(), event.sequence);
        batch.changed.insert(key, event.sequence);
        batch.through = batch.through.max(committed.cursor);
        Ok(if poison.is_some() {
            Step::Next
        } else {
            Step::Apply
        })
    }
}

/// What a batch has done so far inside its transaction.
struct Progress<'e> {
    /// Last applied sequence per aggregate, as the transaction sees it.
    last: HashMap<AggregateKey, i64>,
    /// The sequences to write back.
    changed: HashMap<AggregateKey, i64>,
    /// Events applied (their old dead letters are cleared).
    applied: Vec<&'e CommittedEvent>,
    /// Indexes in the batch of the events to apply.
    pending: Vec<usize>,
    counts: BatchCounts,
    /// The checkpoint to write.
    through: Cursor,
}

/// What to do after one event.
enum Step {
    Next,
    /// Apply it, with the batch's other events, after the loop.
    Apply,
    Halt(ProjectionState, String),
}

fn gap_message(event: &StoredEvent, expected: i64) -> String {
    format!(
        "gap in {} {}: expected sequence {expected}, found {} (global position {}); \
         the projection does not skip it",
        event.aggregate_type, event.aggregate_id, event.sequence, event.global_position
    )
}

fn stop_message(event: &StoredEvent, error: &str) -> String {
    format!(
        "poison event {} of {} {} sequence {} (global position {}): {error}; \
         it is in projection_dead_letters: fix and resume, or retry it",
        event.event_type,
        event.aggregate_type,
        event.aggregate_id,
        event.sequence,
        event.global_position
    )
}
