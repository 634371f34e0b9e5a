//! Static checks and rewriting of parsed jq programs, before jaq compiles them.
//!
//! [`check`] rejects what lets an expression recurse or loop without bound: `def` (a
//! definition may call itself) and the library filters defined by recursion over a filter the
//! caller chooses (`repeat`, `recurse(f)`, `while`, `until`, `combinations(n)`). What is left
//! recurses at most as deep as the values it walks (`..`, `walk`, `paths`, `flatten`) and loops
//! over finite generators, except `range`, whose values are counted (see `natives`).
//!
//! [`harden`] then rewrites the program (and, once, jaq's library definitions) so that every
//! source of work passes through `!tick`, which enforces the budget (see `budget`): the right
//! side of every `|`, each branch of `,`, the values of `.[]`, every `reduce`/`foreach`
//! iteration, every arithmetic result, string interpolation and array or object construction,
//! and every `|=` update (`!new` instead of `!tick` where a value was just built, to count its
//! memory). `..` becomes the library's `recurse` (which ticks) except on the left
//! of updates, where jaq's native one updates from the leaves up. `+`, `-` and `*` become
//! natives that count what they build and refuse huge results, interpolation uses a bounded `tostring`, and the body of every
//! `try` has its errors shortened before jaq prints them.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};

/// Name of the definition that holds the user's program, the last of the prelude.
pub(crate) const MAIN: &str = "__jobsprint_main__";

const TICK: &str = "!tick";

/// Library filters expressions may not call: (name, arity, why).
const FORBIDDEN: [(&str, usize, &str); 6] = [
    ("repeat", 1, LOOPS),
    ("recurse", 1, RECURSES),
    ("recurse", 2, RECURSES),
    ("while", 2, LOOPS),
    ("until", 2, LOOPS),
    (
        "combinations",
        1,
        "it repeats its input without bound; build the array of arrays and use `combinations`",
    ),
];

const LOOPS: &str = "it can loop forever; use `limit(n; ...)`, `reduce` or `foreach` over a \
                     finite `range(n)`";
const RECURSES: &str = "it can recurse without end; use `..` to walk a value, or `reduce` or \
                        `foreach` over a finite `range(n)`";

/// A construct [`check`] refuses: the slice of the source it was found at, and why.
#[derive(Debug)]
pub(crate) struct Rejected<'s> {
    /// Part of the source (for the line and column).
    pub at: &'s str,
    /// What is not allowed, and what to do instead.
    pub message: String,
}

/// Refuses definitions and calls of the unbounded library filters anywhere in `term`.
pub(crate) fn check<'s>(term: &Term<&'s str>) -> Result<(), Rejected<'s>> {
    let mut todo = vec![term];
    while let Some(term) = todo.pop() {
        match term {
            Term::Def(defs, _) => {
                return Err(Rejected {
                    at: defs.first().map_or("", |def| def.name),
                    message: "`def` is not allowed in workflow expressions: they may not \
                              define functions"
                        .to_owned(),
                });
            }
            Term::Call(name, args) => {
                let forbidden = FORBIDDEN
                    .iter()
                    .find(|(n, arity, _)| n == name && *arity == args.len());
                if let Some((name, arity, why)) = forbidden {
                    return Err(Rejected {
                        at: name,
                        message: format!("`{name}/{arity}` is not allowed: {why}"),
                    });
                }
                if *name == MAIN {
                    return Err(Rejected {
                        at: name,
                        message: format!("`{MAIN}` is a reserved name"),
                    });
                }
            }
            _ => {}
        }
        children(term, &mut todo);
    }
    Ok(())
}

