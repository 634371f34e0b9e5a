//! The native filters expressions run with: jaq's, minus the dangerous ones, plus ours that
//! enforce the budget (see `budget`), and definitions that route some of jaq's natives through
//! a guard (see `guards`) and count what they build.

use std::cmp::Ordering;

use jaq_core::box_iter::box_once;
use jaq_core::data::JustLut;
use jaq_core::load::parse::{BinaryOp, Def, Term};
use jaq_core::native::{bome, v};
use jaq_core::{Bind, Cv, Error, Exn, Native, ValR, ValXs};
use jaq_json::Val;

use crate::budget::{charge, new_bytes, tick};
use crate::guards;
use crate::limits::MAX_CAUGHT_ERROR_BYTES;
use crate::measure::display_bounded;

/// The data type our filters run on: plain JSON values, no extra global data.
pub(crate) type Data = JustLut<Val>;

type Fun = (&'static str, Box<[Bind]>, Native<Data>);

/// Natives of jaq left out: `env` would reveal the server's environment variables, the
/// `*_empty` ones print to the server's stderr (ours below do nothing), and `range`/`tojson`
/// are replaced by bounded versions.
const DROPPED: [&str; 5] = ["env", "debug_empty", "stderr_empty", "range", "tojson"];

/// Arguments of a wrapped native.
#[derive(Clone, Copy)]
enum Args {
    None,
    Var,
    Fun,
    VarVar,
}

/// A native of jaq that is renamed (to a name no expression can spell) and called through a
/// definition of its original name, which first runs `guard` (if any) on its input and then
/// counts the value it returns (if `counts`) against `max_memory`.
struct Wrapped {
    name: &'static str,
    renamed: &'static str,
    args: Args,
    guard: Option<&'static str>,
    counts: bool,
}

const fn wrap(name: &'static str, renamed: &'static str, args: Args) -> Wrapped {
    Wrapped {
        name,
        renamed,
        args,
        guard: None,
        counts: true,
    }
}

const fn guarded(w: Wrapped, guard: &'static str, counts: bool) -> Wrapped {
    Wrapped {
        guard: Some(guard),
        counts,
        ..w
    }
}

const WRAPPED: [Wrapped; 33] = [
    guarded(
        wrap("fromjson", "!fromjson", Args::None),
        "!json_text_guard",
        true,
    ),
    guarded(
        wrap("tobytes", "!tobytes", Args::None),
        "!depth_guard",
        true,
    ),
    guarded(wrap("sort", "!sort", Args::None), "!depth_guard", true),
    guarded(wrap("sort_by", "!sort_by", Args::Fun), "!depth_guard", true),
    guarded(
        wrap("group_by", "!group_by", Args::Fun),
        "!depth_guard",
        true,
    ),
    guarded(
        wrap("min_by_or_empty", "!min_by_or_empty", Args::Fun),
        "!depth_guard",
        false,
    ),
    guarded(
        wrap("max_by_or_empty", "!max_by_or_empty", Args::Fun),
        "!depth_guard",
        false,
    ),
    guarded(
        wrap("contains", "!contains", Args::Var),
        "!contains_guard",
        false,
    ),
    guarded(
        wrap("indices", "!indices", Args::Var),
        "!indices_guard",
        true,
    ),
    wrap("ascii_downcase", "!ascii_downcase", Args::None),
    wrap("ascii_upcase", "!ascii_upcase", Args::None),
    wrap("explode", "!explode", Args::None),
    wrap("implode", "!implode", Args::None),
    wrap("reverse", "!reverse", Args::None),
    wrap("keys_unsorted", "!keys_unsorted", Args::None),
    wrap("key_values", "!key_values", Args::None),
    wrap("trim", "!trim", Args::None),
    wrap("ltrim", "!ltrim", Args::None),
    wrap("rtrim", "!rtrim", Args::None),
    wrap("ltrimstr", "!ltrimstr", Args::Var),
    wrap("rtrimstr", "!rtrimstr", Args::Var),
    wrap("escape_html", "!escape_html", Args::None),
    wrap("unescape_html", "!unescape_html", Args::None),
    wrap("escape_sh", "!escape_sh", Args::None),
    wrap("encode_uri", "!encode_uri", Args::None),
    wrap("decode_uri", "!decode_uri", Args::None),
    wrap("encode_base64", "!encode_base64", Args::None),
    wrap("decode_base64", "!decode_base64", Args::None),
    wrap("split_", "!split_", Args::VarVar),
    wrap("matches", "!matches", Args::VarVar),
    wrap("split_matches", "!split_matches", Args::VarVar),
    wrap("path", "!path", Args::Fun),
    wrap("path_value", "!path_value", Args::Fun),
];

/// The native filters, in the form [`jaq_core::Compiler::with_funs`] takes.
pub(crate) fn funs() -> Vec<Fun> {
    let renamed = |name: &str| WRAPPED.iter().find(|w| w.name == name).map(|w| w.renamed);
    jaq_core::funs::<Data>()
        .chain(jaq_std::funs::<Data>())
        .chain(jaq_json::funs::<Data>())
        .filter(|(name, ..)| !DROPPED.contains(name))
        .map(|(name, args, native)| (renamed(name).unwrap_or(name), args, native))
        .chain(ours())
        .collect()
}

/// The definitions of the wrapped natives' original names, e.g.
/// `def contains($a): !contains_guard($a) | !contains($a);` or
/// `def explode: !explode | !new;`. They must come before the library definitions.
pub(crate) fn wrapper_defs() -> Vec<Def<&'static str>> {
    WRAPPED
        .iter()
        .map(|w| {
            let (args, call): (Vec<&str>, Vec<Term<&str>>) = match w.args {
                Args::None => (vec![], vec![]),
                Args::Var => (vec!["$a"], vec![Term::Var("$a")]),
                Args::Fun => (vec!["f"], vec![Term::Call("f", vec![])]),
                Args::VarVar => (vec!["$a", "$b"], vec![Term::Var("$a"), Term::Var("$b")]),
            };
            let mut body = Term::Call(w.renamed, call.clone());
            if let Some(guard) = w.guard {
                let guard_args = match w.args {
                    Args::Var => call,
                    _ => vec![],
                };
                body = pipe(Term::Call(guard, guard_args), body);
            }
            if w.counts {
                body = pipe(body, Term::Call("!new", vec![]));
            }
            Def {
                name: w.name,
                args,
                body,
            }
        })
        .collect()
}

