//! Canonical JSON: exactly the text Python prints with
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
//! so an auditor's standard-library script re-derives every chain hash.
//!
//! Keys are sorted by code point (UTF-8 byte order is the same order), strings
//! escape only what Python escapes, integers print as they are and floats as
//! Python's `repr` lays them out (shortest round-trip digits).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Lowercase hex SHA-256 of `text`'s UTF-8 bytes.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(int), _, _) => out.push_str(&int.to_string()),
            (None, Some(int), _) => out.push_str(&int.to_string()),
            (None, None, Some(float)) => out.push_str(&python_float(float)),
            // Only reachable with serde_json's arbitrary precision numbers.
            (None, None, None) => out.push_str(&number.to_string()),
        },
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here rather than trusting the map's order, which
            // serde_json's `preserve_order` feature would change.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `encode_basestring`: `"`, `\` and the control characters below
/// U+0020, nothing else.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ch if (ch as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", ch as u32)),
            ch => out.push(ch),
        }
    }
    out.push('"');
}

/// The shortest significant digits that read back to `value` (finite,
/// not negative) and the decimal exponent of the first: `("12345", -7)` for
/// `1.2345e-7`. Where two such digit strings lie exactly as close to the
/// value, Python (David Gay's `dtoa`) takes the even one; Rust's `{:e}` may
/// take the other, so ties are settled here.
fn shortest_digits(value: f64) -> (String, i32) {
    let (digits, exponent) = split_scientific(&format!("{value:e}"));
    // A tie needs the exact value to end with a 5 just after the shortest
    // digits; f64 values have at most 767 significant digits.
    let (exact, exact_exponent) = split_scientific(&format!("{value:.767e}"));
    let n = digits.len();
    let tie = exact_exponent == exponent
        && exact.len() > n
        && exact.as_bytes()[n] == b'5'
        && exact.as_bytes()[n + 1..].iter().all(|b| *b == b'0');
    if !tie {
        return (digits, exponent);
    }
    let truncated = &exact[..n];
    let last_is_even = truncated
        .bytes()
        .last()
        .is_some_and(|b| matches!(b, b'0' | b'2' | b'4' | b'6' | b'8'));
    let even = if last_is_even {
        truncated.to_owned()
    } else {
        increment(truncated)
    };
    // The even neighbour is Python's answer only if it reads back too.
    let (even_digits, even_exponent) = if even.len() > n {
        (even[..n].to_owned(), exponent + 1)
    } else {
        (even, exponent)
    };
    let candidate = format!("{}e{}", digits_as_number(&even_digits), even_exponent);
    match candidate.parse::<f64>() {
        Ok(parsed) if parsed == value => (trim_zeros(even_digits), even_exponent),
        _ => (digits, exponent),
    }
}

/// `("12345", -7)` from `1.2345e-7`.
fn split_scientific(text: &str) -> (String, i32) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// `"1.2345"` from `"12345"`.
fn digits_as_number(digits: &str) -> String {
    match digits.split_at(1) {
        (first, "") => first.to_owned(),
        (first, rest) => format!("{first}.{rest}"),
    }
}

/// The decimal digit string one greater (`"1299"` → `"1300"`, `"99"` → `"100"`).
fn increment(digits: &str) -> String {
    let mut bytes = digits.as_bytes().to_vec();
    for byte in bytes.iter_mut().rev() {
        if *byte == b'9' {
            *byte = b'0';
        } else {
            *byte += 1;
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    format!("1{}", String::from_utf8_lossy(&bytes))
}

fn trim_zeros(digits: String) -> String {
    let trimmed = digits.trim_end_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Python's `repr(float)`: the shortest digits that read back to the same
/// value, in fixed notation when the decimal point falls within
/// `-4 < point <= 16`, else as `d.ddde+XX`.
fn python_float(value: f64) -> String {
    if !value.is_finite() {
        // JSON cannot carry these; Python would print them so.
        return match value {
            v if v.is_nan() => "NaN".to_owned(),
            v if v > 0.0 => "Infinity".to_owned(),
            _ => "-Infinity".to_owned(),
        };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let (digits, exponent) = shortest_digits(value.abs());
    let mantissa = digits_as_number(&digits);
    let point = exponent + 1;
    if -4 < point && point <= 16 {
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        };
        return format!("{sign}{body}");
    }
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{sign}{mantissa}e{exponent_sign}{:02}",
        exponent.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1234567890123456.7, "1234567890123456.8"),
            (1e22, "1e+22"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            // Exactly halfway between two shortest candidates: the even one.
            (-(1149636667324797.0 + 0.25), "-1149636667324797.2"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float(value), expected, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_only_what_python_escapes() {
        let text = "q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}u\u{1f}\u{7f}é€😀\u{2028}/";
        assert_eq!(
            canonical_json(&json!(text)),
            "\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\fz\\u0000u\\u001f\u{7f}é€😀\u{2028}/\""
        );
    }

    #[test]
    fn objects_sort_their_keys_and_use_no_spaces() {
        let value = json!({"b": [1, -2, 3.5, null, true, false], "a": {"é": 1, "z": 2, "Z": 3}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"Z":3,"z":2,"é":1},"b":[1,-2,3.5,null,true,false]}"#
        );
    }

    #[test]
    fn large_integers_stay_integers() {
        let value: Value = serde_json::from_str("[18446744073709551615, -9223372036854775808]")
            .expect("valid JSON");
        assert_eq!(
            canonical_json(&value),
            "[18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
