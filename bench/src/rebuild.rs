//! Scenario 5: a full rebuild of every read model from a large store (goal:
//! ≥ 50,000 events/s and ≥ half the raw rate), next to the raw rate at which
//! the same machine scans the events table and upserts rows.
//!
//! The raw rate is the least a rebuild has to do, done by the plainest
//! client: read every event of the store in commit order in batches of the
//! rebuild's size (the same columns, the JSON left as text), and upsert the
//! latest row of each aggregate of a batch into a plain table with one
//! statement. The same scan and upsert done by one SQL statement inside the
//! server, without bringing the events to a client, is printed beside it
//! for information: no projection written in Rust can run there.
//!
//! The store is seeded with copies of real histories: one workflow written
//! through the command layer, and executions of it (started, three steps
//! scheduled, attempted and completed, completed: 11 events each) as the
//! engine writes them, each copy under fresh ids.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use commands::{CommandConfig, CommandContext, Commands};
use cqrs_es::DomainEvent;
use domain::execution::{ExecutionEvent, ExecutionTrigger};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::WorkflowCommand;
use replay::rebuild::{self, RebuildOptions, REBUILDABLE};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::Row;

/// Events per seeding statement (one short transaction each).
const SEED_CHUNK: usize = 50_000;

/// Seeds about `events` events, then measures the raw rate and the rebuild
/// of every read model.
pub async fn run(pool: &PgPool, events: usize) -> anyhow::Result<Vec<Row>> {
    let seeded = seed(pool, events).await?;
    eprintln!("bench: rebuild: {seeded} events in the store");
    // A store at rest, as an old one is: hint bits set and the visibility
    // map made by one vacuum now, not by the first measurement's reads and
    // an autovacuum of the fresh rows in the middle of another.
    sqlx::query("VACUUM (ANALYZE) events").execute(pool).await?;
    let batch = RebuildOptions::default().batch_size;
    let in_server = in_server_rate(pool, batch).await?;
    let raw = raw_rate(pool, batch).await?;
    let mut rows = vec![Row {
        scenario: "scan and upsert inside the server (no client)".to_owned(),
        measured: format!("{in_server:.0} rows/s"),
        baseline: format!("{raw:.0} rows/s raw"),
        ratio: in_server / raw,
        goal: "info",
        met: true,
    }];
    for name in REBUILDABLE {
        let report = rebuild::rebuild(pool, name, &RebuildOptions::default(), &mut |_| {}).await?;
        let rate = report.events_per_second();
        eprintln!("bench: rebuild {name} alone: {rate:.0} events/s");
        rows.push(Row {
            scenario: format!("rebuild {name} alone ({seeded} events)"),
            measured: format!("{rate:.0} events/s"),
            baseline: format!("{raw:.0} rows/s raw"),
            ratio: rate / raw,
            goal: "info",
            met: true,
        });
    }
    let started = Instant::now();
    for result in
        rebuild::rebuild_all(pool, &REBUILDABLE, &RebuildOptions::default(), &mut |_| {}).await?
    {
        result?;
    }
    let all = seeded as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: rebuild every read model: {all:.0} events/s");
    rows.push(Row {
        scenario: format!("rebuild every read model ({seeded} events)"),
        measured: format!("{all:.0} events/s"),
        baseline: format!("{raw:.0} rows/s raw"),
        ratio: all / raw,
        goal: ">= 50000/s and >= 0.5 of raw",
        met: all >= 50_000.0 && all >= raw / 2.0,
    });
    Ok(rows)
}

