//! A plain-text secret that never prints.

use std::fmt;

/// A plain-text password or token value.
///
/// `Debug` and `Display` print `***`, so a secret that ends up in a log line,
/// an error message or a panic does not leak. The value is reachable only
/// through [`Secret::expose`], which makes every use easy to find. There is
/// deliberately no `PartialEq`: comparing secrets must be done in constant
/// time ([`crate::tokens::constant_time_eq`]) or through a hash.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a plain-text value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plain-text value. Call only where the value is really needed
    /// (hashing, signing, showing a new token once).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn from_string_keeps_the_value() {
        assert_eq!(Secret::from("abc".to_owned()).expose(), "abc");
    }
}
