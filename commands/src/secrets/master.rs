//! Master keys: configured outside the database, they never seal credentials
//! themselves; they wrap and unwrap the tenants' data keys. Several can be
//! configured at once (the active one wraps, all of them unwrap), which is
//! what lets a new master key roll out before the old one is dropped.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use domain::ids::TenantId;
use zeroize::Zeroizing;

use super::cipher::KeyBytes;
use super::{SecretError, SecretString};

/// Prefix of data key ids; master key ids may not use it, so the key id a
/// sealed secret records says which layer opens it.
pub(crate) const DATA_KEY_PREFIX: &str = "dek-";

/// The configured master keys and the id of the active one. `Debug` prints
/// ids only.
pub struct MasterKeys {
    active: String,
    keys: BTreeMap<String, KeyBytes>,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeys {
    /// Master keys from `(id, base64 of 32 bytes)` pairs; `active` wraps new
    /// data keys and must be one of them.
    pub fn new(
        active: &str,
        keys: impl IntoIterator<Item = (String, SecretString)>,
    ) -> Result<Self, SecretError> {
        let mut decoded = BTreeMap::new();
        for (id, key) in keys {
            check_id(&id)?;
            let bytes = decode_key(&id, &key)?;
            if decoded.insert(id.clone(), bytes).is_some() {
                return Err(SecretError::BadConfig(format!(
                    "master key id '{id}' appears twice"
                )));
            }
        }
        if decoded.is_empty() {
            return Err(SecretError::BadConfig("no master key is given".into()));
        }
        if !decoded.contains_key(active) {
            return Err(SecretError::BadConfig(format!(
                "the active master key '{active}' is not among the configured ones ({})",
                join_ids(decoded.keys())
            )));
        }
        Ok(Self {
            active: active.to_owned(),
            keys: decoded,
        })
    }

    /// Parses the `JOBSPRINT_MASTER_KEYS` format, comma-separated
    /// `id:base64-of-32-bytes` entries. `active` names the key that wraps new
    /// data keys; it may be left out when there is exactly one entry.
    pub fn parse(list: &SecretString, active: Option<&str>) -> Result<Self, SecretError> {
        let mut entries = Vec::new();
        for (n, entry) in list.expose().split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            // Never echo the entry: it holds key material.
            let (id, key) = entry.split_once(':').ok_or_else(|| {
                SecretError::BadConfig(format!("entry {} is not `id:base64-key`", n + 1))
            })?;
            entries.push((id.trim().to_owned(), SecretString::new(key.trim())));
        }
        let active = match (active, entries.as_slice()) {
            (Some(active), _) => active.to_owned(),
            (None, [(only, _)]) => only.clone(),
            (None, []) => return Err(SecretError::BadConfig("no master key is given".into())),
            (None, several) => {
                return Err(SecretError::BadConfig(format!(
                    "{} master keys are configured ({}): name the active one",
                    several.len(),
                    join_ids(several.iter().map(|(id, _)| id))
                )))
            }
        };
        Self::new(&active, entries)
    }

    /// One fresh random master key under `id`, for development and tests.
    pub fn generate(id: &str) -> Self {
        Self::new(id, [(id.to_owned(), super::generate_key())])
            .expect("a generated key under a valid id is a valid master key")
    }

    /// The id of the key new data keys are wrapped under.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// Whether a master key with this id is configured.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// The ids of every configured master key, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// A master key by id, for secrets sealed directly under one before
    /// envelope encryption.
    pub(crate) fn get(&self, id: &str) -> Option<&KeyBytes> {
        self.keys.get(id)
    }

    /// Wraps data key `key_id` of `tenant` under the active master key:
    /// base64 of nonce || ciphertext.
    pub(crate) fn wrap(&self, tenant: TenantId, key_id: &str, data_key: &KeyBytes) -> String {
        self.wrap_bound(&data_key_aad(tenant, key_id), data_key)
    }

