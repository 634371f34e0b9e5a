//! Driving one claimed execution: fold its events, plan, carry the actions
//! out and record their outcomes, until it ends or has to wait (a timer, a
//! retry, a signal). Every step's start and outcome are events, so the
//! driver can stop anywhere; the next holder plans from the same events.
//!
//! A pure node (transform, condition) is scheduled, attempted and completed
//! in one write. Any other node's attempt is recorded before its work
//! starts and its outcome after, so an attempt cut short by a crash is
//! visible and recovered as a new attempt.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use commands::{CommandContext, CommandError};
use domain::error::ErrorKind;
use domain::execution::{plan, Action, ExecutionCommand, RetryDecision, RetryPolicy, Run};
use domain::workflow::{Node, NodeType, WorkflowDefinition};
use serde_json::{json, Value};

use crate::nodes::{NodeFailure, Nodes};
use crate::queue::Claim;
use crate::store;
use crate::worker::Shared;

/// Why a drive stopped early; the execution is released and retried.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A command failed for a reason other than a concurrent change.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// How a drive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// The execution has ended.
    Finished,
    /// It waits; due again at this time (`None`: only on a wake).
    Until(Option<DateTime<Utc>>),
}

/// Drives `claim` until it ends or waits.
pub(crate) async fn drive(shared: &Shared, claim: &Claim) -> Result<Parked, DriveError> {
    let mut run = Run::default();
    store::catch_up(&shared.pool, claim.execution_id, &mut run).await?;
    // The run's own version: a retry may have moved it to a newer one.
    let version = run.workflow_version.max(1);
    let definition = shared
        .definitions
        .get(&shared.pool, claim.workflow_id, version)
        .await?;
    let ctx = CommandContext::new(claim.tenant_id, "system:engine");
    let mut driver = Driver {
        shared,
        claim,
        definition,
        ctx,
        run,
    };
    loop {
        store::catch_up(&shared.pool, claim.execution_id, &mut driver.run).await?;
        if driver.run.is_finished() {
            return Ok(Parked::Finished);
        }
        let plan = plan(&driver.definition, &driver.run, shared.clock.now());
        if plan.actions.is_empty() {
            return Ok(Parked::Until(plan.wake_at));
        }
        match driver.carry_out(plan.actions).await {
            Ok(()) => {}
            // Someone else wrote first (a signal, a cancellation): fold
            // their events and plan again.
            Err(CommandError::Conflict(_)) => continue,
            Err(CommandError::Rejected {
                kind: ErrorKind::InvalidState,
                ..
            }) if driver.finished_meanwhile().await? => return Ok(Parked::Finished),
            Err(err) => return Err(err.into()),
        }
    }
}

struct Driver<'a> {
    shared: &'a Shared,
    claim: &'a Claim,
    definition: Arc<WorkflowDefinition>,
    ctx: CommandContext,
    run: Run,
}

