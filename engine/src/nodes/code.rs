//! The `code` node: JavaScript `source` run by the `sandbox` crate (QuickJS
//! with hard CPU-time, memory, stack and output limits, and no file,
//! network or environment access). The script receives `input`: the
//! node's rendered `input` config when given, else the execution's data
//! (`input`, `steps`, `execution`, `trigger`). Its output is the value the
//! script returns. Script errors are not retried: they do not get better.

use serde_json::Value;

use super::NodeFailure;
use domain::workflow::Node;

/// The limits of one script run.
pub type CodeLimits = sandbox::Limits;

pub(super) async fn run(
    node: &Node,
    context: &Value,
    limits: &CodeLimits,
) -> Result<Value, NodeFailure> {
    let source = node.config["source"].as_str().unwrap_or_default();
    let input = match node.config.get("input") {
        Some(template) => expr::render(template, context)
            .map_err(|err| NodeFailure::permanent(err.to_string()))?,
        None => context.clone(),
    };
    match sandbox::run(source, &input, limits).await {
        Ok(outcome) => {
            for line in &outcome.logs {
                tracing::debug!(node = node.id, line, "code node console");
            }
            Ok(outcome.output)
        }
        Err(err) => Err(NodeFailure {
            message: err.to_string(),
            retryable: err.retryable(),
            retry_after: None,
        }),
    }
}
