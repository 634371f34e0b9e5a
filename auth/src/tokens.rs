//! Opaque bearer tokens (API tokens, refresh tokens, invitations) and the
//! hash under which they are stored.
//!
//! A token is `<typed prefix><id in 32 hex>_[<generation>_]<secret>`. The id
//! says which row or aggregate to load, the secret proves possession; only
//! the secret's [`hash_secret`] is stored, and the full token is shown once.
//! The typed prefix makes leaked tokens recognisable by secret scanners and
//! stops one kind of token from being accepted as another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::Secret;

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "jsp_at_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "jsp_rt_";
/// Prefix of invitation tokens.
pub const INVITATION_PREFIX: &str = "jsp_inv_";
/// Random bytes in every generated secret (256 bits).
pub const SECRET_BYTES: usize = 32;
/// Length of a generated secret once encoded (base64url, no padding).
pub const SECRET_CHARS: usize = 43;

/// Why a presented token was refused. Never contains the token or any part
/// of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// The token does not start with the prefix of the expected kind.
    #[error("token does not start with the expected prefix")]
    WrongPrefix,
    /// The id part is not 32 lowercase hexadecimal digits.
    #[error("token id is not 32 lowercase hexadecimal digits")]
    MalformedId,
    /// The generation is not a canonical decimal `u32`.
    #[error("token generation is not a decimal number")]
    MalformedGeneration,
    /// A `_` separator is missing.
    #[error("token is missing a separator")]
    MissingSeparator,
    /// The secret is not 43 base64url characters encoding 32 bytes.
    #[error("token secret is not 43 base64url characters")]
    MalformedSecret,
}

