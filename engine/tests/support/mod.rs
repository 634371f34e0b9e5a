//! Shared setup of the engine tests: an engine on the test database, a
//! published workflow from JSON, starting an execution and waiting for its
//! end, and a local stub HTTP server that counts what it receives.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use axum::Router;
use commands::executions::StartExecution;
use commands::{CommandConfig, CommandContext, Commands};
use domain::execution::{ExecutionTrigger, Run};
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use engine::nodes::NodeSettings;
use engine::{Clock, Engine, EngineConfig};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running engine and what the test needs around it.
pub struct Harness {
    pub pool: PgPool,
    pub commands: Arc<Commands>,
    pub clock: Clock,
    pub ctx: CommandContext,
    engines: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
}

/// The config of test engines: short leases and polls, and `http` nodes
/// allowed to reach the local stubs.
pub fn test_config() -> EngineConfig {
    let nodes = NodeSettings {
        egress: egress::EgressPolicy::permissive(),
        ..NodeSettings::default()
    };
    EngineConfig {
        lease: Duration::from_secs(2),
        idle_poll: Duration::from_millis(500),
        failure_pause: Duration::from_millis(200),
        nodes,
        ..EngineConfig::default()
    }
}

impl Harness {
    /// `engines` engine processes (tasks) on one clock.
    pub async fn start(pool: PgPool, engines: usize, config: EngineConfig) -> Harness {
        Harness::start_with(pool, engines, config, CommandConfig::default()).await
    }

    /// Like [`Harness::start`], with a fresh master key, so integrations can
    /// hold credentials.
    pub async fn start_with_secrets(pool: PgPool, engines: usize, config: EngineConfig) -> Harness {
        let key = commands::secrets::generate_key();
        let master =
            commands::secrets::master::MasterKeys::new("k-test", [("k-test".to_owned(), key)])
                .expect("a generated key is valid");
        let keys = commands::secrets::data_keys::DataKeys::new(pool.clone(), master);
        let commands = CommandConfig {
            secrets: Some(Arc::new(keys)),
            ..CommandConfig::default()
        };
        Harness::start_with(pool, engines, config, commands).await
    }

    /// `engines` engine processes over a command layer set up by `commands`.
    pub async fn start_with(
        pool: PgPool,
        engines: usize,
        config: EngineConfig,
        commands: CommandConfig,
    ) -> Harness {
        // Each engine keeps a few LISTEN connections (its wake-ups, its
        // intake's and its triggers' store sources) for its whole life:
        // the test database's default pool is too small for two of them.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(60)
            .connect_with((*pool.connect_options()).clone())
            .await
            .expect("a wider pool on the test database");
        let commands = Arc::new(Commands::new(pool.clone(), commands));
        let mut harness = Harness {
            pool,
            commands,
            clock: Clock::system(),
            ctx: CommandContext::new(TenantId::DEFAULT, "test"),
            engines: Vec::new(),
        };
        for _ in 0..engines {
            harness.add_engine(config.clone());
        }
        harness
    }

