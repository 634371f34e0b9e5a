//! The planner and a workflow's run-wide settings: the execution timeout
//! (counted from the start or the last retry) and settings validation.

use serde_json::{json, Value};

use super::plan_tests::{actions, attempt, run, schedule, scheduled, started, t, transform};
use super::{plan, Action, ExecutionEvent};
use crate::workflow::WorkflowDefinition;

#[test]
fn a_run_past_its_workflow_timeout_times_out_and_a_retry_restarts_the_clock() {
    let def = WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "wait", "type": "delay", "config": {"duration": "1h"}}],
        "settings": {"timeout": "10m"}
    }))
    .unwrap();
    let events = [started(), scheduled("wait"), attempt("wait", 1)];
    let early = plan(&def, &run(&events), t(60));
    assert_eq!(early.actions, vec![]);
    assert_eq!(
        early.wake_at,
        Some(t(600)),
        "the deadline comes before the timer"
    );
    assert_eq!(actions(&def, &events, 600), vec![Action::TimeOut]);
    let retried = [
        events.to_vec(),
        vec![
            ExecutionEvent::ExecutionTimedOut,
            ExecutionEvent::ExecutionRetried {
                from_node: "wait".into(),
                workflow_version: 1,
                reset: vec!["wait".into()],
            },
        ],
    ]
    .concat();
    // Retried at t(4): ten minutes from then.
    assert_eq!(
        actions(&def, &retried, 600),
        vec![schedule("wait")],
        "a retry runs for a new timeout"
    );
    assert_eq!(actions(&def, &retried, 604), vec![Action::TimeOut]);
}

#[test]
fn settings_are_validated() {
    let bad = |settings: Value| {
        WorkflowDefinition::parse(&json!({"nodes": [transform("a")], "settings": settings}))
            .unwrap_err()
            .to_string()
    };
    assert!(
        bad(json!({"concurrency": 0})).contains("'settings.concurrency' must be an integer from 1")
    );
    assert!(bad(json!({"timeout": "soon"})).contains("'settings.timeout'"));
    assert!(bad(json!({"paralel": 2})).contains("unknown field 'paralel'"));
    let ok = WorkflowDefinition::parse(
        &json!({"nodes": [transform("a")], "settings": {"concurrency": 3}}),
    )
    .unwrap();
    assert_eq!(ok.settings.concurrency, Some(3));
    assert_eq!(ok.to_json()["settings"], json!({"concurrency": 3}));
}
