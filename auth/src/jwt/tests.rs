//! Tests of access-token issue and verification.

use std::time::Duration;

use chrono::TimeZone as _;

use super::*;
use crate::Secret;

pub(crate) const ISSUER: &str = "https://jobsprint.test";
pub(crate) const AUDIENCE: &str = "jobsprint-api";
const LEEWAY: i64 = 10;

pub(crate) fn key(kid: &str) -> SigningKey {
    SigningKey::new(
        kid,
        Secret::new(format!("{kid}-0123456789abcdef0123456789abcdef")),
    )
}

pub(crate) fn config_with(keys: Vec<SigningKey>, active: &str) -> JwtConfig {
    JwtConfig::new(
        ISSUER,
        AUDIENCE,
        keys,
        active,
        JwtConfig::DEFAULT_TTL,
        Duration::from_secs(LEEWAY as u64),
    )
    .unwrap()
}

pub(crate) fn service() -> JwtService {
    JwtService::new(config_with(vec![key("k1"), key("k2")], "k1"))
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn at(offset_secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(offset_secs)
}

fn issue(service: &JwtService) -> (String, AccessClaims) {
    service.issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "editor",
        now(),
    )
}

fn header_of(token: &str) -> serde_json::Value {
    let encoded = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

#[test]
fn issued_token_verifies_and_round_trips_its_claims() {
    let service = service();
    let sub = Uuid::new_v4();
    let tid = Uuid::new_v4();
    let sid = Uuid::new_v4();
    let (token, claims) = service.issue(sub, tid, sid, "admin", now());
    assert_eq!((claims.sub, claims.tid, claims.sid), (sub, tid, sid));
    assert_eq!(claims.role, "admin");
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.iat, now().timestamp());
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.exp, claims.iat + 15 * 60);
    assert_eq!(service.verify(&token, now()), Ok(claims));
}

#[test]
fn header_is_hs256_jwt_with_the_active_kid() {
    let (token, _) = issue(&service());
    assert_eq!(
        header_of(&token),
        serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})
    );
}

#[test]
fn every_token_gets_its_own_jti() {
    let service = service();
    assert_ne!(issue(&service).1.jti, issue(&service).1.jti);
}

#[test]
fn exp_boundary_is_exactly_the_leeway() {
    let service = service();
    let (token, claims) = issue(&service);
    let exp_offset = claims.exp - now().timestamp();
    assert!(service.verify(&token, at(exp_offset)).is_ok());
    assert!(service.verify(&token, at(exp_offset + LEEWAY)).is_ok());
    assert_eq!(
        service.verify(&token, at(exp_offset + LEEWAY + 1)),
        Err(JwtError::Expired)
    );
    assert_eq!(
        service.verify(&token, at(exp_offset + 3600)),
        Err(JwtError::Expired)
    );
}

