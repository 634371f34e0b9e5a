//! Exports: a tenant's sealed events as NDJSON CloudEvents in chain order,
//! which `scripts/verify-export.py` (Python's standard library only)
//! accepts, and rejects once a line is edited.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use replay::chain::ChainFilter;
use replay::export::export;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/verify-export.py")
}

/// Runs the auditor's script on `text`.
fn audit(text: &str) -> Output {
    let path = std::env::temp_dir().join(format!("jobsprint-export-{}.ndjson", Uuid::now_v7()));
    std::fs::write(&path, text).unwrap();
    let output = Command::new("python3")
        .arg(script())
        .arg(&path)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&path).unwrap();
    output
}

async fn export_text(pool: &PgPool, tenant: Uuid, filter: &ChainFilter) -> (String, u64, i64) {
    let mut out = Vec::new();
    let summary = export(pool, tenant, filter, &mut out).await.unwrap();
    (
        String::from_utf8(out).unwrap(),
        summary.written,
        summary.unsealed,
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn an_export_verifies_with_the_script_and_an_edited_line_does_not(pool: PgPool) {
    let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
    history(&pool, tenant, 3).await;
    history(&pool, other, 2).await;
    let aggregate = Uuid::now_v7().to_string();
    // Awkward content: escapes, non-ASCII, floats, a password hash.
    let payload = json!({"UserPasswordSet": {
        "name": "Zoë \"the\" \\ auditor\n\t\u{1}€😀",
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "floats": [0.1, 1e-7, 1e16, -0.0, 123456789.125, 2.5e-308],
        "big": 9007199254740993_u64,
    }});
    append(&pool, tenant, &aggregate, 1, payload).await;
    seal(&pool).await;
    history(&pool, tenant, 1).await; // committed after sealing: left out

    let (text, written, unsealed) = export_text(&pool, tenant, &ChainFilter::default()).await;
    assert_eq!((written, unsealed), (4, 1));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = lines
        .iter()
        .map(|l| l["jobsprintchainseq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert!(lines
        .iter()
        .all(|l| l["jobsprinttenant"] == tenant.to_string()));
    assert_eq!(lines[0]["specversion"], "1.0");
    assert_eq!(lines[0]["type"], "jobsprint.workflow.WorkflowRenamed.v1");
    assert!(
        !text.contains("argon2id"),
        "a password hash left the server"
    );

    let output = audit(&text);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("4 records verified"));

    let edited = text.replacen("name 2", "name X", 1);
    assert_ne!(edited, text);
    let output = audit(&edited);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: chain seq 2"), "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");

    // A dropped line breaks the link of the one after it.
    let dropped: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    let output = audit(&(dropped.join("\n") + "\n"));
    assert!(output.status.success(), "a subset verifies line by line");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_filtered_export_still_verifies_line_by_line(pool: PgPool) {
    let tenant = Uuid::now_v7();
    history(&pool, tenant, 3).await;
    let aggregate = Uuid::now_v7().to_string();
    append(&pool, tenant, &aggregate, 1, json!({"A": 1})).await;
    append(&pool, tenant, &aggregate, 2, json!({"A": 2})).await;
    seal(&pool).await;
    let filter = ChainFilter {
        aggregate_id: Some(aggregate.clone()),
        ..ChainFilter::default()
    };
    let (text, written, _) = export_text(&pool, tenant, &filter).await;
    assert_eq!(written, 2);
    assert!(text.lines().all(|l| l.contains(&aggregate)));
    let output = audit(&text);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let future = ChainFilter {
        from: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        ..ChainFilter::default()
    };
    assert_eq!(export_text(&pool, tenant, &future).await.1, 0);
    let past = ChainFilter {
        to: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        ..ChainFilter::default()
    };
    assert_eq!(export_text(&pool, tenant, &past).await.1, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tampered_event_exports_with_its_sealed_hash_and_fails_the_script(pool: PgPool) {
    let tenant = Uuid::now_v7();
    let positions = history(&pool, tenant, 3).await;
    seal(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET payload = '{{\"forged\": true}}' WHERE global_position = {}",
            positions[2]
        ),
    )
    .await;
    let (text, _, _) = export_text(&pool, tenant, &ChainFilter::default()).await;
    let output = audit(&text);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 3: chain seq 3"));
}
