//! The sealer: follows commit order behind the writers and appends every
//! committed event to its tenant's chain.
//!
//! Each batch is one short transaction: lock the one `chain_cursor` row
//! (`FOR UPDATE`, so two sealers simply take turns and never fork a
//! chain), take the events after it in commit order, hash them onto their
//! tenants' heads, insert the chain rows, move the heads and the cursor,
//! commit. Events are read raw ([`read_committed`]), never upcast (so not
//! through the projectors' `StoreSource`, which upcasts). Idle, it waits on
//! `LISTEN jobsprint_events` with a bounded poll: one read-only query per
//! poll. The batch reads events on a second pooled connection while the
//! first holds the cursor, so its pool needs at least two.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use projections::commit_order::{read_committed, CommittedEvent, Cursor};
use projections::source::{EventsListener, SourceError};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{sealed_through, unsealed_by_tenant, ChainError};
use crate::record::{chain_tenant, event_hash, ChainLink, GENESIS_HASH};

/// How the sealer works.
#[derive(Debug, Clone)]
pub struct SealerConfig {
    /// Most events sealed in one transaction.
    pub batch_size: usize,
    /// Longest wait without a notification before looking again.
    pub poll: Duration,
}

impl Default for SealerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll: Duration::from_secs(2),
        }
    }
}

/// Appends committed events to their tenants' hash chains.
pub struct Sealer {
    pool: PgPool,
    config: SealerConfig,
}

/// Most unsealed events the lag gauge counts (so counting stays cheap).
const LAG_CAP: i64 = 100_000;

impl Sealer {
    /// A sealer over the store in `pool`.
    pub fn new(pool: PgPool, config: SealerConfig) -> Self {
        Self { pool, config }
    }

    /// Seals the next batch after the cursor; how many events it sealed
    /// (0 when every committed event is sealed).
    pub async fn seal_next(&self) -> Result<usize, ChainError> {
        let mut tx = self.pool.begin().await?;
        let cursor = lock_cursor(&mut tx).await?;
        let events =
            read_committed(&self.pool, cursor, self.config.batch_size.max(1) as i64).await?;
        seal(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Seals every committed event; how many it sealed.
    pub async fn seal_all(&self) -> Result<u64, ChainError> {
        let mut total = 0;
        loop {
            match self.seal_next().await? {
                0 => return Ok(total),
                sealed => total += sealed as u64,
            }
        }
    }

    /// Seals until `shutdown` completes, woken by new events; errors are
    /// logged and retried a poll later.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut waiter = Waiter::new(self.pool.clone(), self.config.poll);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                round = self.round(&mut waiter) => match round {
                    Ok(()) => {}
                    Err(ChainError::Store(sqlx::Error::PoolClosed)) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "sealing the hash chain failed; retrying");
                        tokio::time::sleep(self.config.poll).await;
                    }
                },
            }
        }
    }

    /// Seals what is committed, then waits: a poll at most when nothing is
    /// pending (one read-only query), briefly while committed events wait
    /// behind an open transaction's horizon.
    async fn round(&self, waiter: &mut Waiter) -> Result<(), ChainError> {
        // Listen before looking, so a commit in between still wakes us.
        waiter.listen().await;
        let (ready, pending): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM events e
                             WHERE (e.transaction_id, e.global_position)
                                   > (k.transaction_id, k.global_position)
                               AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())),
                    EXISTS (SELECT 1 FROM events e
                             WHERE (e.transaction_id, e.global_position)
                                   > (k.transaction_id, k.global_position))
               FROM chain_cursor k",
        )
        .fetch_one(&self.pool)
        .await?;
        if ready {
            while self.seal_next().await? >= self.config.batch_size.max(1) {}
            self.record_lag().await?;
            waiter.quick = QUICK_FIRST;
            return Ok(());
        }
        if pending {
            let pause = waiter.quick;
            waiter.quick = (waiter.quick * 2).min(QUICK_MAX);
            waiter.wait(pause).await
        } else {
            metrics::gauge!("jobsprint_chain_unsealed_events").set(0.0);
            waiter.wait(self.config.poll).await
        }
    }

    async fn record_lag(&self) -> Result<(), ChainError> {
        let cursor = sealed_through(&self.pool).await?;
        let lag: i64 = unsealed_by_tenant(&self.pool, cursor, LAG_CAP)
            .await?
            .iter()
            .map(|(_, count)| count)
            .sum();
        metrics::gauge!("jobsprint_chain_unsealed_events").set(lag as f64);
        Ok(())
    }
}

/// First pause while committed events wait behind an open transaction.
const QUICK_FIRST: Duration = Duration::from_millis(5);
/// Longest such pause: how late the sealer sees them once it ends.
const QUICK_MAX: Duration = Duration::from_millis(200);

/// The sealer's wake-ups: `LISTEN jobsprint_events` (a hint only), and
/// how long its next quick pause is.
struct Waiter {
    events: EventsListener,
    quick: Duration,
}

impl Waiter {
    fn new(pool: PgPool, poll: Duration) -> Self {
        Self {
            events: EventsListener::new(pool, poll),
            quick: QUICK_FIRST,
        }
    }

    async fn listen(&mut self) {
        self.events.listen().await;
    }

