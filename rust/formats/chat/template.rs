//! The fast path for repeated chunk shapes.
//!
//! A live stream sends hundreds of chunks that differ from the previous one in a single string:
//! the content token (or an argument fragment), plus the `obfuscation` padding. Everything
//! else, header, `"choices":[{"index":0,"delta":{"content":`, `"logprobs":null,...`, is
//! byte-identical. After a chunk is fully decoded and applied, [`Template::learn`] records its
//! bytes around that one string, provided re-applying everything else would change nothing.
//! A later payload that has the same bytes around a valid string is then folded in by
//! appending that string alone, with the same result as decoding it in full.
//!
//! Only a byte-exact match is taken: anything else, including an invalid string, goes through
//! the full decoder, which reports errors with their positions.

use std::borrow::Cow;

use crate::formats::chat::assemble::Slot;
use crate::formats::chat::scan::{Chunk, Content, Field, Span};
use crate::json::reader::Reader;
use crate::json::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The bytes around the varying string in one allocation (a live parser keeps one or two
    /// templates): `prefix`, bytes before its opening quote; `middle`, bytes after it, up to
    /// the obfuscation string when a `suffix` follows it, else to the end; `suffix`, bytes
    /// after the obfuscation string.
    bytes: Box<[u8]>,
    prefix_len: usize,
    /// End of `middle` in `bytes`; `bytes` holds a suffix after it when `has_suffix`.
    middle_end: usize,
    has_suffix: bool,
    pub slot: Slot,
    /// Re-applying the chunk sets nothing but its header and first-non-empty values: another
    /// chunk with the same header cannot have changed anything this one would set back.
    plain: bool,
    /// Length of the header (through `"choices":`) at the start of `prefix`.
    header_len: Option<usize>,
}

/// Whether a chunk sets only header values and first-non-empty values (see `Template::plain`).
fn is_plain(chunk: &Chunk<'_>) -> bool {
    let usage_set = matches!(chunk.usage, Field::Set(_));
    !usage_set
        && chunk.extras.is_empty()
        && chunk.choices.iter().all(|c| {
            let finish = matches!(&c.finish_reason, Field::Set(r) if !r.is_empty());
            let tool_extras = c.delta.as_ref().is_some_and(|d| {
                d.tool_calls
                    .iter()
                    .any(|t| !t.extras.is_empty() || !t.function_extras.is_empty())
                    || d.function_call
                        .as_ref()
                        .is_some_and(|f| !f.extras.is_empty())
            });
            !finish && !matches!(c.logprobs, Field::Set(_)) && c.extras.is_empty() && !tool_extras
        })
}

/// The varying string of a chunk, or why there is none.
fn target(chunk: &Chunk<'_>) -> Option<(Slot, Span)> {
    let mut found: Option<(Slot, Span)> = None;
    let mut others = 0usize;
    // Every tool-call fragment makes its call the current one (where a later fragment without
    // an index goes), and a template re-applies only the varying one: a chunk with any other
    // fragment would leave another call current than decoding it in full does.
    let fragments: usize = chunk
        .choices
        .iter()
        .filter_map(|c| c.delta.as_ref())
        .map(|d| d.tool_calls.len())
        .sum();
    let mut offer = |slot: Slot, span: Option<Span>, text: &str| {
        if let Some(span) = span {
            // An empty string appends nothing whatever it is: it is neither the varying string
            // nor in the way of one. (A chunk whose only string is empty, like the role
            // chunk, does not predict the next chunk, so it yields no template.)
            if !text.is_empty() {
                others += usize::from(found.is_some());
                found.get_or_insert((slot, span));
            }
        }
    };
    for c in &chunk.choices {
        let choice = c.index;
        // List values append and would not be idempotent on re-application.
        if c.extras.has_array_value() {
            return None;
        }
        if let Field::Set(lp) = &c.logprobs {
            let appends = |l: &Option<Vec<Value>>| l.as_ref().is_some_and(|v| !v.is_empty());
            if appends(&lp.content) || appends(&lp.refusal) {
                return None;
            }
        }
        let Some(d) = &c.delta else { continue };
        if !d.extras.is_empty() || d.audio.is_some() {
            return None;
        }
        match &d.content {
            Some(Content::Text(t)) => offer(Slot::Content { choice }, d.content_span, t),
            Some(Content::Parts(_)) => return None,
            None => {}
        }
        if let Some(t) = &d.refusal {
            offer(Slot::Refusal { choice }, d.refusal_span, t);
        }
        for t in &d.tool_calls {
            // Without an index a fragment with a name starts a new call: not idempotent.
            let index = t.index?;
            if let Some(a) = &t.arguments {
                offer(Slot::ToolArguments { choice, index }, t.arguments_span, a);
            }
        }
        if let Some(f) = &d.function_call {
            if let Some(a) = &f.arguments {
                offer(Slot::FunctionArguments { choice }, f.arguments_span, a);
            }
        }
    }
    if others > 0 {
        return None;
    }
    let fragments_ok = match found {
        Some((Slot::ToolArguments { .. }, _)) => fragments == 1,
        _ => fragments == 0,
    };
    if !fragments_ok {
        return None;
    }
    found
}

