//! A validated, normalized email address: the name of a user within a
//! tenant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest address accepted, in characters (the SMTP path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// An email address, trimmed and lowercased, so `Ada@Example.com ` and
/// `ada@example.com` are the same user.
///
/// Deserialization does not validate: events recorded under earlier rules
/// must still load. Only [`Email::parse`] builds new addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Blank after trimming.
    #[error("email address must not be empty")]
    Empty,
    /// Longer than [`MAX_EMAIL_CHARS`].
    #[error("email address is {length} characters long but the limit is {MAX_EMAIL_CHARS}; use a shorter address")]
    TooLong {
        /// The length found, after trimming.
        length: usize,
    },
    /// Not of the form `name@example.com`.
    #[error("'{input}' is not a valid email address: {problem}; use the form name@example.com")]
    Malformed {
        /// The address given (trimmed).
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl Email {
    /// Trims and lowercases `raw`, then checks it has exactly one '@', a
    /// non-empty part before it, a domain with a dot after it (e.g.
    /// `example.com`, no empty labels), no blanks or control characters,
    /// and at most [`MAX_EMAIL_CHARS`] characters.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        let length = trimmed.chars().count();
        if length > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong { length });
        }
        let malformed = |problem| EmailError::Malformed {
            input: trimmed.to_owned(),
            problem,
        };
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(malformed("it contains blanks or control characters"));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(malformed("it has no '@'"));
        };
        if domain.contains('@') {
            return Err(malformed("it has more than one '@'"));
        }
        if local.is_empty() {
            return Err(malformed("the part before '@' is empty"));
        }
        let labels_ok = domain.split('.').all(|label| !label.is_empty());
        if !domain.contains('.') || !labels_ok {
            return Err(malformed(
                "the part after '@' must be a domain such as example.com",
            ));
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace+ops@Example.CO.uk\n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace+ops@example.co.uk");
        assert_eq!(email.to_string(), "ada.lovelace+ops@example.co.uk");
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            serde_json::json!("ada.lovelace+ops@example.co.uk")
        );
        let back: Email = serde_json::from_str("\"ada.lovelace+ops@example.co.uk\"").unwrap();
        assert_eq!(back, email);
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        let problem = |raw: &str| match Email::parse(raw) {
            Err(EmailError::Malformed { problem, .. }) => problem,
            other => panic!("{raw:?} gave {other:?}"),
        };
        assert_eq!(problem("ada.example.com"), "it has no '@'");
        assert_eq!(problem("ada@x@example.com"), "it has more than one '@'");
        assert_eq!(problem("@example.com"), "the part before '@' is empty");
        for bad_domain in [
            "ada@",
            "ada@localhost",
            "ada@.com",
            "ada@example.",
            "ada@a..b",
        ] {
            assert_eq!(
                problem(bad_domain),
                "the part after '@' must be a domain such as example.com",
                "{bad_domain}"
            );
        }
        assert_eq!(
            problem("ada lovelace@example.com"),
            "it contains blanks or control characters"
        );
        assert_eq!(
            Email::parse(" Ada@Example ").unwrap_err().to_string(),
            "'Ada@Example' is not a valid email address: the part after '@' must be a domain such as example.com; use the form name@example.com"
        );
    }

    #[test]
    fn empty_and_overlong_addresses_are_rejected() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        assert_eq!(
            Email::parse("   ").unwrap_err().to_string(),
            "email address must not be empty"
        );
        let at_limit = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS - 12));
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(
            Email::parse(&over),
            Err(EmailError::TooLong {
                length: MAX_EMAIL_CHARS + 1
            })
        );
        assert!(Email::parse(&over)
            .unwrap_err()
            .to_string()
            .contains("255 characters long but the limit is 254"));
    }
}
