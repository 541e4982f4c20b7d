//! Recognising input that is not a chat-completions event stream, so that it gets an error
//! naming what it is instead of an empty or silently wrong completion (docs/design.md,
//! "Errors and limits").
//!
//! Two checks, both off the hot path:
//! - [`Head`] watches the first bytes of the input. A body whose first line is not an SSE line
//!   (an HTML page, a JSON error response) is kept, up to [`HEAD_KEEP`] bytes, until the end of
//!   input, where it becomes a `NotEventStream` or `ErrorResponse` error. A real event stream is
//!   recognised within its first few bytes and nothing more is kept.
//! - [`foreign_event`], [`foreign_chunk`] and [`foreign_payload`] look at chunks until one has
//!   been folded: Anthropic, `OpenAI` Responses, Gemini and legacy Completions chunks are valid
//!   JSON objects that would fold into a `chat.completion` with no choices, so they are named
//!   and refused instead. A chunk the chat decoder read is judged from what it read
//!   ([`foreign_chunk`]), so a chat stream's first chunk is read once; one it refused is read
//!   for its keys alone ([`foreign_payload`]).

use std::fmt::Write as _;

use memchr::memmem;

use crate::error::ErrorKind;
use crate::formats::chat::scan::Chunk;
use crate::json::reader as json;
use crate::json::value::Value;

/// The most of a non-SSE body kept for the error (a JSON error response must fit to be read).
pub const HEAD_KEEP: usize = 64 * 1024;
/// How many bytes an error message shows of a non-SSE body.
pub const SHOWN_BYTES: usize = 64;
/// Bytes looked at to decide whether the input starts like an event stream: the longest field
/// name is 5 bytes, so this only runs out on a BOM followed by a dozen blank lines, which is
/// then taken for an event stream.
const PROBE: usize = 16;
const BOM: &[u8] = b"\xEF\xBB\xBF";
const FIELDS: [&[u8]; 4] = [b"data", b"event", b"id", b"retry"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Start {
    #[default]
    Undecided,
    EventStream,
    Other,
}

/// The start of the input: decided from its first line, kept only when it is not SSE.
#[derive(Debug, Default)]
pub struct Head {
    bytes: Vec<u8>,
    start: Start,
}

fn skip_line_ends(bytes: &[u8]) -> &[u8] {
    let at = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes.get(at..).unwrap_or_default()
}

/// What the first non-blank line of `head` says about the input; `full` when no more bytes
/// will be looked at.
fn classify(head: &[u8], full: bool) -> Start {
    let undecided = if full {
        Start::EventStream
    } else {
        Start::Undecided
    };
    let rest = match head.strip_prefix(BOM) {
        Some(rest) => rest,
        None if BOM.starts_with(head) => return undecided,
        None => head,
    };
    let rest = skip_line_ends(rest);
    let Some(&first) = rest.first() else {
        return undecided;
    };
    if first == b':' {
        return Start::EventStream;
    }
    match rest.iter().position(|b| matches!(b, b':' | b'\r' | b'\n')) {
        Some(end) if FIELDS.contains(&rest.get(..end).unwrap_or_default()) => Start::EventStream,
        None if FIELDS.iter().any(|f| f.starts_with(rest)) => undecided,
        Some(_) | None => Start::Other,
    }
}

impl Head {
    /// Looks at the next read of the input (only while the start is undecided or not SSE).
    pub fn see(&mut self, input: &[u8]) {
        match self.start {
            Start::EventStream => {}
            Start::Other => self.keep(input),
            Start::Undecided => {
                let input = if self.bytes.is_empty() {
                    skip_line_ends(input)
                } else {
                    input
                };
                let room = PROBE.saturating_sub(self.bytes.len()).min(input.len());
                let (probe, rest) = input.split_at(room);
                self.bytes.extend_from_slice(probe);
                self.start = classify(&self.bytes, self.bytes.len() >= PROBE);
                match self.start {
                    Start::EventStream => self.bytes = Vec::new(),
                    Start::Other => self.keep(rest),
                    Start::Undecided => {}
                }
            }
        }
    }

    /// Events were dispatched: whatever the first line was, this is an event stream.
    pub fn forget(&mut self) {
        if self.start != Start::EventStream {
            self.start = Start::EventStream;
            self.bytes = Vec::new();
        }
    }

    fn keep(&mut self, input: &[u8]) {
        let room = HEAD_KEEP.saturating_sub(self.bytes.len()).min(input.len());
        self.bytes
            .extend_from_slice(input.get(..room).unwrap_or_default());
    }

    /// At the end of an input that dispatched no event: why it is not an event stream.
    pub fn not_an_event_stream(&self, max_depth: usize) -> Option<ErrorKind> {
        if self.start != Start::Other {
            return None;
        }
        let body = self.bytes.strip_prefix(BOM).unwrap_or(&self.bytes);
        let body = skip_line_ends(body);
        let head = body.get(..SHOWN_BYTES).unwrap_or(body).to_vec();
        let head_len = body.len();
        if let Ok(Value::Object(mut response)) = json::parse(body, max_depth) {
            let is_error_object = response.get("object").and_then(Value::as_str) == Some("error");
            let body = match response.get_mut("error") {
                Some(error) if !error.is_null() => Some(std::mem::take(error)),
                _ if is_error_object => Some(Value::Object(response)),
                _ => None,
            };
            if let Some(body) = body {
                return Some(ErrorKind::ErrorResponse {
                    body,
                    head,
                    head_len,
                });
            }
        }
        Some(ErrorKind::NotEventStream { head, head_len })
    }
}

/// A stream format deltafold recognises but does not fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Anthropic,
    Responses,
    Gemini,
    Completions,
    /// Chunks with a `type` field and no `choices`: some typed-event stream.
    TypedEvents,
}

