//! Signatures of webhook deliveries: HMAC-SHA256 over the timestamp and the
//! raw body, Stripe style.
//!
//! The header is `X-Jobsprint-Signature: t=<unix seconds>,v1=<hex hmac>`,
//! where the MAC covers `"<t>.<raw body>"`. Signing the timestamp with the
//! body stops an old delivery from being replayed later: the receiver refuses
//! timestamps outside its tolerance. Several `v1=` entries may be present
//! while a trigger's secret rotates (one per secret); one match suffices.
//! Unknown schemes (`v0=`, `v2=`, ...) are ignored, so a later scheme can be
//! added next to `v1` without breaking receivers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;

/// Name of the HTTP header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Jobsprint-Signature";

/// Longest header accepted, and most `v1` entries looked at: bounds the work
/// an unauthenticated request can cause.
const MAX_HEADER_BYTES: usize = 1024;
const MAX_SIGNATURES: usize = 8;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. Never contains the header, the
/// body or a MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is empty or not a list of `key=value` entries, has a
    /// non-numeric or repeated `t`, a `v1` that is not 64 hex digits, or is
    /// too long.
    #[error("signature header is malformed")]
    Malformed,
    /// The header has no `t=` entry.
    #[error("signature header has no timestamp")]
    MissingTimestamp,
    /// The header has no `v1=` entry.
    #[error("signature header has no v1 signature")]
    MissingSignature,
    /// No `v1` signature matches the body and timestamp under the secret.
    #[error("signature does not match")]
    Mismatch,
    /// The signature matches but its timestamp is further from now than the
    /// tolerance: a late replay, or a badly skewed clock.
    #[error("signature timestamp is outside the tolerance")]
    OutsideTolerance,
}

/// The header value signing `body` at Unix time `t` with `secret`.
pub fn sign(secret: &Secret, body: &[u8], t: i64) -> String {
    sign_all(std::slice::from_ref(secret), body, t)
}

/// The header value with one `v1` entry per secret, in order: what a sender
/// emits while a secret rotates.
pub fn sign_all(secrets: &[Secret], body: &[u8], t: i64) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let tag = mac(secret, t, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.push_str(&hex::encode(tag));
    }
    header
}

/// Checks a delivery: some `v1` entry of `header` must be the MAC of
/// `"<t>.<body>"` under `secret` (compared in constant time), and `t` must be
/// within `tolerance_secs` of `now`, in either direction (a negative
/// tolerance accepts nothing).
///
/// The MAC is checked before the timestamp, so [`SignatureError::OutsideTolerance`]
/// is only ever reported for authentic deliveries.
pub fn verify(
    secret: &Secret,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header)?;
    let expected = mac(secret, parsed.t, body);
    // `verify_slice` compares in constant time; each candidate gets a fresh
    // copy of the keyed, fed MAC.
    let matched = parsed
        .signatures
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let tolerance = u64::try_from(tolerance_secs).map_err(|_| SignatureError::OutsideTolerance)?;
    if now.abs_diff(parsed.t) > tolerance {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(())
}

fn mac(secret: &Secret, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

struct ParsedHeader {
    t: i64,
    signatures: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader, SignatureError> {
    if header.is_empty() || header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::Malformed);
    }
    let mut t = None;
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let (key, value) = entry
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if t.is_some() => return Err(SignatureError::Malformed),
            "t" => t = Some(parse_timestamp(value)?),
            "v1" => {
                let mut tag = [0_u8; 32];
                hex::decode_to_slice(value, &mut tag).map_err(|_| SignatureError::Malformed)?;
                if signatures.len() == MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                signatures.push(tag);
            }
            "" => return Err(SignatureError::Malformed),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::MissingSignature);
    }
    Ok(ParsedHeader { t, signatures })
}

/// Canonical decimal only (what [`sign`] writes), so that the signed text and
/// the parsed number cannot disagree (`+5`, `05`).
fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    let t: i64 = value.parse().map_err(|_| SignatureError::Malformed)?;
    if t.to_string() != value {
        return Err(SignatureError::Malformed);
    }
    Ok(t)
}

#[cfg(test)]
mod tests;
