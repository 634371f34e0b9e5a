//! The dependency edges between workspace crates are architecture: this test
//! fails when `cargo metadata` shows an edge that ARCHITECTURE.md does not
//! allow, or when `domain` gains an IO dependency.

use std::collections::{BTreeMap, BTreeSet};

use cargo_metadata::{DependencyKind, MetadataCommand};

/// External crates `domain` must never depend on (it does no IO).
const IO_CRATES: &[&str] = &[
    "sqlx",
    "postgres-es",
    "tokio",
    "axum",
    "hyper",
    "reqwest",
    "rdkafka",
    "async-graphql",
    "tracing-subscriber",
];

fn allowed_edges() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the workspace root");
    let block = doc
        .split("```allowed-edges")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has an ```allowed-edges block");
    block
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (from, to) = line
                .split_once("->")
                .unwrap_or_else(|| panic!("bad edge line: {line}"));
            let to = to
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (from.trim().to_owned(), to)
        })
        .collect()
}

#[test]
fn workspace_edges_are_the_documented_ones() {
    let metadata = MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata");
    let members: BTreeSet<String> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let allowed = allowed_edges();

    let mut violations = Vec::new();
    for package in metadata.workspace_packages() {
        let name = package.name.to_string();
        let Some(permitted) = allowed.get(&name) else {
            violations.push(format!("crate `{name}` is not listed in ARCHITECTURE.md"));
            continue;
        };
        for dep in &package.dependencies {
            if members.contains(&dep.name) && !permitted.contains(&dep.name) {
                violations.push(format!(
                    "`{name}` depends on `{}`, which ARCHITECTURE.md does not allow",
                    dep.name
                ));
            }
            let runtime = matches!(dep.kind, DependencyKind::Normal | DependencyKind::Build);
            if name == "domain" && runtime && IO_CRATES.contains(&dep.name.as_str()) {
                violations.push(format!("`domain` depends on the IO crate `{}`", dep.name));
            }
        }
    }
    for listed in allowed.keys() {
        if !members.contains(listed) {
            violations.push(format!(
                "ARCHITECTURE.md lists `{listed}`, which is not a workspace member"
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "architecture violations:\n{}",
        violations.join("\n")
    );
}