/// The raw rate (see the module): every event fetched by this client in
/// commit order, the latest row of each aggregate of a batch upserted.
async fn raw_rate(pool: &PgPool, batch: usize) -> anyhow::Result<f64> {
    create_upserts_table(pool).await?;
    let started = Instant::now();
    let (mut xid, mut position, mut rows) = ("0".to_owned(), 0_i64, 0_u64);
    loop {
        let events: Vec<RawEvent> = sqlx::query_as(
            "SELECT transaction_id::text AS xid, global_position, aggregate_type, aggregate_id,
                    sequence, event_type, event_version, payload::text AS payload,
                    metadata::text AS metadata, recorded_at
               FROM events
              WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY transaction_id, global_position
              LIMIT $3",
        )
        .bind(&xid)
        .bind(position)
        .bind(batch as i64)
        .fetch_all(pool)
        .await?;
        let Some(last) = events.last() else {
            break;
        };
        (xid, position) = (last.xid.clone(), last.global_position);
        rows += events.len() as u64;
        let mut latest: HashMap<&str, &RawEvent> = HashMap::new();
        for event in &events {
            latest.insert(&event.aggregate_id, event);
        }
        let latest: Vec<&RawEvent> = latest.into_values().collect();
        sqlx::query(
            "INSERT INTO bench_upserts (aggregate_id, sequence, event_type, recorded_at)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[])
             ON CONFLICT (aggregate_id) DO UPDATE
                SET sequence = EXCLUDED.sequence, event_type = EXCLUDED.event_type,
                    recorded_at = EXCLUDED.recorded_at",
        )
        .bind(
            latest
                .iter()
                .map(|e| e.aggregate_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(latest.iter().map(|e| e.sequence).collect::<Vec<_>>())
        .bind(
            latest
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(latest.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: raw scan and upsert by a client: {rows} rows at {rate:.0} rows/s");
    Ok(rate)
}

/// An event as the raw scan reads it (what a rebuild reads, JSON as text).
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // read as a rebuild reads them, not all used
struct RawEvent {
    xid: String,
    global_position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    recorded_at: DateTime<Utc>,
}

async fn create_upserts_table(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_upserts (
             aggregate_id text PRIMARY KEY, sequence bigint NOT NULL, event_type text NOT NULL,
             recorded_at timestamptz NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query("TRUNCATE bench_upserts").execute(pool).await?;
    Ok(())
}

/// The same scan and upsert as one statement per batch inside the server:
/// nothing is sent to a client.
async fn in_server_rate(pool: &PgPool, batch: usize) -> anyhow::Result<f64> {
    create_upserts_table(pool).await?;
    let started = Instant::now();
    let (mut xid, mut position, mut rows) = (0_i64, 0_i64, 0_u64);
    loop {
        let (count, last_xid, last_position): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "WITH batch AS (
                 SELECT transaction_id::text::bigint AS xid, global_position, aggregate_id,
                        sequence, event_type, recorded_at
                   FROM events
                  WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY transaction_id, global_position
                  LIMIT $3),
             upserted AS (
                 INSERT INTO bench_upserts (aggregate_id, sequence, event_type, recorded_at)
                 SELECT DISTINCT ON (aggregate_id) aggregate_id, sequence, event_type, recorded_at
                   FROM batch ORDER BY aggregate_id, sequence DESC
                 ON CONFLICT (aggregate_id) DO UPDATE
                    SET sequence = EXCLUDED.sequence, event_type = EXCLUDED.event_type,
                        recorded_at = EXCLUDED.recorded_at)
             SELECT count(*), max(xid), max(global_position) FILTER (WHERE xid = (SELECT max(xid) FROM batch))
               FROM batch",
        )
        .bind(xid.to_string())
        .bind(position)
        .bind(batch as i64)
        .fetch_one(pool)
        .await?;
        let (Some(last_xid), Some(last_position)) = (last_xid, last_position) else {
            break;
        };
        rows += count as u64;
        (xid, position) = (last_xid, last_position);
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: scan and upsert inside the server: {rows} rows at {rate:.0} rows/s");
    Ok(rate)
}

/// Writes one workflow through the command layer, then copies of it and of
/// an 11-event execution history under fresh ids until about `events` are
/// stored; the events stored.
async fn seed(pool: &PgPool, events: usize) -> anyhow::Result<i64> {
    let commands = Commands::new(pool.clone(), CommandConfig::default());
    let ctx = CommandContext::new(TenantId::DEFAULT, "bench");
    let workflow = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "rebuild bench".into(),
        description: String::new(),
        definition: crate::throughput::definition(),
    };
    commands
        .execute_workflow(&ctx, workflow, create, None)
        .await?;
    let publish = WorkflowCommand::Publish { version: 1 };
    commands
        .execute_workflow(&ctx, workflow, publish, None)
        .await?;
    let (metadata,): (Value,) =
        sqlx::query_as("SELECT metadata FROM events WHERE aggregate_id = $1 LIMIT 1")
            .bind(workflow.to_string())
            .fetch_one(pool)
            .await?;
    let template = execution_template(workflow);
    let per_execution = template.len();
    let executions = events.saturating_sub(3) / per_execution;
    let (types, versions, payloads): (Vec<String>, Vec<String>, Vec<String>) = template
        .iter()
        .map(|e| {
            (
                e.event_type(),
                e.event_version(),
                serde_json::to_string(e).unwrap_or_default(),
            )
        })
        .fold(
            (vec![], vec![], vec![]),
            |(mut t, mut v, mut p), (a, b, c)| {
                t.push(a);
                v.push(b);
                p.push(c);
                (t, v, p)
            },
        );
    let sequences: Vec<i64> = (1..=per_execution as i64).collect();
    let per_chunk = (SEED_CHUNK / per_execution).max(1);
    let mut left = executions;
    while left > 0 {
        let n = left.min(per_chunk);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata)
             SELECT 'Execution', x.id::text, t.sequence, t.event_type, t.event_version,
                    t.payload::json, $5::json
               FROM generate_series(1, $6) AS g
              CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id, g.g AS n) AS x
              CROSS JOIN unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                   AS t(sequence, event_type, event_version, payload)
              ORDER BY x.n, t.sequence",
        )
        .bind(&sequences)
        .bind(&types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(n as i32)
        .execute(pool)
        .await?;
        left -= n;
    }
    sqlx::query("ANALYZE events").execute(pool).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(stored)
}

/// One execution of a three-step workflow, start to completion.
fn execution_template(workflow: WorkflowId) -> Vec<ExecutionEvent> {
    let mut events = vec![ExecutionEvent::ExecutionStarted {
        tenant_id: TenantId::DEFAULT,
        workflow_id: workflow,
        workflow_version: 1,
        input: json!({"order": 1042, "customer": "c-17"}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: None,
    }];
    for node in ["fetch", "shape", "notify"] {
        events.push(ExecutionEvent::StepScheduled {
            node_id: node.into(),
        });
        events.push(ExecutionEvent::StepAttemptStarted {
            node_id: node.into(),
            attempt: 1,
        });
        events.push(ExecutionEvent::StepCompleted {
            node_id: node.into(),
            attempt: 1,
            output: json!({"status": 200, "body": {"id": 1042, "ok": true}}),
        });
    }
    events.push(ExecutionEvent::ExecutionCompleted {
        output: json!({"id": 1042}),
    });
    events
}
