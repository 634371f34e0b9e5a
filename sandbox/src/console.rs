//! The sandbox's `console`: captured, bounded lines instead of stdout.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rquickjs::function::Rest;
use rquickjs::{Coerced, Ctx, Function, Object, Value};

use crate::engine::Stop;

/// Captured console lines.
#[derive(Default)]
pub(crate) struct Logs {
    pub(crate) lines: Vec<String>,
    pub(crate) dropped: usize,
    pub(crate) max_lines: usize,
    pub(crate) max_bytes: usize,
}

impl Logs {
    fn is_full(&self) -> bool {
        self.lines.len() >= self.max_lines
    }

    fn push(&mut self, mut line: String) {
        if self.is_full() {
            self.dropped += 1;
            return;
        }
        truncate(&mut line, self.max_bytes);
        self.lines.push(line);
    }
}

/// Defines `console` with methods that append to `logs`.
pub(crate) fn install_console<'js>(
    ctx: &Ctx<'js>,
    logs: &Rc<RefCell<Logs>>,
    stop: &Rc<Cell<Option<Stop>>>,
) -> rquickjs::Result<()> {
    let console = Object::new(ctx.clone())?;
    let methods = [
        ("log", ""),
        ("info", ""),
        ("debug", ""),
        ("warn", "[warn] "),
        ("error", "[error] "),
    ];
    for (method, prefix) in methods {
        let logs = Rc::clone(logs);
        let stop = Rc::clone(stop);
        let function = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> rquickjs::Result<()> {
                if logs.borrow().is_full() {
                    logs.borrow_mut().dropped += 1;
                    return Ok(());
                }
                let max_bytes = logs.borrow().max_bytes;
                let mut line = prefix.to_owned();
                for (i, arg) in args.0.into_iter().enumerate() {
                    if line.len() > max_bytes {
                        break;
                    }
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(&log_text(&ctx, arg, &stop)?);
                }
                logs.borrow_mut().push(line);
                Ok(())
            },
        )?;
        console.set(method, function)?;
    }
    ctx.globals().set("console", console)
}

/// Text of one `console.log` argument: strings as they are, other values as JSON when possible.
fn log_text<'js>(
    ctx: &Ctx<'js>,
    arg: Value<'js>,
    stop: &Cell<Option<Stop>>,
) -> rquickjs::Result<String> {
    if let Some(text) = arg.as_string() {
        return text.to_string();
    }
    match ctx.json_stringify(arg.clone()) {
        Ok(Some(text)) => return text.to_string(),
        Ok(None) => {}
        Err(rquickjs::Error::Exception) => {
            let error = ctx.catch();
            if stop.get().is_some() {
                return Err(ctx.throw(error));
            }
        }
        Err(e) => return Err(e),
    }
    if let Some(symbol) = arg.as_symbol() {
        let description = symbol
            .description()
            .ok()
            .and_then(|d| d.as_string().cloned());
        let description = description
            .and_then(|d| d.to_string().ok())
            .unwrap_or_default();
        return Ok(format!("Symbol({description})"));
    }
    // undefined, functions, BigInts, cycles.
    Ok(match arg.get::<Coerced<String>>() {
        Ok(text) => text.0,
        Err(_) => {
            ctx.catch();
            format!("[{}]", arg.type_name())
        }
    })
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub(crate) fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}