    /// Wraps subject key `key_id` of `subject` (in `tenant`) under the
    /// active master key, bound to all three (docs/adr/0016-erasure.md).
    pub(crate) fn wrap_subject_key(
        &self,
        tenant: TenantId,
        subject: &str,
        key_id: &str,
        subject_key: &KeyBytes,
    ) -> String {
        self.wrap_bound(&subject_key_aad(tenant, subject, key_id), subject_key)
    }

    /// Unwraps subject key `key_id` of `subject`, wrapped under `master_key_id`.
    pub(crate) fn unwrap_subject_key(
        &self,
        master_key_id: &str,
        tenant: TenantId,
        subject: &str,
        key_id: &str,
        wrapped: &str,
    ) -> Result<KeyBytes, SecretError> {
        let aad = subject_key_aad(tenant, subject, key_id);
        self.unwrap_bound(master_key_id, key_id, &aad, wrapped)
    }

    fn wrap_bound(&self, aad: &[u8], key: &KeyBytes) -> String {
        let master = &self.keys[&self.active];
        B64.encode(master.seal(aad, key.expose()))
    }

    /// Unwraps data key `key_id` of `tenant`, wrapped under `master_key_id`.
    pub(crate) fn unwrap(
        &self,
        master_key_id: &str,
        tenant: TenantId,
        key_id: &str,
        wrapped: &str,
    ) -> Result<KeyBytes, SecretError> {
        self.unwrap_bound(
            master_key_id,
            key_id,
            &data_key_aad(tenant, key_id),
            wrapped,
        )
    }

    fn unwrap_bound(
        &self,
        master_key_id: &str,
        key_id: &str,
        aad: &[u8],
        wrapped: &str,
    ) -> Result<KeyBytes, SecretError> {
        let master = self
            .keys
            .get(master_key_id)
            .ok_or_else(|| SecretError::UnknownMasterKey {
                key_id: key_id.to_owned(),
                master_key_id: master_key_id.to_owned(),
            })?;
        let unwrappable = || SecretError::Unwrappable {
            key_id: key_id.to_owned(),
            master_key_id: master_key_id.to_owned(),
        };
        let sealed = B64.decode(wrapped).map_err(|_| unwrappable())?;
        let bytes = master.open(aad, &sealed).ok_or_else(unwrappable)?;
        KeyBytes::from_slice(&bytes).ok_or_else(unwrappable)
    }
}

/// Binds a wrapped data key to its tenant and id: a row copied to another
/// tenant or renamed no longer unwraps.
fn data_key_aad(tenant: TenantId, key_id: &str) -> Vec<u8> {
    format!("jobsprint:tenant-data-key:v1:{tenant}:{key_id}").into_bytes()
}

/// Binds a wrapped subject key to its tenant, subject and id: a row copied
/// to another subject no longer unwraps.
fn subject_key_aad(tenant: TenantId, subject: &str, key_id: &str) -> Vec<u8> {
    format!("jobsprint:subject-key:v1:{tenant}:{subject}:{key_id}").into_bytes()
}

fn check_id(id: &str) -> Result<(), SecretError> {
    let bad = |reason: &str| SecretError::BadKey {
        key_id: id.to_owned(),
        reason: reason.to_owned(),
    };
    if id.is_empty() {
        return Err(bad("the key id is empty"));
    }
    if id.starts_with(DATA_KEY_PREFIX) {
        return Err(bad("ids starting with 'dek-' are reserved for data keys"));
    }
    if id
        .chars()
        .any(|c| c == ',' || c == ':' || c.is_whitespace())
    {
        return Err(bad("the key id may not contain ',', ':' or spaces"));
    }
    Ok(())
}

fn decode_key(key_id: &str, key_base64: &SecretString) -> Result<KeyBytes, SecretError> {
    let bad = |reason: String| SecretError::BadKey {
        key_id: key_id.to_owned(),
        reason,
    };
    let bytes = Zeroizing::new(
        B64.decode(key_base64.expose().trim())
            .map_err(|_| bad("it is not valid base64".into()))?,
    );
    KeyBytes::from_slice(&bytes).ok_or_else(|| {
        bad(format!(
            "it decodes to {} bytes, not 32 (make one with `jobsprint admin generate-key`)",
            bytes.len()
        ))
    })
}

