//! Read-your-writes: every query takes `consistentWith: <position>` (the
//! position a mutation answered) and waits, bounded, until the read models it
//! reads have handled that event; otherwise it answers `STALE` with the lag.

use std::time::Duration;

use async_graphql::{Context, Error, ErrorExtensions};
use projections::status::{wait_for_position, WaitError};
use sqlx::PgPool;

use super::errors::{coded, internal, ErrorCode};
use super::scalars::BigInt;
use crate::caller::Caller;

/// How long a query waits for its read models by default.
pub const DEFAULT_CONSISTENCY_WAIT: Duration = Duration::from_secs(5);

/// The wait bound, set on the schema as data (defaults to
/// [`DEFAULT_CONSISTENCY_WAIT`] when absent).
#[derive(Debug, Clone, Copy)]
pub struct ConsistencyWait(pub Duration);

/// Waits until every projection in `projections` has reached
/// `consistent_with` (no wait when it is `None` or 0). Errors: `STALE` with
/// `extensions.position`, `extensions.reached` and `extensions.projection`
/// when time runs out or a projection is halted; `VALIDATION` for a
/// position no event has.
pub(crate) async fn await_read_models(
    ctx: &Context<'_>,
    consistent_with: Option<BigInt>,
    projections: &[&str],
) -> async_graphql::Result<()> {
    let Some(BigInt(position)) = consistent_with else {
        return Ok(());
    };
    if position < 0 {
        return Err(coded(
            ErrorCode::Validation,
            format!("consistentWith must be a position (0 or more), got {position}"),
        ));
    }
    let pool = ctx.data::<PgPool>()?;
    let wait = ctx
        .data_opt::<ConsistencyWait>()
        .map_or(DEFAULT_CONSISTENCY_WAIT, |w| w.0);
    let deadline = tokio::time::Instant::now() + wait;
    for projection in projections {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(err) = wait_for_position(pool, projection, position, left).await {
            return Err(wait_error(ctx, err));
        }
    }
    Ok(())
}

fn wait_error(ctx: &Context<'_>, err: WaitError) -> Error {
    match err {
        WaitError::UnknownPosition(position) => coded(
            ErrorCode::Validation,
            format!("consistentWith: no event has position {position}"),
        ),
        WaitError::Timeout {
            projection,
            position,
            reached,
        } => stale(
            format!(
                "the read model {projection} is at position {reached}, behind {position}: \
                 answer not given (STALE); retry, or query without consistentWith"
            ),
            &projection,
            position,
            reached,
        ),
        WaitError::Halted {
            projection,
            state,
            error,
        } => stale(
            format!("the read model {projection} is {state} and will not reach it: {error}"),
            &projection,
            0,
            0,
        ),
        WaitError::Database(err) => {
            let trace_id = ctx
                .data_opt::<Caller>()
                .map(|c| c.trace_id.clone())
                .unwrap_or_default();
            internal(&err, &trace_id)
        }
    }
}

fn stale(message: String, projection: &str, position: i64, reached: i64) -> Error {
    let lag = (position - reached).max(0);
    coded(ErrorCode::Stale, message).extend_with(|_, ext| {
        ext.set("projection", projection);
        ext.set("position", position.to_string());
        ext.set("reached", reached.to_string());
        ext.set("lagPositions", lag.to_string());
    })
}
