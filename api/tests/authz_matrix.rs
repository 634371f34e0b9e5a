//! The authorization matrix, generated from the schema itself: every query
//! and mutation field that takes an id, called by every role and an API
//! token of tenant B against every kind of object of tenant A. Nothing of A
//! may be read or written, and every refusal carries a clear code. A field
//! added later is covered without touching this file.

mod support;

use std::collections::BTreeMap;

use domain::access::Role;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

/// A's objects carry this in their names: it must never reach B.
const MARKER: &str = "tenant-a-private-7c1d";

const INTROSPECT: &str = "{ __schema {
  queryType { fields { name args { name type { ...T } } type { ...T } } }
  mutationType { fields { name args { name type { ...T } } type { ...T } } }
  types { name kind inputFields { name type { ...T } } enumValues { name }
          fields { name args { name type { ...T } } type { ...T } } }
} }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

struct Schema {
    types: BTreeMap<String, Value>,
}

/// The named type under NON_NULL and LIST wrappers, and whether it is a list.
fn named(t: &Value) -> (&str, &str, bool) {
    let mut t = t;
    let mut list = false;
    while t["name"].is_null() {
        if t["kind"] == "LIST" {
            list = true;
        }
        t = &t["ofType"];
    }
    (
        t["kind"].as_str().unwrap(),
        t["name"].as_str().unwrap(),
        list,
    )
}

fn required(t: &Value) -> bool {
    t["kind"] == "NON_NULL"
}

