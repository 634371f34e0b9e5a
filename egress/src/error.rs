//! Errors of an outbound request and whether the engine should retry them.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::policy::RefusalReason;
use crate::request::HttpResponse;

/// Whether a failed request may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retrying cannot help (a refused URL, a client error, a bad request).
    No,
    /// A retry may succeed; `after` is the server's `Retry-After`, if it sent one.
    Yes {
        /// The delay the server asked for.
        after: Option<Duration>,
    },
}

/// Why an outbound request failed. Messages are shown to workflow users.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL does not parse or is not absolute.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value cannot be sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The egress policy (SSRF guard) refused the URL or an address it resolved to.
    #[error("refused to connect to {host:?}{}: {reason}", address.map(|a| format!(" ({a})")).unwrap_or_default())]
    Refused {
        /// The URL's host (empty when it has none).
        host: String,
        /// The refused address, when the refusal is about an address.
        address: Option<IpAddr>,
        /// Why.
        reason: RefusalReason,
    },
    /// The request, including redirects and the body, did not finish in time.
    #[error("request timed out after {after:?}")]
    Timeout {
        /// The request's timeout.
        after: Duration,
    },
    /// No connection could be made (refused, unreachable, DNS failure, TLS handshake).
    #[error("could not connect to {host:?}: {message}")]
    Connect {
        /// The host.
        host: String,
        /// The underlying error chain.
        message: String,
    },
    /// The connection failed mid-exchange.
    #[error("network error talking to {host:?}: {message}")]
    Network {
        /// The host.
        host: String,
        /// The underlying error chain.
        message: String,
    },
    /// More redirects than the policy allows.
    #[error("too many redirects (more than {max})")]
    TooManyRedirects {
        /// The policy's limit.
        max: usize,
    },
    /// A redirect led back to a URL already requested.
    #[error("redirect loop: {url} was already requested")]
    RedirectLoop {
        /// The URL visited twice.
        url: String,
    },
    /// A redirect's `Location` is missing a usable URL.
    #[error("invalid redirect from {from}: {reason}")]
    InvalidRedirect {
        /// The URL that answered with the redirect.
        from: String,
        /// What is wrong with the `Location`.
        reason: String,
    },
    /// The server answered with a status the request did not expect; the response is recorded.
    #[error("unexpected HTTP status {} from {}", response.status, response.url)]
    Status {
        /// The recorded response.
        response: Box<HttpResponse>,
        /// `Retry-After` relative to when the response arrived, if present and valid.
        retry_after: Option<Duration>,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("HTTP client could not be built: {0}")]
    Client(String),
}

impl HttpError {
    /// Whether the engine should retry: network, connect and timeout errors, 5xx and 429 are
    /// retryable (with the server's `Retry-After` when it sent one); refusals, other 4xx,
    /// other unexpected statuses, redirect and request errors are not.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Timeout { .. } | Self::Connect { .. } | Self::Network { .. } => {
                Retry::Yes { after: None }
            }
            Self::Status {
                response,
                retry_after,
            } if response.status == 429 || (500..=599).contains(&response.status) => Retry::Yes {
                after: *retry_after,
            },
            Self::Status { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidRequest(_)
            | Self::Refused { .. }
            | Self::TooManyRedirects { .. }
            | Self::RedirectLoop { .. }
            | Self::InvalidRedirect { .. }
            | Self::Client(_) => Retry::No,
        }
    }

    /// The recorded response, for unexpected statuses.
    pub fn response(&self) -> Option<&HttpResponse> {
        match self {
            Self::Status { response, .. } => Some(response),
            _ => None,
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds (`"120"`) or an HTTP date, which is taken
/// relative to `now` (a date in the past gives zero). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap()
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("3", now()), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_dates_in_all_three_formats() {
        for value in [
            "Wed, 21 Oct 2015 07:28:30 GMT",
            "Wednesday, 21-Oct-15 07:28:30 GMT",
            "Wed Oct 21 07:28:30 2015",
        ] {
            assert_eq!(
                parse_retry_after(value, now()),
                Some(Duration::from_secs(30)),
                "{value}"
            );
        }
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage() {
        for value in [
            "",
            "-1",
            "1.5",
            "soon",
            "3 s",
            "Wed, 32 Oct 2015 07:28:30 GMT",
        ] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }
}
