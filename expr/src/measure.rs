//! Bounded inspection of jaq values: their depth and printed size without recursion, and
//! printing with a cap.
//!
//! jaq's own printing, comparison and dropping recurse once per level of nesting, and values
//! can share sub-values (`[., .]` nested 40 times is tiny in memory but huge once printed).
//! Everything here visits at most a bounded number of nodes and uses an explicit stack, so it
//! is safe on any value.

use std::fmt::{self, Display, Write};

use jaq_json::Val;

/// Why [`measure`] refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// Nested deeper than allowed.
    Deep,
    /// Larger than allowed once printed, or with more nodes than allowed.
    Large,
}

/// Bounds for [`measure`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Deepest nesting accepted (a scalar has depth 0, `[1]` depth 1).
    pub depth: usize,
    /// Largest printed size accepted, in bytes.
    pub bytes: usize,
    /// Most nodes (scalars, arrays, objects, keys) visited.
    pub nodes: usize,
}

/// The size of `value` printed as compact JSON (approximately: string escapes other than
/// quotes and backslashes are not counted), or why it is out of `bounds`.
pub(crate) fn measure(value: &Val, bounds: Bounds) -> Result<usize, Oversize> {
    let mut stack: Vec<(&Val, usize)> = vec![(value, 0)];
    let (mut bytes, mut nodes) = (0usize, 0usize);
    while let Some((value, depth)) = stack.pop() {
        nodes += 1;
        if nodes > bounds.nodes {
            return Err(Oversize::Large);
        }
        bytes = bytes.saturating_add(match value {
            Val::Null => 4,
            Val::Bool(true) => 4,
            Val::Bool(false) => 5,
            Val::Num(n) => printed_len(n),
            Val::TStr(s) | Val::BStr(s) => {
                2 + s.len() + s.iter().filter(|b| matches!(b, b'"' | b'\\')).count()
            }
            Val::Arr(items) => {
                if depth >= bounds.depth {
                    return Err(Oversize::Deep);
                }
                // Every item prints to at least one byte, plus a comma.
                if bytes.saturating_add(2 * items.len()) > bounds.bytes {
                    return Err(Oversize::Large);
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
                1 + items.len().max(1) // `[]`, or brackets and commas
            }
            Val::Obj(fields) => {
                if depth >= bounds.depth {
                    return Err(Oversize::Deep);
                }
                // `"k":v` is at least four bytes, plus a comma.
                if bytes.saturating_add(5 * fields.len()) > bounds.bytes {
                    return Err(Oversize::Large);
                }
                for (key, field) in fields.iter() {
                    stack.push((key, depth + 1));
                    stack.push((field, depth + 1));
                }
                if fields.is_empty() {
                    2
                } else {
                    1 + 2 * fields.len()
                }
            }
        });
        if bytes > bounds.bytes {
            return Err(Oversize::Large);
        }
    }
    Ok(bytes)
}

/// Length of `value` printed with `Display`, without allocating.
fn printed_len(value: &impl Display) -> usize {
    struct Count(usize);
    impl Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    // Counting never fails; a failing `Display` just gives a shorter count.
    let _ = write!(count, "{value}");
    count.0
}

/// `value` printed with `Display`, stopping after `max` bytes. The flag tells whether the
/// text is complete. Printing stops early, so a huge or deeply nested value costs at most
/// `max` bytes of output (and as many levels of recursion).
pub(crate) fn display_bounded(value: &impl Display, max: usize) -> (String, bool) {
    struct Bounded {
        text: String,
        max: usize,
    }
    impl Write for Bounded {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = self.max - self.text.len();
            if s.len() <= room {
                self.text.push_str(s);
                return Ok(());
            }
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&s[..cut]);
            Err(fmt::Error)
        }
    }
    let mut out = Bounded {
        text: String::new(),
        max,
    };
    let complete = write!(out, "{value}").is_ok();
    (out.text, complete)
}

/// Like [`display_bounded`], with `…` appended when the text was cut.
pub(crate) fn display_cut(value: &impl Display, max: usize) -> String {
    let (mut text, complete) = display_bounded(value, max);
    if !complete {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::to_jaq;
    use serde_json::json;

    const WIDE: Bounds = Bounds {
        depth: 100,
        bytes: 1000,
        nodes: 1000,
    };

    #[test]
    fn measures_the_compact_json_size() {
        for value in [
            json!(null),
            json!([1, "a\"b", {"k": [true, false]}]),
            json!({}),
            json!([]),
        ] {
            let printed = to_jaq(&value).to_string();
            assert_eq!(measure(&to_jaq(&value), WIDE), Ok(printed.len()), "{value}");
        }
    }

    #[test]
    fn refuses_deep_and_large_values_without_visiting_them_all() {
        let mut deep = Val::Null;
        for _ in 0..100_000 {
            deep = Val::Arr(vec![deep].into());
        }
        assert_eq!(measure(&deep, WIDE), Err(Oversize::Deep));
        let mut shared = Val::Null;
        for _ in 0..64 {
            shared = Val::Arr(vec![shared.clone(), shared].into());
        }
        let bounds = Bounds {
            depth: 1000,
            ..WIDE
        };
        assert_eq!(measure(&shared, bounds), Err(Oversize::Large));
        let (text, complete) = display_bounded(&shared, 50);
        assert!(!complete && text.len() == 50, "{text}");
        // Dropping 100,000 levels needs more stack than a test thread has: leak it instead.
        std::mem::forget(deep);
    }
}