impl Schema {
    /// Whether a type (or an input object's fields) holds an ID.
    fn takes_id(&self, t: &Value) -> bool {
        match named(t) {
            (_, "ID", _) => true,
            ("INPUT_OBJECT", name, _) => self.types[name]["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| named(&f["type"]).1 == "ID"),
            _ => false,
        }
    }

    /// A GraphQL literal for an argument of type `t` named `name`, with
    /// every ID set to `id`.
    fn literal(&self, name: &str, t: &Value, id: &str) -> String {
        let (kind, type_name, list) = named(t);
        let one = match (kind, type_name) {
            (_, "ID") => format!("\"{id}\""),
            (_, "String") if name == "scopes" => "\"read:workflows\"".to_owned(),
            (_, "String") if name == "email" => "\"someone@example.com\"".to_owned(),
            (_, "String") => format!("\"b-{name}\""),
            (_, "Int") => "1".to_owned(),
            (_, "Boolean") => "true".to_owned(),
            (_, "BigInt") => "\"1\"".to_owned(),
            (_, "DateTime") => "\"2030-01-01T00:00:00Z\"".to_owned(),
            (_, "JSON") if name == "definition" => graphql_literal(&definition()),
            (_, "JSON") => "{}".to_owned(),
            ("ENUM", _) => self.types[type_name]["enumValues"][0]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
            ("INPUT_OBJECT", _) => {
                let fields: Vec<String> = self.types[type_name]["inputFields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    // Required fields, and every id (an optional id is still
                    // a way to address A's objects, e.g. createWorkflow's).
                    .filter(|f| {
                        let name = f["name"].as_str().unwrap();
                        required(&f["type"]) || (named(&f["type"]).1 == "ID" && name != "commandId")
                    })
                    .map(|f| {
                        let field = f["name"].as_str().unwrap();
                        format!("{field}: {}", self.literal(field, &f["type"], id))
                    })
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            other => panic!("no literal for {other:?}; teach the matrix this type"),
        };
        if list {
            format!("[{one}]")
        } else {
            one
        }
    }
}

fn graphql_literal(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", graphql_literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(graphql_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

struct Field {
    operation: &'static str,
    name: String,
    args: Vec<Value>,
    returns: Value,
}

fn fields(introspection: &Value, operation: &'static str, key: &str) -> Vec<Field> {
    introspection["data"]["__schema"][key]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Field {
            operation,
            name: f["name"].as_str().unwrap().to_owned(),
            args: f["args"].as_array().unwrap().clone(),
            returns: f["type"].clone(),
        })
        .collect()
}

/// A selection of everything a field returns, objects expanded a few
/// levels deep, so the leak check sees real content.
fn selection(schema: &Schema, returns: &Value) -> String {
    selection_at(schema, returns, 0)
}

fn selection_at(schema: &Schema, returns: &Value, depth: usize) -> String {
    let (kind, name, _) = named(returns);
    if kind != "OBJECT" {
        return String::new();
    }
    let fields: Vec<String> = schema.types[name]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["args"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| !required(&a["type"]))
        })
        .filter_map(|f| {
            let field = f["name"].as_str().unwrap();
            match named(&f["type"]).0 {
                "OBJECT" if depth < 3 => Some(format!(
                    "{field} {}",
                    selection_at(schema, &f["type"], depth + 1)
                )),
                "OBJECT" => None,
                _ => Some(field.to_owned()),
            }
        })
        .collect();
    format!("{{ __typename {} }}", fields.join(" "))
}

async fn tenant_a_state(pool: &PgPool, tenant: &str) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), coalesce(string_agg(payload::text, '' ORDER BY global_position), '')
           FROM events WHERE metadata->>'tenant_id' = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn no_role_of_one_tenant_reads_or_writes_another_tenants_objects(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let a = &app.tenant;
    let b = app.new_tenant("Tenant B").await;

    // A's objects, one of each kind that has an id.
    let workflow = app
        .create_workflow(&a.admin_token, &format!("{MARKER} workflow"))
        .await;
    let publish = app
        .gql_as(
            Some(&a.admin_token),
            PUBLISH,
            json!({"input": {"id": workflow, "version": 1}}),
        )
        .await;
    assert!(publish["errors"].is_null(), "{publish}");
    let started = app
        .gql_as(
            Some(&a.admin_token),
            START,
            json!({"input": {"workflowId": workflow}}),
        )
        .await;
    let execution = started["data"]["startExecution"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let integration = app
        .gql_as(
            Some(&a.admin_token),
            "mutation($n: String!) { registerIntegration(input: {name: $n, kind: \"github\"}) { id } }",
            json!({"n": format!("{MARKER} integration")}),
        )
        .await["data"]["registerIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (viewer_of_a, _) = app.member(a, Role::Viewer).await;
    let token_of_a = app
        .gql_as(
            Some(&app.user_token(a, Role::Admin).await),
            "mutation($n: String!) { createApiToken(input: {name: $n, scopes: [\"read:workflows\"]}) { id } }",
            json!({"n": format!("{MARKER} token")}),
        )
        .await["data"]["createApiToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign_ids = [
        &workflow,
        &execution,
        &integration,
        &viewer_of_a,
        &token_of_a,
    ];
    let before = tenant_a_state(&pool, &a.tenant_id).await;

    // B's callers: every role, and an admin:all API token.
    let mut callers = vec![("api token admin:all".to_owned(), b.admin_token.clone())];
    for role in Role::ALL {
        callers.push((format!("role {role}"), app.user_token(&b, role).await));
    }

    let introspection = app
        .gql_as(Some(&b.admin_token), INTROSPECT, json!({}))
        .await;
    let schema = Schema {
        types: introspection["data"]["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
            .collect(),
    };
    let all_fields: Vec<Field> = fields(&introspection, "query", "queryType")
        .into_iter()
        .chain(fields(&introspection, "mutation", "mutationType"))
        .collect();
    let with_ids: Vec<&Field> = all_fields
        .iter()
        .filter(|f| f.args.iter().any(|a| schema.takes_id(&a["type"])))
        .collect();
    assert!(
        with_ids.len() >= 15,
        "the schema has fields with ids: {}",
        with_ids.len()
    );

    let mut calls = 0;
    let mut codes = BTreeMap::<String, usize>::new();
    for field in &with_ids {
        for id in foreign_ids {
            let args: Vec<String> = field
                .args
                .iter()
                .filter(|a| required(&a["type"]) || schema.takes_id(&a["type"]))
                .map(|a| {
                    let name = a["name"].as_str().unwrap();
                    format!("{name}: {}", schema.literal(name, &a["type"], id))
                })
                .collect();
            let args = if args.is_empty() {
                String::new()
            } else {
                format!("({})", args.join(", "))
            };
            let operation = format!(
                "{} {{ {}{} {} }}",
                field.operation,
                field.name,
                args,
                selection(&schema, &field.returns)
            );
            for (who, token) in &callers {
                calls += 1;
                let response = app.gql_as(Some(token), &operation, json!({})).await;
                let text = response.to_string();
                assert!(
                    !text.contains(MARKER),
                    "{who} read A's data through {operation}: {text}"
                );
                let context = format!("{who}: {operation} -> {text}");
                match response["errors"][0]["extensions"]["code"].as_str() {
                    Some(code) => {
                        assert!(
                            [
                                "NOT_FOUND",
                                "FORBIDDEN",
                                "VALIDATION",
                                "UNAUTHENTICATED",
                                "CONFLICT",
                                "INVALID_STATE"
                            ]
                            .contains(&code),
                            "unclear refusal for {context}"
                        );
                        *codes.entry(code.to_owned()).or_default() += 1;
                    }
                    None if field.operation == "mutation" => {
                        // Accepted only as a write to B's own tenant (say, a
                        // new workflow whose id equals one of A's *other*
                        // aggregates): the check of A's history below proves
                        // nothing of A's changed.
                        *codes.entry("accepted in own tenant".into()).or_default() += 1;
                    }
                    None => {
                        let data = &response["data"][&field.name];
                        let empty =
                            data.is_null() || data["edges"].as_array().is_some_and(Vec::is_empty);
                        assert!(empty, "a cross-tenant query returned data: {context}");
                    }
                }
            }
        }
    }
    assert_eq!(
        tenant_a_state(&pool, &a.tenant_id).await,
        before,
        "tenant A's events changed"
    );
    assert!(
        codes.get("NOT_FOUND").copied().unwrap_or(0) > 0,
        "{codes:?}"
    );
    assert!(
        codes.get("FORBIDDEN").copied().unwrap_or(0) > 0,
        "{codes:?}"
    );
    eprintln!(
        "authorization matrix: {calls} calls over {} fields; refusals {codes:?}",
        with_ids.len()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn anonymous_callers_reach_only_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let introspection = app
        .gql_as(Some(&app.tenant.admin_token), INTROSPECT, json!({}))
        .await;
    let schema = Schema {
        types: introspection["data"]["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
            .collect(),
    };
    let public = ["login", "register", "refreshToken"];
    let all_fields: Vec<Field> = fields(&introspection, "query", "queryType")
        .into_iter()
        .chain(fields(&introspection, "mutation", "mutationType"))
        .collect();
    for field in all_fields
        .iter()
        .filter(|f| !public.contains(&f.name.as_str()))
    {
        let args: Vec<String> = field
            .args
            .iter()
            .filter(|a| required(&a["type"]))
            .map(|a| {
                let name = a["name"].as_str().unwrap();
                format!(
                    "{name}: {}",
                    schema.literal(name, &a["type"], "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d")
                )
            })
            .collect();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let operation = format!(
            "{} {{ {}{} {} }}",
            field.operation,
            field.name,
            args,
            selection(&schema, &field.returns)
        );
        let response = app.gql_as(None, &operation, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{operation} -> {response}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn roles_get_exactly_their_permissions_in_their_own_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = &app.tenant;
    let create = json!({"input": {"name": "w", "definition": definition()}});
    let register =
        "mutation { registerIntegration(input: {name: \"i\", kind: \"http_api\"}) { id } }";
    let invite = "mutation { inviteUser(email: \"new@example.com\", role: VIEWER) { userId } }";
    // (role, may write workflows, may manage integrations, may invite)
    let expectations = [
        (Role::Admin, true, true, true),
        (Role::User, true, true, false),
        (Role::Executor, false, false, false),
        (Role::Viewer, false, false, false),
    ];
    for (role, writes, integrates, invites) in expectations {
        let token = app.user_token(a, role).await;
        let check = |response: Value, allowed: bool, what: &str| {
            if allowed {
                assert!(
                    response["errors"].is_null(),
                    "{role} should {what}: {response}"
                );
            } else {
                assert_eq!(
                    response["errors"][0]["extensions"]["code"], "FORBIDDEN",
                    "{role} must not {what}: {response}"
                );
            }
        };
        check(
            app.gql_as(Some(&token), CREATE, create.clone()).await,
            writes,
            "create workflows",
        );
        check(
            app.gql_as(Some(&token), register, json!({})).await,
            integrates,
            "register integrations",
        );
        if role != Role::Admin {
            check(
                app.gql_as(Some(&token), invite, json!({})).await,
                invites,
                "invite members",
            );
        }
    }
}
