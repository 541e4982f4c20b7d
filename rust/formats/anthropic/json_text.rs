//! Small JSON helpers for the Anthropic fold's messages and tool arguments: where a value sits
//! in a payload (for error positions), compact JSON text (a given tool input as arguments) and
//! Python's `repr` of a value (messages match the reference twin's).

use std::fmt::Write as _;

use crate::json::reader::Reader;
use crate::json::value::Value;
use crate::limits::DEPTH_CEILING;

/// One step of a path into a payload.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Item(usize),
}

/// Byte position where the value at `path` starts in a valid JSON `payload`; with duplicate
/// keys the last one counts. The position of the deepest value found if the path leads
/// nowhere.
pub fn value_position(payload: &[u8], path: &[Step<'_>]) -> usize {
    let mut r = Reader::new(payload, DEPTH_CEILING);
    let _ = r.peek();
    let mut pos = r.pos();
    for step in path {
        match member_position(payload, pos, *step) {
            Some(found) => pos = found,
            None => return pos,
        }
    }
    pos
}

fn member_position(payload: &[u8], pos: usize, step: Step<'_>) -> Option<usize> {
    let mut r = Reader::new(payload, DEPTH_CEILING);
    r.resume_at(pos);
    let mut first = true;
    match step {
        Step::Key(wanted) => {
            if !r.begin_object().ok()? {
                return None;
            }
            let mut found = None;
            while let Some(key) = r.next_key(&mut first).ok()? {
                let _ = r.peek();
                if key == wanted {
                    found = Some(r.pos());
                }
                r.skip_value().ok()?;
            }
            found
        }
        Step::Item(wanted) => {
            if !r.begin_array().ok()? {
                return None;
            }
            let mut count = 0;
            while r.next_element(&mut first).ok()? {
                let _ = r.peek();
                if count == wanted {
                    return Some(r.pos());
                }
                count += 1;
                r.skip_value().ok()?;
            }
            None
        }
    }
}

/// Compact JSON text of `v`, as `orjson.dumps` writes it (numbers keep their text).
pub fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(t) | Value::Raw(t) => out.push_str(t),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Writing to a String cannot fail.
            c if (c as u32) < 0x20 => _ = write!(out, "\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr` of a JSON value, for messages that name an id or a type as the reference
/// does (`'msg_1'`, `None`); containers and numbers are shown as JSON.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        other => {
            let mut out = String::new();
            write_json(other, &mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_path() {
        let p = br#" {"a": 1, "b": {"c": [10, "x"]}, "a": 2}"#;
        assert_eq!(value_position(p, &[]), 1);
        assert_eq!(value_position(p, &[Step::Key("a")]), 37);
        let at = value_position(p, &[Step::Key("b"), Step::Key("c"), Step::Item(1)]);
        assert_eq!(&p[at..at + 3], br#""x""#);
        // A path that leads nowhere: the deepest value found.
        assert_eq!(value_position(p, &[Step::Key("b"), Step::Key("zz")]), 15);
    }

    #[test]
    fn reprs_are_python_s() {
        assert_eq!(py_repr(&Value::string("msg_1")), "'msg_1'");
        assert_eq!(py_repr(&Value::string("it's")), "\"it's\"");
        assert_eq!(py_repr(&Value::Null), "None");
        let mut out = String::new();
        write_json(&Value::string("a\"\n\u{1}é"), &mut out);
        assert_eq!(out, "\"a\\\"\\n\\u0001é\"");
    }
}
