//! Jobsprint's expression language: jq (through the jaq crates) over an execution's data,
//! and `{{ expr }}` templates in node configs.
//!
//! Expressions are evaluated against a context object such as
//! `{"input": {...}, "steps": {"fetch": {"output": {...}}}, "execution": {"id": ..., "workflow_id": ..., "attempt": 1}, "trigger": {...}}`.
//! They may be written jq-style (`.steps.fetch.output.body.id`) or in the short form
//! (`steps.fetch.output.body.id`); see [`Expression`].
//!
//! ```
//! use serde_json::json;
//! let ctx = json!({"input": {"name": "Ada"}, "steps": {"fetch": {"output": {"id": 7}}}});
//!
//! let id = expr::Expression::compile("steps.fetch.output.id")?.eval(&ctx)?;
//! assert_eq!(id, json!(7));
//!
//! let config = json!({"url": "https://x.test/users/{{ steps.fetch.output.id }}", "id": "{{ steps.fetch.output.id }}"});
//! expr::check(&config)?; // at definition time
//! assert_eq!(
//!     expr::render(&config, &ctx)?,
//!     json!({"url": "https://x.test/users/7", "id": 7})
//! );
//! # Ok::<(), expr::ExprError>(())
//! ```

mod convert;
mod error;
mod expression;
mod template;
mod value_template;

pub use error::ExprError;
pub use expression::{Expression, ROOTS};
pub use template::{push_as_text, Template};
pub use value_template::ValueTemplate;

use serde_json::Value;

/// jq truthiness, for condition nodes: `false` and `null` are false, everything else
/// (including `0`, `""`, `[]` and `{}`) is true.
pub fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

/// Renders a node config against `context`: every string in `template` (at any depth of
/// objects and arrays) has its `{{ expr }}` templates replaced, following the rules in
/// [`Template`]. Object keys are not templated; numbers, booleans and `null` are copied.
///
/// Compiles the templates on every call; keep a [`ValueTemplate`] to render repeatedly.
pub fn render(template: &Value, context: &Value) -> Result<Value, ExprError> {
    ValueTemplate::compile(template)?.render(context)
}

/// Checks that every template string in a node config parses and that every embedded
/// expression compiles, without evaluating anything. For rejecting bad workflow definitions
/// early; the error points at the offending string with a JSON pointer ([`ExprError::At`]).
pub fn check(template: &Value) -> Result<(), ExprError> {
    ValueTemplate::compile(template).map(|_| ())
}
