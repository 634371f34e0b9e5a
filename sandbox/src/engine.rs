//! One execution: a fresh QuickJS runtime and context on the calling thread, under the limits.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use rquickjs::context::{intrinsic, EvalOptions};
use rquickjs::{Context, Ctx, Exception, Function, Persistent, Runtime, Type, Value};

use crate::console::{install_console, Logs};
use crate::exception::{classify, describe, Phase};
use crate::{Limits, Outcome, SandboxError};

/// Trusted JavaScript run before the user's code: bounds native array loops, removes `Proxy`.
const PRELUDE: &str = include_str!("prelude.js");

/// Memory granted on top of the limit while an exception is being described, so that reading an
/// out-of-memory error's message does not itself run out of memory.
const DESCRIBE_HEADROOM: usize = 4 * 1024 * 1024;

/// The ECMAScript built-ins the script gets, besides the base objects that every context has
/// (`Object`, `Array`, `Math`, `BigInt`, ...). Left out on purpose: `Performance` (a timer) and
/// `DOMException` (not ECMAScript).
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::Proxy,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
    intrinsic::WeakRef,
);

/// Everything one execution needs, owned so it can move to the execution thread.
pub(crate) struct Job {
    pub(crate) source: String,
    pub(crate) input_json: String,
    pub(crate) limits: Limits,
    /// Set when nobody waits for the result any more: the script is interrupted.
    pub(crate) cancel: Arc<AtomicBool>,
}

/// Which time limit interrupted the script.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stop {
    Cpu,
    Wall,
}

/// Why an execution stopped before it had an output ([`evaluate`], [`run_jobs`] or [`to_json`]).
enum Failure {
    /// A JavaScript exception is pending in the runtime; it is described after the context lock
    /// is released and the memory limit relaxed.
    Exception(Phase),
    /// QuickJS could not allocate (reported by rquickjs rather than as an exception).
    OutOfMemory,
    /// Already classified.
    Done(SandboxError),
}

/// Runs the job on the current thread (a fresh one per job: CPU time is the thread's).
pub(crate) fn execute(job: &Job) -> Result<Outcome, SandboxError> {
    let cpu_start = ThreadTime::try_now().map_err(|e| internal("reading the CPU clock", e))?;
    let wall_start = Instant::now();
    let limits = &job.limits;
    let rt = Runtime::new().map_err(|e| internal("creating the QuickJS runtime", e))?;
    let stop: Rc<Cell<Option<Stop>>> = Rc::new(Cell::new(None));
    let (cpu_limit, wall_limit) = (limits.cpu_time, limits.wall_time);
    let ctx = Context::custom::<Intrinsics>(&rt)
        .map_err(|e| internal("creating the QuickJS context", e))?;
    let logs = Rc::new(RefCell::new(Logs {
        lines: Vec::new(),
        dropped: 0,
        max_lines: limits.log_lines,
        max_bytes: limits.log_line_bytes,
    }));
    ctx.with(|ctx| set_up(&ctx, &logs, &stop))?;
    // The context's own set-up is not the script's; the limits apply from here on.
    rt.set_memory_limit(limits.memory_bytes.max(1));
    rt.set_max_stack_size(limits.stack_bytes.max(1));
    let handler_stop = Rc::clone(&stop);
    let cancel = Arc::clone(&job.cancel);
    rt.set_interrupt_handler(Some(Box::new(move || {
        if handler_stop.get().is_none() {
            let cpu = cpu_start.try_elapsed().unwrap_or(Duration::ZERO);
            if cpu >= cpu_limit {
                handler_stop.set(Some(Stop::Cpu));
            } else if cancel.load(Ordering::Relaxed) || wall_start.elapsed() >= wall_limit {
                handler_stop.set(Some(Stop::Wall));
            }
        }
        handler_stop.get().is_some()
    })));
    let result = ctx.with(|ctx| evaluate(&ctx, job)).and_then(|returned| {
        run_jobs(&rt, &stop)?;
        ctx.with(|ctx| {
            let returned = returned
                .restore(&ctx)
                .map_err(|e| failure(Phase::Output, e))?;
            to_json(&ctx, returned, limits)
        })
    });
    // A script that ended between two interrupt polls is held to the same limits.
    let cpu_used = cpu_start.try_elapsed().unwrap_or(Duration::ZERO);
    if stop.get().is_none() && cpu_used >= cpu_limit {
        stop.set(Some(Stop::Cpu));
    } else if stop.get().is_none() && wall_start.elapsed() >= wall_limit {
        stop.set(Some(Stop::Wall));
    }
    let time_limit = |stop: Stop| SandboxError::TimeLimit {
        limit: match stop {
            Stop::Cpu => cpu_limit,
            Stop::Wall => wall_limit,
        },
    };
    let output = match result {
        _ if stop.get().is_some() => return Err(time_limit(stop.get().unwrap_or(Stop::Cpu))),
        Ok(output) => output,
        Err(Failure::Done(error)) => return Err(error),
        Err(Failure::OutOfMemory) => {
            return Err(SandboxError::MemoryLimit {
                limit: limits.memory_bytes,
            })
        }
        Err(Failure::Exception(phase)) => {
            rt.set_memory_limit(limits.memory_bytes.saturating_add(DESCRIBE_HEADROOM));
            let thrown = ctx.with(|ctx| describe(&ctx, ctx.catch()));
            return Err(match stop.get() {
                Some(s) => time_limit(s),
                None => classify(phase, thrown, &job.source, limits),
            });
        }
    };
    let logs = logs.take();
    Ok(Outcome {
        output,
        logs: logs.lines,
        logs_dropped: logs.dropped,
        cpu_time: cpu_used,
    })
}

