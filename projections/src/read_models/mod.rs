//! Read models: tables folded from events by projections, and the reads
//! the API answers from them. Queries read these tables only, never the
//! event store.

pub mod audit_log;
pub mod execution_queries;
pub mod execution_stats;
pub mod executions;
pub mod integration_queries;
pub mod integrations;
pub mod webhook_triggers;
pub mod workflow_queries;
pub mod workflows;
