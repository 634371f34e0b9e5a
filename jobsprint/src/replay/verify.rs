//! `jobsprint replay verify`: walks every tenant's hash chain (or one
//! tenant's), recomputes each hash from the stored events and reports the
//! first broken link per tenant; exits non-zero when one is broken.

use anyhow::Context as _;
use clap::Args;

use crate::config::DatabaseArgs;

/// Settings of `jobsprint replay verify`.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only this tenant's chain (a UUID; the nil UUID is the chain of
    /// events without a tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seal every committed event first (when no `serve` runs the sealer).
    #[arg(long)]
    pub seal: bool,
}

/// Runs `jobsprint replay verify`.
pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let tenant = args
        .tenant
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--tenant is not a UUID")?;
    let pool = crate::connect(&args.database).await?;
    if args.seal {
        let sealer = replay::chain::seal::Sealer::new(pool.clone(), Default::default());
        let sealed = sealer.seal_all().await.context("sealing")?;
        tracing::info!(sealed, "sealed the committed events");
    }
    let report = replay::chain::verify::verify(&pool, tenant)
        .await
        .context("verifying the hash chain")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if !report.ok {
        // The report is the message: exit non-zero without an error trace.
        std::process::exit(1);
    }
    Ok(())
}
