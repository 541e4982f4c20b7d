//! Compact JSON text of a [`Value`]: what `orjson.dumps` (or `json.dumps(...,
//! ensure_ascii=False, separators=(",", ":"))`) writes for the same Python value, key order
//! included, so a caller that only stores or forwards a result never builds Python objects.
//!
//! Strings are escaped as orjson escapes them: `"` and `\` with a backslash, the control
//! characters `\b \t \n \f \r` by name and the others as `\u00XX` (lowercase hex), everything
//! else (DEL, non-ASCII) as UTF-8. Numbers keep the text they arrived with: it reads back as
//! the same Python number (an integer beyond 64 bits reads back as the same float).
//! [`Value::Raw`] text is copied without its insignificant whitespace; a string in it that has
//! an escape is decoded and written again with the escapes above.

use crate::json::reader::{quote_or_space, string_stop, Reader};
use crate::json::value::Value;
use crate::limits::DEPTH_CEILING;

/// What a byte needs inside a JSON string: 0 nothing, else its short escape letter, or `u`.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where compact JSON text goes: a growing buffer, a counter, or a buffer of the counted size.
pub trait Sink {
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn push(&mut self, byte: u8);
    /// Room for at least `additional` more bytes, where that means anything.
    fn reserve(&mut self, additional: usize) {
        let _ = additional;
    }
}

impl Sink for Vec<u8> {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
}

/// Counts the bytes of the text, writing nothing.
struct Measure(usize);

impl Sink for Measure {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn push(&mut self, _byte: u8) {
        self.0 += 1;
    }
}

/// Writes the text into a buffer from its start; what would not fit is counted, not written.
struct Fill<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Sink for Fill<'_> {
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
    fn push(&mut self, byte: u8) {
        if let Some(dst) = self.buf.get_mut(self.at) {
            *dst = byte;
        }
        self.at += 1;
    }
}

/// The compact JSON text of `v`.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(v, &mut out);
    out
}

/// The length of the compact JSON text of `v`: with [`fill`], the text is written straight
/// into a buffer of its size (a Python `bytes`), with no growing copy in between.
pub fn measure(v: &Value) -> usize {
    let mut m = Measure(0);
    write_value(v, &mut m);
    m.0
}

/// Writes the compact JSON text of `v` into `buf` from its start; returns its length (the
/// text is cut where `buf`, shorter than [`measure`] says, ends).
pub fn fill(v: &Value, buf: &mut [u8]) -> usize {
    let mut f = Fill { buf, at: 0 };
    write_value(v, &mut f);
    f.at
}

/// Appends the compact JSON text of `v` to `out`.
pub fn write_value<S: Sink>(v: &Value, out: &mut S) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(text) => out.extend_from_slice(text.as_bytes()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
        Value::Raw(text) => write_raw(text, out),
    }
}

/// Appends `s` as a JSON string.
pub fn write_str<S: Sink>(s: &str, out: &mut S) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    // The bytes that need an escape are the ones a JSON string cannot hold as they are, where
    // `string_stop` stops.
    while let Some(rest) = bytes.get(run..) {
        let n = string_stop(rest);
        out.extend_from_slice(rest.get(..n).unwrap_or_default());
        let Some(&b) = rest.get(n) else { break };
        run += n + 1;
        let escape = ESCAPE[usize::from(b)];
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
    }
    out.push(b'"');
}

