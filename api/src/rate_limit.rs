//! Request rate limits per client IP and per authenticated caller, with
//! governor's GCRA limiter; a refused request gets `429` and `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Requests per second and burst, for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct RateQuota {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once above the sustained rate.
    pub burst: NonZeroU32,
}

impl RateQuota {
    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The limiters of one server.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_caller: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// A refused request: when to try again.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// How long until the next request would be allowed.
    pub retry_after: Duration,
}

impl RateLimits {
    /// Limiters with the given quotas.
    pub fn new(per_ip: RateQuota, per_caller: RateQuota) -> Arc<Self> {
        Arc::new(Self {
            per_ip: DefaultKeyedRateLimiter::keyed(per_ip.quota()),
            per_caller: DefaultKeyedRateLimiter::keyed(per_caller.quota()),
            clock: DefaultClock::default(),
        })
    }

    /// Counts a request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        self.per_ip.check_key(&ip).map_err(|not_until| Limited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Counts a request from an authenticated caller (`user:<id>`, `token:<id>`).
    pub fn check_caller(&self, caller: &str) -> Result<(), Limited> {
        self.per_caller
            .check_key(&caller.to_owned())
            .map_err(|not_until| Limited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Forgets keys idle long enough to be back at full burst.
    pub fn retain_recent(&self) {
        self.per_ip.retain_recent();
        self.per_caller.retain_recent();
    }
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        // Whole seconds, rounded up: "0" would invite an immediate retry.
        let seconds = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        let body = serde_json::json!({
            "data": null,
            "errors": [{
                "message": format!("too many requests; retry after {seconds} s"),
                "extensions": { "code": "RATE_LIMITED" },
            }],
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds.max(1).to_string()).expect("digits are a valid header"),
        );
        response
    }
}

/// Middleware: the per-IP limit, before anything else runs.
pub(crate) async fn per_ip(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(ip) = ip {
        if let Err(limited) = limits.check_ip(ip) {
            metrics::counter!("jobsprint_rate_limited_total", "key" => "ip").increment(1);
            return limited.into_response();
        }
    }
    next.run(request).await
}