    /// Waits for a notification, at most `limit`.
    async fn wait(&mut self, limit: Duration) -> Result<(), ChainError> {
        self.events.wait(limit).await.map_err(|err| match err {
            SourceError::Store(err) => ChainError::Store(err),
            _ => ChainError::Store(sqlx::Error::PoolClosed),
        })
    }
}

async fn lock_cursor(conn: &mut PgConnection) -> Result<Cursor, ChainError> {
    let row = sqlx::query(
        "SELECT transaction_id::text::bigint AS transaction_id, global_position
           FROM chain_cursor WHERE id FOR UPDATE",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Cursor {
        transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
        global_position: row.try_get("global_position")?,
    })
}

/// A tenant's head while a batch is built.
struct Head {
    chain_seq: i64,
    hash: String,
    global_position: i64,
    event_id: Uuid,
}

/// Appends `events` (the next ones after the locked cursor, in commit
/// order) to their chains and moves the heads and the cursor past them.
async fn seal(conn: &mut PgConnection, events: &[CommittedEvent]) -> Result<(), ChainError> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let tenants: Vec<Uuid> = events
        .iter()
        .map(|committed| chain_tenant(&committed.event))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut heads: HashMap<Uuid, Head> = HashMap::new();
    let rows = sqlx::query(
        "SELECT tenant_id, chain_seq, hash, global_position, event_id
           FROM chain_heads WHERE tenant_id = ANY($1)",
    )
    .bind(&tenants)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        heads.insert(
            row.try_get("tenant_id")?,
            Head {
                chain_seq: row.try_get("chain_seq")?,
                hash: row.try_get("hash")?,
                global_position: row.try_get("global_position")?,
                event_id: row.try_get("event_id")?,
            },
        );
    }
    let mut chain = ChainRows::default();
    for committed in events {
        let event = &committed.event;
        let tenant_id = chain_tenant(event);
        let link = match heads.get(&tenant_id) {
            Some(head) => ChainLink {
                tenant_id,
                chain_seq: head.chain_seq + 1,
                prev_hash: head.hash.clone(),
            },
            None => ChainLink {
                tenant_id,
                chain_seq: 1,
                prev_hash: GENESIS_HASH.to_owned(),
            },
        };
        let hash = event_hash(event, &link);
        chain.push(&link, event.global_position, event.event_id, &hash);
        heads.insert(
            tenant_id,
            Head {
                chain_seq: link.chain_seq,
                hash,
                global_position: event.global_position,
                event_id: event.event_id,
            },
        );
    }
    chain.insert(conn).await?;
    upsert_heads(conn, &tenants, &heads).await?;
    sqlx::query("UPDATE chain_cursor SET transaction_id = $1::text::xid8, global_position = $2")
        .bind(last.cursor.transaction_id.to_string())
        .bind(last.cursor.global_position)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The chain rows of one batch, column by column (one `UNNEST` insert).
#[derive(Default)]
struct ChainRows {
    tenants: Vec<Uuid>,
    seqs: Vec<i64>,
    positions: Vec<i64>,
    event_ids: Vec<Uuid>,
    prev_hashes: Vec<String>,
    hashes: Vec<String>,
}

impl ChainRows {
    fn push(&mut self, link: &ChainLink, position: i64, event_id: Uuid, hash: &str) {
        self.tenants.push(link.tenant_id);
        self.seqs.push(link.chain_seq);
        self.positions.push(position);
        self.event_ids.push(event_id);
        self.prev_hashes.push(link.prev_hash.clone());
        self.hashes.push(hash.to_owned());
    }

    async fn insert(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO event_chain (tenant_id, chain_seq, global_position, event_id, prev_hash, hash)
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::uuid[],
                                  $5::text[], $6::text[])",
        )
        .bind(&self.tenants)
        .bind(&self.seqs)
        .bind(&self.positions)
        .bind(&self.event_ids)
        .bind(&self.prev_hashes)
        .bind(&self.hashes)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn upsert_heads(
    conn: &mut PgConnection,
    tenants: &[Uuid],
    heads: &HashMap<Uuid, Head>,
) -> Result<(), sqlx::Error> {
    let heads: Vec<(&Uuid, &Head)> = tenants
        .iter()
        .filter_map(|tenant| heads.get(tenant).map(|head| (tenant, head)))
        .collect();
    sqlx::query(
        "INSERT INTO chain_heads (tenant_id, chain_seq, hash, global_position, event_id)
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::uuid[])
         ON CONFLICT (tenant_id) DO UPDATE
            SET chain_seq = EXCLUDED.chain_seq, hash = EXCLUDED.hash,
                global_position = EXCLUDED.global_position, event_id = EXCLUDED.event_id",
    )
    .bind(heads.iter().map(|(t, _)| **t).collect::<Vec<_>>())
    .bind(heads.iter().map(|(_, h)| h.chain_seq).collect::<Vec<_>>())
    .bind(
        heads
            .iter()
            .map(|(_, h)| h.hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        heads
            .iter()
            .map(|(_, h)| h.global_position)
            .collect::<Vec<_>>(),
    )
    .bind(heads.iter().map(|(_, h)| h.event_id).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
