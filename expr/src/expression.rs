//! Compiled jq expressions (through jaq) and their evaluation against an execution context.

use std::sync::{Arc, OnceLock};

use jaq_core::data::JustLut;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Filter, Native, Vars};
use jaq_json::Val;
use serde_json::Value;

use crate::convert::{from_jaq, to_jaq};
use crate::ExprError;

/// The data type our filters run on: plain JSON values, no extra global data.
type Data = JustLut<Val>;

/// The context fields that are also reachable by a bare name (`steps.fetch.output`) and as a
/// variable (`$steps.fetch.output`). Order matters: it is the order of the global variables.
pub const ROOTS: [&str; 4] = ["input", "steps", "execution", "trigger"];

/// The global variables holding the [`ROOTS`], in the same order.
const ROOT_VARS: [&str; 4] = ["$input", "$steps", "$execution", "$trigger"];

/// Definitions that make the short form work: each root name is a filter that returns the
/// matching field of the *whole* context, whatever `.` is at that point of the program.
const PRELUDE: &str =
    "def input: $input; def steps: $steps; def execution: $execution; def trigger: $trigger;";

/// Native filters left out because they do not belong in a multi-tenant server:
/// `env` (and so `$ENV`-like uses) would reveal the server's environment variables.
const FORBIDDEN_NATIVES: [&str; 1] = ["env"];

/// Parsed definitions of jaq's standard library plus our prelude, parsed once per process.
fn prelude_defs() -> &'static [load::parse::Def<&'static str>] {
    static DEFS: OnceLock<Vec<load::parse::Def<&'static str>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let ours = load::parse(PRELUDE, |p| p.defs()).expect("the expr prelude parses");
        jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(ours)
            .collect()
    })
}

