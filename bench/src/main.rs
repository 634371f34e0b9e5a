//! `make bench`: Jobsprint's benchmark scenarios against the real database,
//! printed as one table.
//!
//! 1. Commands per second through the command layer with 1, 8 and 32
//!    clients, next to the same machine's raw PostgreSQL insert rate for
//!    rows of the same size, measured in the same run (goal: ≥ 0.7 of raw).
//! 2. Command latency on an aggregate with 10 events and with 10,000 events
//!    (goal: p50 ratio < 1.2).
//! 3. Commit-to-query lag of the read models at half the best measured
//!    command rate, through Kafka and through the store source (goal via
//!    Kafka: p50 ≤ 10 ms, p99 ≤ 50 ms).
//! 4. The execution engine: 40 sequential no-op steps, per-step overhead,
//!    executions per second, idle CPU.
//! 5. A full rebuild of every read model from 1,000,000 events, next to the
//!    raw scan-and-upsert rate (goal: ≥ 50,000 events/s, ≥ 0.5 of raw).

mod engine;
mod lag;
mod latency;
mod rebuild;
mod setup;
mod throughput;

/// mimalloc: folding and serving allocate a small map or string per JSON
/// field of every event, where glibc's allocator spends a tenth of the
/// process's time (docs/adr/0015-rebuilds.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

/// Benchmark settings.
#[derive(Parser, Debug)]
#[command(name = "jobsprint-bench")]
struct Args {
    /// The server to benchmark on; a `jobsprint_bench` database is (re)made there.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Seconds each throughput measurement runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Client counts for the throughput scenario.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Events in the long-lived aggregate of the latency scenario.
    #[arg(long, default_value_t = 10_000)]
    long_events: usize,
    /// Commands timed per aggregate size in the latency scenario.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Load of the lag scenario in commands/s (default: half the best rate
    /// measured by the throughput scenario).
    #[arg(long)]
    lag_rate: Option<f64>,
    /// The broker of the lag scenario via Kafka (skipped when unset).
    #[arg(long, env = "KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// The projectors' `fetch.wait.max.ms` in the lag scenario via Kafka (as
    /// `serve` takes it).
    #[arg(long, env = "JOBSPRINT_KAFKA_FETCH_WAIT_MS", default_value_t = 5)]
    kafka_fetch_wait_ms: u64,
    /// Runs of the 40-step execution in the engine scenario.
    #[arg(long, default_value_t = 20)]
    engine_runs: usize,
    /// Small executions started at once in the engine scenario.
    #[arg(long, default_value_t = 500)]
    engine_burst: usize,
    /// The `jobsprint` binary whose idle engine is measured.
    #[arg(long, default_value = "target/release/jobsprint")]
    engine_binary: std::path::PathBuf,
    /// Seconds the idle engine is watched.
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// Events in the store of the rebuild scenario.
    #[arg(long, default_value_t = 1_000_000)]
    rebuild_events: usize,
    /// The scenarios to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput,latency,lag,engine,rebuild"
    )]
    scenarios: Vec<String>,
}

impl Args {
    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

/// One printed row.
pub struct Row {
    scenario: String,
    measured: String,
    baseline: String,
    ratio: f64,
    goal: &'static str,
    met: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = setup::fresh_database(
        &args.database_url,
        args.clients.iter().copied().max().unwrap_or(1),
    )
    .await?;
    let mut rows = Vec::new();
    let mut best_rate: f64 = 0.0;
    if args.runs("throughput") {
        eprintln!("bench: throughput, {} s per measurement", args.seconds);
        for &clients in &args.clients {
            let (row, rate) = throughput::run(&pool, clients, args.seconds).await?;
            best_rate = best_rate.max(rate);
            rows.push(row);
        }
    }
    if args.runs("latency") {
        eprintln!("bench: latency, 10 vs {} events", args.long_events);
        rows.extend(latency::run(&pool, args.long_events, args.samples).await?);
    }
    if args.runs("lag") {
        lag_scenarios(&args, &pool, best_rate, &mut rows).await?;
    }
    if args.runs("engine") {
        eprintln!("bench: execution engine");
        rows.extend(engine::run(&pool, args.engine_runs, args.engine_burst).await?);
        if args.engine_binary.exists() {
            let url = setup::bench_url(&args.database_url);
            rows.push(engine::idle(&pool, &args.engine_binary, &url, args.idle_seconds).await?);
        } else {
            eprintln!(
                "bench: {} missing (build it with `cargo build --release --bin jobsprint`): no idle measurement",
                args.engine_binary.display()
            );
        }
    }
    if args.runs("rebuild") {
        eprintln!(
            "bench: rebuild of every read model from {} events",
            args.rebuild_events
        );
        rows.extend(rebuild::run(&pool, args.rebuild_events).await?);
    }
    print_table(&rows);
    Ok(())
}

/// The lag scenarios, via the store and (with brokers) via Kafka, at half
/// the best command rate measured (or `--lag-rate`).
async fn lag_scenarios(
    args: &Args,
    pool: &sqlx::PgPool,
    best_rate: f64,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let load = args.lag_rate.unwrap_or(if best_rate > 0.0 {
        best_rate / 2.0
    } else {
        500.0
    });
    eprintln!("bench: read-model lag at {load:.0} commands/s, via the store");
    rows.extend(lag::run(pool, lag::Via::Store, load, args.seconds).await?);
    match &args.kafka_brokers {
        Some(brokers) => {
            let run = uuid::Uuid::new_v4().simple().to_string();
            let settings = stream::kafka::KafkaSettings::new(brokers)
                .with_topic(format!("bench.events.{run}"))
                .with_group_prefix(format!("bench.{run}"))
                .with_fetch_wait(std::time::Duration::from_millis(args.kafka_fetch_wait_ms));
            eprintln!("bench: read-model lag at {load:.0} commands/s, via Kafka at {brokers}");
            rows.extend(lag::run(pool, lag::Via::Kafka(settings), load, args.seconds).await?);
        }
        None => eprintln!("bench: KAFKA_BROKERS unset: no lag measurement via Kafka"),
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    let header = ["scenario", "measured", "baseline", "ratio", "goal", "met"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.measured.clone(),
                r.baseline.clone(),
                format!("{:.2}", r.ratio),
                r.goal.to_owned(),
                if r.met { "yes" } else { "NO" }.to_owned(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: [&str; 6]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header);
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for c in &cells {
        line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]);
    }
}
