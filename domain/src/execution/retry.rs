//! When a failed step runs again: the per-node retry policy (default five
//! attempts, backoff 1, 2, 4, 8, 16 s plus jitter) and the pure decision
//! the engine records as `StepRetryScheduled`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::workflow::{parse_duration, Node};

/// Most attempts a node may configure.
pub const MAX_ATTEMPTS: u32 = 20;
/// Longest wait a `Retry-After` answer may impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// How a node's failed attempts are retried. Configured as
/// `"retry": {"max_attempts": 5, "initial_interval": "1s", "max_interval": "5m"}`
/// on any node; every field is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retried).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each one after.
    pub initial_interval: Duration,
    /// The longest wait between attempts (before jitter).
    pub max_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The policy of `node` (its `retry` field, defaults where absent);
    /// a definition that passed validation always has a valid one.
    pub fn of(node: &Node) -> RetryPolicy {
        Self::parse(node.config.get("retry")).unwrap_or_default()
    }

    /// Reads a `retry` config value; `None` or null is the default policy.
    pub fn parse(value: Option<&Value>) -> Result<RetryPolicy, String> {
        let mut policy = RetryPolicy::default();
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(policy);
        };
        let Some(fields) = value.as_object() else {
            return Err(format!("'retry' must be an object (found {value})"));
        };
        for (name, field) in fields {
            match name.as_str() {
                "max_attempts" => {
                    policy.max_attempts = field
                        .as_u64()
                        .filter(|n| (1..=u64::from(MAX_ATTEMPTS)).contains(n))
                        .map(|n| n as u32)
                        .ok_or_else(|| {
                            format!("'retry.max_attempts' must be an integer from 1 to {MAX_ATTEMPTS} (found {field})")
                        })?;
                }
                "initial_interval" | "max_interval" => {
                    let duration = parse_duration(field)
                        .map_err(|err| format!("'retry.{name}' {err}"))?;
                    if name == "initial_interval" {
                        policy.initial_interval = duration;
                    } else {
                        policy.max_interval = duration;
                    }
                }
                other => {
                    return Err(format!(
                        "'retry' has an unknown field '{other}' (known: max_attempts, initial_interval, max_interval)"
                    ))
                }
            }
        }
        Ok(policy)
    }

    /// The wait after failed attempt `attempt` (1-based) before jitter:
    /// initial, ×2, ×4, … capped at `max_interval`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_interval
            .saturating_mul(1u32 << doublings)
            .min(self.max_interval)
    }

    /// What follows a failed attempt: another attempt at a time, or the
    /// end. `jitter` in `[0, 1)` adds up to a fifth of the backoff, so
    /// executions that failed together do not retry together; a target's
    /// `Retry-After` wins when it asks for longer (capped at an hour).
    pub fn after_failure(
        &self,
        attempt: u32,
        retryable: bool,
        failed_at: DateTime<Utc>,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> RetryDecision {
        if !retryable {
            return RetryDecision::GiveUp {
                reason: "the error is not retryable".to_owned(),
            };
        }
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp {
                reason: format!("all {} attempts failed", self.max_attempts),
            };
        }
        let backoff = self.backoff(attempt);
        let jittered = backoff.mul_f64(1.0 + jitter.clamp(0.0, 0.999) / 5.0);
        let wait = match retry_after {
            Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
            None => jittered,
        };
        let at = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|wait| failed_at.checked_add_signed(wait))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        RetryDecision::RetryAt(at)
    }
}

/// The outcome of [`RetryPolicy::after_failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Run the next attempt at this time.
    RetryAt(DateTime<Utc>),
    /// Fail the step for good.
    GiveUp {
        /// Why no attempt follows.
        reason: String,
    },
}
