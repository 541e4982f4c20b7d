//! A Gemini call's arguments as JSON text that only grows, for its argument delta events.
//!
//! Gemini sends a call's arguments either whole (`args`) or as `partialArgs` entries, each a
//! value at a JSON path. The chat event vocabulary wants text fragments whose concatenation is
//! the arguments, so each entry is written as the piece of the JSON document it adds: keys and
//! brackets down to its path, then its value (a continuing string stays open, its next pieces
//! append to it), and the call's end closes what is open. While entries come in document
//! order (every recorded stream) the text is the compact JSON of the final `args`. An entry that
//! goes back into what was written (a key seen before, an earlier array index, another root)
//! cannot be expressed by appending: the text stops there ("broken") and only the call's
//! `.done` carries the final arguments. The twin is `_ArgsText` in reference/gemini.py.

use std::collections::HashSet;

use super::path::Step;
use super::{json_text, write_string};
use crate::json::value::Value;

/// An open container of the text.
struct Frame {
    object: bool,
    /// Members written so far.
    children: usize,
    /// Objects: the keys written.
    keys: HashSet<String>,
}

impl Frame {
    fn new(object: bool) -> Self {
        Frame {
            object,
            children: 0,
            keys: HashSet::new(),
        }
    }

    fn closer(&self) -> char {
        if self.object {
            '}'
        } else {
            ']'
        }
    }
}

#[derive(Default)]
pub struct ArgsText {
    /// Open containers from the root.
    frames: Vec<Frame>,
    /// `steps[i]` leads from `frames[i]` to `frames[i + 1]`.
    steps: Vec<Step>,
    open_string: bool,
    /// A whole `args` was written.
    whole: bool,
    broken: bool,
}

impl ArgsText {
    /// A whole `args`: its compact JSON, if nothing was written yet.
    pub fn args(&mut self, value: &Value) -> Option<String> {
        if self.whole || !self.frames.is_empty() || self.broken {
            self.broken = true;
            return None;
        }
        self.whole = true;
        Some(json_text(value))
    }

    /// The text that writes one `partialArgs` entry; None once the text cannot follow.
    /// `append`: the entry continues the open string at its path (the fold's rule).
    pub fn add(
        &mut self,
        path: &[Step],
        value: &Value,
        string: bool,
        will_continue: bool,
        append: bool,
    ) -> Option<String> {
        if self.broken {
            return None;
        }
        if append {
            let mut piece = string_body(value);
            if !will_continue {
                piece.push('"');
                self.open_string = false;
            }
            return Some(piece);
        }
        if self.whole || !matches!(path.first(), Some(Step::Key(_))) {
            self.broken = true;
            return None;
        }
        let mut out = String::new();
        if self.open_string {
            out.push('"');
            self.open_string = false;
        }
        if self.frames.is_empty() {
            out.push('{');
            self.frames.push(Frame::new(true));
        }
        let parent = path.len() - 1;
        let shared = self
            .steps
            .iter()
            .zip(&path[..parent])
            .take_while(|(a, b)| a == b)
            .count();
        while self.frames.len() > shared + 1 {
            if let Some(frame) = self.frames.pop() {
                out.push(frame.closer());
            }
            self.steps.pop();
        }
        for (at, step) in path.iter().enumerate().skip(shared) {
            let frame = self.frames.last_mut()?;
            match (frame.object, step) {
                (true, Step::Key(key)) if !frame.keys.contains(key) => {
                    frame.keys.insert(key.clone());
                    if frame.children > 0 {
                        out.push(',');
                    }
                    write_string(&mut out, key);
                    out.push(':');
                }
                (false, &Step::Index(index)) if index >= frame.children => {
                    while frame.children < index {
                        out.push_str(if frame.children > 0 { ",null" } else { "null" });
                        frame.children += 1;
                    }
                    if frame.children > 0 {
                        out.push(',');
                    }
                }
                _ => {
                    self.broken = true;
                    return None;
                }
            }
            frame.children += 1;
            if let Some(next) = path.get(at + 1) {
                let object = matches!(next, Step::Key(_));
                out.push(if object { '{' } else { '[' });
                self.frames.push(Frame::new(object));
                self.steps.push(step.clone());
            }
        }
        if string {
            out.push('"');
            out.push_str(&string_body(value));
            if will_continue {
                self.open_string = true;
            } else {
                out.push('"');
            }
        } else {
            out.push_str(&json_text(value));
        }
        Some(out)
    }

    /// What ends the text (an open string's quote, the open brackets; `{}` when nothing was
    /// written); None when broken.
    pub fn close(&mut self) -> Option<String> {
        if self.broken {
            return None;
        }
        if self.whole {
            return Some(String::new());
        }
        if self.frames.is_empty() {
            return Some("{}".into());
        }
        let mut out = String::new();
        if std::mem::take(&mut self.open_string) {
            out.push('"');
        }
        while let Some(frame) = self.frames.pop() {
            out.push(frame.closer());
        }
        self.steps.clear();
        Some(out)
    }
}

/// A string value's JSON text without its quotes.
fn string_body(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::String(s) => write_string(&mut out, s),
        other => return json_text(other),
    }
    out.pop();
    out.remove(0);
    out
}

#[cfg(test)]
mod tests {
    use super::super::path;
    use super::*;

    fn add(text: &mut ArgsText, args: &mut Value, at: &str, v: Value, more: bool) -> String {
        let steps = path::parse(at).unwrap_or_default();
        let string = matches!(v, Value::String(_));
        let piece = text.add(&steps, &v, string, more, false);
        path::set(args, &steps, v, false);
        piece.unwrap_or_else(|| "<stopped>".into())
    }

    #[test]
    fn in_document_order_the_text_is_the_compact_json_of_the_args() {
        let mut text = ArgsText::default();
        let mut args = Value::Object(crate::json::value::Map::new());
        let mut all = String::new();
        all += &add(&mut text, &mut args, "$.a.s", Value::string("x\"y"), false);
        all += &add(
            &mut text,
            &mut args,
            "$.b[2].c",
            Value::Number("7".into()),
            false,
        );
        all += &add(&mut text, &mut args, "$.b[3]", Value::string("z"), true);
        assert_eq!(all, r#"{"a":{"s":"x\"y"},"b":[null,null,{"c":7},"z"#);
        all += &text.close().unwrap_or_default();
        assert_eq!(all, json_text(&args));
        assert_eq!(all, r#"{"a":{"s":"x\"y"},"b":[null,null,{"c":7},"z"]}"#);
    }

    #[test]
    fn going_back_stops_the_text_and_nothing_written_is_braces() {
        let mut text = ArgsText::default();
        let mut args = Value::Object(crate::json::value::Map::new());
        add(&mut text, &mut args, "$.a[1]", Value::Null, false);
        assert_eq!(
            add(&mut text, &mut args, "$.a[0]", Value::Null, false),
            "<stopped>"
        );
        assert_eq!(text.close(), None);
        assert_eq!(ArgsText::default().close().as_deref(), Some("{}"));
    }
}
