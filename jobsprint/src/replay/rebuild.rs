//! `jobsprint replay rebuild <projection>|--all`: read models rebuilt from
//! the event store into shadow tables and swapped in, with a progress bar
//! (events per second, time left) or JSON lines for machines.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use projections::projector::PoisonPolicy;
use replay::rebuild::{self, Progress, RebuildOptions, RebuildReport, REBUILDABLE};
use serde_json::json;

use crate::config::DatabaseArgs;

/// Settings of `jobsprint replay rebuild`.
#[derive(Args)]
pub struct RebuildArgs {
    /// The projection to rebuild (workflows, executions, integrations,
    /// audit_log).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub projection: Option<String>,
    /// Rebuild every rebuildable projection, from one read of the store.
    #[arg(long)]
    pub all: bool,
    /// Print progress and the result as JSON lines instead of a bar.
    #[arg(long)]
    pub json: bool,
    /// Events per shadow transaction.
    #[arg(long, default_value_t = 2_000)]
    pub batch_size: usize,
    /// What an event the projection cannot apply does: `stop` fails the
    /// rebuild (the live tables stay), `skip` dead-letters it and goes on.
    #[arg(long, value_enum, default_value_t = OnPoison::Stop)]
    pub on_poison: OnPoison,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `--on-poison`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnPoison {
    /// Fail the rebuild.
    Stop,
    /// Dead-letter the event and go on.
    Skip,
}

/// Runs `jobsprint replay rebuild`.
pub async fn run(args: RebuildArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let names: Vec<String> = match &args.projection {
        Some(name) => vec![name.clone()],
        None => REBUILDABLE.iter().map(|name| (*name).to_owned()).collect(),
    };
    if let Some(unknown) = names
        .iter()
        .find(|name| !REBUILDABLE.contains(&name.as_str()))
    {
        anyhow::bail!(
            "'{unknown}' is not a rebuildable projection (rebuildable: {})",
            REBUILDABLE.join(", ")
        );
    }
    let pool = crate::connect(&args.database).await?;
    let options = RebuildOptions {
        batch_size: args.batch_size.max(1),
        on_poison: match args.on_poison {
            OnPoison::Stop => PoisonPolicy::Stop,
            OnPoison::Skip => PoisonPolicy::Skip,
        },
        ..RebuildOptions::default()
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = if args.json {
        rebuild_json(&pool, &names, &options).await
    } else {
        rebuild_with_bar(&pool, &names, &options).await
    }
    .context("rebuilding; the live tables are untouched")?;
    let mut failed = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match (result, args.json) {
            (Ok(report), true) => println!(
                "{}",
                json!({"projection": report.projection, "state": "succeeded",
                       "events": report.events, "seconds": report.elapsed.as_secs_f64(),
                       "eventsPerSecond": report.events_per_second().round()})
            ),
            (Ok(report), false) => println!(
                "{}: {} events in {:.1} s ({:.0} events/s), swapped in",
                report.projection,
                report.events,
                report.elapsed.as_secs_f64(),
                report.events_per_second()
            ),
            (Err(err), json) => {
                if json {
                    println!(
                        "{}",
                        json!({"projection": name, "state": "failed", "error": err.to_string()})
                    );
                }
                eprintln!("rebuilding {name} failed; its live tables are untouched: {err}");
                failed.push(*name);
            }
        }
    }
    pool.close().await;
    if !failed.is_empty() {
        anyhow::bail!("not rebuilt: {}", failed.join(", "));
    }
    Ok(())
}

/// One rebuild, or several from one read of the store.
async fn rebuild_some(
    pool: &sqlx::PgPool,
    names: &[&str],
    options: &RebuildOptions,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Vec<Result<RebuildReport, rebuild::RebuildError>>> {
    Ok(match names {
        [name] => vec![rebuild::rebuild(pool, name, options, on_progress).await],
        names => rebuild::rebuild_all(pool, names, options, on_progress).await?,
    })
}

async fn rebuild_with_bar(
    pool: &sqlx::PgPool,
    names: &[&str],
    options: &RebuildOptions,
) -> anyhow::Result<Vec<Result<RebuildReport, rebuild::RebuildError>>> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    bar.set_prefix(label(names));
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut update = |progress: Progress| {
        bar.set_length(progress.events_total);
        bar.set_position(progress.events_done);
    };
    let result = rebuild_some(pool, names, options, &mut update).await;
    bar.finish_and_clear();
    result
}

async fn rebuild_json(
    pool: &sqlx::PgPool,
    names: &[&str],
    options: &RebuildOptions,
) -> anyhow::Result<Vec<Result<RebuildReport, rebuild::RebuildError>>> {
    let name = label(names);
    let started = std::time::Instant::now();
    let mut last = started;
    let mut print = |progress: Progress| {
        if last.elapsed() < Duration::from_millis(500) {
            return;
        }
        last = std::time::Instant::now();
        let seconds = started.elapsed().as_secs_f64();
        let rate = progress.events_done as f64 / seconds.max(1e-9);
        let left = progress.events_total.saturating_sub(progress.events_done) as f64;
        println!(
            "{}",
            json!({"projection": name, "state": "running", "eventsDone": progress.events_done,
                   "eventsTotal": progress.events_total, "eventsPerSecond": rate.round(),
                   "secondsLeft": (left / rate.max(1e-9)).round()})
        );
    };
    rebuild_some(pool, names, options, &mut print).await
}

/// What progress is shown for: the projection, or `all` for a shared pass.
fn label(names: &[&str]) -> String {
    match names {
        [name] => (*name).to_owned(),
        _ => "all".to_owned(),
    }
}
