//! Error messages for the people who write expressions: where a compile error is, and what a
//! runtime error says (printed with a bound, whatever value it carries).

use jaq_core::load;
use jaq_json::Val;

use crate::limits::MAX_MESSAGE_BYTES;
use crate::measure::display_cut;
use crate::ROOTS;

/// Turns a jaq exception into a message. Never lets `halt` end the process: jaq's own
/// `unwrap_valr` calls `std::process::exit` for it. Values inside the error are printed with a
/// bound, so a huge or deeply nested one costs little.
pub(crate) fn describe_exception(exn: jaq_core::Exn<'_, Val>) -> String {
    match exn.get_err() {
        Ok(err) => {
            let text = display_cut(&err, MAX_MESSAGE_BYTES);
            // `error("text")` carries a string, which prints quoted: show it without quotes.
            match serde_json::from_str::<String>(&text) {
                Ok(unquoted) => unquoted,
                Err(_) => text,
            }
        }
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("the program called halt (exit code {code})"),
            Err(_) => "internal error in the jq interpreter".to_owned(),
        },
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// "at line L, column C" for a slice of `source` reported by jaq.
pub(crate) fn position(source: &str, part: &str) -> String {
    let range = source.as_bytes().as_ptr_range();
    if !(range.start <= part.as_ptr() && part.as_ptr() <= range.end) {
        // Not a slice of the expression (a definition of the built-in library).
        return "in the built-in library".to_owned();
    }
    let (line, col) = line_col(source, load::span(source, part).start);
    format!("line {line}, column {col}")
}

pub(crate) fn describe_load_errors(source: &str, errs: load::Errors<&str, ()>) -> String {
    let mut messages = Vec::new();
    for (_file, err) in errs {
        match err {
            load::Error::Io(errs) => {
                messages.extend(errs.into_iter().map(|(path, e)| format!("{path}: {e}")))
            }
            load::Error::Lex(errs) => messages.extend(errs.into_iter().map(|(expect, found)| {
                format!(
                    "expected {} at {}",
                    expect.as_str(),
                    position(source, found)
                )
            })),
            load::Error::Parse(errs) => messages.extend(errs.into_iter().map(|(expect, found)| {
                let what = if found.is_empty() {
                    "the end of the expression".to_owned()
                } else {
                    format!("`{}`", found.chars().take(20).collect::<String>())
                };
                let at = position(source, found);
                match expect {
                    load::parse::Expect::Nothing => format!("unexpected {what} at {at}"),
                    expect => format!("expected {} but found {what} at {at}", expect.as_str()),
                }
            })),
        }
    }
    messages.join("; ")
}

pub(crate) fn describe_compile_errors(
    source: &str,
    errs: jaq_core::compile::Errors<&str, ()>,
) -> String {
    let mut messages = Vec::new();
    for (_file, errs) in errs {
        for (name, undefined) in errs {
            let what = match &undefined {
                jaq_core::compile::Undefined::Filter(arity) => format!("filter {name}/{arity}"),
                other => format!("{} {name}", other.as_str()),
            };
            let mut message = format!("undefined {what} at {}", position(source, name));
            if matches!(undefined, jaq_core::compile::Undefined::Filter(0))
                && used_as_path_root(source, name)
            {
                message.push_str(&format!(
                    " (to read a field write `.{name}`; without a dot only {} name the context)",
                    ROOTS.join(", ")
                ));
            }
            messages.push(message);
        }
    }
    messages.join("; ")
}

/// Whether `name` (a slice of `source`) is directly followed by `.` or `[`, as in `foo.bar`:
/// then the author probably meant a field of the context.
fn used_as_path_root(source: &str, name: &str) -> bool {
    let range = source.as_bytes().as_ptr_range();
    if !(range.start <= name.as_ptr() && name.as_ptr() <= range.end) {
        return false;
    }
    let end = load::span(source, name).end;
    source[end..].starts_with(['.', '['])
}
