//! Verification: walks each tenant's chain in order, recomputes every hash
//! from the events stored today and reports the first broken link.
//!
//! Found: a chain row whose event is gone (deleted), a different event at
//! a sealed position (rows swapped or replaced), changed content, a broken
//! `prev_hash` link, a gap in the chain, a tail shorter than its head, and
//! events the sealer's cursor has passed that have no chain row (inserted
//! behind the chain). Events not sealed yet are counted, not errors.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    optional_event, read_chain, sealed_through, unsealed_by_tenant, ChainError, ChainFilter,
    ChainedEvent,
};
use crate::record::{chain_tenant, event_hash, ChainLink, GENESIS_HASH};

/// What is wrong at a broken link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The chain sealed an event at this position; no event is there now.
    EventMissing,
    /// Another event sits at the sealed position (reordered or replaced).
    EventReplaced,
    /// The event's content no longer hashes to the sealed hash.
    ContentChanged,
    /// The chain row does not link to the hash before it.
    PrevLinkBroken,
    /// Chain rows are missing before this one.
    ChainGap,
    /// The chain ends before its head: its tail was cut off.
    TailTruncated,
    /// The head row does not match the chain's last row.
    HeadMismatch,
    /// The sealer passed this event, but no chain row seals it.
    NotChained,
}

/// The first broken link of a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// What is wrong.
    pub problem: Problem,
    /// The chain position of the first bad link, when it has one.
    pub chain_seq: Option<i64>,
    /// The global position of the event concerned.
    pub global_position: Option<i64>,
    /// The id of the event concerned.
    pub event_id: Option<Uuid>,
    /// Its aggregate type, when the event still exists.
    pub aggregate_type: Option<String>,
    /// Its aggregate id, when the event still exists.
    pub aggregate_id: Option<String>,
    /// What was found, in words.
    pub detail: String,
}

/// The verdict on one tenant's chain.
#[derive(Debug, Clone, Serialize)]
pub struct TenantReport {
    /// The tenant (the nil UUID: events without a tenant).
    pub tenant_id: Uuid,
    /// Chain rows walked.
    pub sealed: i64,
    /// Events committed after the sealer's cursor (not an error).
    pub unsealed: i64,
    /// The first broken link; none when the chain holds.
    pub broken: Option<BrokenLink>,
}

/// The verdict on every chain verified.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    /// Whether every chain holds.
    pub ok: bool,
    /// One entry per tenant.
    pub tenants: Vec<TenantReport>,
}

/// Chain rows read per query.
const PAGE: i64 = 1000;
/// Most events behind the chain listed per run (they are all errors).
const BEHIND_LIMIT: i64 = 10_000;

