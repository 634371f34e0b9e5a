//! Forgeries of the claims: times, missing and wrong values. All are signed
//! with the right key unless their name says otherwise.

use serde_json::{json, Value};

use super::{hs256, Forge, ATTACKER_KEY};

pub(super) fn time_forgeries(f: &Forge, now: i64) -> Vec<(&'static str, String)> {
    let (ttl, leeway) = (f.lifetime(), f.leeway());
    let times = |iat: i64, nbf: i64, exp: i64| {
        f.signed_claims(&[
            ("iat", Some(json!(iat))),
            ("nbf", Some(json!(nbf))),
            ("exp", Some(json!(exp))),
        ])
    };
    let just_expired = now - leeway - 1;
    let just_early = now + leeway + 1;
    vec![
        (
            "expired an hour ago",
            times(now - 3600 - ttl, now - 3600 - ttl, now - 3600),
        ),
        (
            "exp one second beyond the leeway",
            times(just_expired - ttl, just_expired - ttl, just_expired),
        ),
        (
            "not valid for another hour",
            times(now, now + 3600, now + 3600 + ttl),
        ),
        (
            "nbf one second beyond the leeway",
            times(now, just_early, just_early + ttl),
        ),
        (
            "iat one second beyond the leeway",
            times(just_early, now, now + ttl),
        ),
        (
            "iat a day in the future",
            times(now + 86_400, now, now + ttl),
        ),
        (
            "exp as a string",
            f.signed_claims(&[("exp", Some(json!((now + ttl).to_string())))]),
        ),
        (
            "exp as a fraction",
            f.signed_claims(&[("exp", Some(json!(now as f64 + 0.5)))]),
        ),
        (
            "exp beyond i64",
            f.signed_claims(&[("exp", Some(json!(u64::MAX)))]),
        ),
        (
            "nbf as a string",
            f.signed_claims(&[("nbf", Some(json!(now.to_string())))]),
        ),
        (
            "extremely large exp with a bad signature",
            hs256(
                &f.header,
                &f.claims_with(&[("exp", Some(json!(i64::MAX)))]),
                ATTACKER_KEY,
            ),
        ),
    ]
}

pub(super) fn claim_forgeries(f: &Forge) -> Vec<(&'static str, String)> {
    let issuer = f.config.issuer();
    let audience = f.config.audience();
    let missing = |claim: &str| f.signed_claims(&[(claim, None)]);
    let set = |claim: &str, value: Value| f.signed_claims(&[(claim, Some(value))]);
    vec![
        ("missing exp", missing("exp")),
        ("missing nbf", missing("nbf")),
        ("missing iat", missing("iat")),
        ("missing iss", missing("iss")),
        ("missing aud", missing("aud")),
        ("missing sub", missing("sub")),
        ("missing tid", missing("tid")),
        ("missing sid", missing("sid")),
        ("missing jti", missing("jti")),
        ("missing role", missing("role")),
        ("wrong issuer", set("iss", json!("https://attacker.test"))),
        (
            "issuer with a suffix",
            set("iss", json!(format!("{issuer}/"))),
        ),
        ("wrong audience", set("aud", json!("another-api"))),
        (
            "audience with a suffix",
            set("aud", json!(format!("{audience}x"))),
        ),
        (
            "audience as an array",
            set("aud", json!([audience, "another-api"])),
        ),
        ("sub not a uuid", set("sub", json!("admin"))),
        ("tid null", set("tid", Value::Null)),
        ("empty claims", hs256(&f.header, &json!({}), f.key)),
    ]
}