/// Appends validated JSON text (see [`Value::Raw`]) without insignificant whitespace. A string
/// without a backslash is copied as it is: validated JSON has no raw control character in a
/// string, so the copy is what [`write_str`] would write for it. Text without whitespace
/// between tokens and without escapes (logprobs entries as servers send them) goes out in one
/// copy.
fn write_raw<S: Sink>(text: &str, out: &mut S) {
    let bytes = text.as_bytes();
    // `bytes[done..i]` is compact text not yet written.
    let mut done = 0;
    let mut i = 0;
    while let Some(rest) = bytes.get(i..) {
        i += quote_or_space(rest);
        match bytes.get(i) {
            None => break,
            Some(b'"') => {
                let rest = bytes.get(i + 1..).unwrap_or_default();
                let n = string_stop(rest);
                if rest.get(n) == Some(&b'"') {
                    i += n + 2;
                    continue;
                }
                out.extend_from_slice(bytes.get(done..i).unwrap_or_default());
                let tail = bytes.get(i..).unwrap_or_default();
                let mut r = Reader::new(tail, DEPTH_CEILING);
                if let Ok(Some(s)) = r.take_string() {
                    write_str(&s, out);
                    i += r.pos().max(1);
                    done = i;
                } else {
                    // Not reached for validated text; keep the rest as it is.
                    out.extend_from_slice(tail);
                    return;
                }
            }
            // Whitespace: validated text has no other byte up to 0x20 outside strings.
            Some(_) => {
                out.extend_from_slice(bytes.get(done..i).unwrap_or_default());
                i += 1;
                done = i;
            }
        }
    }
    out.extend_from_slice(bytes.get(done..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::reader::parse;
    use crate::json::value::Map;

    fn text(v: &Value) -> String {
        String::from_utf8(to_vec(v)).unwrap_or_default()
    }

    /// `measure` and `fill` give the text `to_vec` gives, escapes and raw text included.
    #[test]
    fn measured_and_filled_text_is_the_text() {
        let v = Value::Array(vec![
            Value::String("a\"b\\c\n\u{1}é".into()),
            Value::Raw(" { \"k\" : [1, \"x\\ty\"] } ".into()),
            Value::Null,
        ]);
        let text = to_vec(&v);
        assert_eq!(
            text,
            r#"["a\"b\\c\n\u0001é",{"k":[1,"x\ty"]},null]"#.as_bytes().to_vec()
        );
        assert_eq!(measure(&v), text.len());
        let mut buf = vec![0u8; text.len()];
        assert_eq!(fill(&v, &mut buf), text.len());
        assert_eq!(buf, text);
        let mut short = vec![0u8; 5];
        assert_eq!(fill(&v, &mut short), text.len());
        assert_eq!(short, text[..5].to_vec());
    }

    #[test]
    fn strings_are_escaped_as_orjson_escapes_them() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        // Expected text written out by hand from orjson.dumps of the same string.
        let want = concat!(
            r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#,
            r#"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c"#,
            r#"\u001d\u001e\u001f""#
        );
        assert_eq!(text(&Value::String(all_controls)), want);
        assert_eq!(
            text(&Value::string("a\"b\\c/\u{7f}é\u{2028}😀")),
            "\"a\\\"b\\\\c/\u{7f}é\u{2028}😀\""
        );
    }

    #[test]
    fn containers_are_compact_and_keep_key_order() {
        let mut m = Map::new();
        m.insert("z".into(), Value::int(1));
        m.insert(
            "a".into(),
            Value::Array(vec![Value::Null, Value::Bool(true)]),
        );
        m.insert("e".into(), Value::Object(Map::new()));
        m.insert("n".into(), Value::Number("-1.5e3".into()));
        assert_eq!(
            text(&Value::Object(m)),
            r#"{"z":1,"a":[null,true],"e":{},"n":-1.5e3}"#
        );
        assert_eq!(text(&Value::Array(Vec::new())), "[]");
    }

    /// Raw text is written as the tree it parses to would be: copied runs, dropped whitespace
    /// and rewritten escapes in every position, strings shorter and longer than eight bytes.
    #[test]
    fn raw_text_is_written_as_its_tree() {
        let raws = [
            r#"{"token":" first","logprob":-0.4778760378,"bytes":[32,102,105,114,115,116],"top_logprobs":[{"token":" are","logprob":-0.586137149,"bytes":[32,97,114,101]}]}"#,
            r#"{"token":" \"","logprob":-1.8,"bytes":[32,34],"top_logprobs":[]}"#,
            "{\"token\":\"caf\u{e9} \u{1f600} long enough to span words\",\"bytes\":[]}",
            " [ \"a b\" , \"\\u00e9\\n tail of the string\" ,{ } , [ ] , 1e5 ]\n",
            r#""x\/y""#,
            r#""""#,
            "\t\r\n 7 ",
            r#"{"a":"\u0001 more than eight bytes","b":"\\","c":"plain text again here"}"#,
        ];
        for raw in raws {
            let tree = parse(raw.as_bytes(), 16).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            let want = text(&tree);
            assert_eq!(text(&Value::Raw(raw.into())), want, "{raw}");
            assert_eq!(measure(&Value::Raw(raw.into())), want.len(), "{raw}");
        }
    }

    #[test]
    fn raw_text_loses_whitespace_and_its_escapes_are_rewritten() {
        let raw =
            "{ \"t\" : \"a\\u00e9\\/b\\u0001\" ,\n\"n\": [1, 2.5e-3 , true,null ], \"s\":\"x y\"}";
        let got = text(&Value::Raw(raw.into()));
        assert_eq!(
            got,
            "{\"t\":\"aé/b\\u0001\",\"n\":[1,2.5e-3,true,null],\"s\":\"x y\"}"
        );
        // The written text reads back as the same value as the raw text.
        let back = parse(got.as_bytes(), 16).ok();
        let orig = parse(raw.as_bytes(), 16).ok();
        assert!(back.is_some() && back == orig);
    }
}
