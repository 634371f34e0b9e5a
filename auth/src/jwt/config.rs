//! Validated configuration of access tokens: issuer, audience, keys, lifetime
//! and leeway.

use std::collections::HashSet;
use std::time::Duration;

use crate::Secret;

/// One HS256 key, named by the `kid` that tokens signed with it carry.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The key id written in the token header.
    pub kid: String,
    /// The HMAC key (its UTF-8 bytes), at least
    /// [`JwtConfig::MIN_SECRET_BYTES`] long. `tokens::generate_secret`
    /// makes a suitable one.
    pub secret: Secret,
}

impl SigningKey {
    /// A key named `kid`; checked by [`JwtConfig::new`].
    pub fn new(kid: impl Into<String>, secret: Secret) -> Self {
        Self {
            kid: kid.into(),
            secret,
        }
    }
}

/// How access tokens are issued and verified. Built only through
/// [`JwtConfig::new`], so every instance satisfies its checks.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    issuer: String,
    audience: String,
    keys: Vec<SigningKey>,
    active_kid: String,
    ttl: Duration,
    leeway: Duration,
}

/// Why a [`JwtConfig`] was refused. Names keys by kid, never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtConfigError {
    /// The issuer is empty.
    #[error("JWT issuer must not be empty")]
    EmptyIssuer,
    /// The audience is empty.
    #[error("JWT audience must not be empty")]
    EmptyAudience,
    /// No key was given.
    #[error("at least one JWT signing key is required")]
    NoKeys,
    /// A key has an empty kid.
    #[error("JWT signing key ids must not be empty")]
    EmptyKid,
    /// Two keys share a kid.
    #[error("JWT signing key id {0:?} is used twice")]
    DuplicateKid(String),
    /// A key's secret is too short for HS256.
    #[error("JWT signing key {kid:?} is shorter than {min} bytes")]
    ShortSecret {
        /// The offending key's id.
        kid: String,
        /// The minimum length in bytes.
        min: usize,
    },
    /// The active kid names no configured key.
    #[error("active JWT key id {0:?} is not among the configured keys")]
    UnknownActiveKid(String),
    /// The lifetime is zero or above the maximum.
    #[error("JWT lifetime must be between 1 second and {max_secs} seconds")]
    TtlOutOfRange {
        /// The maximum lifetime in seconds.
        max_secs: u64,
    },
    /// The leeway is above the maximum.
    #[error("JWT leeway must be at most {max_secs} seconds")]
    LeewayTooLarge {
        /// The maximum leeway in seconds.
        max_secs: u64,
    },
}

impl JwtConfig {
    /// Lifetime of an access token unless configured otherwise.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
    /// Longest accepted lifetime: access tokens are meant to be short.
    pub const MAX_TTL: Duration = Duration::from_secs(60 * 60);
    /// Clock skew tolerated unless configured otherwise.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
    /// Largest accepted leeway (jsonwebtoken's own default is 60 s).
    pub const MAX_LEEWAY: Duration = Duration::from_secs(30);
    /// Shortest accepted HS256 secret: as long as the hash output (RFC 7518
    /// section 3.2).
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Checks and builds a configuration. Sub-second parts of `ttl` and
    /// `leeway` are ignored, since JWT times are whole seconds.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: Vec<SigningKey>,
        active_kid: impl Into<String>,
        ttl: Duration,
        leeway: Duration,
    ) -> Result<Self, JwtConfigError> {
        let issuer = issuer.into();
        let audience = audience.into();
        let active_kid = active_kid.into();
        if issuer.is_empty() {
            return Err(JwtConfigError::EmptyIssuer);
        }
        if audience.is_empty() {
            return Err(JwtConfigError::EmptyAudience);
        }
        if keys.is_empty() {
            return Err(JwtConfigError::NoKeys);
        }
        let mut seen = HashSet::new();
        for key in &keys {
            if key.kid.is_empty() {
                return Err(JwtConfigError::EmptyKid);
            }
            if !seen.insert(key.kid.as_str()) {
                return Err(JwtConfigError::DuplicateKid(key.kid.clone()));
            }
            if key.secret.expose().len() < Self::MIN_SECRET_BYTES {
                return Err(JwtConfigError::ShortSecret {
                    kid: key.kid.clone(),
                    min: Self::MIN_SECRET_BYTES,
                });
            }
        }
        if !seen.contains(active_kid.as_str()) {
            return Err(JwtConfigError::UnknownActiveKid(active_kid));
        }
        if ttl.as_secs() == 0 || ttl > Self::MAX_TTL {
            return Err(JwtConfigError::TtlOutOfRange {
                max_secs: Self::MAX_TTL.as_secs(),
            });
        }
        if leeway > Self::MAX_LEEWAY {
            return Err(JwtConfigError::LeewayTooLarge {
                max_secs: Self::MAX_LEEWAY.as_secs(),
            });
        }
        Ok(Self {
            issuer,
            audience,
            keys,
            active_kid,
            ttl,
            leeway,
        })
    }

    /// The `iss` written and required.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` written and required.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Every key that verifies.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The kid of the key that signs.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// The key that signs.
    pub fn active_key(&self) -> &SigningKey {
        self.key(&self.active_kid)
            .expect("JwtConfig::new checked that the active kid names a key")
    }

    /// The key named `kid`, if configured.
    pub fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// Lifetime of issued tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Lifetime in whole seconds.
    pub(crate) fn ttl_secs(&self) -> i64 {
        // At most MAX_TTL, so the cast cannot truncate.
        self.ttl.as_secs() as i64
    }

    /// Leeway in whole seconds.
    pub(crate) fn leeway_secs(&self) -> i64 {
        // At most MAX_LEEWAY, so the cast cannot truncate.
        self.leeway.as_secs() as i64
    }
}
