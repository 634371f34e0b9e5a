//! HS256 access tokens: issue and verify, with key rotation by `kid` and a
//! clock passed in by the caller.
//!
//! Verification is deliberately narrower than jsonwebtoken's defaults: the
//! header is read first and anything but `alg: HS256` with a known `kid` is
//! refused before a key is even chosen; issuer and audience must match
//! exactly; every claim of [`AccessClaims`] is required; and the leeway is
//! the configured one (at most 30 s), not the library's 60 s.

mod config;

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use config::{JwtConfig, JwtConfigError, SigningKey};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// The tenant's id.
    pub tid: Uuid,
    /// The session's id (the refresh-token family it was issued under).
    pub sid: Uuid,
    /// The user's role when issued (callers re-read the current role).
    pub role: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
}

/// Why a token was refused. Coarse on purpose, and never contains the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// `exp` is more than the leeway in the past.
    #[error("access token has expired")]
    Expired,
    /// `nbf` or `iat` is more than the leeway in the future.
    #[error("access token is not valid yet")]
    NotYetValid,
    /// The signature does not match the key named by `kid`.
    #[error("access token signature is invalid")]
    BadSignature,
    /// The header's `alg` is missing or not HS256.
    #[error("access token algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header's `kid` is missing or names no configured key.
    #[error("access token key id is missing or unknown")]
    UnknownKey,
    /// Not a well-formed compact JWT with the expected claim types.
    #[error("access token is malformed")]
    Malformed,
    /// `iss` is not the configured issuer.
    #[error("access token issuer is wrong")]
    WrongIssuer,
    /// `aud` is not the configured audience.
    #[error("access token audience is wrong")]
    WrongAudience,
    /// A required claim is absent.
    #[error("access token lacks the {0} claim")]
    MissingClaim(&'static str),
}

/// Longest token accepted for parsing; ours are about 500 bytes.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Issues and verifies access tokens for one [`JwtConfig`].
#[derive(Clone)]
pub struct JwtService {
    config: JwtConfig,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl fmt::Debug for JwtService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JwtService {
    /// Prepares the keys of `config`.
    pub fn new(config: JwtConfig) -> Self {
        let encoding = EncodingKey::from_secret(config.active_key().secret.expose().as_bytes());
        let decoding = config
            .keys()
            .iter()
            .map(|key| {
                (
                    key.kid.clone(),
                    DecodingKey::from_secret(key.secret.expose().as_bytes()),
                )
            })
            .collect();
        let validation = validation(&config);
        Self {
            config,
            encoding,
            decoding,
            validation,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Signs a token for a user's session with the active key, valid from
    /// `now` for the configured lifetime. Returns the token and its claims.
    pub fn issue(
        &self,
        sub: Uuid,
        tid: Uuid,
        sid: Uuid,
        role: &str,
        now: DateTime<Utc>,
    ) -> (String, AccessClaims) {
        let iat = now.timestamp();
        let claims = AccessClaims {
            sub,
            tid,
            sid,
            role: role.to_owned(),
            iss: self.config.issuer().to_owned(),
            aud: self.config.audience().to_owned(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(self.config.ttl_secs()),
            jti: Uuid::new_v4(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.config.active_kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 over serializable claims with an HMAC key cannot fail");
        (token, claims)
    }

    /// Verifies a token at time `now`.
    ///
    /// `now` is authoritative: jsonwebtoken compares `exp` and `nbf` with the
    /// system clock, so its time checks are switched off and done here
    /// instead, which makes expiry testable with a fixed clock and keeps one
    /// notion of time per request. Bounds are inclusive: a token is accepted
    /// up to and including `exp + leeway`, and from `nbf - leeway`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, JwtError> {
        let parts = split_compact(token)?;
        let header = read_header(parts[0])?;
        if header.alg.as_deref() != Some("HS256") {
            return Err(JwtError::UnsupportedAlgorithm);
        }
        // Other header parameters (jwk, jku, x5u, ...) are ignored: only the
        // kid selects a key, and only among configured ones.
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(JwtError::UnknownKey)?;
        if header.typ.as_deref().is_some_and(|typ| typ != "JWT") || header.crit.is_some() {
            return Err(JwtError::Malformed);
        }
        if !parts[1..].iter().all(|part| is_base64url(part)) {
            return Err(JwtError::Malformed);
        }
        let raw = jsonwebtoken::decode::<RawClaims>(token, key, &self.validation)
            .map_err(|err| map_library_error(err.kind()))?
            .claims;
        self.check_claims(raw, now)
    }

    fn check_claims(&self, raw: RawClaims, now: DateTime<Utc>) -> Result<AccessClaims, JwtError> {
        let claims = AccessClaims {
            exp: raw.exp.ok_or(JwtError::MissingClaim("exp"))?,
            nbf: raw.nbf.ok_or(JwtError::MissingClaim("nbf"))?,
            iat: raw.iat.ok_or(JwtError::MissingClaim("iat"))?,
            iss: raw.iss.ok_or(JwtError::MissingClaim("iss"))?,
            aud: raw.aud.ok_or(JwtError::MissingClaim("aud"))?,
            sub: raw.sub.ok_or(JwtError::MissingClaim("sub"))?,
            tid: raw.tid.ok_or(JwtError::MissingClaim("tid"))?,
            sid: raw.sid.ok_or(JwtError::MissingClaim("sid"))?,
            jti: raw.jti.ok_or(JwtError::MissingClaim("jti"))?,
            role: raw.role.ok_or(JwtError::MissingClaim("role"))?,
        };
        if claims.iss != self.config.issuer() {
            return Err(JwtError::WrongIssuer);
        }
        if claims.aud != self.config.audience() {
            return Err(JwtError::WrongAudience);
        }
        let now = now.timestamp();
        let leeway = self.config.leeway_secs();
        if now > claims.exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

/// jsonwebtoken's checks: signature, algorithm, issuer, audience and the
/// presence of the registered claims. Time checks are ours (see
/// [`JwtService::verify`]); the leeway is still set explicitly so that its
/// 60 s default can never apply.
fn validation(config: &JwtConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.leeway = config.leeway().as_secs();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[config.issuer()]);
    validation.set_audience(&[config.audience()]);
    validation
}

/// The header parameters we look at. Derived deserialization refuses
/// duplicate names, so `{"alg":"none","alg":"HS256"}` cannot read one way
/// here and another way elsewhere.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Claims with every field optional, so a missing one is reported by name
/// instead of as a parse failure.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<Uuid>,
    tid: Option<Uuid>,
    sid: Option<Uuid>,
    role: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    jti: Option<Uuid>,
}

/// Exactly three dot-separated parts, no more than [`MAX_TOKEN_BYTES`].
fn split_compact(token: &str) -> Result<[&str; 3], JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok([header, payload, signature]),
        _ => Err(JwtError::Malformed),
    }
}

fn read_header(encoded: &str) -> Result<RawHeader, JwtError> {
    if !is_base64url(encoded) {
        return Err(JwtError::Malformed);
    }
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| JwtError::Malformed)
}

/// Non-empty and only base64url characters: no padding, whitespace or `+/`.
fn is_base64url(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn map_library_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => JwtError::UnsupportedAlgorithm,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "nbf" => "nbf",
            "iss" => "iss",
            "aud" => "aud",
            "sub" => "sub",
            _ => "registered",
        }),
        _ => JwtError::Malformed,
    }
}

#[cfg(test)]
pub(crate) mod tests;
