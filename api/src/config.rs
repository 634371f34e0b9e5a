//! Typed settings of the HTTP layer, filled in by the binary.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::graphql::consistency::DEFAULT_CONSISTENCY_WAIT;
use crate::rate_limit::RateQuota;

/// Limits and switches of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Deepest accepted GraphQL selection.
    pub graphql_max_depth: usize,
    /// Highest accepted GraphQL query complexity.
    pub graphql_max_complexity: usize,
    /// Most aliased fields in one document.
    pub graphql_max_aliases: usize,
    /// Most root fields in one operation.
    pub graphql_max_root_fields: usize,
    /// Most operations in one batched request.
    pub graphql_max_batch: usize,
    /// Whether the schema can be introspected.
    pub introspection: bool,
    /// Requests per client IP.
    pub rate_per_ip: RateQuota,
    /// Requests per authenticated caller.
    pub rate_per_caller: RateQuota,
    /// How long a query with `consistentWith` waits for its read models
    /// before answering `STALE`.
    pub consistency_wait: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            graphql_max_depth: 12,
            graphql_max_complexity: 500,
            graphql_max_aliases: 30,
            graphql_max_root_fields: 20,
            graphql_max_batch: 10,
            introspection: true,
            rate_per_ip: RateQuota {
                per_second: nonzero(200),
                burst: nonzero(400),
            },
            rate_per_caller: RateQuota {
                per_second: nonzero(100),
                burst: nonzero(200),
            },
            consistency_wait: DEFAULT_CONSISTENCY_WAIT,
        }
    }
}

/// A non-zero constant.
pub fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a non-zero constant")
}
