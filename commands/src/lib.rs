//! Jobsprint's write side: cqrs-es frameworks for the Workflow, Integration
//! and Execution aggregates over the PostgreSQL event store.
//!
//! Every command carries an id (deduplicated through `command_log`), an
//! optional expected version (a stale one is a conflict) and the metadata
//! that ties its events to a tenant, an actor, a cause and a trace.

pub mod cache;
pub mod context;
pub mod error;
pub mod event_store;
pub mod executions;
pub mod identity;
pub mod integrations;
pub mod migrate;
pub mod personal;
pub mod reads;
pub mod secrets;
pub mod service;
pub mod store;
pub mod upcast;
pub mod webhooks;
pub mod workflows;
mod write_scope;

pub use context::CommandContext;
pub use error::CommandError;
pub use service::{CommandConfig, CommandOutcome, Commands};
