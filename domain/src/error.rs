//! Error kinds shared by every aggregate, so the API maps domain rejections
//! to answers in one place without knowing each aggregate's error enum.

/// The category of a domain rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The command carries invalid data; fix the input and retry.
    Validation,
    /// The target does not exist (or belongs to another tenant).
    NotFound,
    /// The command raced another change or repeats a creation.
    Conflict,
    /// The command is valid but not allowed in the aggregate's current state.
    InvalidState,
}

impl ErrorKind {
    /// The stable error code shown to API clients.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Validation => "VALIDATION",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::InvalidState => "INVALID_STATE",
        }
    }
}

/// Implemented by every aggregate's error enum.
pub trait DomainError: std::error::Error {
    /// The category of this rejection.
    fn kind(&self) -> ErrorKind;
}

/// Why a piece of free text (a name, a description) was rejected; the
/// aggregate error wraps it and says which text it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Blank after trimming.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed (in characters, after trimming).
    #[error("is {length} characters long but the limit is {max}; shorten it")]
    TooLong {
        /// The length found.
        length: usize,
        /// The limit.
        max: usize,
    },
}
