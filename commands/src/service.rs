//! The command layer: one cqrs-es framework per aggregate over the shared
//! event store, with command-id deduplication, expected-version checks and
//! bounded retries on write races.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use domain::command::Command;
use domain::error::{DomainError, ErrorKind};
use domain::execution::Execution;
use domain::integration::Integration;
use domain::workflow::Workflow;
use sqlx::{PgPool, Row};
use tracing::Instrument;
use uuid::Uuid;

use crate::cache::AggregateCache;
use crate::context::CommandContext;
use crate::error::{from_aggregate_error, CommandError};
use crate::event_store::SnapshotStore;
use crate::secrets::data_keys::DataKeys;
use crate::secrets::subject_keys::SubjectKeys;
use crate::store::{EventRepository, Written};
use crate::write_scope;

type Store<A> = SnapshotStore<A>;
type Framework<A> = CqrsFramework<A, Store<A>>;

/// One aggregate type's framework and the cache its store fills.
pub(crate) struct Lane<A: Aggregate<Services = ()> + Clone> {
    framework: Framework<A>,
    cache: Arc<AggregateCache<A>>,
}

impl<A: Aggregate<Services = ()> + Clone> Lane<A> {
    pub(crate) fn new(repo: &EventRepository, config: &CommandConfig) -> Self {
        let cache = Arc::new(AggregateCache::new(config.cache_capacity));
        let store = SnapshotStore::new(repo.clone(), config.snapshot_every, cache.clone());
        Self {
            framework: CqrsFramework::new(store, vec![], ()),
            cache,
        }
    }
}

/// How the command layer is set up.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// A snapshot is written every this many events, so loading an aggregate
    /// costs at most one snapshot plus this many events.
    pub snapshot_every: usize,
    /// Attempts for a command sent without an expected version that lost a
    /// write race (each attempt re-validates against the new state).
    pub max_attempts: u32,
    /// Seals integration credentials with per-tenant data keys and users'
    /// personal data with per-subject keys under the same master keys;
    /// `None` refuses commands that carry credentials and writes personal
    /// data unsealed (docs/adr/0016-erasure.md).
    pub secrets: Option<Arc<DataKeys>>,
    /// Aggregates whose last committed state is kept in memory, per
    /// aggregate type; 0 loads every aggregate from the store each time.
    pub cache_capacity: usize,
}

impl Default for CommandConfig {
    fn default() -> Self {
        Self {
            snapshot_every: 20,
            max_attempts: 5,
            secrets: None,
            cache_capacity: 10_000,
        }
    }
}

/// The result of an accepted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The aggregate the command addressed.
    pub aggregate_id: String,
    /// The aggregate's version after the command.
    pub version: u64,
    /// The global position of the aggregate's last event.
    pub position: i64,
    /// The command id the result belongs to.
    pub command_id: Uuid,
    /// True when this command id had already been applied and this is its
    /// recorded result.
    pub duplicate: bool,
}

/// Entry point of the write side.
pub struct Commands {
    pub(crate) pool: PgPool,
    pub(crate) workflows: Lane<Workflow>,
    pub(crate) integrations: Lane<Integration>,
    pub(crate) executions: Lane<Execution>,
    pub(crate) workflow_store: Store<Workflow>,
    pub(crate) config: CommandConfig,
    /// The repository every lane writes through (identity's too).
    pub(crate) repo: EventRepository,
    stripes: Stripes,
}

impl Commands {
    /// The command layer over the event store in `pool`.
    pub fn new(pool: PgPool, config: CommandConfig) -> Self {
        let subject_keys = Arc::new(SubjectKeys::new(pool.clone(), config.secrets.clone()));
        let repo = EventRepository::sealing(pool.clone(), subject_keys);
        Self {
            workflows: Lane::new(&repo, &config),
            integrations: Lane::new(&repo, &config),
            executions: Lane::new(&repo, &config),
            // Reads for other aggregates' decisions never use a cache: a
            // state another process changed must be seen.
            workflow_store: SnapshotStore::new(
                repo.clone(),
                config.snapshot_every,
                Arc::new(AggregateCache::new(0)),
            ),
            pool,
            config,
            repo,
            stripes: Stripes::default(),
        }
    }