fn pipe<'s>(l: Term<&'s str>, r: Term<&'s str>) -> Term<&'s str> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

fn nothing(_: Cv<'_, Data>) -> ValXs<'_, Val> {
    Box::new(core::iter::empty())
}

/// `f(l; r)` for arithmetic: the native's own input is dropped first, so that `l` (often that
/// same value, as in `reduce ... (.; . + [$x])`) can be updated in place.
fn arithmetic<'a>(cv: Cv<'a, Data>, f: fn(Val, Val) -> ValR<Val>) -> ValXs<'a, Val> {
    let (mut ctx, input) = cv;
    let r = ctx.pop_var();
    let l = ctx.pop_var();
    drop(input);
    bome(f(l, r))
}

/// A native that runs `check` on its input and passes it on.
fn guard<'a>(cv: Cv<'a, Data>, check: fn(&Val) -> Result<(), Error<Val>>) -> ValXs<'a, Val> {
    bome(check(&cv.1).map(|()| cv.1))
}

/// A native that runs `check` on its input and its one argument, and passes the input on.
fn guard_with<'a>(
    mut cv: Cv<'a, Data>,
    check: fn(&Val, &Val) -> Result<(), Error<Val>>,
) -> ValXs<'a, Val> {
    let x = cv.0.pop_var();
    bome(check(&cv.1, &x).map(|()| cv.1))
}