/// Pushes the direct sub-terms of `term` onto `out`.
fn children<'t, S>(term: &'t Term<S>, out: &mut Vec<&'t Term<S>>) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_) => {}
        Term::Str(_, parts) => out.extend(parts.iter().filter_map(|part| match part {
            StrPart::Term(t) => Some(t),
            _ => None,
        })),
        Term::Arr(t) => out.extend(t.as_deref()),
        Term::Obj(entries) => {
            for (k, v) in entries {
                out.push(k);
                out.extend(v);
            }
        }
        Term::Neg(t) | Term::Label(_, t) => out.push(t),
        Term::BinOp(l, op, r) => {
            out.extend([&**l, &**r]);
            if let BinaryOp::Pipe(Some(pattern)) = op {
                pattern_terms(pattern, out);
            }
        }
        Term::Fold(_, xs, pattern, args) => {
            out.push(xs);
            pattern_terms(pattern, out);
            out.extend(args);
        }
        Term::TryCatch(t, catch) => {
            out.push(t);
            out.extend(catch.as_deref());
        }
        Term::IfThenElse(branches, otherwise) => {
            for (cond, then) in branches {
                out.extend([cond, then]);
            }
            out.extend(otherwise.as_deref());
        }
        Term::Def(defs, t) => {
            out.extend(defs.iter().map(|def| &def.body));
            out.push(t);
        }
        Term::Call(_, args) => out.extend(args),
        Term::Path(t, path) => {
            out.push(t);
            for (part, _) in &path.0 {
                match part {
                    Part::Index(i) => out.push(i),
                    Part::Range(from, to) => out.extend(from.iter().chain(to)),
                }
            }
        }
    }
}

fn pattern_terms<'t, S>(pattern: &'t Pattern<S>, out: &mut Vec<&'t Term<S>>) {
    match pattern {
        Pattern::Var(_) => {}
        Pattern::Arr(items) => items.iter().for_each(|p| pattern_terms(p, out)),
        Pattern::Obj(entries) => {
            for (key, p) in entries {
                out.push(key);
                pattern_terms(p, out);
            }
        }
    }
}

/// Rewrites a definition's body with [`harden`].
pub(crate) fn harden_def(def: Def<&str>) -> Def<&str> {
    Def {
        name: def.name,
        args: def.args,
        body: harden(def.body, false),
    }
}

/// Rewrites `term` so that all its work is counted (see the module documentation). `lhs` is
/// true on the left of an update (`|=`, `=`, `+=`, ... and the argument of `del`), where terms
/// are paths.
pub(crate) fn harden<'s>(term: Term<&'s str>, lhs: bool) -> Term<&'s str> {
    let h = |t: Term<&'s str>| harden(t, false);
    let hb = |t: Box<Term<&'s str>>| Box::new(harden(*t, false));
    let keep = |t: Box<Term<&'s str>>| Box::new(harden(*t, lhs));
    match term {
        Term::Id | Term::Num(_) | Term::Var(_) | Term::Break(_) => term,
        // jaq's native `..` updates from the leaves up: it recurses down to the deepest leaf
        // before any tick can run, so the value's depth is checked first.
        Term::Recurse if lhs => pipe(Term::Call("!depth_guard", Vec::new()), term),
        Term::Recurse => Term::Call("recurse", Vec::new()),
        Term::Str(format, parts) => {
            let interpolated = parts.iter().any(|p| matches!(p, StrPart::Term(_)));
            let parts = parts
                .into_iter()
                .map(|part| match part {
                    StrPart::Term(t) => StrPart::Term(h(t)),
                    other => other,
                })
                .collect();
            if !interpolated {
                return Term::Str(format, parts);
            }
            then_new(Term::Str(format.or(Some("!tostring")), parts))
        }
        Term::Arr(t) => then_new(Term::Arr(t.map(hb))),
        Term::Obj(entries) => then_new(Term::Obj(
            entries.into_iter().map(|(k, v)| (h(k), v.map(h))).collect(),
        )),
        Term::Neg(t) => Term::Neg(hb(t)),
        Term::Label(label, t) => Term::Label(label, keep(t)),
        Term::BinOp(l, op, r) => binop(*l, op, *r, lhs),
        Term::Fold(kind, xs, pattern, args) => {
            let args = args.into_iter().enumerate().map(|(i, arg)| match i {
                0 => h(arg),
                1 => pipe(tick(), harden(arg, lhs)),
                _ => harden(arg, lhs),
            });
            Term::Fold(
                kind,
                Box::new(pipe(h(*xs), tick())),
                harden_pattern(pattern),
                args.collect(),
            )
        }
        Term::TryCatch(t, catch) => Term::TryCatch(
            Box::new(Term::Call("!safe_errors", vec![harden(*t, lhs)])),
            catch.map(hb),
        ),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(cond, then)| (h(cond), harden(then, lhs)))
                .collect(),
            otherwise.map(keep),
        ),
        Term::Def(defs, t) => Term::Def(defs.into_iter().map(harden_def).collect(), keep(t)),
        Term::Call(name, args) => {
            let lhs = lhs || (name == "del" && args.len() == 1);
            Term::Call(name, args.into_iter().map(|a| harden(a, lhs)).collect())
        }
        Term::Path(t, path) => {
            let iterates = path
                .0
                .iter()
                .any(|(part, _)| matches!(part, Part::Range(None, None)));
            let parts = path.0.into_iter().map(|(part, opt)| {
                let part = match part {
                    Part::Index(i) => Part::Index(h(i)),
                    Part::Range(from, to) => Part::Range(from.map(h), to.map(h)),
                };
                (part, opt)
            });
            let path = Term::Path(keep(t), Path(parts.collect()));
            if iterates {
                then_tick(path)
            } else {
                path
            }
        }
    }
}