    /// Starts one more engine.
    pub fn add_engine(&mut self, config: EngineConfig) {
        let engine = Engine::new(
            self.pool.clone(),
            self.commands.clone(),
            config,
            self.clock.clone(),
        );
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
                .expect("the engine runs");
        });
        self.engines.push((stop, task));
    }

    /// Nodes as an engine process of this harness runs them (on its clock,
    /// writing through its commands), for calling them one at a time.
    pub fn nodes(&self, settings: NodeSettings) -> engine::nodes::Nodes {
        engine::nodes::Nodes::new(settings)
            .with_integrations(self.commands.clone(), self.clock.clone())
    }

    /// Stops every engine gracefully.
    pub async fn stop(&mut self) {
        for (stop, task) in self.engines.drain(..) {
            let _ = stop.send(true);
            task.await.unwrap();
        }
    }

    /// Creates and publishes a workflow with this definition.
    pub async fn workflow(&self, definition: Value) -> WorkflowId {
        let definition = WorkflowDefinition::parse(&definition).expect("a valid definition");
        let id = WorkflowId::new_v7();
        let create = WorkflowCommand::Create {
            name: "test".into(),
            description: String::new(),
            definition,
        };
        self.commands
            .execute_workflow(&self.ctx, id, create, None)
            .await
            .unwrap();
        let publish = WorkflowCommand::Publish { version: 1 };
        self.commands
            .execute_workflow(&self.ctx, id, publish, None)
            .await
            .unwrap();
        id
    }

    /// Starts an execution of `workflow` by hand.
    pub async fn start_execution(&self, workflow: WorkflowId, input: Value) -> ExecutionId {
        let outcome = self
            .commands
            .start_execution(
                &self.ctx,
                StartExecution {
                    workflow_id: workflow,
                    input,
                    trigger: ExecutionTrigger::Manual,
                    idempotency_key: None,
                },
            )
            .await
            .unwrap();
        ExecutionId(outcome.aggregate_id.parse().unwrap())
    }

    /// The execution as its events tell it now.
    pub async fn run(&self, id: ExecutionId) -> Run {
        let mut run = Run::default();
        engine::store::catch_up(&self.pool, id, &mut run)
            .await
            .unwrap();
        run
    }

    /// Waits (at most `limit`) until the execution has ended.
    pub async fn finished(&self, id: ExecutionId, limit: Duration) -> Run {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let run = self.run(id).await;
            if run.is_finished() {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution {id} did not end within {limit:?}; its steps: {:?}",
                run.steps
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `check` holds for the execution.
    pub async fn until(
        &self,
        id: ExecutionId,
        limit: Duration,
        check: impl Fn(&Run) -> bool,
    ) -> Run {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let run = self.run(id).await;
            if check(&run) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the awaited state did not come within {limit:?}; steps: {:?}",
                run.steps
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What a stub answers: a list of (status, body, extra headers) per path,
/// consumed in order; the last answer repeats.
pub type Script = Vec<(u16, Value, Vec<(&'static str, &'static str)>)>;

/// A local HTTP server standing in for a third party.
#[derive(Clone, Default)]
pub struct Stub {
    state: Arc<Mutex<StubState>>,
}

#[derive(Default)]
struct StubState {
    scripts: HashMap<String, Script>,
    hits: HashMap<String, usize>,
    /// Idempotency keys seen, with how many times.
    keys: HashMap<String, usize>,
    bodies: Vec<(String, String)>,
}

impl Stub {
    /// Answers `path` (without the leading slash) by `script`.
    pub fn script(&self, path: &str, script: Script) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), script);
    }

    /// Requests received on `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every idempotency key received, with its count.
    pub fn keys(&self) -> HashMap<String, usize> {
        self.state.lock().unwrap().keys.clone()
    }

    /// Serves the stub; its base URL.
    pub async fn serve(&self) -> String {
        let app = Router::new()
            .route("/{*path}", any(answer))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}

async fn answer(
    State(stub): State<Stub>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let mut state = stub.state.lock().unwrap();
    let hit = {
        let hits = state.hits.entry(path.clone()).or_default();
        *hits += 1;
        *hits
    };
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        *state.keys.entry(key.to_owned()).or_default() += 1;
    }
    state.bodies.push((path.clone(), body));
    let script = state.scripts.get(&path).cloned().unwrap_or_default();
    let Some((status, body, extra)) = script.get(hit - 1).or(script.last()).cloned() else {
        return (StatusCode::NOT_FOUND, HeaderMap::new(), "no script".into());
    };
    let mut answer = HeaderMap::new();
    answer.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in extra {
        answer.insert(name, value.parse().unwrap());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        answer,
        body.to_string(),
    )
}

/// The test settings of trigger runners: short leases, polls and pauses.
pub fn trigger_config() -> engine::triggers::TriggerConfig {
    engine::triggers::TriggerConfig {
        lease: Duration::from_secs(10),
        idle_poll: Duration::from_millis(300),
        retry_pause: Duration::from_millis(200),
        ..engine::triggers::TriggerConfig::default()
    }
}

impl Harness {
    /// Starts one more trigger runner (projection, scheduler, dispatcher)
    /// with its own command layer, as another process would, on the
    /// harness's clock; `stop` stops it.
    pub fn add_triggers(&mut self, config: engine::triggers::TriggerConfig) {
        let pool = self.pool.clone();
        let commands = Arc::new(Commands::new(pool.clone(), CommandConfig::default()));
        let clock = self.clock.clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            engine::triggers::run_with(pool, commands, clock, config, shutdown)
                .await
                .expect("the triggers run");
        });
        self.engines.push((stop, task));
    }
}
