//! Jobsprint's credentials: password hashing, opaque tokens, JWT access
//! tokens and webhook signatures.
//!
//! Architecture invariant: this crate does no IO. It reads no clock (every
//! time-dependent function takes `now`), no environment, no database and no
//! network; the only ambient input is the operating system's random number
//! generator, used for salts and token secrets.
//!
//! Every plain-text password and token travels as a [`Secret`], which never
//! prints its value.
//!
//! Code map:
//! - [`password`]: argon2id hashes and the password policy.
//! - [`tokens`]: opaque API, refresh and invitation tokens and their hashes.
//! - [`jwt`]: HS256 access tokens with key rotation and a testable clock.
//! - [`webhook`]: HMAC-SHA256 signatures of webhook deliveries.
//! - `forgery` (feature `forgery`): forged access tokens for other crates'
//!   tests.

pub mod jwt;
pub mod password;
pub mod tokens;
pub mod webhook;

#[cfg(any(test, feature = "forgery"))]
pub mod forgery;

mod secret;

pub use secret::Secret;
