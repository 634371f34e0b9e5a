//! Jobsprint's domain: the workflow, integration and execution aggregates,
//! the identity aggregates, their commands, events and business rules, and
//! the access policy.
//!
//! Architecture invariant: this crate does no IO. It knows nothing about
//! PostgreSQL, HTTP, GraphQL, clocks or random number generators beyond id
//! constructors; everything it needs arrives inside a command.
//!
//! Code map:
//! - [`ids`]: typed identifiers.
//! - [`metadata`]: the metadata stored next to every event.
//! - [`command`]: the envelope (tenant, expected version) around every command.
//! - [`error`]: the error kinds shared by all aggregates.
//! - [`workflow`], [`integration`], [`execution`]: the three aggregates.
//! - [`identity`]: the tenant, user, API token and session aggregates.
//! - [`access`]: roles, scopes and the permissions they grant.
//! - [`upcast`]: older stored event versions read as the current ones.

pub mod access;
pub mod command;
pub mod error;
pub mod execution;
pub mod identity;
pub mod ids;
pub mod integration;
pub mod metadata;
pub mod upcast;
pub mod workflow;

mod digest;
mod text;

#[cfg(test)]
mod test_support;
