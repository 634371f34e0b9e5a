//! Forged and invalid access tokens, each named, for tests that must show
//! every one of them is refused: this crate's unit tests run them through
//! [`JwtService::verify`](crate::jwt::JwtService::verify), and the API tests
//! send them over HTTP. Enabled by the `forgery` feature; not for production
//! code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::jwt::{AccessClaims, JwtConfig};

mod claims;
mod headers;
mod shapes;

/// An HMAC key no configuration uses.
const ATTACKER_KEY: &[u8] = b"attacker-key-attacker-key-attacker-key";

/// At least 30 named tokens that a [`JwtService`](crate::jwt::JwtService)
/// built from `config` must refuse at `now`.
///
/// Every token is a valid HTTP header value (visible ASCII, spaces and tabs,
/// nothing around it that a server would trim), so the list can be sent as
/// `Authorization: Bearer <token>` unchanged.
///
/// `valid` must be claims that verify at `now` under `config` (for example
/// the claims returned by `JwtService::issue(.., now)`): each forgery changes
/// one thing about a token that would otherwise be accepted, so a test that
/// also checks the untouched token cannot pass vacuously.
pub fn forged_tokens(
    config: &JwtConfig,
    valid: &AccessClaims,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let forge = Forge::new(config, valid);
    let mut tokens = headers::algorithm_forgeries(&forge);
    tokens.extend(headers::key_forgeries(&forge));
    tokens.extend(claims::time_forgeries(&forge, now.timestamp()));
    tokens.extend(claims::claim_forgeries(&forge));
    tokens.extend(shapes::tampering_forgeries(&forge));
    tokens.extend(shapes::shape_forgeries(&forge));
    tokens
}

/// Builds tokens from the genuine header and claims.
struct Forge<'a> {
    config: &'a JwtConfig,
    header: Value,
    claims: Value,
    key: &'a [u8],
}

impl<'a> Forge<'a> {
    fn new(config: &'a JwtConfig, valid: &AccessClaims) -> Self {
        Self {
            config,
            header: json!({"alg": "HS256", "typ": "JWT", "kid": config.active_kid()}),
            claims: serde_json::to_value(valid).expect("claims serialize"),
            key: config.active_key().secret.expose().as_bytes(),
        }
    }

    /// The untouched token, signed like `JwtService::issue` would.
    fn genuine(&self) -> String {
        hs256(&self.header, &self.claims, self.key)
    }

    /// The genuine header with some parameters set (`Some`) or removed (`None`).
    fn header_with(&self, edits: &[(&str, Option<Value>)]) -> Value {
        edited(&self.header, edits)
    }

    /// The genuine claims with some set (`Some`) or removed (`None`).
    fn claims_with(&self, edits: &[(&str, Option<Value>)]) -> Value {
        edited(&self.claims, edits)
    }

    /// Genuine header, edited claims, signed with the right key.
    fn signed_claims(&self, edits: &[(&str, Option<Value>)]) -> String {
        hs256(&self.header, &self.claims_with(edits), self.key)
    }

    /// Edited header, genuine claims, signed with the right key.
    fn signed_header(&self, edits: &[(&str, Option<Value>)]) -> String {
        hs256(&self.header_with(edits), &self.claims, self.key)
    }

    fn lifetime(&self) -> i64 {
        self.config.ttl().as_secs() as i64
    }

    fn leeway(&self) -> i64 {
        self.config.leeway().as_secs() as i64
    }
}

fn edited(base: &Value, edits: &[(&str, Option<Value>)]) -> Value {
    let mut map: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    for (name, value) in edits {
        match value {
            Some(value) => map.insert((*name).to_owned(), value.clone()),
            None => map.remove(*name),
        };
    }
    Value::Object(map)
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON values serialize"))
}

fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let message = format!("{}.{}", encode_json(header), encode_json(claims));
    sign_message::<Hmac<Sha256>>(&message, key)
}

/// `message` followed by `.` and its MAC under `key`.
fn sign_message<M: Mac + KeyInit>(message: &str, key: &[u8]) -> String {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    format!(
        "{message}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn flip_first_char(part: &str) -> String {
    let mut chars: Vec<char> = part.chars().collect();
    if let Some(first) = chars.first_mut() {
        *first = if *first == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}
#[cfg(test)]
mod tests;
