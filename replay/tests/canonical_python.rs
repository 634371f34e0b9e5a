//! Our canonical JSON is byte for byte what Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! prints, so an auditor's standard-library script re-derives every hash.

use std::io::Write;
use std::process::{Command, Stdio};

use replay::canonical::canonical_json;
use serde_json::{json, Value};

/// Values that stress every rule: escapes, non-ASCII keys and strings,
/// integer limits, floats across the fixed/exponent boundaries.
fn samples() -> Vec<Value> {
    let mut samples = vec![
        json!({"b": 1, "a": [true, false, null], "A": {}, "é": [], "😀": "x", "\u{7f}": 0}),
        json!("\"\\/\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} \u{7f}\u{80}\u{2028}\u{fffd}𝄞"),
        json!([i64::MIN, i64::MAX, u64::MAX, 0, -1]),
        json!({"nested": {"z": [{"y": 1.5}, {"x": "Zoë"}], "a": -0.0}}),
    ];
    let mut floats = vec![
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        2.0 / 3.0,
        1e-4,
        1e-5,
        9.999e-5,
        1e15,
        1e16,
        9.999e15,
        1.0000000000000002,
        123456789012345680.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e21,
        1e22,
        1e23,
        100.0,
        1234.5,
        0.000123456,
        -2.5e-10,
        4.35,
        0.07,
    ];
    // Values exactly halfway between two shortest decimal candidates.
    for i in 0..200 {
        let base = (1u64 << 50) as f64 + i as f64 * 7919.0;
        floats.extend([base + 0.25, base + 0.75, -(base + 0.25)]);
        floats.push(((1u64 << 53) + 2 * i) as f64 * 10.0);
        floats.push(2f64.powi(-(i as i32)));
    }
    // A deterministic spread over many magnitudes (no RNG crate needed).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let value = f64::from_bits(state);
        if value.is_finite() {
            floats.push(value);
        }
        let scaled = (state % 1_000_000) as f64 / 10f64.powi((state % 23) as i32 - 6);
        floats.push(scaled);
    }
    samples.extend(floats.into_iter().map(|f| json!([f])));
    samples
}

#[test]
fn python_prints_the_same_canonical_text() {
    let values = samples();
    let mut input = String::new();
    for value in &values {
        input.push_str(&serde_json::to_string(value).unwrap());
        input.push('\n');
    }
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys\n\
             for line in sys.stdin:\n\
             \x20   obj = json.loads(line)\n\
             \x20   sys.stdout.write(json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False) + '\\n')\n",
        )
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Written from another thread, so a full stdout pipe cannot block both.
    let mut stdin = python.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = python.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let theirs: Vec<&str> = printed.lines().collect();
    assert_eq!(theirs.len(), values.len());
    for (value, theirs) in values.iter().zip(theirs) {
        assert_eq!(canonical_json(value), theirs, "{value:?}");
    }
}
