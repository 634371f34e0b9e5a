//! Encrypted credentials as the domain sees them: opaque base64 strings.
//! The commands crate encrypts; plaintext never reaches the domain.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Credentials sealed with an AEAD cipher (all fields base64 or names).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Which key sealed it (for key rotation).
    pub key_id: String,
    /// The cipher, e.g. "AES-256-GCM".
    pub algorithm: String,
    /// Base64 nonce.
    pub nonce: String,
    /// Base64 ciphertext.
    pub ciphertext: String,
}

impl SealedSecret {
    /// The first empty field, if any (all four are required).
    pub(super) fn empty_field(&self) -> Option<&'static str> {
        [
            ("key_id", &self.key_id),
            ("algorithm", &self.algorithm),
            ("nonce", &self.nonce),
            ("ciphertext", &self.ciphertext),
        ]
        .into_iter()
        .find(|(_, value)| value.trim().is_empty())
        .map(|(field, _)| field)
    }
}

/// Prints the key id, the algorithm and lengths only: ciphertext in logs
/// invites offline attacks and bloats every log line.
impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::SealedSecret;

    #[test]
    fn debug_hides_the_ciphertext() {
        let secret = SealedSecret {
            key_id: "k1".into(),
            algorithm: "AES-256-GCM".into(),
            nonce: "bm9uY2Vub25jZQ==".into(),
            ciphertext: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
        };
        let printed = format!("{secret:?}");
        assert!(printed.contains("k1"));
        assert!(printed.contains("ciphertext_len: 28"));
        assert!(!printed.contains("c2VjcmV0"));
        assert!(!printed.contains("bm9uY2U"));
    }
}