#[test]
fn nbf_boundary_is_exactly_the_leeway() {
    let service = service();
    let (token, _) = issue(&service);
    assert!(service.verify(&token, at(-LEEWAY)).is_ok());
    assert_eq!(
        service.verify(&token, at(-LEEWAY - 1)),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        service.verify(&token, at(-3600)),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn the_system_clock_is_not_consulted() {
    // Issued and verified far in the past: jsonwebtoken's own exp check
    // against the system clock would refuse it.
    let service = service();
    let long_ago = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    let (token, _) = service.issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "viewer",
        long_ago,
    );
    assert!(service.verify(&token, long_ago).is_ok());
    assert_eq!(service.verify(&token, now()), Err(JwtError::Expired));
}

#[test]
fn zero_leeway_is_strict() {
    let config = JwtConfig::new(
        ISSUER,
        AUDIENCE,
        vec![key("k1")],
        "k1",
        JwtConfig::DEFAULT_TTL,
        Duration::ZERO,
    )
    .unwrap();
    let service = JwtService::new(config);
    let (token, claims) = issue(&service);
    let exp_offset = claims.exp - now().timestamp();
    assert!(service.verify(&token, at(exp_offset)).is_ok());
    assert_eq!(
        service.verify(&token, at(exp_offset + 1)),
        Err(JwtError::Expired)
    );
    assert_eq!(service.verify(&token, at(-1)), Err(JwtError::NotYetValid));
}

#[test]
fn rotation_old_kid_still_verifies_and_new_tokens_use_the_active_kid() {
    let before = JwtService::new(config_with(vec![key("k1")], "k1"));
    let (old_token, _) = issue(&before);

    let after = JwtService::new(config_with(vec![key("k1"), key("k2")], "k2"));
    let (new_token, _) = issue(&after);
    assert_eq!(header_of(&new_token)["kid"], "k2");
    assert!(
        after.verify(&old_token, now()).is_ok(),
        "old kid must still verify"
    );
    assert!(after.verify(&new_token, now()).is_ok());

    // A service that has not learnt k2 yet refuses the new token by kid.
    assert_eq!(before.verify(&new_token, now()), Err(JwtError::UnknownKey));
    // Once k1 is dropped, its tokens stop verifying.
    let dropped = JwtService::new(config_with(vec![key("k2")], "k2"));
    assert_eq!(dropped.verify(&old_token, now()), Err(JwtError::UnknownKey));
}

#[test]
fn same_kid_with_another_secret_is_a_bad_signature() {
    let (token, _) = issue(&service());
    let other = SigningKey::new(
        "k1",
        Secret::new("another-secret-another-secret-another-secret"),
    );
    let service = JwtService::new(config_with(vec![other], "k1"));
    assert_eq!(service.verify(&token, now()), Err(JwtError::BadSignature));
}

#[test]
fn other_issuer_or_audience_is_refused() {
    let (token, _) = issue(&service());
    let keys = vec![key("k1")];
    let ttl = JwtConfig::DEFAULT_TTL;
    let leeway = Duration::from_secs(5);
    let other_iss = JwtService::new(
        JwtConfig::new(
            "https://evil.test",
            AUDIENCE,
            keys.clone(),
            "k1",
            ttl,
            leeway,
        )
        .unwrap(),
    );
    assert_eq!(other_iss.verify(&token, now()), Err(JwtError::WrongIssuer));
    let other_aud =
        JwtService::new(JwtConfig::new(ISSUER, "another-api", keys, "k1", ttl, leeway).unwrap());
    assert_eq!(
        other_aud.verify(&token, now()),
        Err(JwtError::WrongAudience)
    );
}

#[test]
fn config_refuses_large_leeway_short_secrets_and_inconsistencies() {
    let ttl = JwtConfig::DEFAULT_TTL;
    let leeway = Duration::from_secs(5);
    let new = |keys: Vec<SigningKey>, active: &str, ttl, leeway| {
        JwtConfig::new(ISSUER, AUDIENCE, keys, active, ttl, leeway).map(|_| ())
    };
    assert_eq!(
        new(vec![key("k1")], "k1", ttl, Duration::from_secs(30)),
        Ok(())
    );
    assert_eq!(
        new(vec![key("k1")], "k1", ttl, Duration::from_secs(31)),
        Err(JwtConfigError::LeewayTooLarge { max_secs: 30 })
    );
    assert_eq!(
        new(vec![key("k1")], "k1", ttl, Duration::from_millis(30_001)),
        Err(JwtConfigError::LeewayTooLarge { max_secs: 30 })
    );
    assert_eq!(
        new(vec![key("k1")], "k1", ttl, Duration::from_secs(60)),
        Err(JwtConfigError::LeewayTooLarge { max_secs: 30 })
    );
    let short = SigningKey::new("short", Secret::new("x".repeat(31)));
    assert_eq!(
        new(vec![key("k1"), short], "k1", ttl, leeway),
        Err(JwtConfigError::ShortSecret {
            kid: "short".into(),
            min: 32
        })
    );
    let exact = SigningKey::new("exact", Secret::new("x".repeat(32)));
    assert_eq!(new(vec![exact], "exact", ttl, leeway), Ok(()));
    assert_eq!(new(vec![], "k1", ttl, leeway), Err(JwtConfigError::NoKeys));
    assert_eq!(
        new(vec![key("k1")], "k9", ttl, leeway),
        Err(JwtConfigError::UnknownActiveKid("k9".into()))
    );
    assert_eq!(
        new(vec![key("k1"), key("k1")], "k1", ttl, leeway),
        Err(JwtConfigError::DuplicateKid("k1".into()))
    );
    let unnamed = SigningKey::new("", Secret::new("x".repeat(40)));
    assert_eq!(
        new(vec![unnamed], "", ttl, leeway),
        Err(JwtConfigError::EmptyKid)
    );
    assert_eq!(
        new(vec![key("k1")], "k1", Duration::ZERO, leeway),
        Err(JwtConfigError::TtlOutOfRange { max_secs: 3600 })
    );
    assert_eq!(
        new(vec![key("k1")], "k1", Duration::from_secs(3601), leeway),
        Err(JwtConfigError::TtlOutOfRange { max_secs: 3600 })
    );
    assert_eq!(
        JwtConfig::new("", AUDIENCE, vec![key("k1")], "k1", ttl, leeway).map(|_| ()),
        Err(JwtConfigError::EmptyIssuer)
    );
    assert_eq!(
        JwtConfig::new(ISSUER, "", vec![key("k1")], "k1", ttl, leeway).map(|_| ()),
        Err(JwtConfigError::EmptyAudience)
    );
}

#[test]
fn config_errors_and_debug_never_show_secrets() {
    let secret = "short-secret-value";
    let err = JwtConfig::new(
        ISSUER,
        AUDIENCE,
        vec![SigningKey::new("k1", Secret::new(secret))],
        "k1",
        JwtConfig::DEFAULT_TTL,
        Duration::ZERO,
    )
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(secret));
    let service = service();
    let shown = format!("{service:?} {:?}", service.config());
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("k1"));
}

#[test]
fn config_accessors_report_what_was_configured() {
    let config = config_with(vec![key("k1"), key("k2")], "k2");
    assert_eq!(config.issuer(), ISSUER);
    assert_eq!(config.audience(), AUDIENCE);
    assert_eq!(config.active_kid(), "k2");
    assert_eq!(config.active_key().kid, "k2");
    assert_eq!(config.keys().len(), 2);
    assert!(config.key("k3").is_none());
    assert_eq!(config.ttl(), Duration::from_secs(900));
    assert_eq!(config.leeway(), Duration::from_secs(LEEWAY as u64));
}

#[test]
fn errors_never_echo_the_token() {
    let service = service();
    let (token, _) = issue(&service);
    let tampered = format!("{token}x");
    let err = service.verify(&tampered, now()).unwrap_err();
    let shown = format!("{err} {err:?}");
    for part in token.split('.') {
        assert!(!shown.contains(&part[..10]), "{shown}");
    }
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let service = service();
    let (token, _) = issue(&service);
    let huge = format!("{token}{}", "A".repeat(MAX_TOKEN_BYTES));
    assert_eq!(service.verify(&huge, now()), Err(JwtError::Malformed));
}
