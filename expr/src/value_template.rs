//! Templates across a whole JSON config: every string in it may hold `{{ }}` templates.

use std::sync::Arc;

use jaq_json::Val;
use serde_json::{Map, Value};

use crate::convert::to_jaq;
use crate::{job, EvalLimits, ExprError, Template};

/// A node config (any JSON value) with every template string parsed and compiled, ready to
/// be rendered many times. Object keys are not templated; numbers, booleans and `null` are
/// kept as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueTemplate {
    node: Arc<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A value without any template string in it.
    Literal(Value),
    String(Template),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl ValueTemplate {
    /// Parses and compiles every string in `config`. Errors are wrapped in
    /// [`ExprError::At`] with a JSON pointer to the offending string (no wrapper when
    /// `config` itself is that string).
    pub fn compile(config: &Value) -> Result<ValueTemplate, ExprError> {
        Ok(ValueTemplate {
            node: Arc::new(compile_node(config)?),
        })
    }

    /// Every compiled template string in the config, depth first in document order.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        collect_templates(&self.node, &mut out);
        out
    }

    /// Renders the config against `context` (see [`crate::render`]) under the default
    /// [`EvalLimits`].
    pub fn render(&self, context: &Value) -> Result<Value, ExprError> {
        self.render_with(context, &EvalLimits::default())
    }

    /// Renders the config against `context`; all its templates together run under `limits`,
    /// as one evaluation (see [`crate::Expression::eval_with`], which this blocks like).
    pub fn render_with(&self, context: &Value, limits: &EvalLimits) -> Result<Value, ExprError> {
        if let Node::Literal(value) = &*self.node {
            return Ok(value.clone());
        }
        job::run_blocking(limits, "(node config)", self.work(context, limits))
    }

    /// [`ValueTemplate::render_with`] for async callers: waits without blocking a thread.
    /// Needs a Tokio runtime with the time driver enabled.
    pub async fn render_async(
        &self,
        context: &Value,
        limits: &EvalLimits,
    ) -> Result<Value, ExprError> {
        if let Node::Literal(value) = &*self.node {
            return Ok(value.clone());
        }
        job::run_async(limits, "(node config)", self.work(context, limits)).await
    }

    fn work(
        &self,
        context: &Value,
        limits: &EvalLimits,
    ) -> impl FnOnce() -> Result<Value, ExprError> + Send + 'static {
        let (node, context) = (Arc::clone(&self.node), context.clone());
        let max_bytes = limits.max_output_bytes;
        move || render_node(&node, &to_jaq(&context), max_bytes)
    }
}

fn compile_node(value: &Value) -> Result<Node, ExprError> {
    Ok(match value {
        Value::String(s) => {
            let template = Template::parse(s)?;
            if template.is_literal() && template.source().contains('\\') {
                // Escapes were applied: keep the unescaped text.
                Node::Literal(template.render(&Value::Null)?)
            } else if template.is_literal() {
                Node::Literal(value.clone())
            } else {
                Node::String(template)
            }
        }
        Value::Array(items) => {
            let nodes = items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_node(item).map_err(|e| e.at(&i.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            simplify(Node::Array(nodes))
        }
        Value::Object(fields) => {
            let nodes = fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), compile_node(v).map_err(|e| e.at(k))?)))
                .collect::<Result<Vec<_>, ExprError>>()?;
            simplify(Node::Object(nodes))
        }
        scalar => Node::Literal(scalar.clone()),
    })
}

/// Folds a container whose children are all literal back into one literal.
fn simplify(node: Node) -> Node {
    let is_literal = |n: &Node| matches!(n, Node::Literal(_));
    match node {
        Node::Array(items) if items.iter().all(is_literal) => {
            Node::Literal(Value::Array(items.into_iter().map(into_literal).collect()))
        }
        Node::Object(fields) if fields.iter().all(|(_, n)| is_literal(n)) => {
            Node::Literal(Value::Object(
                fields
                    .into_iter()
                    .map(|(k, n)| (k, into_literal(n)))
                    .collect(),
            ))
        }
        other => other,
    }
}

fn into_literal(node: Node) -> Value {
    match node {
        Node::Literal(value) => value,
        _ => unreachable!("simplify only folds literal children"),
    }
}

fn collect_templates<'a>(node: &'a Node, out: &mut Vec<&'a Template>) {
    match node {
        Node::Literal(_) => {}
        Node::String(t) => out.push(t),
        Node::Array(items) => items.iter().for_each(|n| collect_templates(n, out)),
        Node::Object(fields) => fields.iter().for_each(|(_, n)| collect_templates(n, out)),
    }
}

/// Renders on the current evaluator thread, within its job's budget.
fn render_node(node: &Node, input: &Val, max_bytes: usize) -> Result<Value, ExprError> {
    Ok(match node {
        Node::Literal(value) => value.clone(),
        Node::String(template) => template.render_here(input, max_bytes)?,
        Node::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| render_node(n, input, max_bytes).map_err(|e| e.at(&i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        Node::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (k, n) in fields {
                map.insert(
                    k.clone(),
                    render_node(n, input, max_bytes).map_err(|e| e.at(k))?,
                );
            }
            Value::Object(map)
        }
    })
}
