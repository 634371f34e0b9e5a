//! The resource limits of one evaluation, and the fixed limits behind them.

use std::time::Duration;

/// Limits on one evaluation: one [`crate::Expression`] run, or one template or node config
/// rendered (all its expressions together).
///
/// Every evaluation runs on a dedicated evaluator thread (see the crate documentation), so a
/// runaway expression never blocks or crashes the caller's thread.
///
/// * `time` is the wall-clock deadline, counted from the moment the evaluation is submitted
///   (time spent waiting for a free evaluator thread counts). The interpreter checks it at
///   every step (below), so a runaway program stops shortly after it; the caller stops waiting
///   a little later (200 ms) whatever happens, see [`crate::abandoned_threads`].
/// * `max_steps` bounds the work, independently of the machine's speed: a step is one value
///   produced by `range`, `.[]`, `,` or `..`, one value passed through `|`, one iteration of
///   `reduce`/`foreach`, one arithmetic operation, one array or object built.
/// * `max_length` bounds every string (in bytes), array and object (in entries) that the
///   program builds or passes along: strings doubled with `. + .` or repeated with `"x" * n`
///   stop there instead of exhausting memory.
/// * `max_memory` bounds the bytes of new strings, arrays and objects the program builds, in
///   total (counted as they are built, never refunded): with the lengths above it bounds the
///   memory an evaluation can take, e.g. `[range(1000) | "x" * 1000000]` stops after
///   about 256 of its strings. It is an estimate (entries of arrays and objects count their
///   in-memory size, strings their bytes) of the allocations that matter.
/// * `max_outputs` bounds the number of outputs collected by
///   [`crate::Expression::eval_all_with`].
/// * `max_output_bytes` bounds the JSON size of what one expression returns (all outputs of
///   `eval_all_with` together), counted before the value is converted, so a value that would
///   be huge once serialised (e.g. an array nested 40 times into itself) is refused cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalLimits {
    /// Wall-clock time of the evaluation (default 1 s).
    pub time: Duration,
    /// Outputs collected by `eval_all_with` (default 1000).
    pub max_outputs: usize,
    /// JSON size of one expression's outputs, in bytes (default 4 MiB).
    pub max_output_bytes: usize,
    /// Interpreter steps (default 4,000,000).
    pub max_steps: usize,
    /// Length of any string (bytes), array or object (entries) (default 16 Mi).
    pub max_length: usize,
    /// Bytes of values built, in total (default 256 MiB).
    pub max_memory: usize,
}

impl Default for EvalLimits {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(1),
            max_outputs: 1000,
            max_output_bytes: 4 * 1024 * 1024,
            max_steps: 4_000_000,
            max_length: 16 * 1024 * 1024,
            max_memory: 256 * 1024 * 1024,
        }
    }
}

/// Longest expression accepted, in bytes. The jq parser and compiler recurse once per level of
/// nesting, several KiB of stack each, so the source length bounds the stack they need.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;

/// Deepest nesting of a value returned by an expression. Deeper results are refused: the
/// engine stores results as JSON, and `serde_json` refuses to read back anything deeper.
pub const MAX_OUTPUT_DEPTH: usize = 128;

/// Deepest nesting of a value that the built-ins which recurse over values (`tojson`,
/// `tostring`, string interpolation, `fromjson`, `contains`, `sort`, `*` on objects, ...)
/// accept. jq's own parser stops at the same depth.
pub const MAX_VALUE_DEPTH: usize = 10_000;

/// Extra time the caller waits past [`EvalLimits::time`] before giving up on an evaluator
/// thread that is stuck in a long native operation.
pub(crate) const WAIT_GRACE: Duration = Duration::from_millis(200);

/// How long compiling an expression may take (parsing and compiling is linear in the source,
/// which is at most [`MAX_SOURCE_BYTES`] long, so this is only a backstop).
pub(crate) const COMPILE_TIME: Duration = Duration::from_secs(2);

/// Longest error message kept; longer ones (an error that embeds a huge value) are cut.
pub(crate) const MAX_MESSAGE_BYTES: usize = 2 * 1024;

/// Errors caught by `try` whose text is longer than this are replaced by their first bytes, so
/// that turning them into a value (which prints any value they embed) stays bounded.
pub(crate) const MAX_CAUGHT_ERROR_BYTES: usize = 64 * 1024;
