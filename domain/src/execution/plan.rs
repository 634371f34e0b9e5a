//! What an execution does next: a pure function of its workflow version
//! and its events (folded into a [`Run`]) at a given time. The engine
//! carries out the actions and records their outcomes as events; planning
//! again from those events gives the next actions, so a run can stop at any
//! instant and continue where it was.
//!
//! Graph rules: the entry node runs first. An edge is taken when its source
//! completed and, for a `condition` source with a `when` label, the branch
//! the condition chose equals the label. A node runs once every incoming
//! edge is decided and at least one was taken; a node whose incoming edges
//! are all decided and none taken is skipped, and so are the nodes only it
//! leads to. The run completes when every node has completed or been
//! skipped; a step that fails for good fails the run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::retry::RetryPolicy;
use super::run::{Run, RunStep};
use super::StepStatus;
use crate::workflow::{parse_duration, Node, NodeType, WorkflowDefinition};

/// One thing the engine should do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue a node whose inputs are ready.
    Schedule {
        /// The node.
        node_id: String,
    },
    /// Start an attempt at a scheduled (or due retry) step and run it.
    Run {
        /// The node.
        node_id: String,
    },
    /// A step is running but nobody runs it: the engine that started the
    /// attempt stopped. Record the attempt as failed (it may have taken
    /// effect) and retry it.
    Recover {
        /// The node.
        node_id: String,
        /// The interrupted attempt.
        attempt: u32,
    },
    /// A `wait_for_signal` step received its signal: complete it with the
    /// payload.
    FinishSignal {
        /// The node.
        node_id: String,
        /// The signal's payload.
        payload: Value,
    },
    /// A `delay` step's timer has elapsed: complete it.
    FinishDelay {
        /// The node.
        node_id: String,
    },
    /// A `wait_for_signal` step waited past its timeout: fail it.
    SignalTimedOut {
        /// The node.
        node_id: String,
        /// The signal it waited for.
        signal: String,
    },
    /// A step failed retryably with no retry recorded: schedule one.
    Retry {
        /// The node.
        node_id: String,
        /// When the next attempt is due.
        at: DateTime<Utc>,
    },
    /// A step failed for good: fail the run.
    Fail {
        /// What to record.
        error: String,
    },
    /// The run is past its workflow's `settings.timeout`: end it as timed
    /// out.
    TimeOut,
    /// Every node completed or was skipped: complete the run.
    Complete {
        /// The final output: the output of the one completed end node, or
        /// an object of them by node id when several ran.
        output: Value,
    },
}

/// The result of [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// What to do now, in order.
    pub actions: Vec<Action>,
    /// The earliest time something becomes due (a timer, a retry, a signal
    /// timeout) when nothing else happens first.
    pub wake_at: Option<DateTime<Utc>>,
}

/// What `run` of `definition` should do at `now`. A finished run needs
/// nothing.
pub fn plan(definition: &WorkflowDefinition, run: &Run, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    if run.is_finished() || run.status.is_none() {
        return plan;
    }
    if let (Some(timeout), Some(since)) = (definition.settings.timeout(), run.running_since) {
        let deadline = add(since, timeout);
        if deadline <= now {
            plan.actions.push(Action::TimeOut);
            return plan;
        }
        wake(&mut plan, deadline);
    }
    let order = topological_order(definition);
    let mut decided: HashMap<&str, NodeFate> = HashMap::new();
    let mut unresolved = false;
    for node in order {
        let fate = match run.steps.get(&node.id) {
            Some(step) => {
                if let Some(error) = step_actions(node, step, now, &mut plan) {
                    return Plan {
                        actions: vec![Action::Fail { error }],
                        wake_at: None,
                    };
                }
                match step.status {
                    StepStatus::Completed => NodeFate::Completed(branch(node, step)),
                    _ => {
                        unresolved = true;
                        NodeFate::Pending
                    }
                }
            }
            None => match readiness(definition, node, &decided) {
                Readiness::Ready => {
                    plan.actions.push(Action::Schedule {
                        node_id: node.id.clone(),
                    });
                    unresolved = true;
                    NodeFate::Pending
                }
                Readiness::Skipped => NodeFate::Skipped,
                Readiness::Waiting => {
                    unresolved = true;
                    NodeFate::Pending
                }
            },
        };
        decided.insert(node.id.as_str(), fate);
    }
    if !unresolved && plan.actions.is_empty() {
        plan.actions.push(Action::Complete {
            output: final_output(definition, run),
        });
    }
    plan
}

/// How long a `delay` node waits, or the instant it waits for.
pub fn delay_until(node: &Node, started: DateTime<Utc>) -> DateTime<Utc> {
    if let Some(until) = node.config.get("until").and_then(Value::as_str) {
        if let Ok(until) = DateTime::parse_from_rfc3339(until) {
            return until.with_timezone(&Utc);
        }
    }
    let duration = node
        .config
        .get("duration")
        .and_then(|d| parse_duration(d).ok())
        .unwrap_or(Duration::ZERO);
    add(started, duration)
}

/// The branch label a `condition` step chose (its output's `branch`).
pub fn chosen_branch(output: &Value) -> Option<&str> {
    output.get("branch").and_then(Value::as_str)
}

#[derive(Debug, Clone, PartialEq)]
enum NodeFate {
    /// Completed; for a condition, with the branch it chose.
    Completed(Option<String>),
    Skipped,
    Pending,
}

enum Readiness {
    Ready,
    Skipped,
    Waiting,
}

