//! Jobsprint's HTTP surface: GraphQL at `/graphql`, webhook deliveries at
//! `/webhooks/{triggerId}`, health, readiness and Prometheus metrics.
//! `app()` builds the whole router so tests can drive it directly or
//! through a real socket.

pub mod caller;
pub mod config;
pub mod graphql;
mod http;
pub mod limits;
pub mod rate_limit;
pub mod webhooks;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use commands::identity::Identity;
use commands::Commands;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

pub use config::ApiConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The write side.
    pub commands: Arc<Commands>,
    /// Sign-in, tokens and request authentication.
    pub identity: Arc<Identity>,
    /// The database, for reads.
    pub pool: PgPool,
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The GraphQL schema.
    pub schema: graphql::JobsprintSchema,
    /// Request rate limiters.
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// Most operations in one batched GraphQL request.
    pub max_batch: usize,
}

impl AppState {
    /// State for a server over `pool` and `commands`.
    pub fn new(
        config: &ApiConfig,
        pool: PgPool,
        identity: Arc<Identity>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let commands = identity.commands().clone();
        let schema = graphql::schema(config, pool.clone(), identity.clone());
        Self {
            commands,
            identity,
            pool,
            metrics,
            schema,
            rate_limits: rate_limit::RateLimits::new(config.rate_per_ip, config.rate_per_caller),
            max_batch: config.graphql_max_batch,
        }
    }
}

/// The whole HTTP application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so per-IP rate
/// limits apply.
pub fn app(config: &ApiConfig, state: AppState) -> Router {
    let rate_limits = state.rate_limits.clone();
    let body_limited = Router::new()
        .route(
            "/graphql",
            get(graphql::graphiql).post(graphql::graphql_handler),
        )
        .route(
            "/graphql/ws",
            get(graphql::executions_subscription::graphql_ws),
        )
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            config.body_limit_bytes,
        ));
    Router::new()
        .merge(body_limited)
        // Webhooks have their own body limit and answer it in JSON.
        .merge(webhooks::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            rate_limits,
            rate_limit::per_ip,
        ))
        .layer(axum::middleware::from_fn(http::observe))
}
