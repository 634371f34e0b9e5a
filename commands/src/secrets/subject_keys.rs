//! Subject keys: one random 32-byte key per data subject (a user, named by
//! its aggregate id), made on the subject's first sealed write and stored in
//! `subject_keys` wrapped under a master key. It seals that subject's
//! personal data ([`crate::personal`]); destroying it
//! ([`super::erasure::erase_subject`]) leaves every copy of that data
//! (events, Kafka records, exports) unreadable (docs/adr/0016-erasure.md).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::ids::TenantId;
use domain::integration::SealedSecret;
use sqlx::PgPool;
use uuid::Uuid;

use super::cipher::{open_personal, seal_personal, KeyBytes};
use super::data_keys::DataKeys;
use super::{SecretError, SecretString};

/// How long an unwrapped subject key is used before its row is read again:
/// the bound on how late an erasure made by another process reaches this
/// one's key cache.
pub const KEY_TTL: Duration = Duration::from_secs(30);

/// Unwrapped keys kept before the expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Seals and opens personal data with per-subject keys. Without master
/// keys it seals nothing (personal data is then written as given) but
/// still knows which subjects were erased. `Debug` prints no key.
pub struct SubjectKeys {
    pool: PgPool,
    data_keys: Option<Arc<DataKeys>>,
    live: Mutex<HashMap<String, (Instant, Arc<SubjectKey>)>>,
}

impl fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("sealing", &self.data_keys.is_some())
            .finish_non_exhaustive()
    }
}

/// One subject's unwrapped key.
pub(crate) struct SubjectKey {
    key_id: String,
    key: KeyBytes,
}

impl SubjectKey {
    /// Seals `field` of `subject`.
    pub(crate) fn seal(&self, subject: &str, field: &str, plaintext: &str) -> SealedSecret {
        seal_personal(
            &self.key,
            &self.key_id,
            subject,
            field,
            &SecretString::new(plaintext),
        )
    }

    /// Opens `field` of `subject`, sealed under this key.
    pub(crate) fn open(
        &self,
        subject: &str,
        field: &str,
        sealed: &SealedSecret,
    ) -> Result<SecretString, SecretError> {
        if sealed.key_id != self.key_id {
            return Err(SecretError::UnknownKey(sealed.key_id.clone()));
        }
        open_personal(&self.key, subject, field, sealed)
    }
}

/// What a subject's row says about opening its sealed fields.
pub(crate) enum Opening {
    /// No row: nothing of this subject was ever sealed.
    Absent,
    /// The key was destroyed: every personal field reads as a placeholder.
    Erased,
    /// The key, unwrapped.
    Live(Arc<SubjectKey>),
    /// A key exists but this process has no master keys to unwrap it.
    Locked {
        /// The subject key.
        key_id: String,
        /// The master key it is wrapped under.
        master_key_id: String,
    },
}

/// A `subject_keys` row.
#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    key_id: String,
    wrapped_key: Option<String>,
    master_key_id: Option<String>,
}

impl SubjectKeys {
    /// Subject keys in `pool`, wrapped under the master keys of `data_keys`
    /// (`None`: personal data is not sealed).
    pub fn new(pool: PgPool, data_keys: Option<Arc<DataKeys>>) -> Self {
        Self {
            pool,
            data_keys,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The key that seals `subject`'s personal data, made on first use;
    /// `None` when this process has no master keys. An erased subject is
    /// refused ([`SecretError::SubjectErased`]): its data is never written
    /// again, sealed or not.
    pub(crate) async fn sealing_key(
        &self,
        tenant: TenantId,
        subject: &str,
    ) -> Result<Option<Arc<SubjectKey>>, SecretError> {
        if let Some(key) = self.cached(subject) {
            return Ok(Some(key));
        }
        let row = match self.row(subject).await? {
            Some(row) => row,
            None if self.data_keys.is_none() => return Ok(None),
            None => self.create(tenant, subject).await?,
        };
        match self.opening_of(subject, row)? {
            Opening::Erased => Err(SecretError::SubjectErased),
            Opening::Live(key) => Ok(Some(key)),
            Opening::Absent | Opening::Locked { .. } => Ok(None),
        }
    }

    /// How `subject`'s sealed fields open.
    pub(crate) async fn opening(&self, subject: &str) -> Result<Opening, SecretError> {
        if let Some(key) = self.cached(subject) {
            return Ok(Opening::Live(key));
        }
        match self.row(subject).await? {
            None => Ok(Opening::Absent),
            Some(row) => self.opening_of(subject, row),
        }
    }

    /// Forgets the unwrapped key of `subject`, after erasing it here.
    pub fn forget(&self, subject: &str) {
        self.lock().remove(subject);
    }

    async fn row(&self, subject: &str) -> Result<Option<Row>, SecretError> {
        Ok(sqlx::query_as(
            "SELECT tenant_id, key_id, wrapped_key, master_key_id
               FROM subject_keys WHERE subject_id = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Makes the subject's key; two writers racing collide on the primary
    /// key and both read back the winner.
    async fn create(&self, tenant: TenantId, subject: &str) -> Result<Row, SecretError> {
        let Some(data_keys) = &self.data_keys else {
            return Err(SecretError::BadConfig("no master key is given".into()));
        };
        let master = &data_keys.master;
        let key_id = subject_key_id(subject);
        let wrapped = master.wrap_subject_key(tenant, subject, &key_id, &KeyBytes::random());
        sqlx::query(
            "INSERT INTO subject_keys (subject_id, tenant_id, key_id, wrapped_key, master_key_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject_id) DO NOTHING",
        )
        .bind(subject)
        .bind(tenant.0)
        .bind(&key_id)
        .bind(&wrapped)
        .bind(master.active_id())
        .execute(&self.pool)
        .await?;
        self.row(subject)
            .await?
            .ok_or_else(|| SecretError::UnknownKey(key_id))
    }

    fn opening_of(&self, subject: &str, row: Row) -> Result<Opening, SecretError> {
        let (Some(wrapped), Some(master_key_id)) = (row.wrapped_key, row.master_key_id) else {
            self.forget(subject);
            return Ok(Opening::Erased);
        };
        let Some(data_keys) = &self.data_keys else {
            return Ok(Opening::Locked {
                key_id: row.key_id,
                master_key_id,
            });
        };
        let key = data_keys.master.unwrap_subject_key(
            &master_key_id,
            TenantId(row.tenant_id),
            subject,
            &row.key_id,
            &wrapped,
        )?;
        let key = Arc::new(SubjectKey {
            key_id: row.key_id,
            key,
        });
        let mut live = self.lock();
        if live.len() >= SWEEP_AT {
            live.retain(|_, (at, _)| at.elapsed() < KEY_TTL);
        }
        live.insert(subject.to_owned(), (Instant::now(), key.clone()));
        Ok(Opening::Live(key))
    }

    fn cached(&self, subject: &str) -> Option<Arc<SubjectKey>> {
        let live = self.lock();
        let (at, key) = live.get(subject)?;
        (at.elapsed() < KEY_TTL).then(|| key.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<SubjectKey>)>> {
        // The cache holds no invariant a panicking writer could break.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The id of a subject's key: `sk-` and a UUID v5 of the subject. Never
/// change the namespace: rows and ciphertexts carry the ids.
pub(crate) fn subject_key_id(subject: &str) -> String {
    const NAMESPACE: Uuid = Uuid::from_u128(0x2b7d_51e0_8c3a_4f19_a6d2_94e1_0c5b_7f38);
    format!("sk-{}", Uuid::new_v5(&NAMESPACE, subject.as_bytes()))
}
