//! The execution engine in this process: its settings (`JOBSPRINT_ENGINE*`,
//! `JOBSPRINT_EGRESS_*`, `JOBSPRINT_CODE_*`) and its task. `serve` runs
//! it next to the API; `jobsprint engine` runs it alone, so engines scale
//! apart from the API. Several engine processes may run at once.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use commands::Commands;
use engine::nodes::NodeSettings;
use engine::{Clock, Engine, EngineConfig};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Settings of the execution engine.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Whether `serve` also runs the execution engine.
    #[arg(long = "engine", env = "JOBSPRINT_ENGINE", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// How long an execution stays claimed by a process that stopped
    /// renewing (its takeover delay after a crash), in ms.
    #[arg(long, env = "JOBSPRINT_ENGINE_LEASE_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(300..))]
    pub engine_lease_ms: u64,
    /// Executions one process drives at once.
    #[arg(long, env = "JOBSPRINT_ENGINE_MAX_IN_FLIGHT", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub engine_max_in_flight: u64,
    /// Lets `http` nodes reach loopback, private and link-local addresses
    /// (refused by default: SSRF). Cloud metadata host names stay refused.
    #[arg(long, env = "JOBSPRINT_EGRESS_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub egress_allow_private: bool,
    /// CPU time a `code` node's script may use, in ms.
    #[arg(long, env = "JOBSPRINT_CODE_CPU_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub code_cpu_ms: u64,
    /// Memory a `code` node's script may allocate, in MiB.
    #[arg(long, env = "JOBSPRINT_CODE_MEMORY_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub code_memory_mb: u64,
}

impl EngineArgs {
    /// The engine's configuration.
    pub fn config(&self) -> EngineConfig {
        let defaults = engine::nodes::CodeLimits::default();
        let cpu_time = Duration::from_millis(self.code_cpu_ms);
        let code = engine::nodes::CodeLimits {
            cpu_time,
            wall_time: defaults.wall_time.max(cpu_time * 5),
            memory_bytes: (self.code_memory_mb as usize) * 1024 * 1024,
            ..defaults
        };
        EngineConfig {
            lease: Duration::from_millis(self.engine_lease_ms),
            max_in_flight: self.engine_max_in_flight as usize,
            nodes: NodeSettings {
                egress: egress::EgressPolicy::new(self.egress_allow_private),
                code,
            },
            ..EngineConfig::default()
        }
    }
}

/// A running engine.
pub struct EngineTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the engine on `pool`, writing through `commands`.
pub fn start(pool: &PgPool, commands: Arc<Commands>, args: &EngineArgs) -> EngineTask {
    let engine = Engine::new(pool.clone(), commands, args.config(), Clock::system());
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(err) = engine.run(shutdown).await {
            tracing::error!(error = %err, "the engine ended");
        }
    });
    EngineTask { stop, task }
}

impl EngineTask {
    /// Stops the engine: drives in flight get a grace period, then its
    /// claims are handed back for other processes.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