impl Driver<'_> {
    /// Carries out one plan: commands collect into one batch, written
    /// before any outside work starts and after it ends.
    async fn carry_out(&mut self, actions: Vec<Action>) -> Result<(), CommandError> {
        let mut batch = Vec::new();
        for action in actions {
            match action {
                Action::Schedule { node_id } => {
                    batch.push(ExecutionCommand::ScheduleStep {
                        node_id: node_id.clone(),
                    });
                    if self.start(&node_id, &mut batch).await? {
                        break;
                    }
                }
                Action::Run { node_id } => {
                    if self.start(&node_id, &mut batch).await? {
                        break;
                    }
                }
                Action::Recover { node_id, attempt } => {
                    let error = format!(
                        "attempt {attempt} was interrupted: the engine running it stopped before \
                         recording an outcome, so it may have taken effect"
                    );
                    self.failed(
                        &node_id,
                        attempt,
                        NodeFailure {
                            message: error,
                            retryable: true,
                            retry_after: None,
                        },
                        &mut batch,
                    );
                }
                Action::FinishSignal { node_id, payload } => {
                    batch.push(ExecutionCommand::CompleteStep {
                        node_id,
                        output: payload,
                    });
                }
                Action::FinishDelay { node_id } => {
                    let waited = self.shared.clock.now();
                    batch.push(ExecutionCommand::CompleteStep {
                        node_id,
                        output: json!({ "waited_until": waited }),
                    });
                }
                Action::SignalTimedOut { node_id, signal } => {
                    batch.push(ExecutionCommand::FailStep {
                        node_id,
                        error: format!("no signal '{signal}' arrived before the step's timeout"),
                        retryable: false,
                    });
                }
                Action::Retry { node_id, at } => {
                    batch.push(ExecutionCommand::ScheduleRetry { node_id, at });
                }
                Action::Fail { error } => batch.push(ExecutionCommand::Fail { error }),
                Action::Complete { output } => batch.push(ExecutionCommand::Complete { output }),
                Action::TimeOut => batch.push(ExecutionCommand::TimeOut),
            }
        }
        // The next pass folds what this wrote.
        self.write(batch, false).await
    }

    /// Adds the start of `node_id`'s next attempt to `batch`. A pure node
    /// runs at once and its outcome joins the batch; a timer or wait is
    /// only recorded; any other node's start is written, the node runs and
    /// its outcome is written. True when the batch was written (the plan
    /// is then stale).
    async fn start(
        &mut self,
        node_id: &str,
        batch: &mut Vec<ExecutionCommand>,
    ) -> Result<bool, CommandError> {
        let definition = self.definition.clone();
        let Some(node) = definition.node(node_id) else {
            batch.push(ExecutionCommand::Fail {
                error: format!(
                    "node '{node_id}' is not in version {}",
                    self.claim.workflow_version
                ),
            });
            return Ok(false);
        };
        let attempt = self.run.steps.get(node_id).map_or(0, |s| s.attempts) + 1;
        batch.push(ExecutionCommand::StartStepAttempt {
            node_id: node_id.to_owned(),
        });
        match node.node_type {
            NodeType::Delay => Ok(false),
            NodeType::WaitForSignal => {
                let signal = node.config["signal"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                batch.push(ExecutionCommand::WaitForSignal {
                    node_id: node_id.to_owned(),
                    signal,
                });
                Ok(false)
            }
            node_type if Nodes::is_pure(node_type) => {
                let outcome = self.run_node(node, attempt).await;
                self.outcome(node, attempt, outcome, batch);
                Ok(false)
            }
            _ => {
                self.write(std::mem::take(batch), true).await?;
                let outcome = self.run_node(node, attempt).await;
                let mut recorded = Vec::new();
                self.outcome(node, attempt, outcome, &mut recorded);
                self.write_outcome(node_id, attempt, recorded).await?;
                Ok(true)
            }
        }
    }

    async fn run_node(&self, node: &Node, attempt: u32) -> Result<Value, NodeFailure> {
        let mut context = self.run.expression_context();
        context["execution"] = json!({
            "id": self.claim.execution_id,
            "tenant_id": self.claim.tenant_id,
            "workflow_id": self.claim.workflow_id,
            "workflow_version": self.run.workflow_version,
            "attempt": attempt,
        });
        let key = format!("{}:{}", self.claim.execution_id, node.id);
        let _span = tracing::debug_span!("step", execution_id = %self.claim.execution_id, node = node.id, attempt);
        let started = std::time::Instant::now();
        let work = self.shared.nodes.run(node, &context, &key);
        let outcome = match step_timeout(node) {
            None => work.await,
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(outcome) => outcome,
                // Cut short like a lost attempt: it may have taken effect.
                Err(_) => Err(NodeFailure {
                    message: format!(
                        "the step did not finish within its timeout of {} ms; it may have taken effect",
                        limit.as_millis()
                    ),
                    retryable: true,
                    retry_after: None,
                }),
            },
        };
        let node_type = node.node_type.as_str();
        let result = match &outcome {
            Ok(_) => "completed",
            Err(failure) if failure.retryable => "failed_retryable",
            Err(_) => "failed",
        };
        metrics::counter!("jobsprint_engine_steps_total", "node_type" => node_type, "outcome" => result)
            .increment(1);
        metrics::histogram!("jobsprint_engine_step_duration_seconds", "node_type" => node_type)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    fn outcome(
        &self,
        node: &Node,
        attempt: u32,
        outcome: Result<Value, NodeFailure>,
        batch: &mut Vec<ExecutionCommand>,
    ) {
        match outcome {
            Ok(output) => batch.push(ExecutionCommand::CompleteStep {
                node_id: node.id.clone(),
                output,
            }),
            Err(failure) => self.failed(&node.id, attempt, failure, batch),
        }
    }

    /// Records a failed attempt and, when the node's policy allows, the
    /// next one; otherwise the planner fails the run on the next pass.
    fn failed(
        &self,
        node_id: &str,
        attempt: u32,
        failure: NodeFailure,
        batch: &mut Vec<ExecutionCommand>,
    ) {
        let policy = self
            .definition
            .node(node_id)
            .map(RetryPolicy::of)
            .unwrap_or_default();
        batch.push(ExecutionCommand::FailStep {
            node_id: node_id.to_owned(),
            error: failure.message,
            retryable: failure.retryable,
        });
        let decision = policy.after_failure(
            attempt,
            failure.retryable,
            self.shared.clock.now(),
            failure.retry_after,
            rand::random::<f64>(),
        );
        if let RetryDecision::RetryAt(at) = decision {
            batch.push(ExecutionCommand::ScheduleRetry {
                node_id: node_id.to_owned(),
                at,
            });
        }
    }

    /// Writes `batch` as one command, expecting no other writer since the
    /// events folded so far; folds the result when `fold` (another write
    /// follows before the next pass).
    async fn write(
        &mut self,
        batch: Vec<ExecutionCommand>,
        fold: bool,
    ) -> Result<(), CommandError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.shared
            .commands
            .execute_execution(
                &self.ctx,
                self.claim.execution_id,
                ExecutionCommand::Batch { commands: batch },
                Some(self.run.version),
            )
            .await?;
        if fold {
            store::catch_up(&self.shared.pool, self.claim.execution_id, &mut self.run)
                .await
                .map_err(|err| CommandError::Internal(err.to_string()))?;
        }
        Ok(())
    }

    /// Writes the outcome of an attempt whose work is done. A concurrent
    /// write (a signal to another step) must not lose it: while the step
    /// is still in this attempt, fold and write again.
    async fn write_outcome(
        &mut self,
        node_id: &str,
        attempt: u32,
        outcome: Vec<ExecutionCommand>,
    ) -> Result<(), CommandError> {
        loop {
            match self.write(outcome.clone(), false).await {
                Err(CommandError::Conflict(_)) => {
                    store::catch_up(&self.shared.pool, self.claim.execution_id, &mut self.run)
                        .await
                        .map_err(|err| CommandError::Internal(err.to_string()))?;
                    let current = self.run.steps.get(node_id);
                    let same = current.is_some_and(|step| {
                        step.status == domain::execution::StepStatus::Running
                            && step.attempts == attempt
                    });
                    if !same || self.run.is_finished() {
                        return Ok(());
                    }
                }
                other => return other,
            }
        }
    }

    async fn finished_meanwhile(&mut self) -> Result<bool, DriveError> {
        store::catch_up(&self.shared.pool, self.claim.execution_id, &mut self.run).await?;
        Ok(self.run.is_finished())
    }
}

/// A node's own time limit (`"timeout": "30s"` in its config); a
/// `wait_for_signal` node's timeout is how long it waits instead, and a
/// `delay` has none.
fn step_timeout(node: &Node) -> Option<std::time::Duration> {
    if matches!(node.node_type, NodeType::WaitForSignal | NodeType::Delay) {
        return None;
    }
    node.config
        .get("timeout")
        .and_then(|t| domain::workflow::parse_duration(t).ok())
}
