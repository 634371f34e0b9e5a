//! Conversion between `serde_json::Value` (what the engine stores) and jaq's `Val`.

use jaq_json::{Map, Num, Val};
use serde_json::{Number, Value};

/// Converts a JSON value into a jaq value (always succeeds).
pub(crate) fn to_jaq(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(number_to_jaq(n)),
        Value::String(s) => Val::from(s.clone()),
        Value::Array(items) => items.iter().map(to_jaq).collect(),
        Value::Object(fields) => Val::obj(
            fields
                .iter()
                .map(|(k, v)| (Val::from(k.clone()), to_jaq(v)))
                .collect::<Map>(),
        ),
    }
}

fn number_to_jaq(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::from_integral(i)
    } else if let Some(u) = n.as_u64() {
        Num::from_integral(u)
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a jaq value back into JSON.
///
/// jq's data model is slightly larger than JSON's, so a few cases are mapped:
/// * NaN becomes `null` and ±infinity becomes ±`f64::MAX`, as jq prints them;
/// * a float with no fractional part (e.g. `10 / 2`) becomes an integer if it fits in 2^53,
///   so `5` renders as `5` rather than `5.0`;
/// * byte strings (from `tobytes`) become text, invalid UTF-8 replaced by U+FFFD;
/// * objects with non-string keys (`{(1): 2}`) are an error, as they are in jq.
pub(crate) fn from_jaq(value: &Val) -> Result<Value, String> {
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_from_jaq(n),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Val::Arr(items) => Value::Array(items.iter().map(from_jaq).collect::<Result<_, _>>()?),
        Val::Obj(fields) => {
            let mut map = serde_json::Map::with_capacity(fields.len());
            for (k, v) in fields.iter() {
                let key = match k {
                    Val::TStr(bytes) | Val::BStr(bytes) => {
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                    other => return Err(format!("object key {other} is not a string")),
                };
                map.insert(key, from_jaq(v)?);
            }
            Value::Object(map)
        }
    })
}

/// Largest integer below which every integer is exactly representable as an `f64`.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

fn num_from_jaq(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::BigInt(big) => {
            let text = big.to_string();
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = text.parse::<u64>() {
                Value::from(u)
            } else {
                float_to_json(text.parse::<f64>().unwrap_or(f64::NAN))
            }
        }
        Num::Float(f) => float_to_json(*f),
        // A decimal literal from the program text, e.g. `1.50`.
        Num::Dec(text) => match text.parse::<f64>() {
            Ok(f) => float_to_json(f),
            Err(_) => Value::Null,
        },
    }
}

fn float_to_json(f: f64) -> Value {
    if f.is_nan() {
        Value::Null
    } else if f.is_infinite() {
        Value::from(if f > 0.0 { f64::MAX } else { f64::MIN })
    } else if f.fract() == 0.0 && f.abs() < EXACT_INT_LIMIT {
        // Exact: |f| < 2^53 and integral, so the cast loses nothing.
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_jaq() {
        let v =
            json!({"a": [1, -2, 2.5, u64::MAX, i64::MIN], "b": {"c": null, "d": true}, "e": "ü"});
        assert_eq!(from_jaq(&to_jaq(&v)).unwrap(), v);
    }

    #[test]
    fn key_order_is_preserved() {
        let v: Value = serde_json::from_str(r#"{"z": 1, "a": 2}"#).unwrap();
        let back = from_jaq(&to_jaq(&v)).unwrap();
        let keys: Vec<_> = back.as_object().unwrap().keys().cloned().collect();
        let expected: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn special_floats_are_mapped_like_jq() {
        assert_eq!(float_to_json(f64::NAN), Value::Null);
        assert_eq!(float_to_json(f64::INFINITY), json!(f64::MAX));
        assert_eq!(float_to_json(f64::NEG_INFINITY), json!(f64::MIN));
        assert_eq!(float_to_json(5.0), json!(5));
        assert_eq!(float_to_json(0.5), json!(0.5));
        assert_eq!(float_to_json(1e300), json!(1e300));
    }
}
