//! Run-wide settings of a workflow version: how many of its executions may
//! run at once, and how long one may run.
//!
//! `"settings": {"concurrency": 5, "timeout": "1h"}`; both optional.
//! Executions beyond the concurrency limit wait in a queue (none is
//! dropped); an execution still running after its timeout ends as
//! timed out.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse_duration;

/// The most executions of one workflow a limit may allow at once.
pub const MAX_CONCURRENCY: u32 = 10_000;

/// A version's run-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSettings {
    /// At most this many executions run at once (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// An execution running longer ends as timed out, e.g. `"1h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Value>,
}

impl WorkflowSettings {
    /// Reads `settings` from a definition's JSON (absent or null: none).
    pub fn parse(raw: Option<&Value>) -> Result<WorkflowSettings, String> {
        let Some(raw) = raw.filter(|v| !v.is_null()) else {
            return Ok(WorkflowSettings::default());
        };
        let Some(fields) = raw.as_object() else {
            return Err(format!("'settings' must be an object (found {raw})"));
        };
        let mut settings = WorkflowSettings::default();
        for (name, value) in fields {
            match name.as_str() {
                "concurrency" => {
                    let limit = value
                        .as_u64()
                        .filter(|n| (1..=u64::from(MAX_CONCURRENCY)).contains(n))
                        .ok_or_else(|| {
                            format!("'settings.concurrency' must be an integer from 1 to {MAX_CONCURRENCY} (found {value})")
                        })?;
                    settings.concurrency = Some(limit as u32);
                }
                "timeout" => {
                    parse_duration(value).map_err(|err| format!("'settings.timeout' {err}"))?;
                    settings.timeout = Some(value.clone());
                }
                other => {
                    return Err(format!(
                        "'settings' has an unknown field '{other}' (known: concurrency, timeout)"
                    ))
                }
            }
        }
        Ok(settings)
    }

    /// The execution timeout, if set.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.as_ref().and_then(|t| parse_duration(t).ok())
    }

    /// Whether nothing is set (the default, left out of the JSON form).
    pub fn is_empty(&self) -> bool {
        self == &WorkflowSettings::default()
    }
}
