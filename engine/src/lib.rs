//! The durable execution engine: it runs workflows by turning each step's
//! start and outcome into Execution events, so a run survives any crash
//! and continues where it was.
//!
//! - `intake`: a projection of Execution events into `engine_executions`
//!   (what needs a worker, and when), waking idle workers by NOTIFY.
//! - `queue`: claims with `FOR UPDATE SKIP LOCKED` and leases; renewal,
//!   release, takeover after a dead process's leases expire.
//! - `driver`: drives one execution: fold its events, plan with the pure
//!   `domain::execution::plan`, carry the actions out, record outcomes.
//! - `nodes`: the work of each node type.
//! - `worker`: the process: intake, triggers, claim loop, renewal,
//!   shutdown.
//! - `triggers`: schedules (cron with time zone and catch-up) and event
//!   triggers, each firing once however many processes run.
//! - `breaker`: circuit breakers per integration, their transitions
//!   recorded as Integration events.
//!
//! **Architecture invariant:** nothing here decides what runs next; the
//! domain's planner does, from the events. The engine's tables hold no fact
//! that is not in the events.

pub mod breaker;
pub mod clock;
mod driver;
pub mod intake;
pub mod nodes;
pub mod queue;
pub mod store;
pub mod triggers;
pub mod worker;

pub use clock::Clock;
pub use worker::{Engine, EngineConfig};
