//! Password hashing (argon2id, PHC strings) and the password policy.
//!
//! Hashing costs about 19 MiB and tens of milliseconds on purpose: callers on
//! an async runtime run it on a blocking thread.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use crate::Secret;

/// Memory cost in KiB (OWASP Password Storage Cheat Sheet: 19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Number of passes (OWASP: 2 with 19 MiB).
pub const T_COST: u32 = 2;
/// Degree of parallelism (OWASP: 1).
pub const P_COST: u32 = 1;

/// Stored hashes asking for more than this much memory (KiB) are refused
/// rather than verified: a corrupted or planted hash must not make one login
/// allocate gigabytes.
const MAX_VERIFY_M_COST_KIB: u32 = 262_144;
/// Upper bound on passes accepted from a stored hash, for the same reason.
const MAX_VERIFY_T_COST: u32 = 16;
/// Upper bound on lanes accepted from a stored hash, for the same reason.
const MAX_VERIFY_P_COST: u32 = 16;

/// Why a password could not be hashed. Never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The argon2 implementation refused the input or parameters.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes a password with argon2id (m=19456 KiB, t=2, p=1) and a random
/// 16-byte salt from the operating system, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &Secret) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|err| PasswordError::Hashing(err.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash`.
///
/// Returns `false`, never panics, on a malformed hash, on any algorithm other
/// than argon2id, and on parameters far above the ones this crate writes.
pub fn verify_password(hash: &str, password: &Secret) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_M_COST_KIB
        || params.t_cost() > MAX_VERIFY_T_COST
        || params.p_cost() > MAX_VERIFY_P_COST
    {
        return false;
    }
    // The verifier takes algorithm, version and parameters from the hash.
    Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|err| PasswordError::Hashing(err.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The rules a new password must follow.
///
/// Length is counted in characters (Unicode scalar values), as NIST SP
/// 800-63B suggests; there are no composition rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordPolicy;

/// Why a password was refused by [`PasswordPolicy::check`]. Never contains
/// the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than [`PasswordPolicy::MIN_CHARS`] characters.
    #[error("password must be at least {min} characters long")]
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// More than [`PasswordPolicy::MAX_CHARS`] characters.
    #[error("password must be at most {max} characters long")]
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// Every character is the same one.
    #[error("password must not be a single character repeated")]
    OneRepeatedCharacter,
}

impl PasswordPolicy {
    /// Minimum length in characters.
    pub const MIN_CHARS: usize = 12;
    /// Maximum length in characters (bounds the hashing work per request).
    pub const MAX_CHARS: usize = 256;

    /// Checks a new password against the policy.
    pub fn check(password: &Secret) -> Result<(), PasswordPolicyError> {
        let value = password.expose();
        let length = value.chars().count();
        if length < Self::MIN_CHARS {
            return Err(PasswordPolicyError::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        if length > Self::MAX_CHARS {
            return Err(PasswordPolicyError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let mut chars = value.chars();
        if let Some(first) = chars.next() {
            if chars.all(|c| c == first) {
                return Err(PasswordPolicyError::OneRepeatedCharacter);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> Secret {
        Secret::new(value)
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let password = secret("correct horse battery staple");
        let hash = hash_password(&password).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, &password));
    }

    #[test]
    fn wrong_password_is_refused() {
        let hash = hash_password(&secret("correct horse battery staple")).unwrap();
        assert!(!verify_password(
            &hash,
            &secret("correct horse battery stapler")
        ));
        assert!(!verify_password(&hash, &secret("")));
    }

    #[test]
    fn salts_differ_between_hashes() {
        let password = secret("correct horse battery staple");
        assert_ne!(
            hash_password(&password).unwrap(),
            hash_password(&password).unwrap()
        );
    }

    #[test]
    fn malformed_or_foreign_hashes_are_refused_without_panicking() {
        let password = secret("correct horse battery staple");
        let good = hash_password(&password).unwrap();
        let hostile = [
            String::new(),
            "not a hash".to_owned(),
            "$argon2id$".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$".to_owned(),
            good.replace("$argon2id$", "$argon2i$"),
            good.replace("$argon2id$", "$argon2d$"),
            good.replace("m=19456", "m=4294967295"),
            good.replace("t=2", "t=4000000"),
            good.replace("p=1", "p=0"),
            good.replace("v=19", "v=99"),
            good[..good.len() - 10].to_owned(),
            format!("{good}$extra"),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        ];
        for hash in hostile {
            assert!(!verify_password(&hash, &password), "accepted {hash:?}");
        }
    }

    #[test]
    fn verifies_hashes_written_with_the_same_parameters_elsewhere() {
        // The dummy hash that `commands` verifies for unknown users must
        // parse and run (and not match).
        let dummy = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0HGIeMBFGvA7hPsqKBBCMhgmvOQpN1Cp1Pmjv5E4oJc";
        assert!(PasswordHash::new(dummy).is_ok());
        assert!(!verify_password(
            dummy,
            &secret("correct horse battery staple")
        ));
    }

    #[test]
    fn policy_accepts_reasonable_passwords() {
        for ok in [
            "correct horse",
            "aaaaaaaaaaab",
            "ünïcödé-pässwörd",
            &"x1".repeat(128),
        ] {
            assert_eq!(PasswordPolicy::check(&secret(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn policy_refuses_short_long_and_repeated() {
        assert_eq!(
            PasswordPolicy::check(&secret("elevenchars")),
            Err(PasswordPolicyError::TooShort { min: 12 })
        );
        assert_eq!(
            PasswordPolicy::check(&secret("")),
            Err(PasswordPolicyError::TooShort { min: 12 })
        );
        assert_eq!(
            PasswordPolicy::check(&secret(&"ab".repeat(129))),
            Err(PasswordPolicyError::TooLong { max: 256 })
        );
        assert_eq!(
            PasswordPolicy::check(&secret("aaaaaaaaaaaa")),
            Err(PasswordPolicyError::OneRepeatedCharacter)
        );
        assert_eq!(
            PasswordPolicy::check(&secret("            ")),
            Err(PasswordPolicyError::OneRepeatedCharacter)
        );
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // 11 characters, 22 bytes.
        assert!(PasswordPolicy::check(&secret("ééééééééééb")).is_err());
        // 256 characters, 512 bytes.
        assert_eq!(PasswordPolicy::check(&secret(&"éb".repeat(128))), Ok(()));
    }

    #[test]
    fn policy_messages_say_what_is_wrong_without_the_password() {
        let err = PasswordPolicy::check(&secret("short-pw")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password must be at least 12 characters long"
        );
        assert!(!err.to_string().contains("short-pw"));
        let err = PasswordPolicy::check(&secret("zzzzzzzzzzzzzz")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password must not be a single character repeated"
        );
    }
}
