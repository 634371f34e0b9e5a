//! `jobsprint replay state <aggregate-type> <id> --at <time|position>`: the
//! state of one aggregate as of a moment, folded from its events, as JSON.

use clap::Args;
use replay::state::{self, At};

use crate::config::DatabaseArgs;

/// Settings of `jobsprint replay state`.
#[derive(Args)]
pub struct StateArgs {
    /// Workflow, Execution, Integration, Tenant, User, ApiToken or Session.
    pub aggregate_type: String,
    /// The aggregate's id.
    pub id: String,
    /// An RFC 3339 time or a global position (what mutations answer as
    /// `position`); the latest state when left out.
    #[arg(long)]
    pub at: Option<At>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Runs `jobsprint replay state`.
pub async fn run(args: StateArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let pool = crate::connect(&args.database).await?;
    let at = args.at.unwrap_or(At::Position(i64::MAX));
    let found = state::state_at(&pool, &args.aggregate_type, &args.id, at, None).await?;
    pool.close().await;
    let Some(found) = found else {
        let moment = args.at.map(|at| format!(" as of {at}")).unwrap_or_default();
        anyhow::bail!("{} {} has no event{moment}", args.aggregate_type, args.id);
    };
    println!("{}", serde_json::to_string_pretty(&found)?);
    Ok(())
}