impl Format {
    /// The short name on `UnsupportedFormatError.format`.
    pub fn id(self) -> &'static str {
        match self {
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
            Format::Gemini => "gemini",
            Format::Completions => "completions",
            Format::TypedEvents => "unknown",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Format::Anthropic => "an Anthropic Messages stream",
            Format::Responses => "an OpenAI Responses stream",
            Format::Gemini => "a Gemini stream",
            Format::Completions => "a legacy Completions stream (text_completion)",
            Format::TypedEvents => "a stream of typed events (a \"type\" field and no \"choices\")",
        }
    }
}

const ANTHROPIC_EVENTS: [&str; 7] = [
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
];

fn format_of_type(name: &str) -> Option<Format> {
    if name == "error" {
        // An error frame is reported as one, whatever the format.
        None
    } else if ANTHROPIC_EVENTS.contains(&name) {
        Some(Format::Anthropic)
    } else if name.starts_with("response.") {
        Some(Format::Responses)
    } else {
        Some(Format::TypedEvents)
    }
}

/// The format an `event:` name announces, when it is a foreign one. Only looked at until a
/// chunk has been folded, before the payload.
pub fn foreign_event(event_type: &[u8]) -> Option<Format> {
    let name = std::str::from_utf8(event_type).unwrap_or_default();
    if ANTHROPIC_EVENTS.contains(&name) {
        Some(Format::Anthropic)
    } else if name.starts_with("response.") {
        Some(Format::Responses)
    } else {
        None
    }
}

/// Whether a payload holds one of the texts a foreign chunk's keys or values would: chat
/// chunks rarely do, so the payload is seldom looked at further.
fn has_hint(data: &[u8]) -> bool {
    let hints: [&[u8]; 4] = [
        b"\"type\"",
        b"\"candidates\"",
        b"\"text\"",
        b"text_completion",
    ];
    hints.iter().any(|h| memmem::find(data, h).is_some())
}