/// Verifies every tenant's chain, or only `tenant`'s.
pub async fn verify(pool: &PgPool, tenant: Option<Uuid>) -> Result<ChainReport, ChainError> {
    let cursor = sealed_through(pool).await?;
    let unsealed = unsealed_by_tenant(pool, cursor, i64::MAX).await?;
    let behind = behind_the_chain(pool).await?;
    let mut tenants: BTreeSet<Uuid> = sqlx::query_scalar(
        "SELECT tenant_id FROM chain_heads UNION SELECT DISTINCT tenant_id FROM event_chain",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    tenants.extend(unsealed.iter().map(|(t, _)| *t));
    tenants.extend(behind.iter().map(|b| b.0));
    let mut reports = Vec::new();
    for tenant_id in tenants
        .into_iter()
        .filter(|t| tenant.is_none_or(|x| x == *t))
    {
        let (sealed, mut broken) = walk(pool, tenant_id).await?;
        let first_behind = behind.iter().find(|(t, _)| *t == tenant_id).map(|b| &b.1);
        broken = match (broken, first_behind) {
            (Some(mut link), Some(event)) if link.problem == Problem::TailTruncated => {
                // The cut-off rows' events are still there: name the first.
                link.global_position = event.global_position;
                link.event_id = event.event_id;
                link.aggregate_type.clone_from(&event.aggregate_type);
                link.aggregate_id.clone_from(&event.aggregate_id);
                Some(link)
            }
            (Some(link), _) => Some(link),
            (None, Some(event)) => Some(event.clone()),
            (None, None) => None,
        };
        reports.push(TenantReport {
            tenant_id,
            sealed,
            unsealed: unsealed
                .iter()
                .filter(|(t, _)| *t == tenant_id)
                .map(|(_, n)| n)
                .sum(),
            broken,
        });
    }
    Ok(ChainReport {
        ok: reports.iter().all(|r| r.broken.is_none()),
        tenants: reports,
    })
}

/// Walks one chain; the rows walked and the first broken link.
async fn walk(pool: &PgPool, tenant_id: Uuid) -> Result<(i64, Option<BrokenLink>), ChainError> {
    let mut last_seq = 0;
    let mut prev = GENESIS_HASH.to_owned();
    loop {
        let page = read_chain(pool, tenant_id, last_seq, PAGE, &ChainFilter::default()).await?;
        let Some(end) = page.last().map(|row| row.chain_seq) else {
            break;
        };
        for row in &page {
            if let Some(broken) = check(row, last_seq + 1, &prev) {
                return Ok((row.chain_seq, Some(broken)));
            }
            prev.clone_from(&row.hash);
            last_seq = row.chain_seq;
        }
        debug_assert_eq!(end, last_seq);
    }
    let head: Option<(i64, String, i64, Uuid)> = sqlx::query_as(
        "SELECT chain_seq, hash, global_position, event_id FROM chain_heads WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    let broken = match head {
        None if last_seq == 0 => None,
        None => Some(problem(
            Problem::HeadMismatch,
            Some(last_seq),
            format!("the chain ends at seq {last_seq} but the tenant has no head row"),
        )),
        Some((seq, _, position, event_id)) if seq > last_seq => Some(problem(
            Problem::TailTruncated,
            Some(last_seq + 1),
            format!(
                "the chain ends at seq {last_seq} but its head is seq {seq} \
                 (event {event_id} at position {position})"
            ),
        )),
        Some((seq, hash, _, _)) if seq != last_seq || hash != prev => Some(problem(
            Problem::HeadMismatch,
            Some(last_seq),
            format!("the head row (seq {seq}, hash {hash}) does not match the chain's last row"),
        )),
        Some(_) => None,
    };
    Ok((last_seq, broken))
}

/// What is wrong with one chain row, expected at `seq` after `prev`.
fn check(row: &ChainedEvent, seq: i64, prev: &str) -> Option<BrokenLink> {
    let at = |problem: Problem, detail: String| {
        let mut link = BrokenLink {
            global_position: Some(row.global_position),
            event_id: Some(row.event_id),
            ..self::problem(problem, Some(row.chain_seq), detail)
        };
        if let Some(event) = &row.event {
            link.aggregate_type = Some(event.aggregate_type.clone());
            link.aggregate_id = Some(event.aggregate_id.clone());
        }
        link
    };
    if row.chain_seq != seq {
        return Some(BrokenLink {
            chain_seq: Some(seq),
            ..at(
                Problem::ChainGap,
                format!("chain rows {seq}..{} are missing", row.chain_seq - 1),
            )
        });
    }
    let Some(event) = &row.event else {
        return Some(at(
            Problem::EventMissing,
            "the sealed event is gone (deleted)".into(),
        ));
    };
    if event.event_id != row.event_id {
        return Some(at(
            Problem::EventReplaced,
            format!(
                "event {} now sits at the sealed position (rows reordered or replaced)",
                event.event_id
            ),
        ));
    }
    if row.prev_hash != prev {
        return Some(at(
            Problem::PrevLinkBroken,
            "the row does not link to the hash before it (a chain row was rewritten)".into(),
        ));
    }
    if chain_tenant(event) != row.tenant_id {
        return Some(at(
            Problem::ContentChanged,
            "the event now belongs to another tenant".into(),
        ));
    }
    let link = ChainLink {
        tenant_id: row.tenant_id,
        chain_seq: row.chain_seq,
        prev_hash: row.prev_hash.clone(),
    };
    if event_hash(event, &link) != row.hash {
        return Some(at(
            Problem::ContentChanged,
            "the event no longer hashes to its sealed hash (content edited)".into(),
        ));
    }
    None
}

fn problem(problem: Problem, chain_seq: Option<i64>, detail: String) -> BrokenLink {
    BrokenLink {
        problem,
        chain_seq,
        global_position: None,
        event_id: None,
        aggregate_type: None,
        aggregate_id: None,
        detail,
    }
}

/// Events at or before the sealer's cursor without a chain row, the first
/// per tenant in commit order.
async fn behind_the_chain(pool: &PgPool) -> Result<Vec<(Uuid, BrokenLink)>, ChainError> {
    let rows = sqlx::query(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.global_position, e.event_id,
                e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at
           FROM events e, chain_cursor k
          WHERE (e.transaction_id, e.global_position) <= (k.transaction_id, k.global_position)
            AND NOT EXISTS (SELECT 1 FROM event_chain c WHERE c.global_position = e.global_position)
          ORDER BY e.transaction_id, e.global_position
          LIMIT $1",
    )
    .bind(BEHIND_LIMIT)
    .fetch_all(pool)
    .await?;
    let mut found: Vec<(Uuid, BrokenLink)> = Vec::new();
    for row in &rows {
        let Some(event) = optional_event(row)? else {
            continue;
        };
        let tenant = chain_tenant(&event);
        if found.iter().any(|(t, _)| *t == tenant) {
            continue;
        }
        found.push((
            tenant,
            BrokenLink {
                problem: Problem::NotChained,
                chain_seq: None,
                global_position: Some(event.global_position),
                event_id: Some(event.event_id),
                aggregate_type: Some(event.aggregate_type.clone()),
                aggregate_id: Some(event.aggregate_id.clone()),
                detail: "the sealer passed this event but no chain row seals it \
                         (inserted behind the chain, or its chain row was deleted)"
                    .into(),
            },
        ));
    }
    Ok(found)
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for tenant in &self.tenants {
            let unsealed = match tenant.unsealed {
                0 => String::new(),
                n => format!(", {n} not sealed yet"),
            };
            match &tenant.broken {
                None => writeln!(
                    f,
                    "tenant {}: ok, {} events chained{unsealed}",
                    tenant.tenant_id, tenant.sealed
                )?,
                Some(link) => {
                    writeln!(f, "tenant {}: BROKEN{unsealed}\n  {link}", tenant.tenant_id)?
                }
            }
        }
        match (self.ok, self.tenants.len()) {
            (true, 0) => writeln!(f, "no events"),
            (true, _) => writeln!(f, "the hash chain holds"),
            (false, _) => writeln!(f, "the hash chain is BROKEN"),
        }
    }
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = serde_json::to_value(self.problem).unwrap_or_default();
        write!(f, "first broken link: {}", problem.as_str().unwrap_or("?"))?;
        if let Some(seq) = self.chain_seq {
            write!(f, " at chain seq {seq}")?;
        }
        if let Some(position) = self.global_position {
            write!(f, ", position {position}")?;
        }
        if let Some(id) = self.event_id {
            write!(f, ", event {id}")?;
        }
        if let (Some(kind), Some(id)) = (&self.aggregate_type, &self.aggregate_id) {
            write!(f, ", aggregate {kind} {id}")?;
        }
        write!(f, ": {}", self.detail)
    }
}
