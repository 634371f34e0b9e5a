//! Replay, audit and compliance: what auditors and operators run against
//! the event store (never against Kafka retention).
//!
//! - [`chain`]: the events' hash chain: the sealer and its verification.
//! - [`record`]: the audit record (a CloudEvents JSON object) each chain
//!   hash covers, and [`canonical`], the JSON text it is hashed as.
//! - [`export`]: NDJSON exports of a tenant's events with their chain hashes.
//! - [`rebuild`]: read models rebuilt into shadow tables, then swapped in.
//! - [`state`]: time travel: an aggregate's state as of a time or position.

pub mod canonical;
pub mod chain;
pub mod export;
pub mod rebuild;
pub mod record;
pub mod state;
