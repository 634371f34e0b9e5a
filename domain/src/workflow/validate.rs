//! The rules every workflow definition must satisfy: node count, unique
//! ids, node configs, edges between known nodes, no cycles, every node
//! reachable from the entry, and a valid trigger.

use std::collections::HashMap;

use chrono_tz::Tz;
use croner::Cron;

use super::{config, DefinitionError, Trigger, WorkflowDefinition, MAX_NODES};

/// Runs every check in a fixed order and returns the first problem.
pub(super) fn definition(definition: &WorkflowDefinition) -> Result<(), DefinitionError> {
    let nodes = &definition.nodes;
    if nodes.is_empty() {
        return Err(DefinitionError::NoNodes);
    }
    if nodes.len() > MAX_NODES {
        return Err(DefinitionError::TooManyNodes {
            count: nodes.len(),
            max: MAX_NODES,
        });
    }
    let index = node_index(definition)?;
    for node in nodes {
        config::check(node)?;
    }
    let successors = successors(definition, &index)?;
    check_acyclic(definition, &successors)?;
    check_reachable(definition, &successors)?;
    trigger(&definition.trigger)
}

/// Node id -> position, rejecting blank and duplicate ids.
fn node_index(definition: &WorkflowDefinition) -> Result<HashMap<&str, usize>, DefinitionError> {
    let mut index = HashMap::with_capacity(definition.nodes.len());
    for (position, node) in definition.nodes.iter().enumerate() {
        if node.id.trim().is_empty() {
            return Err(DefinitionError::EmptyNodeId { index: position });
        }
        if let Some(first) = index.insert(node.id.as_str(), position) {
            return Err(DefinitionError::DuplicateNodeId {
                id: node.id.clone(),
                first,
                second: position,
            });
        }
    }
    Ok(index)
}

/// Adjacency lists by node position, rejecting edges to unknown nodes.
fn successors(
    definition: &WorkflowDefinition,
    index: &HashMap<&str, usize>,
) -> Result<Vec<Vec<usize>>, DefinitionError> {
    let mut successors = vec![Vec::new(); definition.nodes.len()];
    for (position, edge) in definition.edges.iter().enumerate() {
        let lookup = |id: &str| {
            index
                .get(id)
                .copied()
                .ok_or_else(|| DefinitionError::UnknownEdgeNode {
                    index: position,
                    from: edge.from.clone(),
                    to: edge.to.clone(),
                    missing: id.to_owned(),
                })
        };
        let from = lookup(&edge.from)?;
        let to = lookup(&edge.to)?;
        successors[from].push(to);
    }
    Ok(successors)
}

/// Depth-first search with an explicit stack (no recursion limit to hit);
/// meeting a node that is still on the stack means the edge closes a cycle
/// through that node.
fn check_acyclic(
    definition: &WorkflowDefinition,
    successors: &[Vec<usize>],
) -> Result<(), DefinitionError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks = vec![Mark::New; successors.len()];
    for root in 0..successors.len() {
        if marks[root] != Mark::New {
            continue;
        }
        marks[root] = Mark::OnStack;
        let mut stack = vec![(root, 0usize)];
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&target) = successors[node].get(*next) {
                *next += 1;
                match marks[target] {
                    Mark::OnStack => {
                        return Err(DefinitionError::Cycle {
                            node: definition.nodes[target].id.clone(),
                        })
                    }
                    Mark::New => {
                        marks[target] = Mark::OnStack;
                        stack.push((target, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Breadth-first search from the entry node (the first one).
fn check_reachable(
    definition: &WorkflowDefinition,
    successors: &[Vec<usize>],
) -> Result<(), DefinitionError> {
    let mut seen = vec![false; successors.len()];
    seen[0] = true;
    let mut queue = std::collections::VecDeque::from([0usize]);
    while let Some(node) = queue.pop_front() {
        for &next in &successors[node] {
            if !seen[next] {
                seen[next] = true;
                queue.push_back(next);
            }
        }
    }
    match seen.iter().position(|reached| !reached) {
        Some(position) => Err(DefinitionError::Unreachable {
            node: definition.nodes[position].id.clone(),
            entry: definition.nodes[0].id.clone(),
        }),
        None => Ok(()),
    }
}

fn trigger(trigger: &Trigger) -> Result<(), DefinitionError> {
    match trigger {
        Trigger::Schedule { cron, timezone, .. } => schedule(cron, timezone).map(|_| ()),
        Trigger::Manual | Trigger::Webhook | Trigger::Event { .. } => Ok(()),
    }
}

/// Parses a schedule: cron with 5 fields, or 6 with seconds first, and an
/// IANA time zone.
pub(super) fn schedule(cron: &str, timezone: &str) -> Result<(Cron, Tz), DefinitionError> {
    let parsed = Cron::new(cron)
        .with_seconds_optional()
        .parse()
        .map_err(|err| DefinitionError::InvalidCron {
            cron: cron.to_owned(),
            reason: cron_problem(cron, &err.to_string()),
        })?;
    let tz = timezone
        .parse::<Tz>()
        .map_err(|_| DefinitionError::UnknownTimeZone {
            timezone: timezone.to_owned(),
        })?;
    Ok((parsed, tz))
}

/// Turns croner's error into a sentence that names the bad field: croner
/// says "Number out of bounds." without saying where.
fn cron_problem(cron: &str, croner_message: &str) -> String {
    const FIVE: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    const SIX: [&str; 6] = [
        "second",
        "minute",
        "hour",
        "day-of-month",
        "month",
        "day-of-week",
    ];
    let detail = croner_message
        .trim_start_matches("Component error: ")
        .trim_start_matches("Invalid pattern: ")
        .trim_end_matches('.')
        .to_lowercase();
    let trimmed = cron.trim();
    if trimmed.is_empty() {
        return "it is empty".to_owned();
    }
    if trimmed.starts_with('@') {
        return detail;
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &FIVE,
        6 => &SIX,
        count => return format!("it has {count} fields"),
    };
    // Probe each field alone, the others as '*', to find the culprit.
    for (position, field) in fields.iter().enumerate() {
        let probe: Vec<&str> = (0..fields.len())
            .map(|other| if other == position { *field } else { "*" })
            .collect();
        if Cron::new(&probe.join(" "))
            .with_seconds_optional()
            .parse()
            .is_err()
        {
            return format!(
                "the {} field '{field}' is not valid ({detail})",
                names[position]
            );
        }
    }
    detail
}
