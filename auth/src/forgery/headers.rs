//! Forgeries of the header: algorithms, key ids and keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Hmac;
use serde_json::{json, Value};
use sha2::{Sha384, Sha512};

use super::{encode_json, hs256, sign_message, Forge, ATTACKER_KEY};

pub(super) fn algorithm_forgeries(f: &Forge) -> Vec<(&'static str, String)> {
    let unsigned = |alg: &str| {
        let header = f.header_with(&[("alg", Some(json!(alg)))]);
        format!("{}.{}.", encode_json(&header), encode_json(&f.claims))
    };
    let with_alg = |alg: Value| f.signed_header(&[("alg", Some(alg))]);
    let message = |alg: &str| {
        let header = f.header_with(&[("alg", Some(json!(alg)))]);
        format!("{}.{}", encode_json(&header), encode_json(&f.claims))
    };
    vec![
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("alg NONE", unsigned("NONE")),
        ("alg nOnE", unsigned("nOnE")),
        ("alg none with an HS256 signature", with_alg(json!("none"))),
        ("alg missing", f.signed_header(&[("alg", None)])),
        ("alg empty", with_alg(json!(""))),
        ("alg null", with_alg(Value::Null)),
        ("alg lowercase hs256", with_alg(json!("hs256"))),
        ("alg HS256 with a trailing space", with_alg(json!("HS256 "))),
        ("alg as an array", with_alg(json!(["HS256"]))),
        (
            "HS384 signed with the right key",
            sign_message::<Hmac<Sha384>>(&message("HS384"), f.key),
        ),
        (
            "HS512 signed with the right key",
            sign_message::<Hmac<Sha512>>(&message("HS512"), f.key),
        ),
        (
            "RS256 header with an HS256 signature",
            with_alg(json!("RS256")),
        ),
        (
            "ES256 header with an HS256 signature",
            with_alg(json!("ES256")),
        ),
        (
            "PS256 header with an HS256 signature",
            with_alg(json!("PS256")),
        ),
        (
            "EdDSA header with an HS256 signature",
            with_alg(json!("EdDSA")),
        ),
    ]
}

pub(super) fn key_forgeries(f: &Forge) -> Vec<(&'static str, String)> {
    let active = f.config.active_kid();
    let other = f.config.keys().iter().find(|key| key.kid != active);
    // With a single configured key, "another" key is the active one plus a
    // suffix: still a key the verifier does not hold under that kid.
    let other_kid = other.map_or_else(|| format!("{active}-other"), |key| key.kid.clone());
    let other_secret = other.map_or_else(
        || format!("{}-other", f.config.active_key().secret.expose()),
        |key| key.secret.expose().to_owned(),
    );
    let attacker_jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(ATTACKER_KEY)});
    vec![
        (
            "signed with a wrong key",
            hs256(&f.header, &f.claims, ATTACKER_KEY),
        ),
        ("signed with an empty key", hs256(&f.header, &f.claims, b"")),
        (
            "signed with the kid as key",
            hs256(&f.header, &f.claims, active.as_bytes()),
        ),
        (
            "active kid signed with another kid's key",
            hs256(&f.header, &f.claims, other_secret.as_bytes()),
        ),
        (
            "another kid signed with the active key",
            f.signed_header(&[("kid", Some(json!(other_kid)))]),
        ),
        (
            "unknown kid",
            f.signed_header(&[("kid", Some(json!("forged-kid")))]),
        ),
        ("missing kid", f.signed_header(&[("kid", None)])),
        ("empty kid", f.signed_header(&[("kid", Some(json!("")))])),
        ("null kid", f.signed_header(&[("kid", Some(Value::Null))])),
        ("numeric kid", f.signed_header(&[("kid", Some(json!(1)))])),
        (
            "kid with a trailing space",
            f.signed_header(&[("kid", Some(json!(format!("{active} "))))]),
        ),
        (
            "kid path traversal",
            f.signed_header(&[("kid", Some(json!("../../../../dev/null")))]),
        ),
        (
            "embedded jwk with the attacker's key",
            hs256(
                &f.header_with(&[("jwk", Some(attacker_jwk))]),
                &f.claims,
                ATTACKER_KEY,
            ),
        ),
        (
            "jku pointing at the attacker's keys",
            hs256(
                &f.header_with(&[("jku", Some(json!("https://attacker.test/jwks.json")))]),
                &f.claims,
                ATTACKER_KEY,
            ),
        ),
    ]
}