impl Template {
    /// The template of a fully decoded chunk, if it has exactly one varying string and
    /// everything else in it is idempotent.
    pub fn learn(payload: &[u8], chunk: &Chunk<'_>, header_len: Option<usize>) -> Option<Template> {
        let (slot, (start, end)) = target(chunk)?;
        let prefix = payload.get(..start)?;
        let (middle, suffix) = match chunk.obfuscation_span {
            Some((os, oe)) if os >= end => (payload.get(end..os)?, Some(payload.get(oe..)?)),
            _ => (payload.get(end..)?, None),
        };
        let mut bytes =
            Vec::with_capacity(prefix.len() + middle.len() + suffix.map_or(0, <[u8]>::len));
        bytes.extend_from_slice(prefix);
        bytes.extend_from_slice(middle);
        bytes.extend_from_slice(suffix.unwrap_or_default());
        Some(Template {
            bytes: bytes.into_boxed_slice(),
            prefix_len: prefix.len(),
            middle_end: prefix.len() + middle.len(),
            has_suffix: suffix.is_some(),
            slot,
            plain: is_plain(chunk),
            header_len: header_len.filter(|n| *n <= start),
        })
    }

    fn prefix(&self) -> &[u8] {
        self.bytes.get(..self.prefix_len).unwrap_or_default()
    }

    fn middle(&self) -> &[u8] {
        self.bytes
            .get(self.prefix_len..self.middle_end)
            .unwrap_or_default()
    }

    fn suffix(&self) -> Option<&[u8]> {
        self.has_suffix
            .then(|| self.bytes.get(self.middle_end..).unwrap_or_default())
    }

    /// The header (through `"choices":`) of the chunk this template was learned from.
    pub fn header(&self) -> Option<&[u8]> {
        self.header_len.and_then(|n| self.prefix().get(..n))
    }

    /// Whether this template stays valid after a chunk with header `header` was applied in
    /// full: only a plain template, and only if that header is byte-identical to its own.
    pub fn survives(&self, header: Option<&[u8]>) -> bool {
        match (self.plain, self.header_len, header) {
            (true, Some(n), Some(h)) => self.prefix().get(..n) == Some(h),
            _ => false,
        }
    }

    /// The varying string, if `payload` has this template's shape around a valid string.
    pub fn read<'a>(&self, payload: &'a [u8]) -> Option<Cow<'a, str>> {
        let (prefix, middle) = (self.prefix(), self.middle());
        if !payload.starts_with(prefix) || payload.get(prefix.len()) != Some(&b'"') {
            return None;
        }
        // Depth is irrelevant here: only strings are read.
        let mut r = Reader::new(payload, 1);
        r.resume_at(prefix.len());
        let text = r.take_string().ok()??;
        let rest = payload.get(r.pos()..)?;
        match self.suffix() {
            None => (rest == middle).then_some(text),
            Some(suffix) => {
                if !rest.starts_with(middle) {
                    return None;
                }
                let at = r.pos() + middle.len();
                if payload.get(at) != Some(&b'"') {
                    return None;
                }
                r.resume_at(at);
                r.take_string().ok()??;
                let tail = payload.get(r.pos()..)?;
                (tail == suffix).then_some(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::chat::scan::decode_after;

    fn learn(p: &[u8]) -> Option<Template> {
        let d = decode_after(p, 128, &[]).ok()?;
        Template::learn(p, &d.chunk, d.header_len)
    }

    const A: &[u8] = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#;

    #[test]
    fn same_shape_reads_the_new_string_even_with_other_obfuscation() {
        let t = learn(A);
        assert_eq!(
            t.as_ref().map(|t| t.slot),
            Some(Slot::Content { choice: 0 })
        );
        let b = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"llo \"q\""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"zzzzzz"}"#;
        assert_eq!(
            t.as_ref().and_then(|t| t.read(b)).as_deref(),
            Some("llo \"q\"")
        );
    }

    #[test]
    fn anything_else_is_not_matched() {
        let Some(t) = learn(A) else {
            panic!("no template")
        };
        let cases: [&[u8]; 5] = [
            br#"{"id":"y","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#,
            br#"{"id":"x","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"abc"}"#,
            br#"{"id":"x","choices":[{"index":0,"delta":{"content":"a\q"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#,
            br#"{"id":"x","choices":[{"index":0,"delta":{"content":5},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#,
            br#"{"id":"x","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"} x"#,
        ];
        for c in cases {
            assert_eq!(t.read(c), None, "{}", String::from_utf8_lossy(c));
        }
        let ctrl = b"{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\x01\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,\"obfuscation\":\"abc\"}";
        assert_eq!(t.read(ctrl), None);
    }

    #[test]
    fn plain_templates_survive_chunks_with_the_same_header_only() {
        let Some(t) = learn(A) else {
            panic!("no template")
        };
        let same = br#"{"id":"x","choices":[{"index":1,"delta":{"content":"B"}}]}"#;
        let other = br#"{"id":"z","choices":[{"index":1,"delta":{"content":"B"}}]}"#;
        let header = |p: &[u8]| {
            decode_after(p, 128, &[])
                .ok()
                .and_then(|d| d.header_len)
                .map(|n| p[..n].to_vec())
        };
        assert!(t.survives(header(same).as_deref()));
        assert!(!t.survives(header(other).as_deref()));
        assert!(!t.survives(None));
        let finishing =
            br#"{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#;
        let Some(f) = learn(finishing) else {
            panic!("no template")
        };
        assert!(
            !f.survives(header(same).as_deref()),
            "a template that sets finish_reason is not plain"
        );
    }

    #[test]
    fn chunks_that_would_not_reapply_cleanly_have_no_template() {
        let none: [&[u8]; 5] = [
            br#"{"choices":[{"index":0,"delta":{"content":"a","refusal":"b"}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"t":1}]}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{"}}]}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"a","reasoning_content":"r"}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"a"},"token_ids":[1]}]}"#,
        ];
        for p in none {
            assert_eq!(learn(p), None, "{}", String::from_utf8_lossy(p));
        }
        let tool = learn(br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\""}}]}}]}"#);
        assert_eq!(
            tool.map(|t| t.slot),
            Some(Slot::ToolArguments {
                choice: 0,
                index: 1
            })
        );
    }
}
