//! `{{ expr }}` templates inside one string of a node's config.
//!
//! Syntax:
//! * `{{ expr }}` embeds a jq [`Expression`]; whitespace inside the braces is ignored. The
//!   expression ends at the first `}}` that is not inside a string literal or an object
//!   (`{{ {a: {b: 1}} }}` and `{{ "}}" }}` work).
//! * A string that is exactly one template, apart from surrounding whitespace, renders to
//!   the expression's raw JSON value (number, object, ...), not to a string.
//! * Otherwise each template is replaced by its value as text: strings without quotes,
//!   `null` as nothing, anything else as compact JSON.
//! * Backslashes are special only right before `{{`: `\{{` is a literal `{{`, `\\{{` is a
//!   literal backslash followed by a template (in general, 2n backslashes before `{{` give n
//!   backslashes and a template, 2n+1 give n backslashes and a literal `{{`). A lone `}}` is
//!   just text.

use jaq_json::Val;
use serde_json::Value;

use crate::convert::to_jaq;
use crate::{job, EvalLimits, ExprError, Expression};

/// One string of a config, parsed and with its expressions compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
    /// The string is exactly one `{{ }}` (give or take whitespace): render the raw value.
    whole_value: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expression),
}

impl Template {
    /// Parses `source` and compiles every expression in it.
    ///
    /// Errors: [`ExprError::Template`] for an unclosed `{{` or an empty `{{ }}` (naming the
    /// character position, counted from 1), [`ExprError::Compile`] for an invalid expression.
    pub fn parse(source: &str) -> Result<Template, ExprError> {
        let bytes = source.as_bytes();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                let run = bytes[i..].iter().take_while(|&&b| b == b'\\').count();
                if bytes[i + run..].starts_with(b"{{") {
                    text.extend(std::iter::repeat_n('\\', run / 2));
                    if run % 2 == 1 {
                        text.push_str("{{");
                        i += run + 2;
                    } else {
                        i += run; // the template itself is handled next
                    }
                } else {
                    text.extend(std::iter::repeat_n('\\', run));
                    i += run;
                }
            } else if bytes[i..].starts_with(b"{{") {
                let code_start = i + 2;
                let Some(code_end) = closing_braces(bytes, code_start) else {
                    return Err(problem(format!(
                        "\"{{{{\" at character {} of {} is never closed with \"}}}}\"",
                        char_position(source, i),
                        quoted(source)
                    )));
                };
                let code = source[code_start..code_end].trim();
                if code.is_empty() {
                    return Err(problem(format!(
                        "empty \"{{{{ }}}}\" at character {} of {}",
                        char_position(source, i),
                        quoted(source)
                    )));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Expr(Expression::compile(code)?));
                i = code_end + 2;
            } else {
                // Copy up to the next character that may be special, keeping UTF-8 intact.
                let next = bytes[i + 1..]
                    .iter()
                    .position(|&b| b == b'\\' || b == b'{')
                    .map_or(bytes.len(), |p| i + 1 + p);
                text.push_str(&source[i..next]);
                i = next;
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let expressions = parts.iter().filter(|p| matches!(p, Part::Expr(_))).count();
        let only_space = parts.iter().all(|p| match p {
            Part::Text(t) => t.trim().is_empty(),
            Part::Expr(_) => true,
        });
        Ok(Template {
            source: source.to_owned(),
            whole_value: expressions == 1 && only_space,
            parts,
        })
    }

    /// The string this template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the string contains no `{{ }}` at all (it renders to itself, escapes applied).
    pub fn is_literal(&self) -> bool {
        self.expressions().next().is_none()
    }

    /// Whether the string is a single `{{ }}` and so renders to a raw JSON value.
    pub fn is_whole_value(&self) -> bool {
        self.whole_value
    }