fn binop<'s>(
    l: Term<&'s str>,
    op: BinaryOp<&'s str>,
    r: Term<&'s str>,
    lhs: bool,
) -> Term<&'s str> {
    let bin = |l, op, r| Term::BinOp(Box::new(l), op, Box::new(r));
    match op {
        BinaryOp::Pipe(pattern) => bin(
            harden(l, lhs),
            BinaryOp::Pipe(pattern.map(harden_pattern)),
            pipe(tick(), harden(r, lhs)),
        ),
        BinaryOp::Comma => bin(
            pipe(tick(), harden(l, lhs)),
            BinaryOp::Comma,
            pipe(tick(), harden(r, lhs)),
        ),
        BinaryOp::Alt => bin(harden(l, lhs), op, harden(r, lhs)),
        BinaryOp::Or | BinaryOp::And | BinaryOp::Cmp(_) => {
            bin(harden(l, false), op, harden(r, false))
        }
        BinaryOp::Math(math) => arithmetic(harden(l, false), math, harden(r, false)),
        BinaryOp::Update => bin(
            harden(l, true),
            BinaryOp::Update,
            pipe(tick(), harden(r, false)),
        ),
        BinaryOp::Assign | BinaryOp::UpdateAlt => bin(harden(l, true), op, harden(r, false)),
        // `l op= r` is `r as $x | l |= . op $x`; spelled out so that the result is checked.
        BinaryOp::UpdateMath(math) => {
            const X: &str = "$!update";
            let update = arithmetic(Term::Id, math, Term::Var(X));
            bin(
                harden(r, false),
                BinaryOp::Pipe(Some(Pattern::Var(X))),
                bin(harden(l, true), BinaryOp::Update, pipe(tick(), update)),
            )
        }
    }
}

/// `l op r`: `+`, `-` and `*` through the checked natives (which count what they build),
/// `/` and `%` counting their result.
fn arithmetic<'s>(l: Term<&'s str>, op: Math, r: Term<&'s str>) -> Term<&'s str> {
    let native = match op {
        Math::Add => "!add",
        Math::Sub => "!sub",
        Math::Mul => "!mul",
        op => return then_new(Term::BinOp(Box::new(l), BinaryOp::Math(op), Box::new(r))),
    };
    then_tick(Term::Call(native, vec![l, r]))
}

fn harden_pattern(pattern: Pattern<&str>) -> Pattern<&str> {
    match pattern {
        Pattern::Var(_) => pattern,
        Pattern::Arr(items) => Pattern::Arr(items.into_iter().map(harden_pattern).collect()),
        Pattern::Obj(entries) => Pattern::Obj(
            entries
                .into_iter()
                .map(|(k, p)| (harden(k, false), harden_pattern(p)))
                .collect(),
        ),
    }
}

fn tick<'s>() -> Term<&'s str> {
    Term::Call(TICK, Vec::new())
}

fn pipe<'s>(l: Term<&'s str>, r: Term<&'s str>) -> Term<&'s str> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

fn then_tick(t: Term<&str>) -> Term<&str> {
    pipe(t, tick())
}

/// `t | !new`: a tick that also counts the memory of the value `t` just built.
fn then_new(t: Term<&str>) -> Term<&str> {
    pipe(t, Term::Call("!new", Vec::new()))
}
