//! The one primitive under both layers of the envelope: AES-256-GCM with a
//! random 96-bit nonce and associated data naming what the ciphertext belongs
//! to, plus the credential format recorded in events.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use domain::ids::{IntegrationId, TenantId, WorkflowId};
use domain::integration::SealedSecret;
use zeroize::Zeroizing;

use super::{SecretError, SecretString, ALGORITHM};

/// Length of a key in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// Length of a nonce in bytes.
pub(crate) const NONCE_LEN: usize = 12;

/// 32 bytes of key material: zeroed on drop, never printed.
pub(crate) struct KeyBytes(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(***)")
    }
}

impl KeyBytes {
    /// A fresh key from the operating system's generator.
    pub(crate) fn random() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut bytes[..]);
        Self(bytes)
    }

    /// A key from exactly 32 bytes, or `None`.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    /// The raw bytes, to wrap this key under another.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Encrypts `plaintext` bound to `aad`: the nonce followed by the
    /// ciphertext and tag.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what [`KeyBytes::seal`] made with the same `aad`; `None` when
    /// it was altered, sealed under another key or bound to something else.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }
}

/// Binds credentials to their tenant and record: moved elsewhere, they no
/// longer decrypt. Unchanged since single-key sealing, so secrets sealed
/// directly under a master key still open.
fn credentials_aad(tenant: TenantId, integration: IntegrationId) -> Vec<u8> {
    format!("jobsprint:integration-credentials:v1:{tenant}:{integration}").into_bytes()
}

/// Binds a webhook secret to its tenant and workflow (not to the trigger
/// id, which may change while the secret stays valid).
fn webhook_secret_aad(tenant: TenantId, workflow: WorkflowId) -> Vec<u8> {
    format!("jobsprint:webhook-secret:v1:{tenant}:{workflow}").into_bytes()
}

/// Seals the credentials of one integration under `key`, recorded as `key_id`.
pub(crate) fn seal_credentials(
    key: &KeyBytes,
    key_id: &str,
    tenant: TenantId,
    integration: IntegrationId,
    plaintext: &SecretString,
) -> SealedSecret {
    seal_bound(
        key,
        key_id,
        &credentials_aad(tenant, integration),
        plaintext,
    )
}

/// Opens the credentials of one integration with `key`.
pub(crate) fn open_credentials(
    key: &KeyBytes,
    tenant: TenantId,
    integration: IntegrationId,
    sealed: &SealedSecret,
) -> Result<SecretString, SecretError> {
    open_bound(key, &credentials_aad(tenant, integration), sealed)
}

/// Seals the webhook secret of one workflow under `key`, recorded as `key_id`.
pub(crate) fn seal_webhook_secret(
    key: &KeyBytes,
    key_id: &str,
    tenant: TenantId,
    workflow: WorkflowId,
    plaintext: &SecretString,
) -> SealedSecret {
    seal_bound(
        key,
        key_id,
        &webhook_secret_aad(tenant, workflow),
        plaintext,
    )
}

/// Opens the webhook secret of one workflow with `key`.
pub(crate) fn open_webhook_secret(
    key: &KeyBytes,
    tenant: TenantId,
    workflow: WorkflowId,
    sealed: &SealedSecret,
) -> Result<SecretString, SecretError> {
    open_bound(key, &webhook_secret_aad(tenant, workflow), sealed)
}

/// Binds a personal-data field to its subject and to the field's name: a
/// sealed email moved to another user, or into the display name, no longer
/// opens (docs/adr/0016-erasure.md).
fn personal_aad(subject: &str, field: &str) -> Vec<u8> {
    format!("jobsprint:personal-data:v1:{subject}:{field}").into_bytes()
}

/// Seals one personal-data field of `subject` under its subject key.
pub(crate) fn seal_personal(
    key: &KeyBytes,
    key_id: &str,
    subject: &str,
    field: &str,
    plaintext: &SecretString,
) -> SealedSecret {
    seal_bound(key, key_id, &personal_aad(subject, field), plaintext)
}

/// Opens one personal-data field of `subject` with its subject key.
pub(crate) fn open_personal(
    key: &KeyBytes,
    subject: &str,
    field: &str,
    sealed: &SealedSecret,
) -> Result<SecretString, SecretError> {
    open_bound(key, &personal_aad(subject, field), sealed)
}

