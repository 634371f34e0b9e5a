//! `jobsprint replay export`: writes a tenant's sealed events as NDJSON,
//! one CloudEvents JSON object per line with its chain hashes, for an
//! auditor to verify on their own (`scripts/verify-export.py`).

use std::io::Write;

use anyhow::Context as _;
use clap::Args;
use replay::chain::ChainFilter;

use crate::config::DatabaseArgs;

/// Settings of `jobsprint replay export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant whose events are exported (a UUID).
    #[arg(long)]
    pub tenant: String,
    /// Only events recorded at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only events recorded before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Only this aggregate's events.
    #[arg(long)]
    pub aggregate: Option<String>,
    /// Write here instead of standard output.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

/// Runs `jobsprint replay export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let tenant = args.tenant.parse().context("--tenant is not a UUID")?;
    let filter = ChainFilter {
        from: args
            .from
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("--from is not an RFC 3339 time")?,
        to: args
            .to
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("--to is not an RFC 3339 time")?,
        aggregate_id: args.aggregate,
    };
    let pool = crate::connect(&args.database).await?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(&mut out);
    let summary = replay::export::export(&pool, tenant, &filter, &mut out)
        .await
        .context("exporting")?;
    drop(out);
    eprintln!("exported {} sealed events", summary.written);
    if summary.unsealed > 0 {
        eprintln!(
            "{} newer events are not sealed yet and were left out",
            summary.unsealed
        );
    }
    if summary.missing > 0 {
        eprintln!(
            "{} sealed events are missing from the store: run `jobsprint replay verify`",
            summary.missing
        );
    }
    Ok(())
}
