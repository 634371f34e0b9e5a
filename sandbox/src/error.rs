//! Why an execution failed, worded for the workflow's author.

use std::time::Duration;

/// Why a script produced no output. Messages are meant to be shown to the workflow's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The source does not parse (as the body of a function).
    #[error("syntax error{}: {message}", position(*.line, *.column))]
    Syntax {
        /// QuickJS's description of the problem.
        message: String,
        /// 1-based line in the user's source, when QuickJS reports one.
        line: Option<u32>,
        /// 1-based column in the user's source, when QuickJS reports one.
        column: Option<u32>,
    },
    /// The script threw an exception it did not catch.
    #[error("uncaught exception: {message}")]
    Thrown {
        /// `Name: message` of a thrown error, or the thrown value as text.
        message: String,
        /// The JavaScript stack trace, when the thrown value has one.
        stack: Option<String>,
    },
    /// The script ran past its CPU-time (or wall-clock backstop) limit.
    #[error("script exceeded its time limit of {} ms", limit.as_millis())]
    TimeLimit {
        /// The limit that was hit.
        limit: Duration,
    },
    /// The script tried to allocate more than its memory limit, or built a string longer than
    /// the limit could ever hold. (An uncaught `throw null` or message-less `InternalError` is
    /// reported this way too: QuickJS throws those when memory is too short to build its error.)
    #[error("script exceeded its memory limit of {limit} bytes")]
    MemoryLimit {
        /// The memory limit, in bytes.
        limit: usize,
    },
    /// The script recursed deeper than its stack limit allows.
    #[error("script exceeded the maximum call stack size (runaway recursion?)")]
    StackOverflow,
    /// The serialised result is larger than the output limit.
    #[error("script output is {size} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        /// The output limit, in bytes.
        limit: usize,
        /// The size of the serialised output, in bytes.
        size: usize,
    },
    /// The script returned something that is not a JSON value.
    #[error("script result is not JSON-serialisable: {0}")]
    Output(String),
    /// The sandbox itself failed (not the script's fault).
    #[error("sandbox internal error: {0}")]
    Internal(String),
}

impl SandboxError {
    /// Whether running the same script again could succeed. Always `false`: a script's errors and
    /// limit breaches are deterministic enough that retrying only burns resources, and an
    /// internal failure (thread or engine setup) is not one a blind retry should paper over.
    pub fn retryable(&self) -> bool {
        false
    }
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}
