//! Every forged token is refused; the genuine ones are accepted.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::jwt::tests::{config_with, key, now, AUDIENCE, ISSUER};
use crate::jwt::{JwtError, JwtService, SigningKey};
use crate::Secret;

fn check_matrix(config: JwtConfig) {
    let service = JwtService::new(config.clone());
    let (token, valid) = service.issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "viewer",
        now(),
    );
    // Not vacuous: the issued token and the forge's untouched token pass.
    assert_eq!(service.verify(&token, now()), Ok(valid.clone()));
    let forge = Forge::new(&config, &valid);
    assert_eq!(service.verify(&forge.genuine(), now()), Ok(valid.clone()));

    let forged = forged_tokens(&config, &valid, now());
    assert!(forged.len() >= 30, "only {} forgeries", forged.len());
    let names: HashSet<&str> = forged.iter().map(|(name, _)| *name).collect();
    assert_eq!(names.len(), forged.len(), "forgery names must be unique");
    let tokens: HashSet<&str> = forged.iter().map(|(_, token)| token.as_str()).collect();
    assert_eq!(
        tokens.len(),
        forged.len(),
        "forgeries must be distinct tokens"
    );
    for (name, token) in &forged {
        assert!(
            token
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)),
            "forgery {name:?} is not a valid header value"
        );
        assert_eq!(token.trim(), token, "forgery {name:?} would be trimmed");
        let result = service.verify(token, now());
        assert!(result.is_err(), "forgery {name:?} was accepted: {result:?}");
    }
}

#[test]
fn every_forgery_is_refused_with_two_keys() {
    check_matrix(config_with(vec![key("k1"), key("k2")], "k1"));
}

#[test]
fn every_forgery_is_refused_with_one_key_and_zero_leeway() {
    let config = JwtConfig::new(
        ISSUER,
        AUDIENCE,
        vec![key("only")],
        "only",
        JwtConfig::DEFAULT_TTL,
        Duration::ZERO,
    )
    .unwrap();
    check_matrix(config);
}

#[test]
fn every_forgery_is_refused_with_the_maximum_leeway() {
    let keys = vec![
        SigningKey::new("2026-11", Secret::new("z".repeat(64))),
        key("2026-10"),
    ];
    let config = JwtConfig::new(
        ISSUER,
        AUDIENCE,
        keys,
        "2026-11",
        Duration::from_secs(300),
        JwtConfig::MAX_LEEWAY,
    )
    .unwrap();
    check_matrix(config);
}

#[test]
fn forgeries_are_refused_for_the_reason_they_were_built_for() {
    let config = config_with(vec![key("k1"), key("k2")], "k1");
    let service = JwtService::new(config.clone());
    let (_, valid) = service.issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "viewer",
        now(),
    );
    let forged: std::collections::HashMap<_, _> =
        forged_tokens(&config, &valid, now()).into_iter().collect();
    let expectations = [
        ("alg none", JwtError::UnsupportedAlgorithm),
        ("alg None", JwtError::UnsupportedAlgorithm),
        ("alg NONE", JwtError::UnsupportedAlgorithm),
        (
            "alg none with an HS256 signature",
            JwtError::UnsupportedAlgorithm,
        ),
        ("alg missing", JwtError::UnsupportedAlgorithm),
        (
            "HS384 signed with the right key",
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "HS512 signed with the right key",
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "RS256 header with an HS256 signature",
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "ES256 header with an HS256 signature",
            JwtError::UnsupportedAlgorithm,
        ),
        ("signed with a wrong key", JwtError::BadSignature),
        (
            "active kid signed with another kid's key",
            JwtError::BadSignature,
        ),
        (
            "another kid signed with the active key",
            JwtError::BadSignature,
        ),
        ("unknown kid", JwtError::UnknownKey),
        ("missing kid", JwtError::UnknownKey),
        ("expired an hour ago", JwtError::Expired),
        ("exp one second beyond the leeway", JwtError::Expired),
        ("not valid for another hour", JwtError::NotYetValid),
        ("nbf one second beyond the leeway", JwtError::NotYetValid),
        ("iat one second beyond the leeway", JwtError::NotYetValid),
        ("missing exp", JwtError::MissingClaim("exp")),
        ("missing nbf", JwtError::MissingClaim("nbf")),
        ("missing iat", JwtError::MissingClaim("iat")),
        ("missing sub", JwtError::MissingClaim("sub")),
        ("missing tid", JwtError::MissingClaim("tid")),
        ("missing sid", JwtError::MissingClaim("sid")),
        ("missing jti", JwtError::MissingClaim("jti")),
        ("missing role", JwtError::MissingClaim("role")),
        ("wrong issuer", JwtError::WrongIssuer),
        ("issuer with a suffix", JwtError::WrongIssuer),
        ("wrong audience", JwtError::WrongAudience),
        ("audience with a suffix", JwtError::WrongAudience),
        ("tampered payload: role admin", JwtError::BadSignature),
        ("tampered header", JwtError::BadSignature),
        ("signature from another token", JwtError::BadSignature),
        (
            "extremely large exp with a bad signature",
            JwtError::BadSignature,
        ),
        ("exp as a string", JwtError::Malformed),
        ("payload not JSON", JwtError::Malformed),
        ("two-part token", JwtError::Malformed),
        ("empty string", JwtError::Malformed),
        ("space after the header", JwtError::Malformed),
        ("tab before the signature", JwtError::Malformed),
        ("duplicate alg in header", JwtError::Malformed),
        ("crit header", JwtError::Malformed),
    ];
    for (name, expected) in expectations {
        let token = forged
            .get(name)
            .unwrap_or_else(|| panic!("no forgery named {name:?}"));
        assert_eq!(service.verify(token, now()), Err(expected), "{name}");
    }
}

#[test]
fn exp_just_beyond_leeway_is_the_boundary() {
    // The one-second-late forgery differs from an accepted token by exactly
    // one second: re-signing its claims one second later must pass.
    let config = config_with(vec![key("k1")], "k1");
    let service = JwtService::new(config.clone());
    let (_, valid) = service.issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "viewer",
        now(),
    );
    let leeway = config.leeway().as_secs() as i64;
    let forge = Forge::new(&config, &valid);
    let exp = now().timestamp() - leeway;
    let on_time = forge.signed_claims(&[
        ("iat", Some(json!(exp - 60))),
        ("nbf", Some(json!(exp - 60))),
        ("exp", Some(json!(exp))),
    ]);
    assert!(service.verify(&on_time, now()).is_ok());
}
