//! Validation of free text shared by the aggregates.

use crate::error::TextError;

/// Trims `raw` and checks its length in characters.
pub(crate) fn bounded(raw: &str, max: usize, allow_empty: bool) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() && !allow_empty {
        return Err(TextError::Empty);
    }
    let length = trimmed.chars().count();
    if length > max {
        return Err(TextError::TooLong { length, max });
    }
    Ok(trimmed.to_owned())
}