/// Adds what an existing step needs to `plan`; `Some(error)` when the step
/// failed for good.
fn step_actions(
    node: &Node,
    step: &RunStep,
    now: DateTime<Utc>,
    plan: &mut Plan,
) -> Option<String> {
    let node_id = node.id.clone();
    match step.status {
        StepStatus::Completed => {}
        StepStatus::Scheduled => plan.actions.push(Action::Run { node_id }),
        StepStatus::RetryScheduled => match step.retry_at {
            Some(at) if at > now => wake(plan, at),
            _ => plan.actions.push(Action::Run { node_id }),
        },
        StepStatus::Running => match (&step.signal, node.node_type) {
            (Some(payload), _) => plan.actions.push(Action::FinishSignal {
                node_id,
                payload: payload.clone(),
            }),
            (None, NodeType::Delay) => {
                let until = delay_until(node, step.since);
                if until > now {
                    wake(plan, until);
                } else {
                    plan.actions.push(Action::FinishDelay { node_id });
                }
            }
            (None, _) => plan.actions.push(Action::Recover {
                node_id,
                attempt: step.attempts,
            }),
        },
        StepStatus::WaitingForSignal => {
            let timeout = node
                .config
                .get("timeout")
                .and_then(|t| parse_duration(t).ok());
            if let Some(timeout) = timeout {
                let until = add(step.since, timeout);
                if until > now {
                    wake(plan, until);
                } else {
                    plan.actions.push(Action::SignalTimedOut {
                        node_id,
                        signal: step.waiting_for.clone().unwrap_or_default(),
                    });
                }
            }
        }
        StepStatus::Failed => {
            let policy = RetryPolicy::of(node);
            let error = step.error.clone().unwrap_or_default();
            if step.retryable && step.attempts < policy.max_attempts {
                let at = add(step.since, policy.backoff(step.attempts));
                plan.actions.push(Action::Retry { node_id, at });
            } else {
                return Some(format!(
                    "step '{node_id}' failed on attempt {}: {error}",
                    step.attempts
                ));
            }
        }
    }
    None
}

fn readiness(
    definition: &WorkflowDefinition,
    node: &Node,
    decided: &HashMap<&str, NodeFate>,
) -> Readiness {
    let incoming: Vec<_> = definition
        .edges
        .iter()
        .filter(|e| e.to == node.id)
        .collect();
    if incoming.is_empty() {
        // Only the entry node has no inputs in a valid definition.
        return Readiness::Ready;
    }
    let mut taken = false;
    for edge in incoming {
        match decided.get(edge.from.as_str()) {
            Some(NodeFate::Completed(branch)) => {
                taken |= match (&edge.when, branch) {
                    (Some(label), Some(chosen)) => label == chosen,
                    (Some(_), None) => false,
                    (None, _) => true,
                };
            }
            Some(NodeFate::Skipped) => {}
            Some(NodeFate::Pending) | None => return Readiness::Waiting,
        }
    }
    if taken {
        Readiness::Ready
    } else {
        Readiness::Skipped
    }
}

fn branch(node: &Node, step: &RunStep) -> Option<String> {
    if node.node_type != NodeType::Condition {
        return None;
    }
    step.output
        .as_ref()
        .and_then(chosen_branch)
        .map(str::to_owned)
}

/// The outputs of the completed nodes that have no outgoing edge.
fn final_output(definition: &WorkflowDefinition, run: &Run) -> Value {
    let ends: BTreeMap<&str, &Value> = definition
        .nodes
        .iter()
        .filter(|node| definition.outgoing_edges(&node.id).next().is_none())
        .filter_map(|node| {
            let step = run.steps.get(&node.id)?;
            Some((node.id.as_str(), step.output.as_ref()?))
        })
        .collect();
    match ends.len() {
        0 => Value::Null,
        1 => ends.into_values().next().cloned().unwrap_or(Value::Null),
        _ => Value::Object(
            ends.into_iter()
                .map(|(id, output)| (id.to_owned(), output.clone()))
                .collect(),
        ),
    }
}

/// The nodes in an order where every edge goes forward (Kahn's algorithm,
/// ties in definition order). A valid definition is acyclic; nodes on a
/// cycle (an invalid definition) are left out rather than looping.
fn topological_order(definition: &WorkflowDefinition) -> Vec<&Node> {
    let mut indegree: HashMap<&str, usize> = definition
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), 0))
        .collect();
    for edge in &definition.edges {
        if let Some(count) = indegree.get_mut(edge.to.as_str()) {
            *count += 1;
        }
    }
    let mut order = Vec::with_capacity(definition.nodes.len());
    let mut ready: Vec<&Node> = definition
        .nodes
        .iter()
        .filter(|n| indegree[n.id.as_str()] == 0)
        .collect();
    ready.reverse();
    while let Some(node) = ready.pop() {
        order.push(node);
        let mut next = Vec::new();
        for edge in definition.outgoing_edges(&node.id) {
            if let Some(count) = indegree.get_mut(edge.to.as_str()) {
                *count -= 1;
                if *count == 0 {
                    next.extend(definition.node(&edge.to));
                }
            }
        }
        next.reverse();
        ready.extend(next);
    }
    order
}

fn wake(plan: &mut Plan, at: DateTime<Utc>) {
    plan.wake_at = Some(plan.wake_at.map_or(at, |w| w.min(at)));
}

fn add(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `node_id` and every node reachable from it, in definition order: what a
/// retry from `node_id` runs again.
pub fn nodes_from(definition: &WorkflowDefinition, node_id: &str) -> Vec<String> {
    let mut reached = std::collections::HashSet::from([node_id]);
    let mut frontier = vec![node_id];
    while let Some(current) = frontier.pop() {
        for edge in definition.outgoing_edges(current) {
            if reached.insert(edge.to.as_str()) {
                frontier.push(edge.to.as_str());
            }
        }
    }
    definition
        .nodes
        .iter()
        .filter(|node| reached.contains(node.id.as_str()))
        .map(|node| node.id.clone())
        .collect()
}
