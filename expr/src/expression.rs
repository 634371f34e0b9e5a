//! Compiled jq expressions (through jaq) and their evaluation against an execution context.

use std::sync::{Arc, OnceLock};

use jaq_core::load::parse::Def;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Filter, Vars};
use jaq_json::Val;
use serde_json::Value;

use crate::convert::{from_jaq, to_jaq};
use crate::diagnostics::{
    describe_compile_errors, describe_exception, describe_load_errors, position,
};
use crate::limits::{COMPILE_TIME, MAX_OUTPUT_DEPTH, MAX_SOURCE_BYTES};
use crate::measure::{measure, Bounds, Oversize};
use crate::natives::{self, Data};
use crate::{budget, guard, job, EvalLimits, ExprError};

/// The context fields that are also reachable by a bare name (`steps.fetch.output`) and as a
/// variable (`$steps.fetch.output`). Order matters: it is the order of the global variables.
pub const ROOTS: [&str; 4] = ["input", "steps", "execution", "trigger"];

/// The global variables holding the [`ROOTS`], in the same order.
const ROOT_VARS: [&str; 4] = ["$input", "$steps", "$execution", "$trigger"];

/// Definitions that make the short form work: each root name is a filter that returns the
/// matching field of the *whole* context, whatever `.` is at that point of the program.
const PRELUDE: &str =
    "def input: $input; def steps: $steps; def execution: $execution; def trigger: $trigger;";

/// jaq's library definitions (after the definitions that wrap some of its natives, see
/// `natives`) plus our prelude, parsed and hardened (see `guard`) once per process.
fn prelude_defs() -> &'static [Def<&'static str>] {
    static DEFS: OnceLock<Vec<Def<&'static str>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let ours = load::parse(PRELUDE, |p| p.defs()).expect("the expr prelude parses");
        natives::wrapper_defs()
            .into_iter()
            .chain(jaq_core::defs())
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(ours)
            .map(guard::harden_def)
            .collect()
    })
}

/// A jq program compiled once, evaluated many times.
///
/// Expressions may be written jq-style, relative to the context (`.steps.fetch.output.id`), or
/// in the short form that templates use (`steps.fetch.output.id`, `input.name`,
/// `execution.id`, `trigger`). The short names are filters defined in a prelude and always
/// refer to the *root* context, also inside `map`/`select` where `.` is something else:
/// `steps.list.output.items | map(select(.id == input.wanted))` works as written. The same
/// values are bound to the variables `$input`, `$steps`, `$execution` and `$trigger`.
///
/// The jq language of jaq is available (jaq-std's built-ins such as `length`, `keys`,
/// `ascii_downcase`, `tostring`, `test`, `todate`, `@base64`, ...), except `env`; `debug` and
/// `stderr` print nothing; `now` is the only non-deterministic built-in. Since `input` names
/// the execution input here, jq's `input`/`inputs` (reading further documents) do not exist.
///
/// **Untrusted authors.** Expressions may not define functions (`def`) nor call the library
/// filters that recurse or loop over a filter without bound (`repeat`, `recurse(f)`,
/// `recurse(f; cond)`, `while`, `until`, `combinations(n)`): [`Expression::compile`] rejects
/// them. Every evaluation runs on an evaluator thread under [`EvalLimits`] (time, steps, value
/// lengths, output size); see the crate documentation for what that does and does not bound.
///
/// Cloning is cheap (an `Arc`), and the type is `Send + Sync`, so compiled expressions can be
/// cached and shared between tasks.
#[derive(Clone)]
pub struct Expression {
    inner: Arc<Inner>,
}

struct Inner {
    source: Arc<str>,
    filter: Filter<Data>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression")
            .field(&self.inner.source)
            .finish()
    }
}

impl PartialEq for Expression {
    /// Two expressions are equal when their source texts are.
    fn eq(&self, other: &Self) -> bool {
        self.inner.source == other.inner.source
    }
}