/// The format of a payload the chat decoder took as a chunk (`chunk`, decoded from `data`),
/// when it is a foreign one: the decision of [`foreign_payload`], from what the decoder read
/// rather than by reading the payload again.
pub fn foreign_chunk(data: &[u8], chunk: &Chunk<'_>) -> Option<Format> {
    if !has_hint(data) {
        return None;
    }
    let kind = match chunk.extras.get("type") {
        Some(Value::String(name)) => Some(std::borrow::Cow::Borrowed(name.as_ref())),
        _ => None,
    };
    TopLevel {
        choices: chunk.has_choices.then(|| {
            chunk
                .choices
                .iter()
                .any(|c| c.extras.get("text").is_some() && !c.has_delta)
        }),
        text_completion: chunk.text_completion,
        kind,
        candidates: chunk.extras.get("candidates").is_some(),
    }
    .format()
}

/// The format of a payload that is not a chat-completions chunk, by its keys: for one the chat
/// decoder refused (a foreign chunk often breaks the chat schema), so the error names the
/// format rather than the schema.
pub fn foreign_payload(data: &[u8], max_depth: usize) -> Option<Format> {
    if !has_hint(data) {
        return None;
    }
    // Any JSON error, or a payload that is not an object: not a foreign chunk (the chat
    // decoder's error stands).
    TopLevel::read(data, max_depth).ok()??.format()
}

/// The top-level keys of a payload that tell a foreign chunk, read in one pass that builds
/// nothing. A key given twice counts with its last value, as in the parsed object.
#[derive(Debug, Default)]
struct TopLevel<'a> {
    /// Whether the last `choices` is an array holding an object with a `text` key and no
    /// `delta` key (a legacy Completions choice); `None` without `choices`.
    choices: Option<bool>,
    /// The last `object` is the string `"text_completion"`.
    text_completion: bool,
    /// The text of the last `type` when that is a string (any other value counts as none).
    kind: Option<std::borrow::Cow<'a, str>>,
    candidates: bool,
}

impl<'a> TopLevel<'a> {
    /// `Ok(None)` for a valid payload that is not an object; an error for invalid JSON,
    /// nesting past `max_depth` included, exactly where parsing it would fail.
    fn read(data: &'a [u8], max_depth: usize) -> Result<Option<Self>, json::JsonError> {
        let mut r = json::Reader::new(data, max_depth);
        if !r.begin_object()? {
            return Ok(None);
        }
        let mut top = TopLevel::default();
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            match key.as_ref() {
                "choices" => top.choices = Some(has_text_choice(&mut r)?),
                "object" => {
                    let matched = r.take_string_matching("text_completion")?;
                    if matched.is_none() {
                        r.skip_value()?;
                    }
                    top.text_completion = matched == Some(true);
                }
                "type" => {
                    let name = r.take_string()?;
                    if name.is_none() {
                        r.skip_value()?;
                    }
                    top.kind = name;
                }
                "candidates" => {
                    top.candidates = true;
                    r.skip_value()?;
                }
                _ => r.skip_value()?,
            }
        }
        r.end()?;
        Ok(Some(top))
    }

    /// The foreign format these keys tell, if any: the one decision for a payload read here
    /// and for a chunk the chat decoder read.
    fn format(&self) -> Option<Format> {
        match self.choices {
            Some(text_choice) => {
                (self.text_completion || text_choice).then_some(Format::Completions)
            }
            None => match &self.kind {
                Some(name) => format_of_type(name),
                None if self.candidates => Some(Format::Gemini),
                None => None,
            },
        }
    }
}

/// Reads a `choices` value: whether it is an array holding an object with a `text` key and
/// no `delta` key.
fn has_text_choice(r: &mut json::Reader<'_>) -> Result<bool, json::JsonError> {
    if !r.begin_array()? {
        r.skip_value()?;
        return Ok(false);
    }
    let mut found = false;
    let mut first = true;
    while r.next_element(&mut first)? {
        if !r.begin_object()? {
            r.skip_value()?;
            continue;
        }
        let (mut text, mut delta) = (false, false);
        let mut first_key = true;
        while let Some(key) = r.next_key(&mut first_key)? {
            text |= key == "text";
            delta |= key == "delta";
            r.skip_value()?;
        }
        found |= text && !delta;
    }
    Ok(found)
}

