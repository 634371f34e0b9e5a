//! Tests of the opaque token formats.

use super::*;

const ID: &str = "0192f1c4a7b84e6f9a1d2c3b4a5f6e7d";

fn id() -> Uuid {
    Uuid::parse_str(ID).unwrap()
}

/// A fixed canonical secret without `_`, so the strictness cases below do
/// not depend on where a random secret happens to contain a separator.
fn good_secret() -> String {
    URL_SAFE_NO_PAD.encode([7_u8; SECRET_BYTES])
}

#[test]
fn generated_secrets_are_43_base64url_chars_and_distinct() {
    let a = generate_secret();
    let b = generate_secret();
    assert_eq!(a.expose().len(), SECRET_CHARS);
    assert!(a
        .expose()
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(),
        SECRET_BYTES
    );
    assert_ne!(a.expose(), b.expose());
}

#[test]
fn hash_secret_is_hex_sha256() {
    assert_eq!(
        hash_secret(&Secret::new("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let hash = hash_secret(&generate_secret());
    assert_eq!(hash.len(), 64);
    assert!(hash
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[test]
fn constant_time_eq_compares_exactly() {
    assert!(constant_time_eq("abc", "abc"));
    assert!(constant_time_eq("", ""));
    assert!(!constant_time_eq("abc", "abd"));
    assert!(!constant_time_eq("abc", "abcd"));
    assert!(!constant_time_eq("abc", "ABC"));
}

#[test]
fn api_token_round_trips() {
    let token = ApiTokenString::generate(id());
    let full = token.to_secret();
    assert!(full.expose().starts_with(&format!("jsp_at_{ID}_")));
    assert_eq!(full.expose().len(), "jsp_at_".len() + 32 + 1 + SECRET_CHARS);
    let parsed = ApiTokenString::parse(full.expose()).unwrap();
    assert_eq!(parsed.token_id, id());
    assert_eq!(parsed.secret.expose(), token.secret.expose());
}

#[test]
fn refresh_token_round_trips() {
    for generation in [0, 1, 42, u32::MAX] {
        let token = RefreshTokenString::generate(id(), generation);
        let full = token.to_secret();
        assert!(full
            .expose()
            .starts_with(&format!("jsp_rt_{ID}_{generation}_")));
        let parsed = RefreshTokenString::parse(full.expose()).unwrap();
        assert_eq!(parsed.session_id, id());
        assert_eq!(parsed.generation, generation);
        assert_eq!(parsed.secret.expose(), token.secret.expose());
    }
}

#[test]
fn invitation_round_trips() {
    let token = InvitationString::generate(id());
    let full = token.to_secret();
    assert!(full.expose().starts_with(&format!("jsp_inv_{ID}_")));
    let parsed = InvitationString::parse(full.expose()).unwrap();
    assert_eq!(parsed.user_id, id());
    assert_eq!(parsed.secret.expose(), token.secret.expose());
}

#[test]
fn secrets_containing_underscores_and_dashes_round_trip() {
    // base64url uses `_` and `-`, so the secret may contain the separator.
    let secret = "_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-A";
    assert_eq!(secret.len(), SECRET_CHARS);
    let token = RefreshTokenString {
        session_id: id(),
        generation: 7,
        secret: Secret::new(secret),
    };
    let parsed = RefreshTokenString::parse(token.to_secret().expose()).unwrap();
    assert_eq!(parsed.generation, 7);
    assert_eq!(parsed.secret.expose(), secret);
}

#[test]
fn api_token_parse_is_strict() {
    let s = good_secret();
    let upper = ID.to_uppercase();
    let hyphenated = id().hyphenated().to_string();
    let cases: Vec<(String, TokenFormatError)> = vec![
        (String::new(), TokenFormatError::WrongPrefix),
        (format!("jsp_rt_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (format!("jsp_inv_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (format!("JSP_AT_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (format!(" jsp_at_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (
            format!("Bearer jsp_at_{ID}_{s}"),
            TokenFormatError::WrongPrefix,
        ),
        (format!("jsp_at_{upper}_{s}"), TokenFormatError::MalformedId),
        (
            format!("jsp_at_{hyphenated}_{s}"),
            TokenFormatError::MalformedId,
        ),
        (
            format!("jsp_at_{}_{s}", &ID[..31]),
            TokenFormatError::MalformedId,
        ),
        (
            format!("jsp_at_{}g_{s}", &ID[..31]),
            TokenFormatError::MalformedId,
        ),
        ("jsp_at_".to_owned(), TokenFormatError::MalformedId),
        (
            format!("jsp_at_{ID}{s}"),
            TokenFormatError::MissingSeparator,
        ),
        (format!("jsp_at_{ID}"), TokenFormatError::MissingSeparator),
        (format!("jsp_at_{ID}_"), TokenFormatError::MalformedSecret),
        (
            format!("jsp_at_{ID}_{s} "),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{s}\n"),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{s}="),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{}", &s[..42]),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{s}A"),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{}+", &s[..42]),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{}/", &s[..42]),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_at_{ID}_{}é", &s[..41]),
            TokenFormatError::MalformedSecret,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            ApiTokenString::parse(&input).unwrap_err(),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn non_canonical_secret_encodings_are_refused() {
    // 43 characters carry 258 bits; the last character's two low bits must
    // be zero. `B` (1) sets one of them.
    let canonical = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let stray_bits = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
    assert!(ApiTokenString::parse(&format!("jsp_at_{ID}_{canonical}")).is_ok());
    assert_eq!(
        ApiTokenString::parse(&format!("jsp_at_{ID}_{stray_bits}")).unwrap_err(),
        TokenFormatError::MalformedSecret
    );
}

#[test]
fn refresh_token_parse_is_strict() {
    let s = good_secret();
    let cases: Vec<(String, TokenFormatError)> = vec![
        (format!("jsp_at_{ID}_1_{s}"), TokenFormatError::WrongPrefix),
        (
            format!("jsp_rt_{ID}_{s}"),
            TokenFormatError::MissingSeparator,
        ),
        (
            format!("jsp_rt_{ID}__{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (
            format!("jsp_rt_{ID}_01_{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (
            format!("jsp_rt_{ID}_+1_{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (
            format!("jsp_rt_{ID}_-1_{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (
            format!("jsp_rt_{ID}_1a_{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (
            format!("jsp_rt_{ID}_4294967296_{s}"),
            TokenFormatError::MalformedGeneration,
        ),
        (format!("jsp_rt_{ID}_1"), TokenFormatError::MissingSeparator),
        (
            format!("jsp_rt_{ID}_1_{s}_"),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_rt_{ID}_1_2_{s}"),
            TokenFormatError::MalformedSecret,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            RefreshTokenString::parse(&input).unwrap_err(),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn invitation_parse_is_strict() {
    let s = good_secret();
    let cases: Vec<(String, TokenFormatError)> = vec![
        (format!("jsp_in_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (format!("jsp_at_{ID}_{s}"), TokenFormatError::WrongPrefix),
        (
            format!("jsp_inv_{ID}_1_{s}"),
            TokenFormatError::MalformedSecret,
        ),
        (
            format!("jsp_inv_{}_{s}", &ID[1..]),
            TokenFormatError::MalformedId,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            InvitationString::parse(&input).unwrap_err(),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn errors_never_echo_the_input() {
    let s = good_secret();
    let inputs = [
        format!("jsp_at_{ID}_{s}x"),
        format!("jsp_at_{}_{s}", ID.to_uppercase()),
        format!("jsp_xx_{ID}_{s}"),
    ];
    for input in inputs {
        let err = ApiTokenString::parse(&input).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&s[..8]), "{shown}");
        assert!(
            !shown.contains(&ID[..8]) && !shown.contains(&ID[..8].to_uppercase()),
            "{shown}"
        );
    }
}

#[test]
fn token_debug_hides_the_secret() {
    let token = ApiTokenString::generate(id());
    let shown = format!("{token:?}");
    assert!(shown.contains("***"));
    assert!(!shown.contains(token.secret.expose()));
}