/// Installs `console` and runs the prelude (see `prelude.js`).
fn set_up<'js>(
    ctx: &Ctx<'js>,
    logs: &Rc<RefCell<Logs>>,
    stop: &Rc<Cell<Option<Stop>>>,
) -> Result<(), SandboxError> {
    // Compiled through `Function` (not `eval`) so that its stack frames are not named like the
    // user's code.
    let prelude = || -> rquickjs::Result<()> {
        let compile: Function = ctx.globals().get("Function")?;
        compile.call::<_, Function>((PRELUDE,))?.call(())
    };
    let result = install_console(ctx, logs, stop).and_then(|()| prelude());
    result.map_err(|e| {
        let detail = match e {
            rquickjs::Error::Exception => describe(ctx, ctx.catch()).message,
            other => other.to_string(),
        };
        internal("setting up the context", detail)
    })
}

/// Compiles the user's function and calls it with the input; returns what it returned.
fn evaluate<'js>(ctx: &Ctx<'js>, job: &Job) -> Result<Persistent<Value<'static>>, Failure> {
    // Line 1 of the user's source is line 2 of the compiled text.
    let wrapped = format!("(function (input) {{\n{}\n}})", job.source);
    let mut options = EvalOptions::default();
    options.strict = false;
    options.backtrace_barrier = true;
    let function: Value = ctx
        .eval_with_options(wrapped, options)
        .map_err(|e| failure(Phase::Compile, e))?;
    let Some(function) = function.into_function() else {
        return Err(Failure::Done(SandboxError::Syntax {
            message: "the code must be the body of a function".to_owned(),
            line: None,
            column: None,
        }));
    };
    let input: Value = ctx
        .json_parse(job.input_json.as_bytes())
        .map_err(|e| failure(Phase::Input, e))?;
    let returned: Value = function
        .call((input,))
        .map_err(|e| failure(Phase::Run, e))?;
    Ok(Persistent::save(ctx, returned))
}

/// Runs the promise jobs the script queued (still interruptible). They cannot change what the
/// script returned but may log, and a job that throws fails the execution.
///
/// Through the runtime, outside the context lock: `Ctx::execute_pending_job` clears the
/// exception of a job that throws, so a job running out of memory would go unnoticed.
fn run_jobs(rt: &Runtime, stop: &Cell<Option<Stop>>) -> Result<(), Failure> {
    while stop.get().is_none() {
        match rt.execute_pending_job() {
            Ok(true) => {}
            Ok(false) => break,
            // The exception is left pending in the (only) context, for `describe`.
            Err(_) => return Err(Failure::Exception(Phase::Jobs)),
        }
    }
    Ok(())
}

/// Serialises the script's result, rejecting what JSON cannot represent.
fn to_json<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    limits: &Limits,
) -> Result<serde_json::Value, Failure> {
    let not_json = |message: String| Failure::Done(SandboxError::Output(message));
    if value.is_undefined() {
        return Ok(serde_json::Value::Null);
    }
    if value.is_promise() {
        return Err(not_json(
            "it is a Promise; the code runs synchronously (no async/await)".to_owned(),
        ));
    }
    let problem: Rc<RefCell<Option<String>>> = Rc::default();
    let found = Rc::clone(&problem);
    let replacer = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, key: Value<'js>, value: Value<'js>| -> rquickjs::Result<Value<'js>> {
            let what = match value.type_of() {
                Type::Function | Type::Constructor => "a function",
                Type::Symbol => "a symbol",
                Type::BigInt => "a BigInt",
                _ => return Ok(value),
            };
            let key = key.as_string().and_then(|k| k.to_string().ok());
            *found.borrow_mut() = Some(match key.filter(|k| !k.is_empty()) {
                Some(key) => format!("{what} at key {key:?}"),
                None => format!("the result is {what}"),
            });
            Err(Exception::throw_type(
                &ctx,
                "value is not JSON-serialisable",
            ))
        },
    )
    .map_err(|e| failure(Phase::Output, e))?;
    let text = match ctx.json_stringify_replacer(value, replacer) {
        Ok(Some(text)) => text.to_string().map_err(|e| failure(Phase::Output, e))?,
        Ok(None) => return Ok(serde_json::Value::Null),
        Err(e) => match problem.take() {
            Some(message) => {
                ctx.catch();
                return Err(not_json(message));
            }
            None => return Err(failure(Phase::Output, e)),
        },
    };
    if text.len() > limits.output_bytes {
        return Err(Failure::Done(SandboxError::OutputTooLarge {
            limit: limits.output_bytes,
            size: text.len(),
        }));
    }
    serde_json::from_str(&text)
        .map_err(|e| not_json(format!("could not read it back as JSON: {e}")))
}

/// Classifies an rquickjs error; an exception stays pending for [`describe`].
fn failure(phase: Phase, error: rquickjs::Error) -> Failure {
    match error {
        rquickjs::Error::Exception => Failure::Exception(phase),
        rquickjs::Error::Allocation => Failure::OutOfMemory,
        rquickjs::Error::InvalidString(_) if phase == Phase::Compile => {
            Failure::Done(SandboxError::Syntax {
                message: "the code contains a NUL character".to_owned(),
                line: None,
                column: None,
            })
        }
        other => Failure::Done(SandboxError::Internal(format!("{phase:?}: {other}"))),
    }
}

fn internal(what: &str, error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Internal(format!("{what}: {error}"))
}