/// Shows the start of a body in a message: quoted, control characters escaped, and `...`
/// when there is more.
pub fn show(head: &[u8], total_len: usize) -> String {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + 8);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7F => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    if total_len > head.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::chat::scan::decode_after;

    fn head_of(reads: &[&[u8]]) -> Head {
        let mut head = Head::default();
        for read in reads {
            head.see(read);
        }
        head
    }

    #[test]
    fn event_streams_are_recognised_early_and_nothing_is_kept() {
        for stream in [
            &b"data: {}\n\n"[..],
            b"\xEF\xBB\xBF\r\ndata:x",
            b": keep-alive\n",
            b"event: x\n",
            b"id\n",
            b"retry: 5\n",
            b"\n\n\ndata",
        ] {
            for split in 0..=stream.len() {
                let (a, b) = stream.split_at(split);
                let head = head_of(&[a, b, b"\nmore"]);
                assert_eq!(head.start, Start::EventStream, "{stream:?} at {split}");
                assert_eq!(head.bytes.capacity(), 0);
                assert!(head.not_an_event_stream(128).is_none());
            }
        }
    }

    #[test]
    fn other_bodies_are_kept_up_to_the_cap() {
        let html = b"\n<!DOCTYPE html><html>";
        for split in 0..=html.len() {
            let (a, b) = html.split_at(split);
            let head = head_of(&[a, b]);
            assert_eq!(head.start, Start::Other);
            assert_eq!(head.bytes, &html[1..]);
        }
        let big = vec![b'x'; HEAD_KEEP + 10];
        let head = head_of(&[&big, b"y"]);
        assert_eq!(head.bytes.len(), HEAD_KEEP);
        let Some(ErrorKind::NotEventStream { head, head_len }) = head.not_an_event_stream(128)
        else {
            panic!("not reported")
        };
        assert_eq!((head.len(), head_len), (SHOWN_BYTES, HEAD_KEEP));
    }

    #[test]
    fn a_json_error_body_is_an_error_response() {
        let body = b"{\n  \"error\": {\"message\": \"bad key\", \"code\": 401}\n}\n";
        let Some(ErrorKind::ErrorResponse { body, .. }) = head_of(&[body]).not_an_event_stream(128)
        else {
            panic!("not an error response")
        };
        let Value::Object(m) = body else {
            panic!("{body:?}")
        };
        assert_eq!(m.get("message"), Some(&Value::string("bad key")));
        assert!(matches!(
            head_of(&[b"{\"id\": 1}"]).not_an_event_stream(128),
            Some(ErrorKind::NotEventStream { .. })
        ));
        assert!(matches!(
            head_of(&[b"{\"object\": \"error\", \"message\": \"m\"}"]).not_an_event_stream(128),
            Some(ErrorKind::ErrorResponse { .. })
        ));
    }

    #[test]
    fn undecided_prefixes_are_not_reported() {
        for stream in [&b""[..], b"da", b"\xEF\xBB", b"\n\n", b"ev"] {
            assert!(head_of(&[stream]).not_an_event_stream(128).is_none());
        }
        assert!(head_of(&[b"dat", b"x"]).not_an_event_stream(128).is_some());
    }

    #[test]
    fn formats() {
        let cases: [(&[u8], &[u8], Option<Format>); 9] = [
            (b"message_start", b"{}", Some(Format::Anthropic)),
            (
                b"",
                br#"{"type":"content_block_delta","index":0}"#,
                Some(Format::Anthropic),
            ),
            (b"response.created", b"{}", Some(Format::Responses)),
            (
                b"",
                br#"{"type":"response.output_text.delta"}"#,
                Some(Format::Responses),
            ),
            (
                b"",
                br#"{"candidates":[{"content":{}}]}"#,
                Some(Format::Gemini),
            ),
            (
                b"",
                br#"{"object":"text_completion","choices":[]}"#,
                Some(Format::Completions),
            ),
            (
                b"",
                br#"{"choices":[{"text":"hi","index":0}]}"#,
                Some(Format::Completions),
            ),
            (b"", br#"{"type":"error","error":{}}"#, None),
            (
                b"",
                br#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"a"}]}}]}"#,
                None,
            ),
        ];
        for (event, data, expected) in cases {
            assert_eq!(by_decoder(event, data, 128), expected, "{data:?}");
            assert_eq!(by_keys(event, data, 128), expected, "{data:?}");
        }
    }

    /// The answer of the chat fold for a first chunk: by the event name, else from the chunk
    /// the decoder read, else (the decoder refused it) by the payload's keys.
    fn by_decoder(event_type: &[u8], data: &[u8], max_depth: usize) -> Option<Format> {
        foreign_event(event_type).or_else(|| match decode_after(data, max_depth, &[]) {
            Ok(decoded) => foreign_chunk(data, &decoded.chunk),
            Err(_) => foreign_payload(data, max_depth),
        })
    }

    /// The answer by the payload's keys alone, whatever the decoder makes of it.
    fn by_keys(event_type: &[u8], data: &[u8], max_depth: usize) -> Option<Format> {
        foreign_event(event_type).or_else(|| foreign_payload(data, max_depth))
    }

    /// The answer as the parsed tree gives it (how `foreign_format` decided before it read
    /// the keys without building the tree): the oracle the one-pass reading must agree with.
    fn by_tree(event_type: &[u8], data: &[u8], max_depth: usize) -> Option<Format> {
        let name = std::str::from_utf8(event_type).unwrap_or_default();
        if ANTHROPIC_EVENTS.contains(&name) {
            return Some(Format::Anthropic);
        }
        if name.starts_with("response.") {
            return Some(Format::Responses);
        }
        let hints: [&[u8]; 4] = [
            b"\"type\"",
            b"\"candidates\"",
            b"\"text\"",
            b"text_completion",
        ];
        if !hints.iter().any(|h| memmem::find(data, h).is_some()) {
            return None;
        }
        let Ok(Value::Object(chunk)) = json::parse(data, max_depth) else {
            return None;
        };
        match chunk.get("choices") {
            Some(choices) => {
                let legacy = chunk.get("object").and_then(Value::as_str) == Some("text_completion")
                    || matches!(choices, Value::Array(list) if list.iter().any(|c| matches!(
                        c, Value::Object(c) if c.contains_key("text") && !c.contains_key("delta")
                    )));
                legacy.then_some(Format::Completions)
            }
            None => match chunk.get("type") {
                Some(Value::String(name)) => format_of_type(name),
                _ if chunk.contains_key("candidates") => Some(Format::Gemini),
                _ => None,
            },
        }
    }

    /// Payloads at the edges of every rule: duplicate keys (the last value counts), escaped
    /// keys and values, values of the wrong type, keys one level down, invalid JSON, depth;
    /// each read by the chat decoder or refused by it.
    const EDGES: [&str; 40] = [
        // Foreign, and refused by the chat decoder (a wrong type in a key it knows).
        r#"{"object":"text_completion","choices":[{"text":"a","index":-1}]}"#,
        r#"{"choices":[{"text":"a","finish_reason":5}]}"#,
        r#"{"type":"message_start","id":5}"#,
        r#"{"candidates":[],"created":"x"}"#,
        r#"{"type":"ping","choices":5}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"code_interpreter"}]}}]}"#,
        r#"{"object":"text_completion","choices":null}"#,
        r#"{"object":"text_completion"}"#,
        r#"{"object":"text_completion","choices":[],"object":"chat.completion.chunk"}"#,
        r#"{"object":"chat.completion.chunk","choices":[],"object":"text_completion"}"#,
        r#"{"object":"text_complet\u0069on","choices":[]}"#,
        r#"{"object":["text_completion"],"choices":[]}"#,
        r#"{"object":"text_completion","choices":[],"object":null}"#,
        r#"{"choices":[{"text":"a","delta":null}]}"#,
        r#"{"choices":[{"text":"a"},{"delta":{}}]}"#,
        r#"{"choices":[1,"text",{"text":null}]}"#,
        r#"{"choices":[{"delta":{"text":"a"}}]}"#,
        r#"{"choices":[{"text":"a"}],"choices":[{"delta":{}}]}"#,
        r#"{"choices":[{"delta":{}}],"choices":[{"text":"a"}]}"#,
        r#"{"choices":{"text":"a"}}"#,
        r#"{"choices":[{"te\u0078t":"a"}]}"#,
        r#"{"type":"message_start","message":{}}"#,
        r#"{"type":"response.created"}"#,
        r#"{"type":"error","error":{"message":"m"}}"#,
        r#"{"type":"something_else"}"#,
        r#"{"type":1,"candidates":[]}"#,
        r#"{"type":null}"#,
        r#"{"type":"ping","type":"error"}"#,
        r#"{"type":"error","type":"ping"}"#,
        r#"{"ty\u0070e":"ping"}"#,
        r#"{"type":"p\u0069ng"}"#,
        r#"{"candidates":null}"#,
        r#"{"x":{"candidates":[]},"y":{"type":"ping"}}"#,
        r#"{"type":"ping","choices":null}"#,
        r#"["type","candidates"]"#,
        r#""text_completion""#,
        r#"{"type":"ping"} x"#,
        r#"{"type":"ping",}"#,
        r#"{"type":"ping","x":[[[[1]]]]}"#,
    ];

    /// The decoder's reading and the one-pass reading give the tree's answer on every edge payload, every prefix of
    /// one (truncated JSON) and every one with a byte changed to one of a few that break or
    /// bend it, at depth limits that cut through the payloads and with and without an event
    /// name.
    #[test]
    fn first_chunk_readings_agree_with_the_parsed_tree() {
        let mut checked = 0usize;
        for edge in EDGES {
            let edge = edge.as_bytes();
            let mut payloads = vec![edge.to_vec()];
            payloads.extend((0..edge.len()).map(|n| edge[..n].to_vec()));
            for at in 0..edge.len() {
                for b in [b'"', b'}', b']', b'\\', b'x', 0x01, 0xff] {
                    let mut p = edge.to_vec();
                    p[at] = b;
                    payloads.push(p);
                }
            }
            for p in &payloads {
                for depth in [1, 2, 3, 4, 128] {
                    for event in [&b""[..], b"message", b"ping", b"response.done"] {
                        let want = by_tree(event, p, depth);
                        let shown = String::from_utf8_lossy(p);
                        assert_eq!(
                            by_decoder(event, p, depth),
                            want,
                            "{shown:?} {depth} {event:?}"
                        );
                        assert_eq!(
                            by_keys(event, p, depth),
                            want,
                            "{shown:?} {depth} {event:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 50_000, "{checked}");
        // The edges themselves give every answer there is, so the comparison covers them all.
        let mut answers: Vec<_> = EDGES
            .iter()
            .map(|e| by_tree(b"", e.as_bytes(), 128))
            .collect();
        answers.dedup();
        for want in [
            None,
            Some(Format::Anthropic),
            Some(Format::Responses),
            Some(Format::Gemini),
            Some(Format::Completions),
            Some(Format::TypedEvents),
        ] {
            assert!(answers.contains(&want), "{want:?} not among {answers:?}");
        }
    }

    #[test]
    fn shown_bytes_are_escaped() {
        assert_eq!(show(b"a\"\\\n\x01\x7f\xff", 7), r#""a\"\\\n\x01\x7f�""#);
        assert_eq!(show(b"ab", 3), "\"ab\"...");
    }
}
