//! Checked versions of the operations that can build huge values or recurse over deep ones:
//! arithmetic (`+`, `-`, `*`), turning values into text, and the guards that run before some
//! of jaq's natives (see `natives`). Each refuses what would exceed the budget (see `budget`)
//! and counts what it builds against `max_memory`.

use bytes::Bytes;
use jaq_core::Error;
use jaq_json::{Num, Rc, Val};
use jaq_std::ValT as _;

use crate::budget::{self, charge, new_bytes};
use crate::limits::MAX_VALUE_DEPTH;
use crate::measure::{measure, Bounds, Oversize};

type ValR = Result<Val, Error<Val>>;

/// Most element comparisons a guarded operation on two strings or arrays may need (`indices`
/// and `contains` compare every pair).
const MAX_PAIR_WORK: usize = 50_000_000;

/// Longest run of digits `fromjson` accepts: parsing a huge integer takes quadratic time.
const MAX_NUMBER_CHARS: usize = 1000;

fn shared<T>(rc: &Rc<T>) -> bool {
    Rc::strong_count(rc) > 1
}

fn shared_bytes(bytes: &Bytes) -> bool {
    !bytes.is_unique()
}

/// `l + r`. Appending to an array, object or string that nothing else holds happens in place;
/// otherwise `l` is copied first. Both are counted.
pub(crate) fn add(l: Val, r: Val) -> ValR {
    let copied = match (&l, &r) {
        (Val::Arr(a), Val::Arr(_)) => new_bytes(&r) + if shared(a) { new_bytes(&l) } else { 0 },
        (Val::Obj(a), Val::Obj(_)) => new_bytes(&r) + if shared(a) { new_bytes(&l) } else { 0 },
        (Val::TStr(a) | Val::BStr(a), Val::TStr(b) | Val::BStr(b)) => {
            b.len() + if shared_bytes(a) { a.len() } else { 0 }
        }
        _ => 0,
    };
    charge(copied)?;
    l + r
}

/// `l - r` (jaq removes the elements in place, copying `l` first if it is shared).
pub(crate) fn sub(l: Val, r: Val) -> ValR {
    if let Val::Arr(a) = &l {
        if shared(a) {
            charge(new_bytes(&l))?;
        }
    }
    l - r
}

/// `l * r`, refusing string repetitions longer than `max_length`, merging objects only up to
/// [`MAX_VALUE_DEPTH`] levels, and turning integer products beyond 2^1000 into floats (as jq
/// would) instead of ever bigger integers.
pub(crate) fn mul(l: Val, r: Val) -> ValR {
    match (&l, &r) {
        (Val::TStr(s) | Val::BStr(s), Val::Num(n @ (Num::Int(_) | Num::BigInt(_))))
        | (Val::Num(n @ (Num::Int(_) | Num::BigInt(_))), Val::TStr(s) | Val::BStr(s)) => {
            let times = Val::Num(n.clone()).as_f64().unwrap_or(0.0);
            let max = budget::max_length();
            let len = s.len();
            if times > 0.0 && len as f64 * times > max as f64 {
                return Err(budget::stop(format!(
                    "repeating a string of {len} bytes {times} times exceeds the length limit \
                     of {max} bytes"
                )));
            }
            charge(len * times.max(0.0) as usize)?;
        }
        (Val::Num(a), Val::Num(b))
            if matches!(a, Num::BigInt(_)) && matches!(b, Num::Int(_) | Num::BigInt(_))
                || matches!(b, Num::BigInt(_)) && matches!(a, Num::Int(_)) =>
        {
            let product = l.as_f64().unwrap_or(0.0) * r.as_f64().unwrap_or(0.0);
            if product.abs() >= 2f64.powi(1000) {
                return Ok(Val::from(product));
            }
        }
        (Val::Obj(a), Val::Obj(_)) => {
            depth_guard(&r)?;
            charge(new_bytes(&r) + if shared(a) { new_bytes(&l) } else { 0 })?;
        }
        _ => {}
    }
    l * r
}

