//! The one error type of this crate, with messages meant for the people who write workflows.

/// Everything that can go wrong when compiling, evaluating or rendering expressions.
///
/// The `Display` text of every variant is user-facing: it names the expression (or template
/// string) and says what is wrong with it, so the API can pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The expression is not a valid jq program (syntax error, unknown filter or variable).
    #[error("invalid expression `{expression}`: {message}")]
    Compile {
        /// The source text of the expression.
        expression: String,
        /// What is wrong, with the line and column where it was found.
        message: String,
    },
    /// The expression compiled but failed while running, e.g. it indexed a number
    /// (`1 | .a`) or called `error("...")`.
    #[error("expression `{expression}` failed: {message}")]
    Runtime {
        /// The source text of the expression.
        expression: String,
        /// jaq's error message (for `error(x)`, the value `x`).
        message: String,
    },
    /// The expression produced more outputs than the caller allowed (see
    /// [`crate::Expression::eval_all`]); jq programs such as `range(infinite)` never stop on
    /// their own.
    #[error("expression `{expression}` produced more than {limit} outputs")]
    TooManyOutputs {
        /// The source text of the expression.
        expression: String,
        /// The cap that was exceeded.
        limit: usize,
    },
    /// The evaluation ran past [`crate::EvalLimits::time`] and was stopped (or, if it was stuck
    /// in a long native operation, abandoned: see [`crate::abandoned_threads`]).
    #[error("expression `{expression}` was stopped after {limit:?}: it ran too long")]
    TimeLimit {
        /// The source text of the expression that was running.
        expression: String,
        /// The time limit.
        limit: std::time::Duration,
    },
    /// The evaluation took more than [`crate::EvalLimits::max_steps`] interpreter steps.
    #[error("expression `{expression}` was stopped after {limit} steps: it does too much work")]
    StepLimit {
        /// The source text of the expression.
        expression: String,
        /// The step limit.
        limit: usize,
    },
    /// The outputs are larger than [`crate::EvalLimits::max_output_bytes`] as JSON.
    #[error("the result of expression `{expression}` is larger than {limit} bytes")]
    OutputTooLarge {
        /// The source text of the expression.
        expression: String,
        /// The size limit, in bytes.
        limit: usize,
    },
    /// The evaluation hit another resource limit: a value longer than
    /// [`crate::EvalLimits::max_length`], nested too deeply, or an operation that would cost
    /// too much (e.g. `indices` over two huge arrays).
    #[error("expression `{expression}` was stopped: {message}")]
    ResourceLimit {
        /// The source text of the expression.
        expression: String,
        /// Which limit, and by how much.
        message: String,
    },
    /// A template string is malformed, e.g. it has an unclosed `{{`.
    #[error("invalid template: {problem}")]
    Template {
        /// What is wrong, naming the string and the position in it.
        problem: String,
    },
    /// An error inside a JSON value that was being checked or rendered, with the location of
    /// the offending string as a JSON pointer (RFC 6901, e.g. `/headers/Authorization`).
    #[error("at {pointer}: {source}")]
    At {
        /// JSON pointer to the string that holds the failing template.
        pointer: String,
        /// The error itself.
        source: Box<ExprError>,
    },
}

impl ExprError {
    /// The underlying error, with any [`ExprError::At`] location wrappers removed.
    pub fn root_cause(&self) -> &ExprError {
        match self {
            ExprError::At { source, .. } => source.root_cause(),
            other => other,
        }
    }

    /// Wraps `self` in [`ExprError::At`], prefixing the pointer if `self` already has one.
    pub(crate) fn at(self, segment: &str) -> ExprError {
        let segment = escape_pointer_segment(segment);
        match self {
            ExprError::At { pointer, source } => ExprError::At {
                pointer: format!("/{segment}{pointer}"),
                source,
            },
            other => ExprError::At {
                pointer: format!("/{segment}"),
                source: Box::new(other),
            },
        }
    }
}

/// Escapes `~` and `/` in one JSON pointer segment, as RFC 6901 requires.
fn escape_pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