    /// The compiled expressions embedded in the string, in order.
    pub fn expressions(&self) -> impl Iterator<Item = &Expression> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        })
    }

    /// Renders the template against `context` under the default [`EvalLimits`]: the raw value
    /// for a whole-value template, a string otherwise (see the module documentation).
    pub fn render(&self, context: &Value) -> Result<Value, ExprError> {
        self.render_with(context, &EvalLimits::default())
    }

    /// Renders the template against `context`; all its expressions together run under
    /// `limits` (as one evaluation, see [`Expression::eval_with`], which this blocks like).
    pub fn render_with(&self, context: &Value, limits: &EvalLimits) -> Result<Value, ExprError> {
        if self.is_literal() {
            return Ok(Value::String(self.literal_text()));
        }
        let (template, context) = (self.clone(), context.clone());
        let max_bytes = limits.max_output_bytes;
        job::run_blocking(limits, &self.source, move || {
            template.render_here(&to_jaq(&context), max_bytes)
        })
    }

    /// Renders the template to text, even if it is a single `{{ }}`, under the default limits.
    pub fn render_string(&self, context: &Value) -> Result<String, ExprError> {
        if self.is_literal() {
            return Ok(self.literal_text());
        }
        let (template, context) = (self.clone(), context.clone());
        let max_bytes = EvalLimits::default().max_output_bytes;
        job::run_blocking(&EvalLimits::default(), &self.source, move || {
            template.render_string_here(&to_jaq(&context), max_bytes)
        })
    }

    /// The text of a template without expressions.
    fn literal_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text(text) = part {
                out.push_str(text);
            }
        }
        out
    }

    /// [`Template::render_with`] on the current evaluator thread, within its job's budget.
    pub(crate) fn render_here(&self, input: &Val, max_bytes: usize) -> Result<Value, ExprError> {
        if self.whole_value {
            if let Some(expr) = self.expressions().next() {
                let (mut values, _) = expr.run_here(input, 1, false, max_bytes)?;
                return Ok(values.pop().unwrap_or(Value::Null));
            }
        }
        self.render_string_here(input, max_bytes).map(Value::String)
    }

    fn render_string_here(&self, input: &Val, max_bytes: usize) -> Result<String, ExprError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => {
                    let (mut values, _) = expr.run_here(input, 1, false, max_bytes)?;
                    push_as_text(&mut out, &values.pop().unwrap_or(Value::Null));
                }
            }
        }
        Ok(out)
    }
}

/// Appends a value the way it appears inside text: strings without quotes, `null` as
/// nothing, everything else as compact JSON.
pub fn push_as_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

/// Finds the `}}` that ends an expression starting at `from`, skipping jq string literals
/// (including `\( )` interpolations in them) and `{ }` object constructions.
fn closing_braces(bytes: &[u8], from: usize) -> Option<usize> {
    enum Frame {
        /// Inside `{ ... }` in code.
        Brace,
        /// Inside `\( ... )` in a string, with the depth of nested parentheses.
        Interpolation(usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_string = false;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                    stack.push(Frame::Interpolation(0));
                    in_string = false;
                    i += 1;
                }
                b'\\' => i += 1, // skip the escaped character
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match (b, stack.last_mut()) {
                (b'"', _) => in_string = true,
                (b'{', _) => stack.push(Frame::Brace),
                (b'}', None) if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                (b'}', Some(Frame::Brace)) => {
                    stack.pop();
                }
                (b'(', Some(Frame::Interpolation(depth))) => *depth += 1,
                (b')', Some(Frame::Interpolation(0))) => {
                    stack.pop();
                    in_string = true;
                }
                (b')', Some(Frame::Interpolation(depth))) => *depth -= 1,
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn problem(problem: String) -> ExprError {
    ExprError::Template { problem }
}

/// 1-based position in characters of byte offset `byte` in `s`.
fn char_position(s: &str, byte: usize) -> usize {
    s[..byte].chars().count() + 1
}

/// The string in quotes for an error message, shortened if long.
fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::closing_braces;

    fn close(s: &str) -> Option<&str> {
        closing_braces(s.as_bytes(), 0).map(|end| &s[..end])
    }

    #[test]
    fn finds_the_first_top_level_closing_braces() {
        assert_eq!(close(" .a }} tail }}"), Some(" .a "));
        assert_eq!(close(" {a: {b: 1}} }}"), Some(" {a: {b: 1}} "));
        assert_eq!(close(r#" "}}" }}"#), Some(r#" "}}" "#));
        assert_eq!(close(r#" "a\"}}" }}"#), Some(r#" "a\"}}" "#));
        assert_eq!(
            close(r#" "x\({a: "}}"} | .a)y}}" }}"#),
            Some(r#" "x\({a: "}}"} | .a)y}}" "#)
        );
        assert_eq!(
            close(r#" "\((1) + (2))}}" }}"#),
            Some(r#" "\((1) + (2))}}" "#)
        );
        assert_eq!(close(" .a }"), None);
        assert_eq!(close(r#" "}} "#), None);
    }
}