impl Expression {
    /// Parses and compiles `source` as a jq program (on an evaluator thread: the parser
    /// recurses once per level of nesting).
    ///
    /// Errors are [`ExprError::Compile`], whose message gives the line and column of the
    /// problem and what was expected, is undefined or is not allowed, e.g.
    /// `undefined filter lenght/0 at line 1, column 1`. Sources longer than
    /// [`crate::MAX_SOURCE_BYTES`] are refused.
    pub fn compile(source: &str) -> Result<Expression, ExprError> {
        let fail = |message: String| ExprError::Compile {
            expression: source.to_owned(),
            message,
        };
        if source.trim().is_empty() {
            return Err(fail("the expression is empty".to_owned()));
        }
        if source.len() > MAX_SOURCE_BYTES {
            return Err(fail(format!(
                "the expression is {} bytes long, more than the limit of {MAX_SOURCE_BYTES}",
                source.len()
            )));
        }
        let limits = EvalLimits {
            time: COMPILE_TIME,
            ..EvalLimits::default()
        };
        let owned: Arc<str> = Arc::from(source);
        let text = Arc::clone(&owned);
        let filter = job::run_blocking(&limits, source, move || Ok(compile_here(&text)))?;
        let filter = filter.map_err(fail)?;
        Ok(Expression {
            inner: Arc::new(Inner {
                source: owned,
                filter,
            }),
        })
    }

    /// The source text this expression was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Runs the expression on `context` under the default [`EvalLimits`] and returns its first
    /// output; see [`Expression::eval_with`].
    pub fn eval(&self, context: &Value) -> Result<Value, ExprError> {
        self.eval_with(context, &EvalLimits::default())
    }

    /// Runs the expression on `context` under `limits` and returns its first output.
    ///
    /// No output (e.g. `empty`, or `select` rejecting) gives `Value::Null`, like a missing
    /// field does. Only the first output is computed, so `range(infinite)` is fine. A runtime
    /// error (e.g. `1 | .a`, `error("x")`) is [`ExprError::Runtime`]; exceeding a limit is
    /// [`ExprError::TimeLimit`], [`ExprError::StepLimit`], [`ExprError::OutputTooLarge`] or
    /// [`ExprError::ResourceLimit`].
    ///
    /// Blocks the calling thread until the evaluation ends (at most `limits.time` plus 200 ms).
    /// Safe inside a Tokio runtime: on a multi-threaded one the wait goes through
    /// `block_in_place`. Async code should still prefer [`Expression::eval_async`] (or
    /// `tokio::task::spawn_blocking`), which never blocks a runtime thread.
    pub fn eval_with(&self, context: &Value, limits: &EvalLimits) -> Result<Value, ExprError> {
        let work = self.work(context, limits, 1, false);
        job::run_blocking(limits, self.source(), work).map(first_or_null)
    }

    /// [`Expression::eval_with`] for async callers: waits without blocking a thread. Needs a
    /// Tokio runtime with the time driver enabled. Dropping the future stops the evaluation.
    pub async fn eval_async(
        &self,
        context: &Value,
        limits: &EvalLimits,
    ) -> Result<Value, ExprError> {
        let work = self.work(context, limits, 1, false);
        job::run_async(limits, self.source(), work)
            .await
            .map(first_or_null)
    }

    /// Runs the expression on `context` and collects all its outputs, at most `max_outputs`,
    /// under the default limits otherwise; see [`Expression::eval_all_with`].
    pub fn eval_all(&self, context: &Value, max_outputs: usize) -> Result<Vec<Value>, ExprError> {
        let limits = EvalLimits {
            max_outputs,
            ..EvalLimits::default()
        };
        self.eval_all_with(context, &limits)
    }

    /// Runs the expression on `context` and collects all its outputs, at most
    /// `limits.max_outputs`.
    ///
    /// If the program would produce more outputs, the result is [`ExprError::TooManyOutputs`]:
    /// outputs are pulled lazily, so `range(infinite)` stops after output number
    /// `max_outputs + 1`. Nothing is dropped silently. Errors are as for
    /// [`Expression::eval_with`], which this blocks like.
    pub fn eval_all_with(
        &self,
        context: &Value,
        limits: &EvalLimits,
    ) -> Result<Vec<Value>, ExprError> {
        let work = self.work(context, limits, limits.max_outputs, true);
        let (values, more) = job::run_blocking(limits, self.source(), work)?;
        if more {
            return Err(ExprError::TooManyOutputs {
                expression: self.source().to_owned(),
                limit: limits.max_outputs,
            });
        }
        Ok(values)
    }

