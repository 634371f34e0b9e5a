//! NDJSON exports of a tenant's events with their chain hashes: one
//! CloudEvents JSON object per line ([`crate::record`]), in chain order, so
//! an auditor verifies each line's own hash and, in a full export, every
//! link to the line before (`scripts/verify-export.py`).
//!
//! A line shows the event as stored today next to the hashes the chain
//! sealed; nothing is recomputed, so a tampered event fails the auditor's
//! check exactly as it fails `jobsprint replay verify`.

use std::io::Write;

use sqlx::PgPool;
use uuid::Uuid;

use crate::chain::{read_chain, sealed_through, unsealed_by_tenant, ChainError, ChainFilter};
use crate::record::{export_line, ChainLink};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The chain or the events could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The output could not be written.
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportSummary {
    /// Lines written.
    pub written: u64,
    /// Chain rows whose event is gone (not written; `verify` explains).
    pub missing: u64,
    /// The tenant's events not sealed yet (not written).
    pub unsealed: i64,
}

/// Chain rows read per query.
const PAGE: i64 = 1000;

/// Writes `tenant`'s sealed events matching `filter` to `out`, one line
/// each, in chain order.
pub async fn export(
    pool: &PgPool,
    tenant: Uuid,
    filter: &ChainFilter,
    out: &mut impl Write,
) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    let mut after = 0;
    loop {
        let page = read_chain(pool, tenant, after, PAGE, filter).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.chain_seq;
        for row in &page {
            let Some(event) = &row.event else {
                summary.missing += 1;
                continue;
            };
            let link = ChainLink {
                tenant_id: row.tenant_id,
                chain_seq: row.chain_seq,
                prev_hash: row.prev_hash.clone(),
            };
            out.write_all(export_line(event, &link, &row.hash).as_bytes())?;
            out.write_all(b"\n")?;
            summary.written += 1;
        }
    }
    out.flush()?;
    let cursor = sealed_through(pool).await?;
    summary.unsealed = unsealed_by_tenant(pool, cursor, i64::MAX)
        .await?
        .into_iter()
        .filter(|(t, _)| *t == tenant)
        .map(|(_, n)| n)
        .sum();
    Ok(summary)
}