fn ours() -> Vec<Fun> {
    let fun = || -> Box<[Bind]> { [Bind::Fun(())].into() };
    vec![
        ("!tick", v(0), counter(false)),
        ("!new", v(0), counter(true)),
        ("range", v(3), Native::<Data>::new(range)),
        (
            "!add",
            v(2),
            Native::<Data>::new(|cv| arithmetic(cv, guards::add)),
        ),
        (
            "!sub",
            v(2),
            Native::<Data>::new(|cv| arithmetic(cv, guards::sub)),
        ),
        (
            "!mul",
            v(2),
            Native::<Data>::new(|cv| arithmetic(cv, guards::mul)),
        ),
        (
            "!tostring",
            v(0),
            Native::<Data>::new(|cv| bome(guards::to_text(cv.1, false))),
        ),
        (
            "tojson",
            v(0),
            Native::<Data>::new(|cv| bome(guards::to_text(cv.1, true))),
        ),
        (
            "!json_text_guard",
            v(0),
            Native::<Data>::new(|cv| guard(cv, guards::json_text_guard)),
        ),
        (
            "!depth_guard",
            v(0),
            Native::<Data>::new(|cv| guard(cv, guards::depth_guard))
                .with_paths(|cv| {
                    box_once(
                        guards::depth_guard(&cv.1 .0)
                            .map(|()| cv.1)
                            .map_err(Exn::from),
                    )
                })
                .with_update(|cv, f| match guards::depth_guard(&cv.1) {
                    Ok(()) => f(cv.1),
                    Err(e) => box_once(Err(Exn::from(e))),
                }),
        ),
        (
            "!contains_guard",
            v(1),
            Native::<Data>::new(|cv| guard_with(cv, guards::contains_guard)),
        ),
        (
            "!indices_guard",
            v(1),
            Native::<Data>::new(|cv| guard_with(cv, guards::indices_guard)),
        ),
        ("!safe_errors", fun(), safe_errors()),
        ("debug_empty", v(0), Native::<Data>::new(nothing)),
        ("stderr_empty", v(0), Native::<Data>::new(nothing)),
    ]
}

/// `!tick` / `!new`: the identity that counts a step (see `budget`), and for `!new` the memory
/// of the value it passes on, which was just built. Also a path and an update (which count
/// only the step), so that it can sit inside `path(...)` and on the left of `|=`.
fn counter(new: bool) -> Native<Data> {
    let run = if new {
        Native::<Data>::new(|cv| {
            bome(
                tick(&cv.1)
                    .and_then(|()| charge(new_bytes(&cv.1)))
                    .map(|()| cv.1),
            )
        })
    } else {
        Native::<Data>::new(|cv| bome(tick(&cv.1).map(|()| cv.1)))
    };
    run.with_paths(|cv| box_once(tick(&cv.1 .0).map(|()| cv.1).map_err(Exn::from)))
        .with_update(|cv, f| match tick(&cv.1) {
            Ok(()) => f(cv.1),
            Err(e) => box_once(Err(Exn::from(e))),
        })
}

/// `range($from; $to; $by)` as in jaq, with a tick per value.
fn range(mut cv: Cv<'_, Data>) -> ValXs<'_, Val> {
    enum Next {
        Value(Val),
        Fail(Error<Val>),
        Done,
    }
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let mut next = Next::Value(cv.0.pop_var());
    let direction = by
        .partial_cmp(&Val::from(0usize))
        .unwrap_or(Ordering::Equal);
    Box::new(core::iter::from_fn(move || {
        match std::mem::replace(&mut next, Next::Done) {
            Next::Done => None,
            Next::Fail(e) => Some(Err(Exn::from(e))),
            Next::Value(x) => {
                let more = match direction {
                    Ordering::Greater => x < to,
                    Ordering::Less => x > to,
                    Ordering::Equal => x != to,
                };
                if !more {
                    return None;
                }
                if let Err(e) = tick(&x) {
                    return Some(Err(Exn::from(e)));
                }
                next = match x.clone() + by.clone() {
                    Ok(y) => Next::Value(y),
                    Err(e) => Next::Fail(e),
                };
                Some(Ok(x))
            }
        }
    }))
}

/// `!safe_errors(f)`: `f`, with errors that print to more than [`MAX_CAUGHT_ERROR_BYTES`]
/// replaced by their first bytes. It wraps the body of every `try`: jaq prints an error
/// (including any value inside it, without limit) when `try` catches it.
fn safe_errors() -> Native<Data> {
    Native::<Data>::new(|mut cv| {
        let (f, fc) = cv.0.pop_fun();
        Box::new(f.run((fc, cv.1)).map(|r| r.map_err(shorten)))
    })
    .with_paths(|mut cv| {
        let (f, fc) = cv.0.pop_fun();
        Box::new(f.paths((fc, cv.1)).map(|r| r.map_err(shorten)))
    })
}

fn shorten(exn: Exn<'_, Val>) -> Exn<'_, Val> {
    match exn.get_err() {
        Ok(err) => match display_bounded(&err, MAX_CAUGHT_ERROR_BYTES) {
            (_, true) => Exn::from(err),
            (text, false) => Exn::from(Error::str(text + "…")),
        },
        Err(other) => other,
    }
}
