//! Turning a JavaScript exception into a [`SandboxError`].

use rquickjs::{Coerced, Ctx, Exception, Value};

use crate::console::truncate;
use crate::{Limits, SandboxError};

/// Most bytes kept of an exception's message or stack.
const MAX_ERROR_TEXT: usize = 8 * 1024;

/// What the engine was doing when an exception was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Compile,
    Input,
    Run,
    Jobs,
    Output,
}

/// A thrown value, as text.
pub(crate) struct Thrown {
    /// The thrown value was `null`: QuickJS throws that when it cannot even allocate the
    /// `InternalError: out of memory` object.
    pub(crate) null: bool,
    pub(crate) name: Option<String>,
    pub(crate) message: String,
    pub(crate) stack: Option<String>,
}

/// Turns a thrown value into text, clearing any exception raised while reading it.
pub(crate) fn describe<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Thrown {
    let mut thrown = match value.as_object().cloned().and_then(Exception::from_object) {
        Some(error) => Thrown {
            null: false,
            name: error
                .get::<_, Option<Coerced<String>>>("name")
                .ok()
                .flatten()
                .map(|n| n.0),
            message: error.message().unwrap_or_default(),
            stack: error.stack().filter(|s| !s.is_empty()),
        },
        None => Thrown {
            null: value.is_null(),
            name: None,
            message: match value.as_string() {
                Some(text) => text.to_string().unwrap_or_default(),
                None => ctx
                    .json_stringify(value.clone())
                    .ok()
                    .flatten()
                    .and_then(|text| text.to_string().ok())
                    .or_else(|| value.get::<Coerced<String>>().ok().map(|t| t.0))
                    .unwrap_or_else(|| format!("[{}]", value.type_name())),
            },
            stack: None,
        },
    };
    ctx.catch();
    truncate(&mut thrown.message, MAX_ERROR_TEXT);
    if let Some(stack) = thrown.stack.as_mut() {
        truncate(stack, MAX_ERROR_TEXT);
    }
    thrown
}

/// Maps a described exception to the error the caller sees.
pub(crate) fn classify(
    phase: Phase,
    thrown: Thrown,
    source: &str,
    limits: &Limits,
) -> SandboxError {
    let name = thrown.name.as_deref().unwrap_or("");
    if is_out_of_memory(&thrown, limits) {
        return SandboxError::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    if name == "RangeError" && thrown.message == "Maximum call stack size exceeded" {
        return SandboxError::StackOverflow;
    }
    let message = match name {
        "" => thrown.message.clone(),
        name => format!("{name}: {}", thrown.message),
    };
    match phase {
        Phase::Compile if name == "SyntaxError" => {
            let (mut line, mut column) = syntax_position(thrown.stack.as_deref());
            let last_line = u32::try_from(source.lines().count().max(1)).unwrap_or(u32::MAX);
            if line.is_some_and(|l| l > last_line) {
                // Reported on the wrapper's closing brace: the source ended too early.
                (line, column) = (Some(last_line), None);
            }
            let mut message = thrown.message;
            if source.contains("await") {
                message.push_str(" (the code runs synchronously: `await` is not available)");
            }
            SandboxError::Syntax {
                message,
                line,
                column,
            }
        }
        Phase::Output => SandboxError::Output(message),
        Phase::Input => SandboxError::Internal(message),
        Phase::Compile | Phase::Run | Phase::Jobs => SandboxError::Thrown {
            message,
            stack: thrown.stack.as_deref().map(rebase_stack),
        },
    }
}

/// Longest string QuickJS builds, in characters (its `JS_STRING_LEN_MAX`).
const MAX_STRING_LENGTH: usize = (1 << 30) - 1;

/// Whether the exception means that the script ran out of memory.
///
/// QuickJS throws `InternalError: out of memory`. When memory is too short for that message,
/// the error has no message of its own (or QuickJS's fallback, "Invalid error message"), and
/// when even the error object cannot be allocated, QuickJS throws `null`. An uncaught
/// `throw null` or message-less `InternalError` written by the user is reported as running out
/// of memory too: they cannot be told apart once the stack has unwound, and are rare.
///
/// `InternalError: string too long` counts as well when the memory limit could never hold such a
/// string: concatenation builds ropes, so `s = s + s` reaches the maximum length without
/// allocating the characters (which would have exhausted the memory long before).
fn is_out_of_memory(thrown: &Thrown, limits: &Limits) -> bool {
    if thrown.null {
        return true;
    }
    if thrown.name.as_deref() != Some("InternalError") {
        return false;
    }
    match thrown.message.as_str() {
        "out of memory" | "" | "Invalid error message" => true,
        "string too long" => limits.memory_bytes <= MAX_STRING_LENGTH,
        _ => false,
    }
}

/// Line and column of a syntax error in the user's source, from QuickJS's `at file:line:col`.
fn syntax_position(stack: Option<&str>) -> (Option<u32>, Option<u32>) {
    let Some(frame) = stack.and_then(|s| s.lines().next()) else {
        return (None, None);
    };
    let mut parts = frame.trim().rsplit(':');
    let column = parts
        .next()
        .and_then(|c| c.trim_end_matches(')').parse::<u32>().ok());
    let line = parts.next().and_then(|l| l.parse::<u32>().ok());
    match (line, column) {
        // Line 1 is the wrapper's `(function (input) {`.
        (Some(line), column) if line >= 2 => (Some(line - 1), column),
        _ => (None, None),
    }
}

/// The user's frames are in `eval_script` and count the wrapper's first line: show them as
/// `code` with the user's own line numbers. (The prelude is compiled under another name.)
fn rebase_stack(stack: &str) -> String {
    const COMPILED: &str = "eval_script:";
    let mut out = String::with_capacity(stack.len());
    let mut rest = stack;
    while let Some(at) = rest.find(COMPILED) {
        out.push_str(&rest[..at]);
        rest = &rest[at + COMPILED.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<u32>() {
            Ok(line) if line >= 2 => {
                out.push_str(&format!("code:{}", line - 1));
                rest = &rest[digits..];
            }
            _ => out.push_str(COMPILED),
        }
    }
    out.push_str(rest);
    out
}
