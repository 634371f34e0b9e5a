//! Typed settings of the HTTP layer, filled in by the binary.

/// Limits and switches of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Deepest accepted GraphQL selection.
    pub graphql_max_depth: usize,
    /// Highest accepted GraphQL query complexity.
    pub graphql_max_complexity: usize,
    /// Whether the schema can be introspected.
    pub introspection: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            graphql_max_depth: 12,
            graphql_max_complexity: 500,
            introspection: true,
        }
    }
}