/// Fails unless natives may recurse over `value`: nested at most [`MAX_VALUE_DEPTH`] levels,
/// with at most `max_length` parts.
pub(crate) fn depth_guard(value: &Val) -> Result<(), Error<Val>> {
    let bounds = Bounds {
        depth: MAX_VALUE_DEPTH,
        bytes: usize::MAX,
        nodes: budget::max_length(),
    };
    match measure(value, bounds) {
        Ok(_) => Ok(()),
        Err(Oversize::Deep) => Err(budget::stop(format!(
            "a value nested deeper than the limit of {MAX_VALUE_DEPTH} levels cannot be \
             compared, printed, merged or walked"
        ))),
        Err(Oversize::Large) => Err(budget::stop(format!(
            "a value with more parts than the limit of {} cannot be compared, printed, merged or walked",
            budget::max_length()
        ))),
    }
}

fn pair_work(what: &str, n: usize, m: usize) -> Result<(), Error<Val>> {
    if n.saturating_mul(m) > MAX_PAIR_WORK {
        return Err(budget::stop(format!(
            "`{what}` on {n} and {m} items compares every pair: more than the limit of \
             {MAX_PAIR_WORK} comparisons"
        )));
    }
    Ok(())
}

/// Before `contains($x)`: arrays are searched pair by pair, and values are recursed into.
pub(crate) fn contains_guard(value: &Val, x: &Val) -> Result<(), Error<Val>> {
    if let (Val::Arr(a), Val::Arr(b)) = (value, x) {
        pair_work("contains", a.len(), b.len())?;
    }
    depth_guard(value).and_then(|()| depth_guard(x))
}

/// Before `indices($x)`: sub-strings and sub-arrays are searched at every position.
pub(crate) fn indices_guard(value: &Val, x: &Val) -> Result<(), Error<Val>> {
    match (value, x) {
        (Val::Arr(a), Val::Arr(b)) => pair_work("indices", a.len(), b.len())?,
        (Val::TStr(a) | Val::BStr(a), Val::TStr(b) | Val::BStr(b)) => {
            pair_work("indices", a.len(), b.len())?
        }
        _ => {}
    }
    depth_guard(value).and_then(|()| depth_guard(x))
}

/// `tostring` (strings unchanged) or `tojson` (strings quoted), for values that print to at
/// most `max_length` bytes and nest at most [`MAX_VALUE_DEPTH`] levels.
pub(crate) fn to_text(value: Val, json: bool) -> ValR {
    match value {
        Val::TStr(_) if !json => return Ok(value),
        Val::BStr(bytes) if !json => return Ok(Val::TStr(bytes)),
        _ => {}
    }
    let max = budget::max_length();
    let bounds = Bounds {
        depth: MAX_VALUE_DEPTH,
        bytes: max,
        nodes: max,
    };
    match measure(&value, bounds) {
        Ok(bytes) => charge(bytes)?,
        Err(Oversize::Deep) => {
            return Err(budget::stop(format!(
                "a value nested deeper than the limit of {MAX_VALUE_DEPTH} levels cannot be \
                 turned into text"
            )))
        }
        Err(Oversize::Large) => {
            return Err(budget::stop(format!(
                "a value longer than the limit of {max} bytes as text cannot be turned into text"
            )))
        }
    }
    Ok(Val::utf8_str(value.to_string()))
}

/// Before `fromjson`: refuses JSON nested deeper than [`MAX_VALUE_DEPTH`] or holding a number
/// longer than [`MAX_NUMBER_CHARS`], and counts the text (the values parsed from it take at
/// least as much memory).
pub(crate) fn json_text_guard(value: &Val) -> Result<(), Error<Val>> {
    let (Val::TStr(text) | Val::BStr(text)) = value else {
        return Ok(());
    };
    let (mut depth, mut digits, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text.iter() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        digits = if b.is_ascii_digit() { digits + 1 } else { 0 };
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_VALUE_DEPTH {
            return Err(budget::stop(format!(
                "`fromjson` refuses JSON nested deeper than the limit of {MAX_VALUE_DEPTH} levels"
            )));
        }
        if digits > MAX_NUMBER_CHARS {
            return Err(budget::stop(format!(
                "`fromjson` refuses numbers longer than the limit of {MAX_NUMBER_CHARS} digits"
            )));
        }
    }
    charge(text.len())
}
