//! Credential encryption: AES-256-GCM under a configured key, bound to the
//! record it belongs to. Plaintext never reaches an event; the event records
//! the key id so keys can rotate (docs/adr/0003-secret-encryption.md).

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use domain::ids::{IntegrationId, TenantId};
use domain::integration::SealedSecret;

/// The algorithm name recorded with every sealed secret.
pub const ALGORITHM: &str = "AES-256-GCM";

/// A plaintext secret. Its `Debug` and `Display` never show the value.
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

/// Why a key could not be configured or a secret not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not 32 bytes of base64.
    #[error("secret key '{key_id}' must be 32 bytes encoded as base64 ({reason})")]
    BadKey {
        /// Which key.
        key_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sealed secret names a key this process does not have.
    #[error("no secret key with id '{0}' is configured")]
    UnknownKey(String),
    /// Tampered ciphertext, or ciphertext moved to another record.
    #[error("the secret could not be decrypted: it was altered or belongs to another record")]
    Undecryptable,
}

/// The keys this process encrypts with (the active one) and can decrypt with.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, Key<Aes256Gcm>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring with one active key, given as base64 of 32 bytes.
    pub fn new(key_id: impl Into<String>, key_base64: &SecretString) -> Result<Self, SecretError> {
        let key_id = key_id.into();
        let key = decode_key(&key_id, key_base64)?;
        Ok(Self {
            keys: HashMap::from([(key_id.clone(), key)]),
            active: key_id,
        })
    }

    /// Adds an older key that can still decrypt.
    pub fn with_retired(
        mut self,
        key_id: impl Into<String>,
        key_base64: &SecretString,
    ) -> Result<Self, SecretError> {
        let key_id = key_id.into();
        let key = decode_key(&key_id, key_base64)?;
        self.keys.insert(key_id, key);
        Ok(self)
    }

    /// A fresh random key as base64, for `jobsprint` setups and tests.
    pub fn generate_key() -> SecretString {
        SecretString(B64.encode(Aes256Gcm::generate_key(OsRng)))
    }

    /// The id of the key new secrets are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts the credentials of one integration.
    pub fn seal(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        plaintext: &SecretString,
    ) -> SealedSecret {
        let cipher = Aes256Gcm::new(&self.keys[&self.active]);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(tenant, integration);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        SealedSecret {
            key_id: self.active.clone(),
            algorithm: ALGORITHM.to_owned(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        }
    }

    /// Decrypts the credentials of one integration.
    pub fn open(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        sealed: &SealedSecret,
    ) -> Result<SecretString, SecretError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| SecretError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = B64
            .decode(&sealed.nonce)
            .map_err(|_| SecretError::Undecryptable)?;
        if nonce.len() != 12 || sealed.algorithm != ALGORITHM {
            return Err(SecretError::Undecryptable);
        }
        let ciphertext = B64
            .decode(&sealed.ciphertext)
            .map_err(|_| SecretError::Undecryptable)?;
        let aad = associated_data(tenant, integration);
        let plaintext = Aes256Gcm::new(key)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plaintext)
            .map(SecretString)
            .map_err(|_| SecretError::Undecryptable)
    }
}

/// Binds a ciphertext to its tenant and record: moved elsewhere, it no
/// longer decrypts.
fn associated_data(tenant: TenantId, integration: IntegrationId) -> Vec<u8> {
    format!("jobsprint:integration-credentials:v1:{tenant}:{integration}").into_bytes()
}

fn decode_key(key_id: &str, key_base64: &SecretString) -> Result<Key<Aes256Gcm>, SecretError> {
    let bad = |reason: &str| SecretError::BadKey {
        key_id: key_id.to_owned(),
        reason: reason.to_owned(),
    };
    if key_id.is_empty() {
        return Err(bad("the key id is empty"));
    }
    let bytes = B64
        .decode(key_base64.expose().trim())
        .map_err(|_| bad("not valid base64"))?;
    if bytes.len() != 32 {
        return Err(bad(&format!("decoded to {} bytes", bytes.len())));
    }
    Ok(*Key::<Aes256Gcm>::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn keyring() -> Keyring {
        Keyring::new("k1", &Keyring::generate_key()).unwrap()
    }

    #[test]
    fn sealed_credentials_open_for_their_own_record_only() {
        let keys = keyring();
        let (tenant, integration) = (TenantId(Uuid::new_v4()), IntegrationId(Uuid::new_v4()));
        let plaintext = SecretString::new(r#"{"token":"canary-123"}"#);
        let sealed = keys.seal(tenant, integration, &plaintext);

        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.ciphertext.contains("canary"));
        assert_eq!(keys.open(tenant, integration, &sealed).unwrap(), plaintext);

        let other_tenant = TenantId(Uuid::new_v4());
        assert!(matches!(
            keys.open(other_tenant, integration, &sealed),
            Err(SecretError::Undecryptable)
        ));
        let other_record = IntegrationId(Uuid::new_v4());
        assert!(matches!(
            keys.open(tenant, other_record, &sealed),
            Err(SecretError::Undecryptable)
        ));
    }

    #[test]
    fn tampered_ciphertext_fails_to_open() {
        let keys = keyring();
        let (tenant, integration) = (TenantId(Uuid::new_v4()), IntegrationId(Uuid::new_v4()));
        let mut sealed = keys.seal(tenant, integration, &SecretString::new("s3cret"));
        let mut bytes = B64.decode(&sealed.ciphertext).unwrap();
        bytes[0] ^= 1;
        sealed.ciphertext = B64.encode(bytes);
        assert!(matches!(
            keys.open(tenant, integration, &sealed),
            Err(SecretError::Undecryptable)
        ));
    }

    #[test]
    fn retired_keys_still_open_and_unknown_keys_are_named() {
        let old_key = Keyring::generate_key();
        let old = Keyring::new("old", &old_key).unwrap();
        let (tenant, integration) = (TenantId(Uuid::new_v4()), IntegrationId(Uuid::new_v4()));
        let sealed = old.seal(tenant, integration, &SecretString::new("v"));

        let rotated = Keyring::new("new", &Keyring::generate_key())
            .unwrap()
            .with_retired("old", &old_key)
            .unwrap();
        assert_eq!(
            rotated.open(tenant, integration, &sealed).unwrap().expose(),
            "v"
        );
        assert_eq!(
            rotated
                .seal(tenant, integration, &SecretString::new("v"))
                .key_id,
            "new"
        );

        let err = keyring().open(tenant, integration, &sealed).unwrap_err();
        assert_eq!(err.to_string(), "no secret key with id 'old' is configured");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        let err = Keyring::new("k", &SecretString::new("c2hvcnQ=")).unwrap_err();
        assert!(err.to_string().contains("decoded to 5 bytes"), "{err}");
        assert!(Keyring::new("k", &SecretString::new("not base64!")).is_err());
        assert!(!format!("{:?}", SecretString::new("hunter2")).contains("hunter2"));
    }
}
