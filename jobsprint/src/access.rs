//! Settings of access control: the keys that sign access tokens and the
//! request rate limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use auth::jwt::{JwtConfig, JwtService, SigningKey};
use auth::Secret;
use clap::Args;

/// How access tokens are signed (docs/adr/0006-identity-and-tokens.md).
#[derive(Args)]
pub struct JwtArgs {
    /// Signing keys, comma-separated `kid:secret` entries (secrets of at least
    /// 32 bytes). All verify; the active one signs.
    #[arg(long, env = "JOBSPRINT_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,
    /// File holding one signing secret (used when JOBSPRINT_JWT_KEYS is unset),
    /// with the key id JOBSPRINT_JWT_KEY_ID.
    #[arg(long, env = "JOBSPRINT_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// The id of the key that signs new tokens.
    #[arg(long, env = "JOBSPRINT_JWT_KEY_ID", default_value = "k1")]
    pub jwt_key_id: String,
    /// The `iss` claim issued and required.
    #[arg(long, env = "JOBSPRINT_JWT_ISSUER", default_value = "jobsprint")]
    pub jwt_issuer: String,
    /// The `aud` claim issued and required.
    #[arg(long, env = "JOBSPRINT_JWT_AUDIENCE", default_value = "jobsprint-api")]
    pub jwt_audience: String,
}

impl JwtArgs {
    /// The token service; errors name variables and key ids, never secrets.
    pub fn service(&self) -> anyhow::Result<JwtService> {
        let keys = match (&self.jwt_keys, &self.jwt_key_file) {
            (Some(list), _) => parse_keys(list)?,
            (None, Some(path)) => {
                let secret = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the JWT key file {}", path.display()))?;
                vec![SigningKey::new(self.jwt_key_id.clone(), Secret::new(secret.trim()))]
            }
            (None, None) => anyhow::bail!(
                "no access-token signing key: set JOBSPRINT_JWT_KEYS (kid:secret,...) or JOBSPRINT_JWT_KEY_FILE"
            ),
        };
        let config = JwtConfig::new(
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
            keys,
            self.jwt_key_id.clone(),
            JwtConfig::DEFAULT_TTL,
            JwtConfig::DEFAULT_LEEWAY,
        )
        .context("invalid JOBSPRINT_JWT_* settings")?;
        Ok(JwtService::new(config))
    }
}

fn parse_keys(list: &str) -> anyhow::Result<Vec<SigningKey>> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (kid, secret) = entry
                .trim()
                .split_once(':')
                .context("each JOBSPRINT_JWT_KEYS entry is kid:secret")?;
            Ok(SigningKey::new(kid.to_owned(), Secret::new(secret)))
        })
        .collect()
}

/// A signing service for commands that never sign (admin tasks): a random
/// key that lives as long as the process.
pub fn ephemeral_service() -> JwtService {
    let secret = auth::tokens::generate_secret();
    let key = SigningKey::new("ephemeral", secret);
    let config = JwtConfig::new(
        "jobsprint",
        "jobsprint-api",
        vec![key],
        "ephemeral",
        JwtConfig::DEFAULT_TTL,
        Duration::ZERO,
    )
    .expect("a valid ephemeral config");
    JwtService::new(config)
}

/// Request rate limits.
#[derive(Args)]
pub struct RateArgs {
    /// Requests per second allowed from one client IP (burst: twice that).
    #[arg(long, env = "JOBSPRINT_RATE_PER_IP", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_ip: u32,
    /// Requests per second allowed for one user or API token (burst: twice that).
    #[arg(long, env = "JOBSPRINT_RATE_PER_CALLER", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_caller: u32,
}

impl RateArgs {
    /// The quotas.
    pub fn quotas(&self) -> (api::rate_limit::RateQuota, api::rate_limit::RateQuota) {
        let quota = |n: u32| api::rate_limit::RateQuota {
            per_second: api::config::nonzero(n),
            burst: api::config::nonzero(n.saturating_mul(2)),
        };
        (quota(self.rate_per_ip), quota(self.rate_per_caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(keys: Option<&str>, active: &str) -> JwtArgs {
        JwtArgs {
            jwt_keys: keys.map(str::to_owned),
            jwt_key_file: None,
            jwt_key_id: active.into(),
            jwt_issuer: "jobsprint".into(),
            jwt_audience: "jobsprint-api".into(),
        }
    }

    #[test]
    fn keys_are_checked_without_echoing_them() {
        let long = "s".repeat(40);
        assert!(args(Some(&format!("a:{long},b:{long}")), "b")
            .service()
            .is_ok());
        let short = format!(
            "{:#}",
            args(Some("a:tooshort-secret"), "a").service().unwrap_err()
        );
        assert!(
            short.contains("\"a\"") && !short.contains("tooshort-secret"),
            "{short}"
        );
        let missing = format!("{:#}", args(None, "a").service().unwrap_err());
        assert!(missing.contains("JOBSPRINT_JWT_KEYS"), "{missing}");
        let unknown = format!(
            "{:#}",
            args(Some(&format!("a:{long}")), "zz")
                .service()
                .unwrap_err()
        );
        assert!(!unknown.contains(&long), "{unknown}");
    }
}