fn join_ids<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    ids.map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::generate_key;
    use uuid::Uuid;

    fn list(entries: &[(&str, &SecretString)]) -> SecretString {
        let joined = entries
            .iter()
            .map(|(id, key)| format!("{id}:{}", key.expose()))
            .collect::<Vec<_>>()
            .join(",");
        SecretString::new(joined)
    }

    #[test]
    fn parses_the_list_and_picks_the_active_key() {
        let (a, b) = (generate_key(), generate_key());
        let keys = MasterKeys::parse(&list(&[("m1", &a), ("m2", &b)]), Some("m2")).unwrap();
        assert_eq!(keys.active_id(), "m2");
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["m1", "m2"]);

        let spaced = SecretString::new(format!(" m1 : {} ,", a.expose()));
        assert_eq!(MasterKeys::parse(&spaced, None).unwrap().active_id(), "m1");
    }

    #[test]
    fn configuration_errors_are_clear_and_never_show_key_material() {
        let good = generate_key();
        let short = SecretString::new("c2hvcnQ=");
        let cases = [
            (
                list(&[("m1", &short)]),
                Some("m1"),
                "decodes to 5 bytes, not 32",
            ),
            (
                SecretString::new("m1:not base64 at all!"),
                Some("m1"),
                "not valid base64",
            ),
            (list(&[("m1", &good)]), Some("m9"), "active master key 'm9'"),
            (
                list(&[("m1", &good), ("m2", &good)]),
                None,
                "name the active one",
            ),
            (
                list(&[("m1", &good), ("m1", &good)]),
                Some("m1"),
                "appears twice",
            ),
            (list(&[("dek-1", &good)]), Some("dek-1"), "reserved"),
            (SecretString::new(good.expose()), None, "entry 1 is not"),
            (SecretString::new(" , "), None, "no master key"),
        ];
        for (input, active, expected) in cases {
            let err = MasterKeys::parse(&input, active).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
            for secret in [good.expose(), "c2hvcnQ", "base64 at all"] {
                assert!(!err.contains(secret), "{err:?} shows key material");
            }
        }
    }

    #[test]
    fn wrapped_keys_unwrap_for_their_tenant_and_id_only() {
        let keys = MasterKeys::generate("m1");
        let tenant = TenantId(Uuid::new_v4());
        let data_key = KeyBytes::random();
        let wrapped = keys.wrap(tenant, "dek-a", &data_key);

        let unwrapped = keys.unwrap("m1", tenant, "dek-a", &wrapped).unwrap();
        assert_eq!(unwrapped.expose(), data_key.expose());
        let other_tenant = TenantId(Uuid::new_v4());
        assert!(matches!(
            keys.unwrap("m1", other_tenant, "dek-a", &wrapped),
            Err(SecretError::Unwrappable { .. })
        ));
        assert!(keys.unwrap("m1", tenant, "dek-b", &wrapped).is_err());
        let err = keys.unwrap("m0", tenant, "dek-a", &wrapped).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data key 'dek-a' is wrapped under master key 'm0', which is not configured \
             (add it to JOBSPRINT_MASTER_KEYS)"
        );
        assert!(!format!("{keys:?}").contains(&wrapped));
    }

    #[test]
    fn subject_keys_unwrap_for_their_subject_only() {
        let keys = MasterKeys::generate("m1");
        let tenant = TenantId(Uuid::new_v4());
        let subject_key = KeyBytes::random();
        let wrapped = keys.wrap_subject_key(tenant, "user-a", "sk-a", &subject_key);
        let unwrapped = keys
            .unwrap_subject_key("m1", tenant, "user-a", "sk-a", &wrapped)
            .unwrap();
        assert_eq!(unwrapped.expose(), subject_key.expose());
        assert!(keys
            .unwrap_subject_key("m1", tenant, "user-b", "sk-a", &wrapped)
            .is_err());
        // Not interchangeable with a tenant data key of the same id.
        assert!(keys.unwrap("m1", tenant, "sk-a", &wrapped).is_err());
    }
}
