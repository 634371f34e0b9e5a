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
//!
//! # Untrusted expressions
//!
//! Workflow authors are not trusted, and expressions run inside the engine, so:
//!
//! * **Compile time.** [`Expression::compile`] rejects `def` and the library filters that
//!   recurse or loop over a filter the author chooses (`repeat`, `recurse(f)`,
//!   `recurse(f; cond)`, `while`, `until`, `combinations(n)`): without them, recursion is
//!   bounded by the values being walked, and every loop runs over a generator whose values
//!   are counted. Sources longer than [`MAX_SOURCE_BYTES`] are refused. The program is then
//!   rewritten so that every step passes a check of the evaluation's budget (see below).
//! * **Evaluator threads.** Compiling and evaluating run on a small pool of dedicated threads
//!   with 1 GiB stacks (reserved, not used, unless an evaluation recurses that deep), never on
//!   the caller's thread: a deep recursion cannot overflow an async runtime worker's 2 MiB
//!   stack, and a slow evaluation does not stall other tasks. Sync callers block until the
//!   result or the deadline (inside a multi-threaded Tokio runtime through `block_in_place`);
//!   async callers should use [`Expression::eval_async`] / [`ValueTemplate::render_async`].
//! * **Limits** ([`EvalLimits`]): wall-clock time, interpreter steps, the length of every
//!   string, array and object, the memory of the values built, and the size of the result,
//!   checked at every step (the program is rewritten so that every `|`, `,`, `.[]`, `range`
//!   value, `reduce`/`foreach` iteration, arithmetic result and construction is a step). When
//!   one is hit the evaluation stops by itself, and reports [`ExprError::TimeLimit`],
//!   [`ExprError::StepLimit`], [`ExprError::ResourceLimit`] or [`ExprError::OutputTooLarge`]
//!   even if the program catches the error. Evaluations also stop before recursing into half
//!   of their thread's stack.
//! * **Guarded built-ins.** `"x" * n`, `+`, `-` and `*`, `tostring`/`tojson`/string
//!   interpolation, `fromjson`, `contains`, `indices`, `sort`/`group_by`/..., `.. |= f` and
//!   `walk` refuse inputs that would exceed the limits, nest deeper than [`MAX_VALUE_DEPTH`],
//!   or compare every pair of two huge inputs; errors caught by `try` are shortened before jaq
//!   prints them. `env` does not exist and `debug`/`stderr` print nothing.
//!
//! # What remains
//!
//! * A single native operation is not interrupted: one that is running at the deadline (e.g.
//!   splitting a 16 MiB string into characters) finishes first. If that takes more than
//!   200 ms past the deadline the caller gets [`ExprError::TimeLimit`] anyway and the thread
//!   is *abandoned* and replaced, see [`abandoned_threads`]. Such an operation can also
//!   allocate a few hundred MiB before its result is counted.
//! * Memory is not capped by an allocator: it is bounded through the limits above (values
//!   collected by `[...]` through [`EvalLimits::max_steps`]), estimated, not measured.
//! * jaq drops, compares and hashes values recursively (about 50 to 120 bytes of stack per
//!   level, on 1 GiB evaluator stacks). Within the default limits values cannot get deep
//!   enough (each level costs at least a step and about 90 bytes of the memory limit, except
//!   levels created by one path assignment such as `setpath`, which cost a few steps each), but
//!   callers who raise `max_steps`, `max_memory` and `time` far above the defaults can allow
//!   values deep enough to exhaust an evaluator's stack, which aborts the process. Only
//!   running expressions in a separate process closes that gap.

mod budget;
mod convert;
mod diagnostics;
mod error;
mod expression;
mod guard;
mod guards;
mod job;
mod limits;
mod measure;
mod natives;
mod pool;
mod template;
mod value_template;

pub use error::ExprError;
pub use expression::{Expression, ROOTS};
pub use limits::{EvalLimits, MAX_OUTPUT_DEPTH, MAX_SOURCE_BYTES, MAX_VALUE_DEPTH};
pub use pool::abandoned_threads;
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
/// All the templates together run under the default [`EvalLimits`], on an evaluator thread
/// (see [`ValueTemplate::render_with`]; async code should prefer [`render_async`]).
/// Compiles the templates on every call; keep a [`ValueTemplate`] to render repeatedly.
pub fn render(template: &Value, context: &Value) -> Result<Value, ExprError> {
    ValueTemplate::compile(template)?.render(context)
}

/// [`render`] for async callers: waits for the evaluator thread without blocking. Needs a
/// Tokio runtime with the time driver enabled. (Compiling the templates still blocks briefly.)
pub async fn render_async(template: &Value, context: &Value) -> Result<Value, ExprError> {
    ValueTemplate::compile(template)?
        .render_async(context, &EvalLimits::default())
        .await
}

/// Checks that every template string in a node config parses and that every embedded
/// expression compiles, without evaluating anything. For rejecting bad workflow definitions
/// early; the error points at the offending string with a JSON pointer ([`ExprError::At`]).
pub fn check(template: &Value) -> Result<(), ExprError> {
    ValueTemplate::compile(template).map(|_| ())
}
