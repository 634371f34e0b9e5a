//! The budget of the evaluation running on the current evaluator thread.
//!
//! Every compiled program calls [`tick`] all the time (the `!tick` filter that `guard` inserts
//! at every `|`, `,`, `.[]`, `reduce`/`foreach` iteration, arithmetic operation and array or
//! object construction, and our `range`). A tick counts a step, checks the deadline, the
//! caller's cancel flag, the stack left on this thread and the length of the value passing by.
//! Once a limit is hit the budget stays *tripped*: every later tick fails too, so a program
//! that catches the error (`try ... catch`) cannot make progress either, and the job reports the
//! limit whatever the program returns.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use jaq_core::Error;
use jaq_json::Val;

use crate::{EvalLimits, ExprError};

/// Source of the expression a job is currently evaluating, shared with the caller so that a
/// caller who gives up can name it.
pub(crate) type Progress = Arc<Mutex<Option<Arc<str>>>>;

/// Why an evaluation was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trip {
    /// Past the deadline, or the caller gave up.
    Time,
    /// More than `max_steps` steps.
    Steps,
    /// Another limit, described for the user.
    Resource(String),
}

struct Budget {
    limits: EvalLimits,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
    steps: Cell<usize>,
    /// Bytes of values built so far (see [`charge`]).
    memory: Cell<usize>,
    trip: RefCell<Option<Trip>>,
    progress: Progress,
}

thread_local! {
    static BUDGET: RefCell<Option<Budget>> = const { RefCell::new(None) };
    /// Address near the top of this thread's stack, and how many bytes below it evaluations
    /// may use before ticks stop them (`usize::MAX`: no evaluator thread, no check).
    static STACK: Cell<(usize, usize)> = const { Cell::new((0, usize::MAX)) };
}

/// An address in the caller's stack frame (safe: the pointer is never dereferenced).
#[inline(always)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Records the top of the current thread's stack; ticks then stop evaluations that recurse
/// deeper than `usable` bytes below it. Called once by each evaluator thread.
pub(crate) fn mark_stack_top(usable: usize) {
    STACK.set((stack_address(), usable));
}

/// Runs `f` (which evaluates expressions on this thread) under a fresh budget.
pub(crate) fn run<R>(
    limits: &EvalLimits,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
    progress: Progress,
    f: impl FnOnce() -> R,
) -> R {
    let budget = Budget {
        limits: limits.clone(),
        deadline,
        cancel,
        steps: Cell::new(0),
        memory: Cell::new(0),
        trip: RefCell::new(None),
        progress,
    };
    BUDGET.set(Some(budget));
    // Cleared even if `f` panics, so that the next job starts clean.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            BUDGET.set(None);
        }
    }
    let _clear = Clear;
    f()
}

/// Notes that the job now evaluates the expression `source`.
pub(crate) fn started(source: &Arc<str>) {
    BUDGET.with_borrow(|budget| {
        if let Some(budget) = budget {
            let mut current = budget
                .progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *current = Some(Arc::clone(source));
        }
    });
}

/// The limit error for `expression` if the budget has tripped.
pub(crate) fn stopped(expression: &str) -> Option<ExprError> {
    BUDGET.with_borrow(|budget| {
        let budget = budget.as_ref()?;
        let trip = budget.trip.borrow().clone()?;
        Some(trip_error(trip, expression, &budget.limits))
    })
}

/// The error reported for `trip` while `expression` was running.
pub(crate) fn trip_error(trip: Trip, expression: &str, limits: &EvalLimits) -> ExprError {
    let expression = expression.to_owned();
    match trip {
        Trip::Time => ExprError::TimeLimit {
            expression,
            limit: limits.time,
        },
        Trip::Steps => ExprError::StepLimit {
            expression,
            limit: limits.max_steps,
        },
        Trip::Resource(message) => ExprError::ResourceLimit {
            expression,
            message,
        },
    }
}

