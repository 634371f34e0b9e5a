//! `jobsprint replay` as operators and auditors run it: the real binary
//! against a real database, its output read as a program would (JSON on
//! stdout, the exit code).

mod support;

use std::process::{Command, Output};

use commands::{CommandConfig, CommandContext, Commands};
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

fn replay(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobsprint"))
        .arg("replay")
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn operators_rebuild_travel_in_time_verify_and_export_from_the_command_line(pool: PgPool) {
    let url = support::database_url(&pool).await;
    let commands = Commands::new(pool.clone(), CommandConfig::default());
    let tenant = TenantId(Uuid::now_v7());
    let ctx = CommandContext::new(tenant, "cli-test");
    let id = WorkflowId::new_v7();
    let definition = WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "only", "type": "transform", "config": {"expression": "."}}],
        "trigger": {"type": "manual"}
    }))
    .unwrap();
    let create = WorkflowCommand::Create {
        name: "Before".into(),
        description: String::new(),
        definition,
    };
    let created = commands
        .execute_workflow(&ctx, id, create, None)
        .await
        .unwrap();
    let rename = WorkflowCommand::Rename {
        name: "After".into(),
    };
    commands
        .execute_workflow(&ctx, id, rename, None)
        .await
        .unwrap();

    // Rebuild every read model, machine-readably.
    let rebuilt = replay(&url, &["rebuild", "--all", "--json"]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let results: Vec<Value> = json_lines(&rebuilt)
        .into_iter()
        .filter(|line| line["state"] == "succeeded")
        .collect();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["projection"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["workflows", "executions", "integrations", "audit_log"]
    );
    let name: String = sqlx::query_scalar("SELECT name FROM workflows WHERE id = $1")
        .bind(id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "After");

    // A projection that may not be rebuilt is refused with a clear error.
    let refused = replay(&url, &["rebuild", "engine_intake"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a rebuildable projection"));

    // The state as of the creation.
    let position = created.position.to_string();
    let state = replay(
        &url,
        &["state", "Workflow", &id.to_string(), "--at", &position],
    );
    assert!(state.status.success(), "{state:?}");
    let state: Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(state["state"]["name"], "Before", "{state}");
    assert_eq!(state["position"], created.position);

    // Seal, verify, export.
    let verified = replay(&url, &["verify", "--seal", "--json"]);
    assert!(verified.status.success(), "{verified:?}");
    let file = std::env::temp_dir().join(format!("export-{}.ndjson", Uuid::now_v7()));
    let exported = replay(
        &url,
        &[
            "export",
            "--tenant",
            &tenant.to_string(),
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(exported.status.success(), "{exported:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        records.len() as i64,
        events,
        "every event of the tenant, sealed"
    );
    let checked = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/verify-export.py"
        ))
        .arg(&file)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    std::fs::remove_file(&file).ok();
}