type NativeFun = (&'static str, Box<[jaq_core::Bind]>, Native<Data>);

/// Native filters of jaq-core, jaq-std and jaq-json, minus [`FORBIDDEN_NATIVES`].
fn native_funs() -> Vec<NativeFun> {
    jaq_core::funs::<Data>()
        .chain(jaq_std::funs::<Data>())
        .chain(jaq_json::funs::<Data>())
        .filter(|(name, _, _)| !FORBIDDEN_NATIVES.contains(name))
        .collect()
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
/// The full jq language of jaq is available (jaq-std's built-ins such as `length`, `keys`,
/// `ascii_downcase`, `tostring`, `test`, `todate`, `@base64`, ...), except `env`; `now` is
/// available and is the only non-deterministic built-in. Since `input` names the execution
/// input here, jq's `input`/`inputs` (reading further documents) do not exist.
///
/// **Runaway programs.** jq programs can loop: `repeat(1)`, `recurse(. + 1)` and
/// `range(infinite)` never stop producing outputs, and [`Expression::eval`] and
/// [`Expression::eval_all`] therefore stop after a fixed number of outputs. They cannot bound
/// the work done *before* an output is produced: `[range(infinite)]`, `last(repeat(1))` or a
/// recursive `def f: f + 1; f` run until memory or stack run out. Expressions from untrusted
/// authors should therefore be evaluated where that cannot take the server down
/// (a worker with a time limit).
///
/// Cloning is cheap (an `Arc`), and the type is `Send + Sync`, so compiled expressions can be
/// cached and shared between tasks.
#[derive(Clone)]
pub struct Expression {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
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
    /// Parses and compiles `source` as a jq program.
    ///
    /// Errors are [`ExprError::Compile`], whose message gives the line and column of the
    /// problem and what was expected or is undefined, e.g.
    /// `undefined filter lenght/0 at line 1, column 1`.
    pub fn compile(source: &str) -> Result<Expression, ExprError> {
        let fail = |message: String| ExprError::Compile {
            expression: source.to_owned(),
            message,
        };
        if source.trim().is_empty() {
            return Err(fail("the expression is empty".to_owned()));
        }
        let arena = Arena::default();
        let loader = Loader::new(prelude_defs().iter().cloned());
        let modules = loader
            .load(
                &arena,
                File {
                    code: source,
                    path: (),
                },
            )
            .map_err(|errs| fail(describe_load_errors(source, errs)))?;
        let filter = Compiler::default()
            .with_funs(native_funs())
            .with_global_vars(ROOT_VARS)
            .compile(modules)
            .map_err(|errs| fail(describe_compile_errors(source, errs)))?;
        Ok(Expression {
            inner: Arc::new(Inner {
                source: source.to_owned(),
                filter,
            }),
        })
    }

    /// The source text this expression was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Runs the expression on `context` and returns its first output.
    ///
    /// No output (e.g. `empty`, or `select` rejecting) gives `Value::Null`, like a missing
    /// field does. Only the first output is ever computed, so generators such as `repeat(1)`
    /// are fine. A runtime error (e.g. `1 | .a`, `error("x")`) is [`ExprError::Runtime`].
    pub fn eval(&self, context: &Value) -> Result<Value, ExprError> {
        let (mut values, _) = self.run(context, 1, false)?;
        Ok(values.pop().unwrap_or(Value::Null))
    }

    /// Runs the expression on `context` and collects all its outputs, at most `max_outputs`.
    ///
    /// If the program would produce more than `max_outputs` outputs, the result is
    /// [`ExprError::TooManyOutputs`]: outputs are pulled lazily, so `range(infinite)` and
    /// `repeat(1)` stop after output number `max_outputs + 1`. Nothing is dropped silently. A
    /// runtime error in any output is [`ExprError::Runtime`].
    pub fn eval_all(&self, context: &Value, max_outputs: usize) -> Result<Vec<Value>, ExprError> {
        let (values, more) = self.run(context, max_outputs, true)?;
        if more {
            return Err(ExprError::TooManyOutputs {
                expression: self.inner.source.clone(),
                limit: max_outputs,
            });
        }
        Ok(values)
    }

    /// Pulls at most `take` outputs, and tells whether the program had one more after them.
    /// (That check runs the program up to its next output; only `eval_all` asks for it.)
    fn run(
        &self,
        context: &Value,
        take: usize,
        check_more: bool,
    ) -> Result<(Vec<Value>, bool), ExprError> {
        let filter = &self.inner.filter;
        let input = to_jaq(context);
        // The roots are shared with `input` (jaq values are reference-counted), not copied.
        let globals = ROOTS.iter().map(|root| match &input {
            Val::Obj(fields) => fields
                .get(&Val::from((*root).to_owned()))
                .cloned()
                .unwrap_or(Val::Null),
            _ => Val::Null,
        });
        let ctx = Ctx::<Data>::new(&filter.lut, Vars::new(globals.collect::<Vec<_>>()));
        let mut outputs = filter.id.run((ctx, input));
        let mut values = Vec::new();
        let mut next = || match outputs.next() {
            None => Ok(None),
            Some(Ok(val)) => from_jaq(&val).map(Some).map_err(|m| self.runtime(m)),
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

    fn runtime(&self, message: String) -> ExprError {
        ExprError::Runtime {
            expression: self.inner.source.clone(),
            message,
        }
    }
}

/// Turns a jaq exception into a message. Never lets `halt` end the process: jaq's own
/// `unwrap_valr` calls `std::process::exit` for it.
fn describe_exception(exn: jaq_core::Exn<'_, Val>) -> String {
    match exn.get_err() {
        Ok(err) => match err.into_val() {
            // `error("text")` carries a string: show it without quotes.
            Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
            other => other.to_string(),
        },
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("the program called halt (exit code {code})"),
            Err(_) => "internal error in the jq interpreter".to_owned(),
        },
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// "at line L, column C" for a slice of `source` reported by jaq.
fn position(source: &str, part: &str) -> String {
    let range = source.as_bytes().as_ptr_range();
    if !(range.start <= part.as_ptr() && part.as_ptr() <= range.end) {
        // Not a slice of the expression (a definition of the built-in library).
        return "in the built-in library".to_owned();
    }
    let (line, col) = line_col(source, load::span(source, part).start);
    format!("line {line}, column {col}")
}

fn describe_load_errors(source: &str, errs: load::Errors<&str, ()>) -> String {
    let mut messages = Vec::new();
    for (_file, err) in errs {
        match err {
            load::Error::Io(errs) => {
                messages.extend(errs.into_iter().map(|(path, e)| format!("{path}: {e}")))
            }
            load::Error::Lex(errs) => messages.extend(errs.into_iter().map(|(expect, found)| {
                format!(
                    "expected {} at {}",
                    expect.as_str(),
                    position(source, found)
                )
            })),
            load::Error::Parse(errs) => messages.extend(errs.into_iter().map(|(expect, found)| {
                let what = if found.is_empty() {
                    "the end of the expression".to_owned()
                } else {
                    format!("`{}`", found.chars().take(20).collect::<String>())
                };
                let at = position(source, found);
                match expect {
                    load::parse::Expect::Nothing => format!("unexpected {what} at {at}"),
                    expect => format!("expected {} but found {what} at {at}", expect.as_str()),
                }
            })),
        }
    }
    messages.join("; ")
}

fn describe_compile_errors(source: &str, errs: jaq_core::compile::Errors<&str, ()>) -> String {
    let mut messages = Vec::new();
    for (_file, errs) in errs {
        for (name, undefined) in errs {
            let what = match &undefined {
                jaq_core::compile::Undefined::Filter(arity) => format!("filter {name}/{arity}"),
                other => format!("{} {name}", other.as_str()),
            };
            let mut message = format!("undefined {what} at {}", position(source, name));
            if matches!(undefined, jaq_core::compile::Undefined::Filter(0))
                && used_as_path_root(source, name)
            {
                message.push_str(&format!(
                    " (to read a field write `.{name}`; without a dot only {} name the context)",
                    ROOTS.join(", ")
                ));
            }
            messages.push(message);
        }
    }
    messages.join("; ")
}

/// Whether `name` (a slice of `source`) is directly followed by `.` or `[`, as in `foo.bar`:
/// then the author probably meant a field of the context.
fn used_as_path_root(source: &str, name: &str) -> bool {
    let range = source.as_bytes().as_ptr_range();
    if !(range.start <= name.as_ptr() && name.as_ptr() <= range.end) {
        return false;
    }
    let end = load::span(source, name).end;
    source[end..].starts_with(['.', '['])
}