    /// The pool commands write through.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The settings this command layer runs with.
    pub fn config(&self) -> &CommandConfig {
        &self.config
    }

    /// Loads the current state of a workflow, for commands that depend on it.
    pub(crate) async fn load_workflow(&self, id: &str) -> Result<Workflow, CommandError> {
        let context = self
            .workflow_store
            .load_aggregate(id)
            .await
            .map_err(from_aggregate_error::<domain::workflow::WorkflowError>)?;
        Ok(context.aggregate)
    }

    /// Runs one command against one aggregate through its framework.
    pub(crate) async fn execute<A, B>(
        &self,
        lane: &Lane<A>,
        name: &'static str,
        ctx: &CommandContext,
        aggregate_id: &str,
        body: B,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Aggregate<Command = Command<B>, Services = ()> + Clone,
        A::Error: DomainError,
        B: Clone,
    {
        let command_id = ctx.command_id.unwrap_or_else(Uuid::now_v7);
        let span = tracing::info_span!(
            "command",
            command = name,
            aggregate_type = A::TYPE,
            aggregate_id,
            %command_id,
            tenant_id = %ctx.tenant_id,
            trace_id = %ctx.trace_id,
        );
        let started = Instant::now();
        let result = async {
            // Commands on one aggregate queue in this process instead of
            // racing each other to the same sequence; races with other
            // processes are still settled by the store (and retried).
            let _turn = self.stripes.lock(A::TYPE, aggregate_id).await;
            if ctx.command_id.is_some() {
                if let Some(done) = self
                    .recorded(command_id, ctx, A::TYPE, aggregate_id)
                    .await?
                {
                    return Ok(done);
                }
            }
            self.execute_fresh(lane, ctx, command_id, aggregate_id, body, expected_version)
                .await
        }
        .instrument(span.clone())
        .await;
        let outcome = match &result {
            Ok(done) if done.duplicate => "duplicate",
            Ok(_) => "accepted",
            Err(err) => err.outcome(),
        };
        metrics::counter!("jobsprint_commands_total",
            "aggregate" => A::TYPE, "command" => name, "outcome" => outcome)
        .increment(1);
        metrics::histogram!("jobsprint_command_duration_seconds", "aggregate" => A::TYPE, "command" => name)
            .record(started.elapsed().as_secs_f64());
        span.in_scope(|| match &result {
            Ok(done) => tracing::info!(
                version = done.version,
                position = done.position,
                outcome,
                "command applied"
            ),
            Err(CommandError::Rejected { .. } | CommandError::Conflict(_)) => {
                tracing::info!(error = %result.as_ref().unwrap_err(), outcome, "command refused")
            }
            Err(err) => tracing::error!(error = %err, outcome, "command failed"),
        });
        result
    }

    async fn execute_fresh<A, B>(
        &self,
        lane: &Lane<A>,
        ctx: &CommandContext,
        command_id: Uuid,
        aggregate_id: &str,
        body: B,
        expected_version: Option<u64>,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Aggregate<Command = Command<B>, Services = ()> + Clone,
        A::Error: DomainError,
        B: Clone,
    {
        let metadata = ctx.metadata(command_id).to_map();
        let mut attempt = 1;
        loop {
            let command = Command::new(ctx.tenant_id, body.clone()).expecting(expected_version);
            let run = lane
                .framework
                .execute_with_metadata(aggregate_id, command, metadata.clone());
            let (result, report) = write_scope::run(ctx.command_id.is_some(), run).await;
            match result {
                Ok(()) => {
                    if let Some(written) = report.written {
                        return Ok(outcome(aggregate_id, command_id, written, false));
                    }
                    if report.from_cache {
                        // A no-op decided on a cached state may be stale:
                        // decide again on the stored state.
                        lane.cache.remove(aggregate_id);
                        continue;
                    }
                    // Accepted as a no-op. If this very command id was applied
                    // meanwhile (a concurrent retry), answer with its result.
                    if ctx.command_id.is_some() {
                        if let Some(done) = self
                            .recorded(command_id, ctx, A::TYPE, aggregate_id)
                            .await?
                        {
                            return Ok(done);
                        }
                    }
                    let written = self.last_written(A::TYPE, aggregate_id).await?;
                    return Ok(outcome(aggregate_id, command_id, written, false));
                }
                Err(AggregateError::UserError(_)) if report.from_cache => {
                    // Same for a rejection: only the stored state may reject.
                    lane.cache.remove(aggregate_id);
                }
                Err(AggregateError::AggregateConflict) => {
                    // Lost a race: either the same command id committed first
                    // (answer with its result) or another command did.
                    if let Some(done) = self
                        .recorded(command_id, ctx, A::TYPE, aggregate_id)
                        .await?
                    {
                        return Ok(done);
                    }
                    if expected_version.is_some() || attempt >= self.config.max_attempts {
                        return Err(CommandError::Conflict(format!(
                            "{} {aggregate_id} was changed by another command at the same time; reload it and retry",
                            A::TYPE.to_lowercase()
                        )));
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => return Err(from_aggregate_error(err)),
            }
        }
    }

    /// The recorded result of a command id already applied, if any.
    async fn recorded(
        &self,
        command_id: Uuid,
        ctx: &CommandContext,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<CommandOutcome>, CommandError> {
        let row = sqlx::query(
            "SELECT tenant_id, aggregate_type, aggregate_id, version, position
               FROM command_log WHERE tenant_id = $1 AND command_id = $2",
        )
        .bind(ctx.tenant_id.0)
        .bind(command_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let same_target = row.get::<Uuid, _>("tenant_id") == ctx.tenant_id.0
            && row.get::<String, _>("aggregate_type") == aggregate_type
            && row.get::<String, _>("aggregate_id") == aggregate_id;
        if !same_target {
            return Err(CommandError::rejected(
                ErrorKind::Conflict,
                format!("command id {command_id} was already used for another command; send a new command id"),
            ));
        }
        let written = Written {
            version: row.get::<i64, _>("version") as u64,
            position: row.get("position"),
        };
        Ok(Some(outcome(aggregate_id, command_id, written, true)))
    }

    /// Version and position of an aggregate's last event, for commands that
    /// were accepted as idempotent repeats and wrote nothing.
    async fn last_written(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Written, CommandError> {
        let row = sqlx::query(
            "SELECT sequence, global_position FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence DESC LIMIT 1",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(
            Written {
                version: 0,
                position: 0,
            },
            |row| Written {
                version: row.get::<i64, _>("sequence") as u64,
                position: row.get("global_position"),
            },
        ))
    }
}

fn outcome(
    aggregate_id: &str,
    command_id: Uuid,
    written: Written,
    duplicate: bool,
) -> CommandOutcome {
    CommandOutcome {
        aggregate_id: aggregate_id.to_owned(),
        version: written.version,
        position: written.position,
        command_id,
        duplicate,
    }
}

/// Full jitter over an exponentially growing window (2, 4, 8, ... ms, at most
/// 256): racing writers spread out instead of colliding again in step.
fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let window = 1u64 << attempt.clamp(1, 8);
    Duration::from_millis(rand::thread_rng().gen_range(1..=window))
}

/// Striped per-aggregate locks: a bounded set of mutexes, an aggregate maps to
/// one by hash. Two aggregates may share a stripe; that only queues them.
struct Stripes(Vec<tokio::sync::Mutex<()>>);

const STRIPES: usize = 1024;

impl Default for Stripes {
    fn default() -> Self {
        Self((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl Stripes {
    async fn lock(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (aggregate_type, aggregate_id).hash(&mut hasher);
        self.0[(hasher.finish() % STRIPES as u64) as usize]
            .lock()
            .await
    }
}
