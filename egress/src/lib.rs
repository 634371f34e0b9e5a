//! Jobsprint's outbound HTTP, used by the http node.
//!
//! - [`EgressPolicy`] is the SSRF guard: http and https only, denied host names refused, and
//!   every address a request would connect to (IP literals before the hop, resolved addresses
//!   inside the connection's resolver, each host resolved once) must be public unless the
//!   policy allows private networks or lists an exception. Redirects are followed by hand and
//!   every hop is checked again.
//! - [`Client::send`] sends an [`HttpRequest`] and records an [`HttpResponse`] with a streamed,
//!   capped body read.
//! - [`HttpError::retry`] classifies failures; [`backoff`] and [`next_delay`] turn that into
//!   a delay, honouring `Retry-After` ([`parse_retry_after`]).

mod backoff;
mod client;
mod error;
mod policy;
mod request;
mod resolver;

pub use backoff::{backoff, next_delay, BackoffConfig};
pub use client::{Client, ClientOptions};
pub use error::{parse_retry_after, HttpError, Retry};
pub use ipnet::IpNet;
pub use policy::{
    classify, AllowedTarget, EgressPolicy, RefusalReason, DEFAULT_DENIED_HOSTS,
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES,
};
pub use request::{
    BodyEncoding, HttpRequest, HttpResponse, Method, RequestBody, StatusRange, DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
};
pub use url::Url;