/// The `max_length` of the current budget (the default outside of one).
pub(crate) fn max_length() -> usize {
    BUDGET.with_borrow(|budget| {
        budget
            .as_ref()
            .map_or_else(|| EvalLimits::default().max_length, |b| b.limits.max_length)
    })
}

/// Trips the budget with a resource limit described by `message`, and returns the error the
/// native filter that noticed it should raise.
pub(crate) fn stop(message: String) -> Error<Val> {
    BUDGET.with_borrow(|budget| {
        if let Some(budget) = budget {
            budget
                .trip
                .borrow_mut()
                .get_or_insert(Trip::Resource(message));
        }
    });
    halted()
}

/// Counts `bytes` of newly built values against `max_memory`.
pub(crate) fn charge(bytes: usize) -> Result<(), Error<Val>> {
    let over = BUDGET.with_borrow(|budget| {
        let budget = budget.as_ref()?;
        let total = budget.memory.get().saturating_add(bytes);
        budget.memory.set(total);
        (total > budget.limits.max_memory).then_some(budget.limits.max_memory)
    });
    match over {
        None => Ok(()),
        Some(max) => Err(stop(format!(
            "the values it built exceed the memory limit of {max} bytes"
        ))),
    }
}

/// Bytes a value takes if it was just built: its allocations (estimated, headers included),
/// not counting the values it points to, which were counted when they were built.
pub(crate) fn new_bytes(value: &Val) -> usize {
    const VAL: usize = std::mem::size_of::<Val>();
    match value {
        Val::TStr(bytes) | Val::BStr(bytes) => 32 + bytes.len(),
        Val::Arr(items) => 64 + items.len() * VAL,
        Val::Obj(fields) => 96 + fields.len() * (2 * VAL + 16),
        _ => 0,
    }
}

/// The error raised inside the program once the budget has tripped.
fn halted() -> Error<Val> {
    Error::str("the evaluation was stopped by a resource limit")
}

/// One interpreter step with `value` passing by: fails once any limit is exceeded.
pub(crate) fn tick(value: &Val) -> Result<(), Error<Val>> {
    let ok = BUDGET.with_borrow(|budget| {
        let Some(budget) = budget else { return true };
        if budget.trip.borrow().is_some() {
            return false;
        }
        match check(budget, value) {
            None => true,
            Some(trip) => {
                *budget.trip.borrow_mut() = Some(trip);
                false
            }
        }
    });
    if ok {
        Ok(())
    } else {
        Err(halted())
    }
}

/// The limit `budget` exceeds now, if any.
fn check(budget: &Budget, value: &Val) -> Option<Trip> {
    let steps = budget.steps.get() + 1;
    budget.steps.set(steps);
    if steps > budget.limits.max_steps {
        return Some(Trip::Steps);
    }
    if budget.cancel.load(Ordering::Relaxed)
        || (steps.is_multiple_of(32) && Instant::now() >= budget.deadline)
    {
        return Some(Trip::Time);
    }
    let (top, usable) = STACK.get();
    if top.saturating_sub(stack_address()) > usable {
        return Some(Trip::Resource(
            "the evaluation recursed past the stack limit of its thread (a value or the program \
             nests too deeply)"
                .to_owned(),
        ));
    }
    length_problem(value, budget.limits.max_length).map(Trip::Resource)
}

/// Describes `value` if it is longer than `max_length`.
pub(crate) fn length_problem(value: &Val, max_length: usize) -> Option<String> {
    let (len, what) = match value {
        Val::TStr(bytes) | Val::BStr(bytes) => (bytes.len(), "bytes long"),
        Val::Arr(items) => (items.len(), "items long"),
        Val::Obj(fields) => (fields.len(), "entries long"),
        _ => return None,
    };
    let kind = match value {
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
        _ => "a string",
    };
    (len > max_length).then(|| format!("{kind} {len} {what} exceeds the limit of {max_length}"))
}