    /// The job that evaluates the expression on a copy of `context`.
    fn work(
        &self,
        context: &Value,
        limits: &EvalLimits,
        take: usize,
        check_more: bool,
    ) -> impl FnOnce() -> Result<(Vec<Value>, bool), ExprError> + Send + 'static {
        let (expression, context) = (self.clone(), context.clone());
        let max_bytes = limits.max_output_bytes;
        move || expression.run_here(&to_jaq(&context), take, check_more, max_bytes)
    }

    /// Evaluates on `input` on the current evaluator thread, within its job's budget: pulls at
    /// most `take` outputs, and tells whether the program had one more after them (that check
    /// runs the program up to its next output; only `eval_all` asks for it). The outputs may
    /// be at most `max_bytes` long together as JSON.
    pub(crate) fn run_here(
        &self,
        input: &Val,
        take: usize,
        check_more: bool,
        max_bytes: usize,
    ) -> Result<(Vec<Value>, bool), ExprError> {
        budget::started(&self.inner.source);
        let result = self.pull(input, take, check_more, max_bytes);
        // A tripped budget wins, even if the program caught the error and went on.
        match budget::stopped(self.source()) {
            Some(stopped) => Err(stopped),
            None => result,
        }
    }

    fn pull(
        &self,
        input: &Val,
        take: usize,
        check_more: bool,
        max_bytes: usize,
    ) -> Result<(Vec<Value>, bool), ExprError> {
        let filter = &self.inner.filter;
        // The roots are shared with `input` (jaq values are reference-counted), not copied.
        let globals = ROOTS.iter().map(|root| match input {
            Val::Obj(fields) => fields
                .get(&Val::from((*root).to_owned()))
                .cloned()
                .unwrap_or(Val::Null),
            _ => Val::Null,
        });
        let ctx = Ctx::<Data>::new(&filter.lut, Vars::new(globals.collect::<Vec<_>>()));
        let mut outputs = filter.id.run((ctx, input.clone()));
        let mut room = max_bytes;
        let mut values = Vec::new();
        let mut next = || match outputs.next() {
            None => Ok(None),
            Some(Ok(val)) => self.convert(&val, &mut room, max_bytes).map(Some),
            Some(Err(exn)) => Err(self.runtime(describe_exception(exn))),
        };
        while values.len() < take {
            match next()? {
                Some(value) => values.push(value),
                None => return Ok((values, false)),
            }
        }
        let more = check_more && next()?.is_some();
        Ok((values, more))
    }

    /// Converts an output to JSON if it fits in the `room` left (and is not nested deeper than
    /// JSON readers accept); measuring first keeps huge or deep values cheap to refuse.
    fn convert(&self, val: &Val, room: &mut usize, limit: usize) -> Result<Value, ExprError> {
        let bounds = Bounds {
            depth: MAX_OUTPUT_DEPTH,
            bytes: *room,
            nodes: usize::MAX,
        };
        match measure(val, bounds) {
            Ok(bytes) => *room -= bytes,
            Err(Oversize::Large) => {
                return Err(ExprError::OutputTooLarge {
                    expression: self.source().to_owned(),
                    limit,
                })
            }
            Err(Oversize::Deep) => {
                return Err(ExprError::ResourceLimit {
                    expression: self.source().to_owned(),
                    message: format!("the result is nested deeper than {MAX_OUTPUT_DEPTH} levels"),
                })
            }
        }
        from_jaq(val).map_err(|m| self.runtime(m))
    }

    fn runtime(&self, message: String) -> ExprError {
        ExprError::Runtime {
            expression: self.source().to_owned(),
            message,
        }
    }
}

fn first_or_null((mut values, _): (Vec<Value>, bool)) -> Value {
    values.pop().unwrap_or(Value::Null)
}

/// Parses, checks, hardens and compiles `source`, on an evaluator thread.
fn compile_here(source: &str) -> Result<Filter<Data>, String> {
    let arena = Arena::default();
    let Some(term) = load::parse(source, |p| p.term()) else {
        // Not a plain term: let the loader explain the syntax error.
        let loader = Loader::new(prelude_defs().iter().cloned());
        return Err(
            match loader.load(
                &arena,
                File {
                    code: source,
                    path: (),
                },
            ) {
                Err(errs) => describe_load_errors(source, errs),
                Ok(_) => {
                    "module directives (`module`, `import`, `include`) are not supported".to_owned()
                }
            },
        );
    };
    guard::check(&term).map_err(|rejected| {
        format!(
            "{} (at {})",
            rejected.message,
            position(source, rejected.at)
        )
    })?;
    let main = Def {
        name: guard::MAIN,
        args: Vec::new(),
        body: guard::harden(term, false),
    };
    let loader = Loader::new(prelude_defs().iter().cloned().chain([main]));
    let modules = loader
        .load(
            &arena,
            File {
                code: guard::MAIN,
                path: (),
            },
        )
        .map_err(|errs| describe_load_errors(source, errs))?;
    Compiler::default()
        .with_funs(natives::funs())
        .with_global_vars(ROOT_VARS)
        .compile(modules)
        .map_err(|errs| describe_compile_errors(source, errs))
}