/// A new random secret: 32 bytes from the operating system, base64url
/// without padding (43 characters).
pub fn generate_secret() -> Secret {
    let mut bytes = [0_u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// The storable hash of a token secret: lowercase hex SHA-256.
///
/// A fast hash is right here, unlike for passwords: the secrets are 256
/// random bits, so there is no dictionary to try and a brute force of the
/// preimage is out of reach whatever the hash costs. A slow hash such as
/// argon2 would add nothing but tens of milliseconds and 19 MiB to every
/// authenticated request (and make an easy denial of service).
pub fn hash_secret(secret: &Secret) -> String {
    hex::encode(Sha256::digest(secret.expose().as_bytes()))
}

/// Compares two strings in time that depends only on their lengths, for
/// comparing a presented hash with a stored one.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An API token: `jsp_at_<token id as 32 hex>_<secret>`.
#[derive(Debug, Clone)]
pub struct ApiTokenString {
    /// The API token aggregate's id.
    pub token_id: Uuid,
    /// The random part; store only its [`hash_secret`].
    pub secret: Secret,
}

impl ApiTokenString {
    /// A new token for `token_id` with a fresh random secret.
    pub fn generate(token_id: Uuid) -> Self {
        Self {
            token_id,
            secret: generate_secret(),
        }
    }

    /// The full token, to hand to its owner once.
    pub fn to_secret(&self) -> Secret {
        Secret::new(format!(
            "{API_TOKEN_PREFIX}{}_{}",
            self.token_id.simple(),
            self.secret.expose()
        ))
    }

    /// Parses a presented token strictly: exact prefix, lowercase hex id,
    /// canonical 43-character secret, nothing else.
    pub fn parse(token: &str) -> Result<Self, TokenFormatError> {
        let rest = token
            .strip_prefix(API_TOKEN_PREFIX)
            .ok_or(TokenFormatError::WrongPrefix)?;
        let (token_id, rest) = parse_id(rest)?;
        let secret = parse_secret(rest)?;
        Ok(Self { token_id, secret })
    }
}

/// A refresh token: `jsp_rt_<session id as 32 hex>_<generation>_<secret>`.
///
/// The generation counts rotations within one session, so presenting a spent
/// one can be recognised as reuse.
#[derive(Debug, Clone)]
pub struct RefreshTokenString {
    /// The session (refresh-token family) it belongs to.
    pub session_id: Uuid,
    /// Its rotation number within the session.
    pub generation: u32,
    /// The random part; store only its [`hash_secret`].
    pub secret: Secret,
}

impl RefreshTokenString {
    /// A new token for generation `generation` of `session_id`.
    pub fn generate(session_id: Uuid, generation: u32) -> Self {
        Self {
            session_id,
            generation,
            secret: generate_secret(),
        }
    }

    /// The full token, to hand to its owner once.
    pub fn to_secret(&self) -> Secret {
        Secret::new(format!(
            "{REFRESH_TOKEN_PREFIX}{}_{}_{}",
            self.session_id.simple(),
            self.generation,
            self.secret.expose()
        ))
    }

    /// Parses a presented token strictly; the generation is a decimal `u32`
    /// without sign or leading zeros.
    pub fn parse(token: &str) -> Result<Self, TokenFormatError> {
        let rest = token
            .strip_prefix(REFRESH_TOKEN_PREFIX)
            .ok_or(TokenFormatError::WrongPrefix)?;
        let (session_id, rest) = parse_id(rest)?;
        let (generation, rest) = rest
            .split_once('_')
            .ok_or(TokenFormatError::MissingSeparator)?;
        let generation = parse_generation(generation)?;
        let secret = parse_secret(rest)?;
        Ok(Self {
            session_id,
            generation,
            secret,
        })
    }
}

/// An invitation: `jsp_inv_<invited user id as 32 hex>_<secret>`.
#[derive(Debug, Clone)]
pub struct InvitationString {
    /// The invited user's id.
    pub user_id: Uuid,
    /// The random part; store only its [`hash_secret`].
    pub secret: Secret,
}

impl InvitationString {
    /// A new invitation for `user_id` with a fresh random secret.
    pub fn generate(user_id: Uuid) -> Self {
        Self {
            user_id,
            secret: generate_secret(),
        }
    }

    /// The full token, to hand to the invitee once.
    pub fn to_secret(&self) -> Secret {
        Secret::new(format!(
            "{INVITATION_PREFIX}{}_{}",
            self.user_id.simple(),
            self.secret.expose()
        ))
    }

    /// Parses a presented invitation strictly.
    pub fn parse(token: &str) -> Result<Self, TokenFormatError> {
        let rest = token
            .strip_prefix(INVITATION_PREFIX)
            .ok_or(TokenFormatError::WrongPrefix)?;
        let (user_id, rest) = parse_id(rest)?;
        let secret = parse_secret(rest)?;
        Ok(Self { user_id, secret })
    }
}

/// Reads `<32 lowercase hex>_` and returns the id and what follows.
fn parse_id(rest: &str) -> Result<(Uuid, &str), TokenFormatError> {
    let hex = rest.get(..32).ok_or(TokenFormatError::MalformedId)?;
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(TokenFormatError::MalformedId);
    }
    let id = Uuid::try_parse(hex).map_err(|_| TokenFormatError::MalformedId)?;
    let rest = rest[32..]
        .strip_prefix('_')
        .ok_or(TokenFormatError::MissingSeparator)?;
    Ok((id, rest))
}

fn parse_generation(digits: &str) -> Result<u32, TokenFormatError> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(TokenFormatError::MalformedGeneration);
    }
    digits
        .parse()
        .map_err(|_| TokenFormatError::MalformedGeneration)
}

/// Accepts exactly what [`generate_secret`] produces.
fn parse_secret(secret: &str) -> Result<Secret, TokenFormatError> {
    if secret.len() != SECRET_CHARS {
        return Err(TokenFormatError::MalformedSecret);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(secret)
        .map_err(|_| TokenFormatError::MalformedSecret)?;
    // Rejects non-canonical encodings (stray low bits in the last character),
    // so one secret has exactly one spelling.
    if bytes.len() != SECRET_BYTES || URL_SAFE_NO_PAD.encode(&bytes) != secret {
        return Err(TokenFormatError::MalformedSecret);
    }
    Ok(Secret::new(secret))
}

#[cfg(test)]
mod tests;
