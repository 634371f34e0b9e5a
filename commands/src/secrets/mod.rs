//! Credential encryption by envelope: configured master keys wrap one random
//! data key per tenant (stored in `tenant_data_keys`), and the data key seals
//! that tenant's integration credentials and webhook secrets with AES-256-GCM,
//! bound to the record they belong to. Plaintext never reaches an event; the event records the id
//! of the key that opens it (docs/adr/0003-secret-encryption.md).
//!
//! The same master keys wrap one key per data subject (a user), which seals
//! that user's personal data and is destroyed to erase it
//! (docs/adr/0016-erasure.md).
//!
//! Reading order: [`data_keys::DataKeys`] (seal, open), [`master::MasterKeys`]
//! (configuration, wrapping), [`rotation`] (re-wrapping under a new master key),
//! [`subject_keys::SubjectKeys`] and [`erasure`] (personal data),
//! `cipher` (the AEAD primitive and the record bindings).

mod cipher;
pub mod data_keys;
pub mod erasure;
pub mod master;
pub mod rotation;
pub mod subject_keys;

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use zeroize::Zeroize;

/// The algorithm name recorded with every sealed secret and wrapped key.
pub const ALGORITHM: &str = "AES-256-GCM";

/// A plaintext secret. Its `Debug` never shows the value, and the value is
/// zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a plaintext value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext, for the one place that must see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A fresh random 32-byte key as base64, for `jobsprint admin generate-key`,
/// development setups and tests.
pub fn generate_key() -> SecretString {
    SecretString(B64.encode(cipher::KeyBytes::random().expose()))
}

/// Why keys could not be configured, or a secret not be sealed or opened.
/// Messages name key ids, never key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A configured master key is not 32 bytes of base64, or its id is unusable.
    #[error("master key '{key_id}' is unusable: {reason}")]
    BadKey {
        /// Which key.
        key_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The set of master keys is inconsistent (empty, duplicate ids, the
    /// active id not among them, an entry that is not `id:key`).
    #[error("master keys are misconfigured: {0}")]
    BadConfig(String),
    /// The sealed secret names a key that neither this tenant's data keys
    /// nor the configured master keys have.
    #[error("no key with id '{0}' is stored for this tenant or configured")]
    UnknownKey(String),
    /// A data key is wrapped under a master key this process is not given.
    #[error(
        "data key '{key_id}' is wrapped under master key '{master_key_id}', which is not configured \
         (add it to JOBSPRINT_MASTER_KEYS)"
    )]
    UnknownMasterKey {
        /// The data key.
        key_id: String,
        /// The master key it is wrapped under.
        master_key_id: String,
    },
    /// A stored data key does not unwrap: the row was altered, or the
    /// configured master key with that id is a different key.
    #[error(
        "data key '{key_id}' does not unwrap with master key '{master_key_id}': the stored key \
         was altered or that id names a different key here"
    )]
    Unwrappable {
        /// The data key.
        key_id: String,
        /// The master key it is recorded as wrapped under.
        master_key_id: String,
    },
    /// The subject's key was destroyed: its personal data is not written
    /// again.
    #[error("this user's personal data was erased; it cannot be recorded again")]
    SubjectErased,
    /// A User event to seal names no tenant in its metadata.
    #[error("a user event carries no tenant_id")]
    NoTenant,
    /// Tampered ciphertext, or ciphertext moved to another record.
    #[error("the secret could not be decrypted: it was altered or belongs to another record")]
    Undecryptable,
    /// The data key table could not be read or written.
    #[error("the data key store is unavailable: {0}")]
    Database(#[from] sqlx::Error),
}
