//! Hashes of secrets (passwords, refresh tokens, invitations, API tokens)
//! as the domain sees them: opaque strings, computed by the auth layer.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The hash of a secret: an argon2id PHC string for a password, lowercase
/// hex SHA-256 for a random token secret. The domain never hashes and never
/// sees the secret itself; it only stores hashes and compares them.
#[derive(Clone, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    /// Wraps a hash computed outside the domain.
    pub fn new(hash: String) -> Self {
        Self(hash)
    }

    /// The hash, for verifying a presented secret against it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Compares in time that depends only on the lengths: a presented token's
/// hash is compared with the stored one, and how far they agree must not
/// leak.
impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// Never prints the hash: a leaked hash invites offline guessing.
impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::SecretHash;

    #[test]
    fn debug_hides_the_hash_and_equality_compares_it() {
        let hash = SecretHash::new("9f86d081884c7d65".into());
        assert_eq!(format!("{hash:?}"), "SecretHash(***)");
        assert_eq!(format!("{:?}", Some(&hash)), "Some(SecretHash(***))");
        assert_eq!(hash.expose(), "9f86d081884c7d65");
        assert_eq!(hash, SecretHash::new("9f86d081884c7d65".into()));
        assert_ne!(hash, SecretHash::new("9f86d081884c7d66".into()));
        assert_ne!(hash, SecretHash::new("9f86d081884c7d6".into()));
        assert_eq!(
            serde_json::to_value(&hash).unwrap(),
            serde_json::json!("9f86d081884c7d65")
        );
    }
}
