//! Forgeries of the token itself: tampering after signing and malformed shapes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Hmac;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{encode_json, flip_first_char, sign_message, Forge};

pub(super) fn tampering_forgeries(f: &Forge) -> Vec<(&'static str, String)> {
    let genuine = f.genuine();
    let parts: Vec<&str> = genuine.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    let resigned_elsewhere = f.signed_claims(&[("jti", Some(json!(uuid::Uuid::nil())))]);
    let foreign_signature = resigned_elsewhere.rsplit('.').next().unwrap_or_default();
    let swap = |edits: &[(&str, Option<Value>)]| {
        format!(
            "{header}.{}.{signature}",
            encode_json(&f.claims_with(edits))
        )
    };
    let flipped = flip_first_char(signature);
    let tampered_header = encode_json(&f.header_with(&[("cty", Some(json!("JWT")))]));
    vec![
        (
            "tampered payload: role admin",
            swap(&[("role", Some(json!("admin")))]),
        ),
        (
            "tampered payload: another tenant",
            swap(&[("tid", Some(json!(uuid::Uuid::nil())))]),
        ),
        (
            "tampered payload: longer expiry",
            swap(&[("exp", Some(json!(i64::MAX / 2)))]),
        ),
        (
            "tampered header",
            format!("{tampered_header}.{payload}.{signature}"),
        ),
        (
            "signature from another token",
            format!("{header}.{payload}.{foreign_signature}"),
        ),
        (
            "signature with one character changed",
            format!("{header}.{payload}.{flipped}"),
        ),
        ("empty signature", format!("{header}.{payload}.")),
        ("truncated token", genuine[..genuine.len() - 4].to_owned()),
    ]
}

pub(super) fn shape_forgeries(f: &Forge) -> Vec<(&'static str, String)> {
    let genuine = f.genuine();
    let parts: Vec<&str> = genuine.split('.').collect();
    let (header, payload) = (parts[0], parts[1]);
    let raw = |header: &str, payload: &str| {
        sign_message::<Hmac<Sha256>>(&format!("{header}.{payload}"), f.key)
    };
    let b64 = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let duplicate_alg = format!(
        r#"{{"alg":"none","alg":"HS256","typ":"JWT","kid":{}}}"#,
        json!(f.config.active_kid())
    );
    let mid = payload.len() / 2;
    vec![
        ("empty string", String::new()),
        ("two-part token", format!("{header}.{payload}")),
        ("four-part token", format!("{genuine}.{}", parts[2])),
        ("only dots", "..".to_owned()),
        ("garbage base64", "!!!.@@@.###".to_owned()),
        ("not a jwt at all", "jsp_at_not_a_jwt".to_owned()),
        (
            "space after the header",
            format!("{header} .{payload}.{}", parts[2]),
        ),
        (
            "tab before the signature",
            format!("{header}.{payload}.\t{}", parts[2]),
        ),
        (
            "space inside the payload",
            format!(
                "{header}.{} {}.{}",
                &payload[..mid],
                &payload[mid..],
                parts[2]
            ),
        ),
        ("Bearer prefix kept", format!("Bearer {genuine}")),
        (
            "padded header",
            format!("{header}==.{payload}.{}", parts[2]),
        ),
        ("payload not JSON", raw(header, &b64("not json"))),
        ("payload a JSON array", raw(header, &b64("[1,2,3]"))),
        ("header not JSON", raw(&b64("not json"), payload)),
        ("header a JSON array", raw(&b64(r#"["HS256"]"#), payload)),
        (
            "duplicate alg in header",
            raw(&b64(&duplicate_alg), payload),
        ),
        (
            "typ not JWT",
            f.signed_header(&[("typ", Some(json!("at+jwt")))]),
        ),
        (
            "crit header",
            f.signed_header(&[("crit", Some(json!(["exp"])))]),
        ),
        (
            "oversized token",
            format!("{genuine}{}", "A".repeat(8 * 1024)),
        ),
    ]
}
