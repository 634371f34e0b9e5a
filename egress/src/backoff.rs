//! Pure retry delays: exponential backoff with caller-supplied jitter, combined with `Retry-After`.

use std::time::Duration;

use crate::error::{HttpError, Retry};

/// Parameters of [`next_delay`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest backoff delay, jitter included.
    pub cap: Duration,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
}

impl Default for BackoffConfig {
    /// 1 s base, 5 min cap, `Retry-After` honoured up to 1 h.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5 * 60),
            max_retry_after: Duration::from_secs(60 * 60),
        }
    }
}

/// The delay before retry number `attempt` (1-based; 0 counts as 1): `base * 2^(attempt-1)`
/// plus `jitter` (clamped to 0..=1, from the caller's RNG) times that, never more than `cap`.
/// With a 1 s base and no jitter: 1, 2, 4, 8, 16 s for attempts 1 to 5.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(63);
    let factor = 1u64 << exponent;
    let factor = u32::try_from(factor).unwrap_or(u32::MAX);
    let exponential = base.checked_mul(factor).unwrap_or(Duration::MAX).min(cap);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let extra =
        Duration::try_from_secs_f64(exponential.as_secs_f64() * jitter).unwrap_or(Duration::ZERO);
    exponential.saturating_add(extra).min(cap)
}

/// The delay before retry number `attempt` after `error`, or `None` when the error is not
/// retryable. The server's `Retry-After` (cut to `config.max_retry_after`) wins when it is
/// longer than the backoff.
pub fn next_delay(
    attempt: u32,
    error: &HttpError,
    config: &BackoffConfig,
    jitter: f64,
) -> Option<Duration> {
    match error.retry() {
        Retry::No => None,
        Retry::Yes { after } => {
            let computed = backoff(attempt, config.base, config.cap, jitter);
            let requested = after.map(|a| a.min(config.max_retry_after));
            Some(requested.map_or(computed, |r| r.max(computed)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{BodyEncoding, HttpResponse};

    const S: Duration = Duration::from_secs(1);

    fn status(status: u16, retry_after: Option<Duration>) -> HttpError {
        HttpError::Status {
            response: Box::new(HttpResponse {
                status,
                url: "http://example.com/".into(),
                headers: Default::default(),
                body: serde_json::Value::Null,
                encoding: BodyEncoding::Text,
                truncated: false,
            }),
            retry_after,
        }
    }

    #[test]
    fn doubles_from_base() {
        let cap = Duration::from_secs(300);
        let got: Vec<u64> = (1..=5).map(|a| backoff(a, S, cap, 0.0).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16]);
        assert_eq!(backoff(0, S, cap, 0.0), S);
        let ms = Duration::from_millis(250);
        assert_eq!(backoff(3, ms, cap, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_adds_a_fraction() {
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(3, S, cap, 0.5), Duration::from_secs(6));
        assert_eq!(backoff(1, S, cap, 0.25), Duration::from_millis(1250));
        assert_eq!(backoff(2, S, cap, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(2, S, cap, 7.0), Duration::from_secs(4));
        assert_eq!(backoff(2, S, cap, -1.0), Duration::from_secs(2));
        assert_eq!(backoff(2, S, cap, f64::NAN), Duration::from_secs(2));
    }

    #[test]
    fn capped_and_overflow_safe() {
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(4, S, cap, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(5, S, cap, 0.0), cap);
        assert_eq!(backoff(4, S, cap, 0.9), cap);
        assert_eq!(backoff(u32::MAX, S, cap, 0.5), cap);
        assert_eq!(
            backoff(64, Duration::MAX, Duration::MAX, 1.0),
            Duration::MAX
        );
    }

    #[test]
    fn next_delay_combines_retry_after() {
        let config = BackoffConfig::default();
        assert_eq!(next_delay(1, &status(500, None), &config, 0.0), Some(S));
        assert_eq!(
            next_delay(1, &status(429, Some(Duration::from_secs(3))), &config, 0.0),
            Some(Duration::from_secs(3))
        );
        // The backoff wins when it is longer than Retry-After.
        assert_eq!(
            next_delay(4, &status(503, Some(Duration::from_secs(3))), &config, 0.0),
            Some(Duration::from_secs(8))
        );
        // Retry-After is cut to an hour.
        assert_eq!(
            next_delay(
                1,
                &status(429, Some(Duration::from_secs(86_400))),
                &config,
                0.0
            ),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(next_delay(1, &status(404, None), &config, 0.0), None);
        let timeout = HttpError::Timeout { after: S };
        assert_eq!(
            next_delay(2, &timeout, &config, 0.5),
            Some(Duration::from_secs(3))
        );
    }
}