fn seal_bound(key: &KeyBytes, key_id: &str, aad: &[u8], plaintext: &SecretString) -> SealedSecret {
    let sealed = key.seal(aad, plaintext.expose().as_bytes());
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    SealedSecret {
        key_id: key_id.to_owned(),
        algorithm: ALGORITHM.to_owned(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    }
}

fn open_bound(
    key: &KeyBytes,
    aad: &[u8],
    sealed: &SealedSecret,
) -> Result<SecretString, SecretError> {
    if sealed.algorithm != ALGORITHM {
        return Err(SecretError::Undecryptable);
    }
    let mut joined = B64
        .decode(&sealed.nonce)
        .map_err(|_| SecretError::Undecryptable)?;
    if joined.len() != NONCE_LEN {
        return Err(SecretError::Undecryptable);
    }
    B64.decode_vec(&sealed.ciphertext, &mut joined)
        .map_err(|_| SecretError::Undecryptable)?;
    let plaintext = key.open(aad, &joined).ok_or(SecretError::Undecryptable)?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| SecretError::Undecryptable)?;
    Ok(SecretString::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn ids() -> (TenantId, IntegrationId) {
        (TenantId(Uuid::new_v4()), IntegrationId(Uuid::new_v4()))
    }

    #[test]
    fn credentials_open_for_their_own_record_only() {
        let key = KeyBytes::random();
        let (tenant, integration) = ids();
        let plaintext = SecretString::new(r#"{"token":"canary-123"}"#);
        let sealed = seal_credentials(&key, "dek-1", tenant, integration, &plaintext);

        assert_eq!(sealed.key_id, "dek-1");
        assert!(!sealed.ciphertext.contains("canary"));
        assert_eq!(
            open_credentials(&key, tenant, integration, &sealed).unwrap(),
            plaintext
        );
        let (other_tenant, other_record) = ids();
        assert!(matches!(
            open_credentials(&key, other_tenant, integration, &sealed),
            Err(SecretError::Undecryptable)
        ));
        assert!(matches!(
            open_credentials(&key, tenant, other_record, &sealed),
            Err(SecretError::Undecryptable)
        ));
        assert!(matches!(
            open_credentials(&KeyBytes::random(), tenant, integration, &sealed),
            Err(SecretError::Undecryptable)
        ));
    }

    #[test]
    fn webhook_secrets_open_for_their_own_workflow_only() {
        let key = KeyBytes::random();
        let (tenant, _) = ids();
        let workflow = WorkflowId(Uuid::new_v4());
        let plaintext = SecretString::new("whsec_canary");
        let sealed = seal_webhook_secret(&key, "dek-1", tenant, workflow, &plaintext);
        assert!(!sealed.ciphertext.contains("canary"));
        assert_eq!(
            open_webhook_secret(&key, tenant, workflow, &sealed).unwrap(),
            plaintext
        );
        assert!(open_webhook_secret(&key, tenant, WorkflowId(Uuid::new_v4()), &sealed).is_err());
        // Not interchangeable with integration credentials of the same id.
        let as_integration = IntegrationId(workflow.0);
        assert!(open_credentials(&key, tenant, as_integration, &sealed).is_err());
    }

    #[test]
    fn personal_fields_open_for_their_own_subject_and_field_only() {
        let key = KeyBytes::random();
        let plaintext = SecretString::new("ada@example.com");
        let sealed = seal_personal(&key, "sk-1", "user-a", "email", &plaintext);
        assert!(!sealed.ciphertext.contains("ada"));
        assert_eq!(
            open_personal(&key, "user-a", "email", &sealed).unwrap(),
            plaintext
        );
        assert!(open_personal(&key, "user-b", "email", &sealed).is_err());
        assert!(open_personal(&key, "user-a", "display_name", &sealed).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let key = KeyBytes::random();
        let (tenant, integration) = ids();
        let mut sealed = seal_credentials(&key, "k", tenant, integration, &SecretString::new("s"));
        let mut bytes = B64.decode(&sealed.ciphertext).unwrap();
        bytes[0] ^= 1;
        sealed.ciphertext = B64.encode(bytes);
        assert!(open_credentials(&key, tenant, integration, &sealed).is_err());

        let mut short = key.seal(b"aad", b"x");
        assert!(key.open(b"aad", &short).is_some());
        assert!(key.open(b"other", &short).is_none());
        short.truncate(5);
        assert!(key.open(b"aad", &short).is_none());
    }

    #[test]
    fn key_material_is_never_printed() {
        assert_eq!(format!("{:?}", KeyBytes::random()), "KeyBytes(***)");
        assert!(!format!("{:?}", SecretString::new("hunter2")).contains("hunter2"));
        assert!(KeyBytes::from_slice(&[0; 31]).is_none());
    }
}
