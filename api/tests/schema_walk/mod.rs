//! Walking the GraphQL schema through introspection: which fields take ids,
//! and how to build a call to any field with chosen ids, so tests cover
//! fields added later without being edited.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::definition;

/// The introspection query the walk needs.
pub const INTROSPECT: &str = "{ __schema {
  queryType { fields { name args { name type { ...T } } type { ...T } } }
  mutationType { fields { name args { name type { ...T } } type { ...T } } }
  types { name kind inputFields { name type { ...T } } enumValues { name }
          fields { name args { name type { ...T } } type { ...T } } }
} }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The schema's types by name.
pub struct Schema {
    /// Types by name.
    pub types: BTreeMap<String, Value>,
}

/// The named type under NON_NULL and LIST wrappers, and whether it is a list.
pub fn named(t: &Value) -> (&str, &str, bool) {
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

pub fn required(t: &Value) -> bool {
    t["kind"] == "NON_NULL"
}

impl Schema {
    /// Whether a type (or an input object's fields) holds an ID.
    pub fn takes_id(&self, t: &Value) -> bool {
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
    pub fn literal(&self, name: &str, t: &Value, id: &str) -> String {
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
            (_, "NaiveDate") => "\"2030-01-01\"".to_owned(),
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

pub fn graphql_literal(value: &Value) -> String {
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

/// A root field.
pub struct Field {
    /// `query` or `mutation`.
    pub operation: &'static str,
    /// Its name.
    pub name: String,
    /// Its arguments (introspected).
    pub args: Vec<Value>,
    /// Its type (introspected).
    pub returns: Value,
}

/// The root fields of one operation type.
pub fn fields(introspection: &Value, operation: &'static str, key: &str) -> Vec<Field> {
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
pub fn selection(schema: &Schema, returns: &Value) -> String {
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

impl Schema {
    /// The schema of an introspection response.
    pub fn of(introspection: &Value) -> Self {
        Self {
            types: introspection["data"]["__schema"]["types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
                .collect(),
        }
    }
}
