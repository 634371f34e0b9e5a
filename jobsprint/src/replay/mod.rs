//! `jobsprint replay`: the auditors' and operators' tools over the event
//! store. Each subcommand lives in its own module with its arguments.

mod export;
mod rebuild;
mod state;
mod verify;

use clap::Subcommand;

/// Replay, audit and compliance tasks.
#[derive(Subcommand)]
pub enum ReplayCommand {
    /// Rebuilds read models from the event store into shadow tables while
    /// the live ones keep serving, then swaps them in atomically.
    Rebuild(rebuild::RebuildArgs),
    /// Prints the state of one aggregate as of a time or a position.
    State(state::StateArgs),
    /// Walks the events' hash chain and reports the first broken link.
    Verify(verify::VerifyArgs),
    /// Writes a tenant's events as NDJSON CloudEvents with their chain hashes.
    Export(export::ExportArgs),
}

/// Runs one replay task.
pub async fn run(command: ReplayCommand) -> anyhow::Result<()> {
    match command {
        ReplayCommand::Rebuild(args) => rebuild::run(args).await,
        ReplayCommand::State(args) => state::run(args).await,
        ReplayCommand::Verify(args) => verify::run(args).await,
        ReplayCommand::Export(args) => export::run(args).await,
    }
}
