//! Gemini `streamGenerateContent?alt=sse`: every event is a whole `GenerateContentResponse`;
//! the fold merges them into one (docs: docs/formats.md "Gemini").
//!
//! - Candidates by `index` (default 0), output sorted by index.
//! - Parts: a text part merges into the previous part when both are text parts with the same
//!   `thought` flag (the merged part keeps the last `thoughtSignature`); an empty text part
//!   carrying only a `thoughtSignature` sets it on the previous part, of any type; an empty
//!   text part carrying nothing else adds nothing; other parts are appended.
//! - A `functionCall` without a `name` continues the previous part's call while that call said
//!   `willContinue`; its `partialArgs` build the call's `args` (a `stringValue` whose previous
//!   fragment at the same path said `willContinue` is appended, every other value is set).
//! - Every other top-level, candidate and content key: last non-null (a key sent only as null
//!   appears, null).
//! - Complete once every candidate seen has a `finishReason` (one candidate: once it has one);
//!   `{"error": ...}` is an in-band error.
//!
//! Events (`choice_index`: the candidate's index): `content.delta` per non-empty text part
//! (snapshot: the candidate's text so far), `reasoning.delta` for `thought` text (field
//! `thought`), tool argument deltas as JSON text that only grows ([`args_text`]; `index`: the
//! call's position among the candidate's calls); when the candidate's `finishReason` arrives
//! (else at the end) `content.done` / `reasoning.done` if it has such text, then per call the
//! closing delta and the `.done`; `usage` when a chunk's `usageMetadata` differs from the last.
//!
//! The payload is read with a targeted scanner: values the fold only keeps (usage, safety
//! ratings, signatures' neighbours) are validated and kept as their JSON text
//! ([`Value::Raw`]), never built as trees; only parts and calls are read key by key. A payload
//! that repeats a recent one's bytes around new text, `partialArgs` strings and usage numbers is
//! not read at all: [`template`] gives the delta it decodes to.

use std::borrow::Cow;
use std::sync::Arc;

use crate::driver::{Config, Options};
use crate::error::{DecodeKind, ErrorKind};
use crate::event::{Call, Event, TextOf, TextTrail, UsageSnapshot};
use crate::formats::build::{built, Build, ValueBuild};
use crate::formats::{Fold, Folded, Format};
use crate::json::partial::PartialJson;
use crate::json::reader::{JsonError, JsonErrorCode, Reader};
use crate::json::value::{Map, Value};
use crate::limits::{LimitName, Limits};
use crate::summary::{self, Summary, ToolCall, Usage};

mod args_text;
mod path;
mod template;

use args_text::ArgsText;
use path::{Parsed, Step};
use template::{Matched, Role, Shape, Template};

type R<T> = Result<T, DecodeKind>;

fn syntax(e: JsonError) -> DecodeKind {
    DecodeKind::Syntax(e)
}

/// A key and the validated JSON text of its value.
type RawPair<'a> = (Cow<'a, str>, &'a str);

fn is_null(raw: &str) -> bool {
    raw == "null"
}

/// One `partialArgs` entry.
struct PartialArg {
    path: Vec<Step>,
    value: Value,
    /// The value is a string that continues in a later entry.
    will_continue: bool,
    string: bool,
}

#[derive(Default)]
struct CallDelta<'a> {
    name: Option<Cow<'a, str>>,
    args: Option<Value>,
    partial_args: Vec<PartialArg>,
    will_continue: bool,
    /// Every other key of the `functionCall` object (`id`, ...).
    extra: Vec<RawPair<'a>>,
}

enum PartKind<'a> {
    Text { text: Cow<'a, str>, thought: bool },
    Call(CallDelta<'a>),
    Other,
}

struct PartDelta<'a> {
    kind: PartKind<'a>,
    signature: Option<Cow<'a, str>>,
    /// Keys other than `text`, `functionCall` and `thoughtSignature` (for a text part,
    /// `thought` is among them).
    extra: Vec<RawPair<'a>>,
}

#[derive(Default)]
struct ContentDelta<'a> {
    /// Whether the object had a non-null `parts` (the key then appears in the result).
    has_parts: bool,
    parts: Vec<PartDelta<'a>>,
    extra: Vec<RawPair<'a>>,
}

#[derive(Default)]
struct CandidateDelta<'a> {
    index: u64,
    /// Whether the candidate had a `content` key (null included).
    content_key: bool,
    /// `content` when it was an object.
    content: Option<ContentDelta<'a>>,
    /// Every key but `content`, in order (`index` and `finishReason` included).
    keys: Vec<RawPair<'a>>,
    /// Position of `content` among the keys, for the key order of the result.
    content_at: usize,
}

#[derive(Default)]
struct ChunkDelta<'a> {
    error: Option<&'a str>,
    /// `candidates` as seen: None when absent or null.
    candidates: Option<Vec<CandidateDelta<'a>>>,
    candidates_seen: bool,
    candidates_at: usize,
    keys: Vec<RawPair<'a>>,
}

/// The first schema problem of a payload: the payload is still read to its end, so that a
/// syntax error anywhere wins (as for a parser that validates after parsing).
struct Scan<'a, 'k> {
    payload: &'a [u8],
    r: Reader<'a>,
    violation: Option<DecodeKind>,
    /// What the fold keeps so far, to recognise a value repeated unchanged.
    kept: &'k Map,
    kept_candidates: &'k [Candidate],
    /// What a template of the payload needs.
    shape: Shape<'a>,
}

/// Room for one item in an empty vector, before its first push. A payload nearly always holds
/// one candidate of one part, and the first growth's room for four of them (416 and 640
/// bytes) is past the split heap's 256-byte line: each would be a system allocator block, several
/// times the cost of a small one, made and freed per decoded payload.
fn first_room<T>(items: &mut Vec<T>) {
    if items.capacity() == 0 {
        items.reserve_exact(1);
    }
}

/// Whether `b` may follow a complete JSON value inside an object or array.
fn ends_value(b: u8) -> bool {
    matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scan<'a, '_> {
    fn violate(&mut self, field: &'static str, expected: &'static str, pos: usize) {
        if self.violation.is_none() {
            self.violation = Some(DecodeKind::Schema {
                field,
                expected,
                pos,
            });
        }
    }

    /// Skips a value whose type was wrong.
    fn wrong(&mut self, field: &'static str, expected: &'static str) -> R<()> {
        let pos = self.r.pos();
        self.violate(field, expected, pos);
        self.r.skip_value().map_err(syntax)
    }

    fn raw(&mut self) -> R<&'a str> {
        self.r.raw_value().map_err(syntax)
    }

    /// As [`Self::raw`], for a value the fold may already keep as `kept`. Gemini repeats
    /// `usageMetadata`, `modelVersion`, `responseId` (and often `safetyRatings`) unchanged on
    /// every event: bytes equal to the kept text, ending where a value may end, are that same
    /// complete valid value (validated when it was kept, at the same depth), so they are
    /// stepped over without being validated again.
    fn raw_or_kept(&mut self, kept: Option<&Value>) -> R<&'a str> {
        match self.repeats(kept) {
            Some(text) => Ok(text),
            None => self.raw(),
        }
    }

    /// Steps over the next value when its bytes repeat `kept` (see [`Self::raw_or_kept`]).
    fn repeats(&mut self, kept: Option<&Value>) -> Option<&'a str> {
        let Some(Value::Raw(old)) = kept else {
            return None;
        };
        self.r.peek();
        let start = self.r.pos();
        let end = start + old.len();
        let payload = self.payload;
        let span = payload.get(start..end)?;
        if span != old.as_bytes() || !payload.get(end).is_none_or(|&b| ends_value(b)) {
            return None;
        }
        self.r.resume_at(end);
        // SAFETY: the span's bytes equal those of a `str`, so they are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(span) })
    }

    /// A string value, or None for null; any other type is a violation.
    fn string(&mut self, field: &'static str) -> R<Option<Cow<'a, str>>> {
        if self.r.take_null().map_err(syntax)? {
            return Ok(None);
        }
        match self.r.take_string().map_err(syntax)? {
            Some(s) => Ok(Some(s)),
            None => self.wrong(field, "a string").map(|()| None),
        }
    }

    /// `true` counts as true; anything else (validated) as false.
    fn flag(&mut self) -> R<bool> {
        Ok(self.raw()? == "true")
    }

    fn chunk(&mut self) -> R<ChunkDelta<'a>> {
        let mut chunk = ChunkDelta::default();
        let pos = self.r.peek().map_or(0, |_| self.r.pos());
        if !self.r.begin_object().map_err(syntax)? {
            self.violate("payload", "an object", pos);
            self.r.skip_value().map_err(syntax)?;
            return Ok(chunk);
        }
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            match key.as_ref() {
                "candidates" => {
                    self.r.peek();
                    self.shape.candidates_at = self.r.pos();
                    chunk.candidates_seen = true;
                    chunk.candidates_at = chunk.keys.len();
                    chunk.candidates = self.candidates()?;
                }
                "error" => {
                    let raw = self.raw()?;
                    chunk.error = (!is_null(raw)).then_some(raw);
                }
                _ => {
                    self.r.peek();
                    let start = self.r.pos();
                    // A top-level value the fold already keeps as it is (and not sent earlier
                    // in this payload, where a duplicate key's last value wins) would merge to
                    // no change: it is dropped here, sparing the merge its lookup.
                    let kept_map = self.kept;
                    let kept = kept_map.get(&key);
                    if !chunk.keys.iter().any(|(k, _)| *k == key) && self.repeats(kept).is_some() {
                        self.shape.values.push((key, start, self.r.pos()));
                        continue;
                    }
                    let raw = self.raw_or_kept(kept)?;
                    self.shape.values.push((key.clone(), start, self.r.pos()));
                    chunk.keys.push((key, raw));
                }
            }
        }
        Ok(chunk)
    }

    fn candidates(&mut self) -> R<Option<Vec<CandidateDelta<'a>>>> {
        if self.r.take_null().map_err(syntax)? {
            return Ok(None);
        }
        if !self.r.begin_array().map_err(syntax)? {
            self.wrong("candidates", "an array")?;
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut first = true;
        while self.r.next_element(&mut first).map_err(syntax)? {
            if self.r.begin_object().map_err(syntax)? {
                // Usually the candidate at the same place; any kept candidate serves, as the
                // kept text only spares validation.
                let kept = self.kept_candidates.get(out.len());
                let candidate = self.candidate(kept)?;
                first_room(&mut out);
                out.push(candidate);
            } else {
                self.wrong("candidates[]", "an object")?;
            }
        }
        Ok(Some(out))
    }

    fn candidate(&mut self, kept: Option<&Candidate>) -> R<CandidateDelta<'a>> {
        let mut c = CandidateDelta::default();
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            match key.as_ref() {
                "content" => {
                    c.content_at = c.keys.len();
                    c.content_key = true;
                    c.content = self.content(kept.map(|k| &k.content_extra))?;
                }
                "index" => {
                    self.r.peek();
                    let pos = self.r.pos();
                    let raw = self.raw()?;
                    if !is_null(raw) {
                        if let Ok(n) = raw.parse::<u64>() {
                            c.index = n;
                        } else {
                            self.violate("candidates[].index", "a non-negative integer", pos);
                        }
                    }
                    c.keys.push((key, raw));
                }
                _ => {
                    let raw = self.raw_or_kept(kept.and_then(|k| k.keys.get(&key)))?;
                    c.keys.push((key, raw));
                }
            }
        }
        Ok(c)
    }

    fn content(&mut self, kept: Option<&Map>) -> R<Option<ContentDelta<'a>>> {
        if self.r.take_null().map_err(syntax)? {
            return Ok(None);
        }
        if !self.r.begin_object().map_err(syntax)? {
            self.wrong("candidates[].content", "an object")?;
            return Ok(None);
        }
        let mut content = ContentDelta::default();
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            if key == "parts" {
                if self.r.take_null().map_err(syntax)? {
                    continue;
                }
                if !self.r.begin_array().map_err(syntax)? {
                    self.wrong("candidates[].content.parts", "an array")?;
                    continue;
                }
                content.has_parts = true;
                content.parts.clear();
                let mut first = true;
                while self.r.next_element(&mut first).map_err(syntax)? {
                    if self.r.begin_object().map_err(syntax)? {
                        let part = self.part()?;
                        first_room(&mut content.parts);
                        content.parts.push(part);
                    } else {
                        self.wrong("candidates[].content.parts[]", "an object")?;
                    }
                }
            } else {
                let raw = self.raw_or_kept(kept.and_then(|k| k.get(&key)))?;
                content.extra.push((key, raw));
            }
        }
        Ok(Some(content))
    }

    fn part(&mut self) -> R<PartDelta<'a>> {
        let mut text: Option<Cow<'a, str>> = None;
        let mut thought = false;
        // The call, and its JSON text for a part that turns out to be a text part.
        let mut call: Option<(CallDelta<'a>, &'a str)> = None;
        let mut signature = None;
        let mut extra = Vec::new();
        // Where the previous member's value ended (None before the first member): a
        // `thought` member is cut from there to its own end by [`Template::answer`].
        let mut member_end = None;
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            match key.as_ref() {
                "text" => {
                    self.r.peek();
                    let start = self.r.pos();
                    text = self.string("candidates[].content.parts[].text")?;
                    self.shape.saw(Role::Text, start, self.r.pos());
                }
                "thoughtSignature" => {
                    signature = self.string("candidates[].content.parts[].thoughtSignature")?;
                }
                "functionCall" => {
                    if self.r.take_null().map_err(syntax)? {
                        call = None;
                    } else if self.r.begin_object().map_err(syntax)? {
                        let start = self.r.pos() - 1;
                        let parsed = self.call()?;
                        self.shape.call(start + 1, self.r.pos() - 1);
                        let span = self.payload.get(start..self.r.pos()).unwrap_or_default();
                        call = Some((parsed, std::str::from_utf8(span).unwrap_or("null")));
                    } else {
                        self.wrong("candidates[].content.parts[].functionCall", "an object")?;
                    }
                }
                "thought" => {
                    let raw = self.raw()?;
                    thought = raw == "true";
                    self.shape
                        .thought(member_end.map(|start| (start, self.r.pos())));
                    extra.push((key, raw));
                }
                _ => {
                    let raw = self.raw()?;
                    extra.push((key, raw));
                }
            }
            member_end = Some(self.r.pos());
        }
        let kind = match (text, call) {
            (Some(text), call) => {
                if let Some((_, raw)) = call {
                    // A text part that also carries a call: the call is kept as it came.
                    extra.push((Cow::Borrowed("functionCall"), raw));
                }
                PartKind::Text { text, thought }
            }
            (None, Some((call, _))) => PartKind::Call(call),
            (None, None) => PartKind::Other,
        };
        Ok(PartDelta {
            kind,
            signature,
            extra,
        })
    }

    fn call(&mut self) -> R<CallDelta<'a>> {
        let mut call = CallDelta::default();
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            match key.as_ref() {
                "name" => {
                    call.name = self.string("candidates[].content.parts[].functionCall.name")?;
                }
                "args" => {
                    let value = self.r.read_value().map_err(syntax)?;
                    call.args = (!value.is_null()).then_some(value);
                }
                "willContinue" => call.will_continue = self.flag()?,
                "partialArgs" => {
                    call.partial_args.clear();
                    if self.r.take_null().map_err(syntax)? {
                        continue;
                    }
                    if !self.r.begin_array().map_err(syntax)? {
                        self.wrong(
                            "candidates[].content.parts[].functionCall.partialArgs",
                            "an array",
                        )?;
                        continue;
                    }
                    let mut first = true;
                    while self.r.next_element(&mut first).map_err(syntax)? {
                        if let Some(arg) = self.partial_arg()? {
                            call.partial_args.push(arg);
                        }
                    }
                }
                _ => {
                    let raw = self.raw()?;
                    call.extra.push((key, raw));
                }
            }
        }
        Ok(call)
    }

    fn partial_arg(&mut self) -> R<Option<PartialArg>> {
        const FIELD: &str = "candidates[].content.parts[].functionCall.partialArgs[]";
        if !self.r.begin_object().map_err(syntax)? {
            self.wrong(FIELD, "an object")?;
            return Ok(None);
        }
        let mut json_path: Option<(Cow<'a, str>, usize)> = None;
        let mut value: Option<(Value, bool)> = None;
        let mut will_continue = false;
        // Where the previous member's value ended (None before the first member): a
        // `willContinue` member is cut from there to its own end by [`Template::next`].
        let mut member_end = None;
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            match key.as_ref() {
                "jsonPath" => {
                    self.r.peek();
                    let pos = self.r.pos();
                    let path = self.string(
                        "candidates[].content.parts[].functionCall.partialArgs[].jsonPath",
                    )?;
                    self.shape.saw(Role::Path, pos, self.r.pos());
                    json_path = path.map(|p| (p, pos));
                }
                "willContinue" => {
                    will_continue = self.flag()?;
                    self.shape
                        .continues(member_end.map(|start| (start, self.r.pos())));
                }
                "stringValue" => {
                    self.r.peek();
                    let start = self.r.pos();
                    let s = self.string(
                        "candidates[].content.parts[].functionCall.partialArgs[].stringValue",
                    )?;
                    self.shape.saw(Role::Value, start, self.r.pos());
                    if let Some(s) = s {
                        value = Some((Value::String(s.into_owned()), true));
                    }
                }
                "numberValue" | "boolValue" | "nullValue" | "structValue" | "listValue" => {
                    let is_null_value = key == "nullValue";
                    let v = self.r.read_value().map_err(syntax)?;
                    if is_null_value {
                        value = Some((Value::Null, false));
                    } else if !v.is_null() {
                        value = Some((v, false));
                    }
                }
                _ => self.r.skip_value().map_err(syntax)?,
            }
            member_end = Some(self.r.pos());
        }
        let Some((json_path, pos)) = json_path else {
            return Ok(None);
        };
        let Some(path) = path::parse(&json_path) else {
            self.violate(
                "candidates[].content.parts[].functionCall.partialArgs[].jsonPath",
                "a JSON path ($.a.b[0])",
                pos,
            );
            return Ok(None);
        };
        let Some((value, string)) = value else {
            return Ok(None);
        };
        Ok(Some(PartialArg {
            path,
            value,
            will_continue,
            string,
        }))
    }
}

/// Parses a payload: its delta and what its template needs, or the first problem (a syntax
/// error anywhere first).
fn scan<'a>(
    payload: &'a [u8],
    max_depth: usize,
    kept: &Map,
    kept_candidates: &[Candidate],
) -> Result<(ChunkDelta<'a>, Shape<'a>), ErrorKind> {
    let mut s = Scan {
        payload,
        r: Reader::new(payload, max_depth),
        violation: None,
        kept,
        kept_candidates,
        shape: Shape::default(),
    };
    let depth_error = |e: DecodeKind| match e {
        DecodeKind::Syntax(JsonError {
            code: JsonErrorCode::TooDeep,
            ..
        }) => ErrorKind::Limit {
            limit: LimitName::Depth,
            maximum: max_depth as u64,
        },
        other => ErrorKind::Decode(other),
    };
    let chunk = s.chunk().map_err(depth_error)?;
    s.r.end().map_err(|e| depth_error(syntax(e)))?;
    if let Some(error) = chunk.error {
        let body = crate::json::reader::parse(error.as_bytes(), max_depth)
            .map_err(|e| depth_error(syntax(e)))?;
        return Err(ErrorKind::Api { body });
    }
    if let Some(v) = s.violation {
        return Err(ErrorKind::Decode(v));
    }
    Ok((chunk, s.shape))
}

/// What a call's events need.
struct CallEvents {
    text: ArgsText,
    /// The deltas sent, for snapshots.
    trail: TextTrail,
    /// Gives `parsed_arguments` in O(new bytes) per delta.
    parser: PartialJson,
    id: Option<Arc<str>>,
    name: Option<Arc<str>>,
}

impl std::fmt::Debug for CallEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallEvents")
    }
}

/// Where a chunk's events go, and what making them needs.
struct Sink<'e> {
    events: &'e mut Vec<Event>,
    options: Options,
    max_depth: usize,
}

/// A part of the merged response.
#[derive(Debug)]
enum Part {
    Text {
        text: String,
        thought: bool,
        signature: Option<String>,
        /// Other keys; `thought` among them when it came.
        extra: Map,
    },
    Call(CallPart),
    Other {
        signature: Option<String>,
        extra: Map,
    },
}

/// A `functionCall` part of the merged response.
#[derive(Debug)]
struct CallPart {
    name: Option<String>,
    args: Option<Value>,
    /// At least the length of every string in `args`: the longest any of them has been.
    /// [`Part::holds_text`] reads it rather than walking the arguments; a string replaced by
    /// a shorter one leaves it high, which only declines a build that would have been right.
    longest: usize,
    /// Whether the call said `willContinue` last: a call part without a name continues it.
    continuing: bool,
    /// The path of the last `partialArgs` entry when it was a string that continues (while
    /// `open`; else a path kept for its allocations, see [`Candidate::add_string_arg`]).
    open_string: Parsed,
    open: bool,
    /// Whether a template gave the open string (its text is then known): the same text is
    /// the same path, with no parse.
    open_templated: bool,
    /// The `functionCall` object's other keys.
    extra: Map,
    signature: Option<String>,
    /// The part's other keys.
    part_extra: Map,
    /// Position among the candidate's calls.
    position: usize,
    /// Event mode only.
    events: Option<Box<CallEvents>>,
}

impl CallPart {
    /// What a call delta (decoded, or a template's) says before its arguments: its name and
    /// its `functionCall` object's other keys.
    fn merge_call<'p>(
        &mut self,
        name: Option<Cow<'_, str>>,
        extra: impl ExactSizeIterator<Item = (&'p str, &'p str)>,
    ) {
        if let Some(name) = name {
            self.name = Some(name.into_owned());
        }
        // Most calls' deltas have no other keys: no call made for them (once per event).
        if extra.len() > 0 {
            merge_pairs(&mut self.extra, extra);
        }
    }

    /// What it says after them: its `willContinue`, and the part's signature and other keys.
    fn merge_part<'p>(
        &mut self,
        will_continue: bool,
        signature: Option<Cow<'_, str>>,
        part_keys: impl ExactSizeIterator<Item = (&'p str, &'p str)>,
    ) {
        self.continuing = will_continue;
        if let Some(signature) = signature {
            self.signature = Some(signature.into_owned());
        }
        if part_keys.len() > 0 {
            merge_pairs(&mut self.part_extra, part_keys);
        }
    }
}

impl Part {
    fn set_signature(&mut self, value: String) {
        match self {
            Part::Text { signature, .. }
            | Part::Call(CallPart { signature, .. })
            | Part::Other { signature, .. } => *signature = Some(value),
        }
    }

    /// The part as the result shows it, built by `b`.
    fn build<B: Build>(&self, b: &mut B) -> Result<B::Out, B::Error> {
        let (mut out, signature) = match self {
            Part::Text {
                text,
                signature,
                extra,
                ..
            } => {
                let mut out = b.object(extra.len() + 2)?;
                let text = b.string(text)?;
                b.set(&mut out, "text", text)?;
                set_all(b, &mut out, extra)?;
                (out, signature)
            }
            Part::Call(CallPart {
                name,
                args,
                extra,
                signature,
                part_extra,
                ..
            }) => {
                let mut call = b.object(extra.len() + 2)?;
                if let Some(name) = name {
                    let name = b.string(name)?;
                    b.set(&mut call, "name", name)?;
                }
                if let Some(args) = args {
                    let args = b.value(args)?;
                    b.set(&mut call, "args", args)?;
                }
                set_all(b, &mut call, extra)?;
                let call = b.end_object(call);
                let mut out = b.object(part_extra.len() + 2)?;
                b.set(&mut out, "functionCall", call)?;
                set_all(b, &mut out, part_extra)?;
                (out, signature)
            }
            Part::Other { signature, extra } => {
                let mut out = b.object(extra.len() + 1)?;
                set_all(b, &mut out, extra)?;
                (out, signature)
            }
        };
        if let Some(s) = signature {
            let s = b.string(s)?;
            b.set(&mut out, "thoughtSignature", s)?;
        }
        Ok(b.end_object(out))
    }

    /// Whether the part holds a text of at least `len` bytes (see [`Build::long_text`]).
    fn holds_text(&self, len: usize) -> bool {
        let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() >= len);
        match self {
            Part::Text {
                text, signature, ..
            } => text.len() >= len || long(signature),
            Part::Call(CallPart {
                name,
                longest,
                signature,
                ..
            }) => long(name) || long(signature) || *longest >= len,
            Part::Other { signature, .. } => long(signature),
        }
    }

    /// [`Self::build`], moving the part's texts, values and maps into the result rather than
    /// copying them; [`Self::restore`] takes them back.
    fn take(&mut self) -> Value {
        let (mut out, signature) = match self {
            Part::Text {
                text,
                signature,
                extra,
                ..
            } => {
                let mut out = Map::with_capacity(extra.len() + 2);
                out.insert("text".to_string(), Value::String(std::mem::take(text)));
                move_into(&mut out, extra);
                (out, signature)
            }
            Part::Call(CallPart {
                name,
                args,
                extra,
                signature,
                part_extra,
                ..
            }) => {
                let mut call = Map::with_capacity(extra.len() + 2);
                if let Some(name) = name.take() {
                    call.insert("name".to_string(), Value::String(name));
                }
                if let Some(args) = args.take() {
                    call.insert("args".to_string(), args);
                }
                move_into(&mut call, extra);
                let mut out = Map::with_capacity(part_extra.len() + 2);
                out.insert("functionCall".to_string(), Value::Object(call));
                move_into(&mut out, part_extra);
                (out, signature)
            }
            Part::Other { signature, extra } => (std::mem::take(extra), signature),
        };
        if let Some(s) = signature.take() {
            out.insert("thoughtSignature".to_string(), Value::String(s));
        }
        Value::Object(out)
    }

    /// Takes back what [`Self::take`] moved into `shown`. Its keys are told apart by name: a
    /// part's other keys never include the ones it keeps apart (`text`, `functionCall`,
    /// `thoughtSignature`; a call's `name` and `args`), which the scanner reads as such.
    fn restore(&mut self, shown: Value) {
        let Value::Object(mut shown) = shown else {
            return;
        };
        let string = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let kept_signature = string(shown.shift_remove("thoughtSignature"));
        match self {
            Part::Text {
                text,
                signature,
                extra,
                ..
            } => {
                *text = string(shown.shift_remove("text")).unwrap_or_default();
                *signature = kept_signature;
                *extra = shown;
            }
            Part::Call(CallPart {
                name,
                args,
                extra,
                signature,
                part_extra,
                ..
            }) => {
                if let Some(Value::Object(mut call)) = shown.shift_remove("functionCall") {
                    *name = string(call.shift_remove("name"));
                    *args = call.shift_remove("args");
                    *extra = call;
                }
                *signature = kept_signature;
                *part_extra = shown;
            }
            Part::Other { signature, extra } => {
                *signature = kept_signature;
                *extra = shown;
            }
        }
    }
}

/// Moves `from`'s entries after `out`'s (no key of `from` is in `out`), leaving `from` empty.
fn move_into(out: &mut Map, from: &mut Map) {
    for (key, value) in std::mem::take(from) {
        out.insert(key, value);
    }
}

/// Sets `from`'s entries on `out`, in order.
fn set_all<B: Build>(b: &mut B, out: &mut B::Object, from: &Map) -> Result<(), B::Error> {
    for (k, v) in from {
        let v = b.value(v)?;
        b.set(out, k, v)?;
    }
    Ok(())
}

/// Whether a kept tree holds a string of at least `len` bytes (see [`Build::long_text`]).
/// Last non-null per key; a key first sent as null appears, null.
fn merge_raw(into: &mut Map, pairs: &[RawPair<'_>]) {
    merge_pairs(into, pairs.iter().map(|(k, v)| (k.as_ref(), *v)));
}

/// [`merge_raw`] over any pairs of key and JSON text (a recipe keeps its own); whether
/// anything changed.
fn merge_pairs<'p>(into: &mut Map, pairs: impl IntoIterator<Item = (&'p str, &'p str)>) -> bool {
    let mut changed = false;
    for (key, raw) in pairs {
        if is_null(raw) {
            changed |= insert_null(into, key);
            continue;
        }
        // Gemini repeats `modelVersion`, `responseId` and often `usageMetadata` unchanged on
        // every event: an equal value is left in place, with no allocation.
        match into.get_mut(key) {
            Some(Value::Raw(old)) if **old == *raw => continue,
            Some(slot) => *slot = Value::Raw(raw.into()),
            None => {
                into.insert(key.to_string(), Value::Raw(raw.into()));
            }
        }
        changed = true;
    }
    changed
}

/// Whether `into`'s first entries are `pairs`, key for key and text for text: merging them
/// would change nothing (a quick test that a merge is not needed; false says nothing).
fn holds_pairs<'p>(into: &Map, pairs: impl ExactSizeIterator<Item = (&'p str, &'p str)>) -> bool {
    pairs.len() <= into.len()
        && (into.iter().zip(pairs)).all(|((key, value), (k, raw))| {
            *key == k && matches!(value, Value::Raw(old) if **old == *raw)
        })
}

/// A key sent as null: it appears, null, unless present; whether it was added.
fn insert_null(into: &mut Map, key: &str) -> bool {
    let absent = !into.contains_key(key);
    if absent {
        into.insert(key.to_string(), Value::Null);
    }
    absent
}

/// The `field` of thought events: the part's flag.
const THOUGHT_FIELD: &str = "thought";

/// The room a new non-empty text part is made with (see [`Candidate::push_text`]).
const TEXT_ROOM: usize = 1024;

/// A non-empty piece of a call's arguments text: its delta event.
fn call_delta(
    call: &mut CallEvents,
    position: usize,
    choice: u64,
    piece: &str,
    sink: &mut Sink<'_>,
) {
    if piece.is_empty() {
        return;
    }
    call.parser.feed(piece.as_bytes());
    call.trail.push(piece.into());
    sink.events.push(Event::ArgumentsDelta {
        call: Call::tool(choice, position, call.id.clone(), call.name.clone()),
        trail: call.trail.clone(),
        parsed: sink
            .options
            .partial_arguments
            .then(|| call.parser.snapshot()),
    });
}

#[derive(Debug, Default)]
struct Candidate {
    index: u64,
    /// Candidate keys in first-arrival order; `content` holds a placeholder.
    keys: Map,
    content_seen: bool,
    has_parts: bool,
    content_extra: Map,
    parts: Vec<Part>,
    finished: bool,
    texts: Texts,
}

/// Event mode: a candidate's text and thought text so far, and whether its `.done`s were sent.
#[derive(Debug, Default)]
struct Texts {
    text: String,
    text_trail: TextTrail,
    thought: String,
    thought_trail: TextTrail,
    done: bool,
}

impl Candidate {
    fn apply(&mut self, delta: CandidateDelta<'_>, sink: &mut Option<Sink<'_>>) {
        let (before, after) = delta.keys.split_at(delta.content_at.min(delta.keys.len()));
        merge_raw(&mut self.keys, before);
        if delta.content_key {
            self.keys.insert_if_absent("content", || Value::Null);
            if let Some(content) = delta.content {
                self.content_seen = true;
                self.has_parts |= content.has_parts;
                merge_raw(&mut self.content_extra, &content.extra);
                for part in content.parts {
                    self.add_part(part, sink);
                }
            }
        }
        merge_raw(&mut self.keys, after);
        self.check_finished(sink);
    }

    /// [`Self::apply`] for the delta of a template's payload: its recipe, and its one part.
    /// When `clean`, this recipe's keys were merged here and nothing changed since, so merging
    /// them again would change nothing and is skipped. Whether any kept key or flag changed
    /// (the part's text and call are not counted).
    fn apply_recipe(
        &mut self,
        r: &Recipe,
        part: RecipePart<'_>,
        clean: bool,
        sink: &mut Option<Sink<'_>>,
    ) -> bool {
        let (start, end) = r.candidate_keys;
        let split = start + r.content_at.min(end - start);
        let (before, after) = ((start, split), (split, end));
        let mut changed = false;
        if !clean {
            changed |= merge_pairs(&mut self.keys, r.kept.pairs(before));
            changed |= insert_null(&mut self.keys, "content");
            changed |= !(self.content_seen && self.has_parts);
            self.content_seen = true;
            self.has_parts = true;
            changed |= merge_pairs(&mut self.content_extra, r.kept.pairs(r.content_extra));
        }
        let signature = r.signature.as_deref().map(Cow::Borrowed);
        // One call of `add_text`, so that it stays inline here (per templated event).
        let text = match part {
            RecipePart::Text(text, thought) => Some((text, thought)),
            RecipePart::Part(part) => match *part {
                PartKind::Text { text, thought } => Some((text, thought)),
                PartKind::Call(call) => {
                    self.add_call(call, signature.clone(), r.kept.pairs(r.part_extra), sink);
                    None
                }
                PartKind::Other => None,
            },
            RecipePart::Arg(recipe, arg) => {
                let call_keys = r.kept.pairs(recipe.extra);
                self.add_string_arg(
                    recipe,
                    arg,
                    call_keys,
                    signature.clone(),
                    r.kept.pairs(r.part_extra),
                );
                None
            }
        };
        if let Some((text, thought)) = text {
            self.add_text(&text, thought, signature, r.kept.pairs(r.part_extra), sink);
        }
        if !clean {
            changed |= merge_pairs(&mut self.keys, r.kept.pairs(after));
            // Clean: the keys are those checked at the last application, and its `.done`
            // events, if due, were sent then.
            self.check_finished(sink);
        }
        changed
    }

    fn check_finished(&mut self, sink: &mut Option<Sink<'_>>) {
        if self.keys.get("finishReason").is_some_and(|v| !v.is_null()) {
            self.finished = true;
            if let Some(sink) = sink {
                self.done_events(sink);
            }
        }
    }

    /// Once: `content.done` / `reasoning.done` if the candidate has such text, then each
    /// call's closing delta and `.done`.
    fn done_events(&mut self, sink: &mut Sink<'_>) {
        if std::mem::replace(&mut self.texts.done, true) {
            return;
        }
        let index = self.index;
        let texts = self.parts.iter().filter_map(|p| match p {
            Part::Text { thought, .. } => Some(*thought),
            _ => None,
        });
        let (mut plain, mut thoughts) = (false, false);
        for thought in texts {
            plain |= !thought;
            thoughts |= thought;
        }
        if plain {
            sink.events.push(Event::TextDone {
                of: TextOf::Content,
                choice_index: index,
                text: self.texts.text.clone(),
            });
        }
        if thoughts {
            sink.events.push(Event::TextDone {
                of: TextOf::Reasoning(THOUGHT_FIELD),
                choice_index: index,
                text: self.texts.thought.clone(),
            });
        }
        for part in &mut self.parts {
            let Part::Call(CallPart {
                args,
                position,
                events: Some(call),
                ..
            }) = part
            else {
                continue;
            };
            if let Some(piece) = call.text.close() {
                call_delta(call, *position, index, &piece, sink);
            }
            let arguments = args.as_ref().map_or_else(|| "{}".to_string(), json_text);
            let call = Call::tool(index, *position, call.id.clone(), call.name.clone());
            let max_depth = sink.options.partial_arguments.then_some(sink.max_depth);
            sink.events
                .push(Event::arguments_done(call, arguments, max_depth));
        }
    }

    fn calls(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| matches!(p, Part::Call(_)))
            .count()
    }

    fn add_part(&mut self, delta: PartDelta<'_>, sink: &mut Option<Sink<'_>>) {
        let PartDelta {
            kind,
            signature,
            extra,
        } = delta;
        match kind {
            PartKind::Text { text, thought } => {
                let extra = extra.iter().map(|(k, v)| (k.as_ref(), *v));
                self.add_text(&text, thought, signature, extra, sink);
            }
            PartKind::Call(call) => {
                let extra = extra.iter().map(|(k, v)| (k.as_ref(), *v));
                self.add_call(call, signature, extra, sink);
            }
            PartKind::Other => {
                let mut map = Map::new();
                merge_raw(&mut map, &extra);
                self.parts.push(Part::Other {
                    signature: signature.map(Cow::into_owned),
                    extra: map,
                });
            }
        }
    }

    /// A text part (from a decoded payload or a template's recipe), as docs/formats.md merges
    /// it: into the previous text part of the same `thought`, or as a new part.
    fn add_text<'p>(
        &mut self,
        text: &str,
        thought: bool,
        signature: Option<Cow<'_, str>>,
        extra: impl ExactSizeIterator<Item = (&'p str, &'p str)> + Clone,
        sink: &mut Option<Sink<'_>>,
    ) {
        if let (Some(sink), false) = (sink.as_mut(), text.is_empty()) {
            let (all, trail, of) = if thought {
                (
                    &mut self.texts.thought,
                    &mut self.texts.thought_trail,
                    TextOf::Reasoning(THOUGHT_FIELD),
                )
            } else {
                (
                    &mut self.texts.text,
                    &mut self.texts.text_trail,
                    TextOf::Content,
                )
            };
            all.push_str(text);
            trail.push(text.into());
            sink.events.push(Event::TextDelta {
                of,
                choice_index: self.index,
                trail: trail.clone(),
            });
        }
        if text.is_empty() && extra.len() == 0 {
            match (&signature, self.parts.last_mut()) {
                // Only a signature: it belongs to the previous part.
                (Some(sig), Some(last)) => {
                    last.set_signature(sig.to_string());
                    return;
                }
                // Nothing at all: no part.
                (None, _) => return,
                (Some(_), None) => {}
            }
            self.push_text(text, thought, signature, extra);
            return;
        }
        if let Some(Part::Text {
            text: last,
            thought: last_thought,
            signature: last_signature,
            extra: last_extra,
        }) = self.parts.last_mut()
        {
            if *last_thought == thought {
                last.push_str(text);
                // A thought part's text comes with the same signature (if any) and the same
                // `"thought":true` on every event: what the part holds already is left in
                // place, with no copy or lookup.
                if let Some(sig) = signature {
                    if last_signature.as_deref() != Some(&*sig) {
                        *last_signature = Some(sig.into_owned());
                    }
                }
                if extra.len() > 0 && !holds_pairs(last_extra, extra.clone()) {
                    merge_pairs(last_extra, extra);
                }
                return;
            }
        }
        self.push_text(text, thought, signature, extra);
    }

    fn push_text<'p>(
        &mut self,
        text: &str,
        thought: bool,
        signature: Option<Cow<'_, str>>,
        extra: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) {
        let mut map = Map::new();
        merge_pairs(&mut map, extra);
        // A streamed text part grows by a few words per event: room for the first
        // [`TEXT_ROOM`] bytes spares it the first doublings (each a realloc and a copy).
        let mut owned = String::with_capacity(if text.is_empty() {
            0
        } else {
            text.len().max(TEXT_ROOM)
        });
        owned.push_str(text);
        self.parts.push(Part::Text {
            text: owned,
            thought,
            signature: signature.map(Cow::into_owned),
            extra: map,
        });
    }

    fn add_call<'p>(
        &mut self,
        call: CallDelta<'_>,
        signature: Option<Cow<'_, str>>,
        part_keys: impl ExactSizeIterator<Item = (&'p str, &'p str)>,
        sink: &mut Option<Sink<'_>>,
    ) {
        self.open_call(call.name.is_some(), sink.as_ref().map(|s| s.max_depth));
        let index = self.index;
        let Some(Part::Call(part)) = self.parts.last_mut() else {
            return;
        };
        let call_extra = call.extra.iter().map(|(k, v)| (k.as_ref(), *v));
        part.merge_call(call.name, call_extra);
        let CallPart {
            name,
            args,
            longest,
            open_string,
            open,
            open_templated,
            extra,
            position,
            events,
            ..
        } = &mut *part;
        let mut emit = match (sink.as_mut(), events.as_deref_mut()) {
            (Some(sink), Some(call_events)) => {
                call_events.name = name.as_deref().map(Arc::from);
                call_events.id = tree(extra.get("id"), sink.max_depth)
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(Arc::from);
                Some((sink, call_events))
            }
            _ => None,
        };
        if let Some(a) = call.args {
            *longest = (*longest).max(path::longest_text(&a));
            if let Some((sink, call_events)) = emit.as_mut() {
                if let Some(piece) = call_events.text.args(&a) {
                    call_delta(call_events, *position, index, &piece, sink);
                }
            }
            *args = Some(a);
            // The open string's slot is gone with the old arguments: a template's entry at
            // its path must walk (and make) the path again (see [`Candidate::add_string_arg`]).
            *open_templated = false;
        }
        for arg in call.partial_args {
            let target = args.get_or_insert_with(|| Value::Object(Map::new()));
            let append = arg.string && *open && open_string.steps() == arg.path.as_slice();
            if let Some((sink, call_events)) = emit.as_mut() {
                let piece = call_events.text.add(
                    &arg.path,
                    &arg.value,
                    arg.string,
                    arg.will_continue,
                    append,
                );
                if let Some(piece) = piece {
                    call_delta(call_events, *position, index, &piece, sink);
                }
            }
            let len = path::set(target, &arg.path, arg.value, append);
            *longest = (*longest).max(len);
            *open = arg.string && arg.will_continue;
            if *open {
                *open_string = Parsed::from_steps(arg.path);
            }
            *open_templated = false;
        }
        part.merge_part(call.will_continue, signature, part_keys);
    }

    /// Makes the last part the call a `functionCall` continues: the last part when it is a call
    /// that said `willContinue` and this one has no name, else a new call part (with its
    /// events' state when `events_depth` is given).
    fn open_call(&mut self, named: bool, events_depth: Option<usize>) {
        let continues = !named
            && matches!(
                self.parts.last(),
                Some(Part::Call(CallPart {
                    continuing: true,
                    ..
                }))
            );
        if continues {
            return;
        }
        let position = self.calls();
        self.parts.push(Part::Call(CallPart {
            name: None,
            args: None,
            longest: 0,
            continuing: false,
            open_string: Parsed::default(),
            open: false,
            open_templated: false,
            extra: Map::new(),
            signature: None,
            part_extra: Map::new(),
            position,
            events: events_depth.map(|depth| {
                Box::new(CallEvents {
                    text: ArgsText::default(),
                    trail: TextTrail::default(),
                    parser: PartialJson::new(depth),
                    id: None,
                    name: None,
                })
            }),
        }));
    }

    /// The `jsonPath` text of the string the last part's call continues, when a template gave
    /// it (see [`StringArg::path`]).
    fn open_text(&self) -> Option<&str> {
        match self.parts.last() {
            Some(Part::Call(CallPart {
                continuing: true,
                open_string,
                open: true,
                open_templated: true,
                ..
            })) => open_string.text(),
            _ => None,
        }
    }

    /// [`Self::add_call`] without events for a template's call part with one string
    /// `partialArgs` entry, with neither the decoded call nor, when the entry continues the
    /// open string, its path or value built.
    fn add_string_arg<'p>(
        &mut self,
        recipe: &ArgRecipe,
        arg: StringArg<'_>,
        call_keys: impl ExactSizeIterator<Item = (&'p str, &'p str)>,
        signature: Option<Cow<'_, str>>,
        part_keys: impl ExactSizeIterator<Item = (&'p str, &'p str)>,
    ) {
        self.open_call(recipe.name.is_some(), None);
        let Some(Part::Call(part)) = self.parts.last_mut() else {
            return;
        };
        part.merge_call(recipe.name.as_deref().map(Cow::Borrowed), call_keys);
        let CallPart {
            args,
            longest,
            open_string,
            open,
            open_templated,
            ..
        } = &mut *part;
        let target = args.get_or_insert_with(|| Value::Object(Map::new()));
        let StringArg {
            parsed,
            steps,
            value,
        } = arg;
        // Paths are swapped, never made or dropped, so that the next parse reuses their
        // allocations and the steps its text shares: a parsed path that continues becomes the
        // open string's (the one there goes to the fold); one that does not stays the
        // fold's, the path parsed last; a closed string's goes back to the fold.
        if parsed {
            let append = *open && open_string.steps() == steps.steps();
            let len = if append {
                path::append(target, steps.steps(), value)
            } else {
                path::set(
                    target,
                    steps.steps(),
                    Value::String(value.to_string()),
                    false,
                );
                value.len()
            };
            *longest = (*longest).max(len);
            *open_templated = recipe.arg_will_continue;
            *open = recipe.arg_will_continue;
            if recipe.arg_will_continue {
                std::mem::swap(open_string, steps);
            }
        } else {
            // The open string's own path text: appended there. An empty value (the entry
            // that ends a string) changes nothing: `open_templated` is only kept while the
            // open string's slot holds the string a template's entry made or appended to (a
            // decoded `args` clears it), so there is nothing to make either.
            if !value.is_empty() {
                let len = path::append(target, open_string.steps(), value);
                *longest = (*longest).max(len);
            }
            if !recipe.arg_will_continue {
                // Open (its text was given): the path parsed last.
                std::mem::swap(open_string, steps);
                *open = false;
                *open_templated = false;
            }
        }
        part.merge_part(recipe.will_continue, signature, part_keys);
    }

    /// Whether the result shows the parts.
    fn shows_parts(&self) -> bool {
        self.content_seen && (self.has_parts || !self.parts.is_empty())
    }

    /// The candidate as the result shows it, built by `b`.
    fn build<B: Build>(&self, b: &mut B) -> Result<B::Out, B::Error> {
        let mut out = b.object(self.keys.len())?;
        for (key, value) in &self.keys {
            let v = if key == "content" {
                self.build_content(b)?
            } else {
                b.value(value)?
            };
            b.set(&mut out, key, v)?;
        }
        Ok(b.end_object(out))
    }

    fn build_content<B: Build>(&self, b: &mut B) -> Result<B::Out, B::Error> {
        if !self.content_seen {
            return b.null();
        }
        let mut content = b.object(self.content_extra.len() + 1)?;
        if self.shows_parts() {
            let mut parts = b.list(self.parts.len())?;
            for part in &self.parts {
                let part = part.build(b)?;
                b.push(&mut parts, part)?;
            }
            let parts = b.end_list(parts)?;
            b.set(&mut content, "parts", parts)?;
        }
        set_all(b, &mut content, &self.content_extra)?;
        Ok(b.end_object(content))
    }

    /// [`Self::build`], moving the candidate's keys, content and parts into the result (the
    /// kept `content` placeholder is null, as the result shows a content never seen);
    /// [`Self::restore`] takes them back.
    fn take(&mut self) -> Value {
        let mut out = std::mem::take(&mut self.keys);
        if self.content_seen {
            if let Some(slot) = out.get_mut("content") {
                *slot = Value::Object(if self.shows_parts() {
                    let mut content = Map::with_capacity(self.content_extra.len() + 1);
                    let parts = self.parts.iter_mut().map(Part::take).collect();
                    content.insert("parts".to_string(), Value::Array(parts));
                    move_into(&mut content, &mut self.content_extra);
                    content
                } else {
                    std::mem::take(&mut self.content_extra)
                });
            }
        }
        Value::Object(out)
    }

    /// Takes back what [`Self::take`] moved into `shown` (the content's other keys never
    /// include `parts`).
    fn restore(&mut self, shown: Value) {
        let Value::Object(mut shown) = shown else {
            return;
        };
        let content = shown.get_mut("content").map(std::mem::take);
        self.keys = shown;
        if !self.content_seen {
            return;
        }
        let Some(Value::Object(mut content)) = content else {
            return;
        };
        if self.shows_parts() {
            if let Some(Value::Array(parts)) = content.shift_remove("parts") {
                for (part, shown) in self.parts.iter_mut().zip(parts) {
                    part.restore(shown);
                }
            }
        }
        self.content_extra = content;
    }
}

/// The Gemini fold.
pub struct Gemini {
    limits: Limits,
    options: Options,
    folded: u64,
    /// Top-level keys in first-arrival order; `candidates` holds a placeholder.
    keys: Map,
    /// Sorted by index.
    candidates: Vec<Candidate>,
    finished: bool,
    /// The last two payload shapes learned, most recent first: Gemini 3 alternates two
    /// shapes while it streams `partialArgs` (a fragment, then its end).
    templates: [Option<Box<Template>>; 2],
    /// Which template a payload tries first.
    order: Order,
    /// The path of a templated `partialArgs` entry, parsed into the vector (and key strings)
    /// of an earlier one, and from the steps it shares with it (see
    /// [`Candidate::add_string_arg`]).
    steps: Parsed,
    /// Counts the chunks that changed a kept key or candidate (a decoded chunk always
    /// counts): a template applied when this was last counted can skip its constant merges.
    /// Anything else that changes the kept keys must count too.
    changes: u64,
    /// Payloads decoded in full: tests check that the fast paths are taken.
    #[cfg(test)]
    decoded: usize,
    /// Payloads read against a template, matched or not: tests check [`Order`].
    #[cfg(test)]
    template_reads: usize,
    /// Payloads folded by [`Gemini::apply_clean_text`]: tests check that it is taken.
    #[cfg(test)]
    clean_texts: usize,
}

/// Which of the two templates a payload tries first: the one applied last while payloads
/// repeat one shape, the other while they alternate two (a `partialArgs` fragment, then the
/// entry that ends its string), so that most payloads match at the first try. Only the cost
/// depends on it: any template that matches gives the delta a full decode gives.
#[derive(Debug, Default, Clone, Copy)]
struct Order {
    first: usize,
    /// The slot applied to the payload before, if it was templated and the slots were not
    /// shifted since.
    last: Option<usize>,
}

impl Order {
    fn applied(&mut self, slot: usize) {
        self.first = match self.last {
            Some(before) if before != slot => before,
            _ => slot,
        };
        self.last = Some(slot);
    }
}

/// The keys and JSON texts a recipe keeps, end to end in one string, and its lists of pairs
/// as ranges of one vector: a template is made and dropped for each shape of each stream,
/// and two allocations cost less to make and to drop than one a text and one a list.
#[derive(Debug, Clone, Default)]
struct Kept {
    text: String,
    /// Per pair: where its key starts and ends in `text`, and where its value ends.
    pairs: Vec<(usize, usize, usize)>,
}

/// A list of pairs in a [`Kept`]: its range of [`Kept::pairs`].
type List = (usize, usize);

/// A text in a [`Kept`]: its span.
type Span = (usize, usize);

impl Kept {
    fn text(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        (start, self.text.len())
    }

    fn list(&mut self, pairs: &[RawPair<'_>]) -> List {
        let start = self.pairs.len();
        for (key, value) in pairs {
            let (key_start, key_end) = self.text(key);
            let (_, end) = self.text(value);
            self.pairs.push((key_start, key_end, end));
        }
        (start, self.pairs.len())
    }

    /// Every span [`Self::text`] and [`Self::list`] hand out is that of a whole `str` pushed
    /// onto `text`; `str::get` checks only that its ends are char boundaries (no UTF-8 pass),
    /// and an out-of-range span gives the empty text.
    fn str(&self, (start, end): Span) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn pairs(&self, (start, end): List) -> Pairs<'_> {
        Pairs {
            kept: self,
            spans: self.pairs.get(start..end).unwrap_or_default().iter(),
        }
    }

    fn borrowed(&self, list: List) -> Vec<RawPair<'_>> {
        self.pairs(list)
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect()
    }
}

/// The pairs of a [`List`], each a key and its JSON text. A type of its own rather than a
/// mapped slice iterator so that its length, asked per templated event (most lists are
/// empty), is inlined rather than a call.
#[derive(Clone)]
struct Pairs<'k> {
    kept: &'k Kept,
    spans: std::slice::Iter<'k, (usize, usize, usize)>,
}

impl<'k> Iterator for Pairs<'k> {
    type Item = (&'k str, &'k str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let &(a, b, c) = self.spans.next()?;
        Some((self.kept.str((a, b)), self.kept.str((b, c))))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Pairs<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.spans.len()
    }
}

/// What a template's payload decodes to, less the values of its holes (see [`template`]).
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The texts of its keys and values.
    kept: Kept,
    /// Top-level keys other than `candidates` and `error`, and their values' spans in the
    /// learned payload (read anew from each payload: numbers in them are holes).
    keys: Vec<(Span, usize, usize)>,
    candidates_at: usize,
    index: u64,
    candidate_keys: List,
    content_at: usize,
    content_extra: List,
    signature: Option<String>,
    part_extra: List,
    part: PartRecipe,
    /// Bit `i`: whether key `i`'s value has no holes (it is the same text in every payload);
    /// a bit, not a vector, as a template is made for each shape of each stream (keys past
    /// the 64th count as having holes).
    fixed: u64,
    /// [`Gemini::changes`] after this recipe was last applied.
    clean_at: Option<u64>,
}

#[derive(Debug, Clone)]
enum PartRecipe {
    /// A text part: its text is the hole.
    Text { thought: bool },
    /// A `functionCall` with one `partialArgs` entry, a string: its path and value are holes.
    Arg(ArgRecipe),
    /// An empty `functionCall` (the end of a call streamed by fragments; see
    /// [`Template::call_end`]).
    CallEnd,
}

#[derive(Debug, Clone)]
struct ArgRecipe {
    name: Option<String>,
    will_continue: bool,
    arg_will_continue: bool,
    /// In the recipe's [`Kept`].
    extra: List,
}

/// The `partialArgs` entry of a matched [`PartRecipe::Arg`] payload.
struct StringArg<'m> {
    /// Whether the path was parsed into `steps`: not when its text is that of the open
    /// string's path (see [`Candidate::open_text`]).
    parsed: bool,
    /// The fold's path ([`Gemini::steps`]).
    steps: &'m mut Parsed,
    value: &'m str,
}

/// The part [`Candidate::apply_recipe`] adds.
enum RecipePart<'m> {
    /// A text template's part: its text and `thought` flag (a [`PartKind::Text`], without
    /// building and moving that larger enum per event).
    Text(Cow<'m, str>, bool),
    /// Boxed: only event mode's calls take it, and unboxed its call delta made every
    /// templated event's part (moved twice per event) four times as large.
    Part(Box<PartKind<'m>>),
    Arg(&'m ArgRecipe, StringArg<'m>),
}

/// The recipe of a decoded chunk a template can repeat, and the roles of its string holes:
/// one candidate whose content is one text part, or one call part with one string
/// `partialArgs` entry and no `args`.
fn recipe(chunk: &ChunkDelta<'_>, shape: &Shape<'_>) -> Option<(Recipe, &'static [Role])> {
    if chunk.error.is_some() {
        return None;
    }
    let [c] = chunk.candidates.as_deref()? else {
        return None;
    };
    let content = c.content.as_ref()?;
    let [part] = content.parts.as_slice() else {
        return None;
    };
    // Sized up front: one allocation each.
    let lists = [&c.keys, &content.extra, &part.extra];
    let call_extra = match &part.kind {
        PartKind::Call(call) => call.extra.as_slice(),
        _ => &[],
    };
    let all_pairs = || lists.iter().flat_map(|l| l.iter()).chain(call_extra);
    let mut kept = Kept {
        text: String::with_capacity(
            all_pairs().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                + shape.values.iter().map(|v| v.0.len()).sum::<usize>(),
        ),
        pairs: Vec::with_capacity(all_pairs().count()),
    };
    let (part_recipe, roles): (_, &'static [Role]) = match &part.kind {
        PartKind::Text { thought, .. } => (PartRecipe::Text { thought: *thought }, &[Role::Text]),
        PartKind::Call(call) => {
            let [arg] = call.partial_args.as_slice() else {
                return None;
            };
            if !arg.string || call.args.is_some() {
                return None;
            }
            let recipe = PartRecipe::Arg(ArgRecipe {
                name: call.name.as_deref().map(str::to_string),
                will_continue: call.will_continue,
                arg_will_continue: arg.will_continue,
                extra: kept.list(&call.extra),
            });
            (recipe, &[Role::Path, Role::Value])
        }
        PartKind::Other => return None,
    };
    let keys = shape.values.iter();
    let keys = keys.map(|(k, a, b)| (kept.text(k), *a, *b)).collect();
    let candidate_keys = kept.list(&c.keys);
    let content_extra = kept.list(&content.extra);
    let part_extra = kept.list(&part.extra);
    let recipe = Recipe {
        kept,
        keys,
        candidates_at: shape
            .values
            .iter()
            .filter(|v| v.1 < shape.candidates_at)
            .count(),
        index: c.index,
        candidate_keys,
        content_at: c.content_at,
        content_extra,
        signature: part.signature.as_deref().map(str::to_string),
        part_extra,
        part: part_recipe,
        fixed: 0,
        clean_at: None,
    };
    Some((recipe, roles))
}

/// The part a matched payload's one candidate carries, and how many calls it adds; None when
/// a hole's value is one the full decoder must report (a `jsonPath` it cannot read).
fn recipe_part<'c>(m: &Matched<'c, 'c>) -> Option<(PartKind<'c>, usize)> {
    let [text, json_path, string_value] = &m.strings;
    let kept = &m.template.recipe.kept;
    Some(match &m.template.recipe.part {
        PartRecipe::Text { thought } => (
            PartKind::Text {
                text: text.clone()?,
                thought: *thought,
            },
            0,
        ),
        PartRecipe::Arg(ArgRecipe {
            name,
            will_continue,
            arg_will_continue,
            extra,
        }) => {
            let call = CallDelta {
                name: name.as_deref().map(Cow::Borrowed),
                args: None,
                partial_args: vec![PartialArg {
                    path: path::parse(json_path.as_deref()?)?,
                    value: Value::String(string_value.as_deref()?.to_string()),
                    will_continue: *arg_will_continue,
                    string: true,
                }],
                will_continue: *will_continue,
                extra: kept.borrowed(*extra),
            };
            (PartKind::Call(call), 1)
        }
        PartRecipe::CallEnd => (PartKind::Call(CallDelta::default()), 1),
    })
}

/// The `partialArgs` entry of a payload matched to `recipe`, its path parsed unless its text
/// is `open`, that of the string the candidate's call continues; None when the full decoder
/// must report the path.
fn string_arg<'m>(
    m: &'m Matched<'_, '_>,
    recipe: &ArgRecipe,
    open: Option<&str>,
    steps: &'m mut Parsed,
) -> Option<StringArg<'m>> {
    let [_, json_path, string_value] = &m.strings;
    let path_text = json_path.as_deref()?;
    let parsed = !(recipe.name.is_none() && open == Some(path_text));
    if parsed && !steps.parse(path_text) {
        return None;
    }
    Some(StringArg {
        parsed,
        steps,
        value: string_value.as_deref()?,
    })
}

/// The chunk a matched payload decodes to; None when a hole's value is one the full decoder
/// must report (a `jsonPath` it cannot read).
fn repeated<'c>(m: &Matched<'c, 'c>) -> Option<ChunkDelta<'c>> {
    let r = &m.template.recipe;
    let mut keys = Vec::with_capacity(r.keys.len());
    for (key, start, end) in &r.keys {
        keys.push((Cow::Borrowed(r.kept.str(*key)), m.value(*start, *end)?));
    }
    let (kind, _) = recipe_part(m)?;
    let part = PartDelta {
        kind,
        signature: r.signature.as_deref().map(Cow::Borrowed),
        extra: r.kept.borrowed(r.part_extra),
    };
    let candidate = CandidateDelta {
        index: r.index,
        content_key: true,
        content: Some(ContentDelta {
            has_parts: true,
            parts: vec![part],
            extra: r.kept.borrowed(r.content_extra),
        }),
        keys: r.kept.borrowed(r.candidate_keys),
        content_at: r.content_at,
    };
    Some(ChunkDelta {
        error: None,
        candidates: Some(vec![candidate]),
        candidates_seen: true,
        candidates_at: r.candidates_at,
        keys,
    })
}

/// Where the candidate of `index` is in `candidates` (sorted by index), given its binary
/// search's result `found`: an empty one is inserted where it belongs when absent. Whether it
/// was inserted.
#[inline]
fn insert_candidate(
    candidates: &mut Vec<Candidate>,
    index: u64,
    found: Result<usize, usize>,
) -> (usize, bool) {
    match found {
        Ok(at) => (at, false),
        Err(at) => {
            add_candidate(candidates, at, index);
            (at, true)
        }
    }
}

/// The insertion of [`insert_candidate`], once per candidate: kept out of line so that the
/// lookup, made per templated payload, stays inline in its caller.
#[cold]
#[inline(never)]
fn add_candidate(candidates: &mut Vec<Candidate>, at: usize, index: u64) {
    // Most streams have one candidate: room for one (176 bytes) is a small block.
    first_room(candidates);
    candidates.insert(
        at,
        Candidate {
            index,
            ..Candidate::default()
        },
    );
}

/// More top-level keys than this: a template's payload is applied through its chunk
/// ([`repeated`]) rather than its recipe.
const MAX_RECIPE_KEYS: usize = 8;

/// A `usage` event when `usageMetadata` changed from `before`.
fn usage_event(keys: &Map, before: Option<&Value>, max_depth: usize, events: &mut Vec<Event>) {
    let now = keys.get("usageMetadata");
    if now != before {
        if let Some(Value::Object(usage)) = tree(now, max_depth) {
            if tree(before, max_depth) != Some(Value::Object(usage.clone())) {
                events.push(Event::Usage(UsageSnapshot::whole(usage)));
            }
        }
    }
}

impl Gemini {
    /// Folds a payload that matches a template as the chunk it decodes to (see [`template`]);
    /// false, changing nothing, for any other payload.
    fn apply_repeated(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<bool, ErrorKind> {
        let first = self.order.first;
        for slot in [first, 1 - first] {
            if self.apply_clean_text(slot, data, events) {
                self.order.applied(slot);
                return Ok(true);
            }
            let Some(mut template) = self.templates.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            let outcome = self.apply_template(&mut template, data, events);
            if let Some(kept) = self.templates.get_mut(slot) {
                *kept = Some(template);
            }
            if let Some(outcome) = outcome {
                self.order.applied(slot);
                return outcome.map(|()| true);
            }
        }
        // The first answer after thoughts, or the first entry that ends a string after its
        // fragments: the latest template without its `thought` or `willContinue` member.
        let answer = match &mut self.templates {
            [Some(latest), _] => latest.take_next(data),
            _ => None,
        };
        let Some(mut template) = answer else {
            return Ok(false);
        };
        let Some(outcome) = self.apply_template(&mut template, data, events) else {
            return Ok(false);
        };
        let [first, second] = &mut self.templates;
        *second = first.replace(Box::new(template));
        self.order = Order::default();
        self.order.applied(0);
        outcome.map(|()| true)
    }

    /// [`Self::apply_template`] of slot `slot`'s template for the usual payload: a text part
    /// continuing the text, with the numbers applied last, while the template is clean.
    /// Whether it was applied; false, changing nothing, for anything else.
    ///
    /// What [`Self::apply_recipe`] does then, less what changes nothing there: clean with its
    /// numbers as applied, no value is read or merged; the candidate was found when the
    /// template was last applied and is still there (candidates go only with
    /// [`Self::changes`] counted); a text adds no call, and every call added so far passed the
    /// call limit, so that check cannot fail; no kept key changes, so `changes`, the `usage`
    /// event and `finished` (recomputed after every change of a candidate's flag) stay as
    /// they are, and so does the template's `clean_at`.
    fn apply_clean_text(&mut self, slot: usize, data: &[u8], events: &mut Vec<Event>) -> bool {
        let Some(Some(template)) = self.templates.get(slot) else {
            return false;
        };
        let r = &template.recipe;
        let PartRecipe::Text { thought } = r.part else {
            return false;
        };
        if r.clean_at != Some(self.changes)
            || r.keys.len() > MAX_RECIPE_KEYS
            || r.index > self.limits.max_choice_index
        {
            return false;
        }
        let Some(text) = template.read_text(data) else {
            return false;
        };
        let Ok(at) = (self.candidates).binary_search_by_key(&r.index, |c| c.index) else {
            return false;
        };
        let Some(candidate) = self.candidates.get_mut(at) else {
            return false;
        };
        #[cfg(test)]
        {
            self.template_reads += 1;
            self.clean_texts += 1;
        }
        let mut sink = self.options.events.then_some(Sink {
            events,
            options: self.options,
            max_depth: self.limits.max_depth,
        });
        let signature = r.signature.as_deref().map(Cow::Borrowed);
        candidate.add_text(
            text,
            thought,
            signature,
            r.kept.pairs(r.part_extra),
            &mut sink,
        );
        self.folded += 1;
        true
    }

    /// Folds a payload that matches `template` (see [`Self::apply_repeated`]); None, changing
    /// nothing, for any other payload.
    fn apply_template(
        &mut self,
        template: &mut Template,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Option<Result<(), ErrorKind>> {
        #[cfg(test)]
        {
            self.template_reads += 1;
        }
        // Ok(Some(same)): applied from the recipe, `same` when its number holes held the
        // bytes noted at the last application; Ok(None): through the chunk.
        let outcome = template.read(data).and_then(|m| {
            if self.apply_recipe(&m, events).is_some() {
                return Some(Ok(Some(m.numbers_as_applied)));
            }
            repeated(&m).map(|chunk| self.apply_chunk(chunk, events).map(|()| None))
        });
        if let Some(Ok(Some(same))) = outcome {
            template.recipe.clean_at = Some(self.changes);
            // The same bytes are noted already.
            if !same {
                template.applied(data);
            }
        }
        outcome.map(|o| o.map(|_| ()))
    }

    /// Applies a matched template's payload as [`Self::apply_chunk`] applies the chunk
    /// [`repeated`] gives for it, step for step, without building that chunk (its vectors and
    /// maps cost more than the merge). None, changing nothing, where that chunk would meet a
    /// limit or a value the full decoder must see: the chunk path then gives the outcome.
    fn apply_recipe(&mut self, m: &Matched<'_, '_>, events: &mut Vec<Event>) -> Option<()> {
        const MAX_KEYS: usize = MAX_RECIPE_KEYS;
        let r = &m.template.recipe;
        if r.keys.len() > MAX_KEYS || r.index > self.limits.max_choice_index {
            return None;
        }
        let found = self.candidates.binary_search_by_key(&r.index, |c| c.index);
        let (part, new_calls) = match &r.part {
            PartRecipe::Text { thought } => {
                let [text, _, _] = &m.strings;
                (
                    RecipePart::Text(Cow::Borrowed(text.as_deref()?), *thought),
                    0,
                )
            }
            // Events need the decoded call.
            PartRecipe::Arg(recipe) if !self.options.events => {
                let candidate = found.ok().and_then(|at| self.candidates.get(at));
                let open = candidate.and_then(Candidate::open_text);
                let arg = string_arg(m, recipe, open, &mut self.steps)?;
                (RecipePart::Arg(recipe, arg), 1)
            }
            PartRecipe::Arg(_) | PartRecipe::CallEnd => {
                let (part, new_calls) = recipe_part(m)?;
                (RecipePart::Part(Box::new(part)), new_calls)
            }
        };
        // Clean: this template was applied last, or others changed nothing since, so its
        // values without holes, and all of them when its numbers are those applied then, are
        // those already merged.
        let clean = r.clean_at == Some(self.changes);
        // Indexed rather than zipped: here, per event, zipping cost more than the loop.
        let mut values = [None; MAX_KEYS];
        // Whether any value was read: a clean application of a payload whose numbers are
        // those applied reads none, and then skips both merges outright.
        let mut any = false;
        // Clean with the numbers applied then (most payloads of a stream): no value to read.
        let unread = clean && m.numbers_as_applied;
        for (i, (_, start, end)) in r.keys.iter().enumerate().filter(|_| !unread) {
            let fixed = i < 64 && (r.fixed >> i) & 1 == 1;
            if !(clean && fixed) {
                *values.get_mut(i)? = Some(m.value(*start, *end)?);
                any = true;
            }
        }
        let known = found
            .ok()
            .and_then(|at| self.candidates.get(at))
            .map_or(0, Candidate::calls);
        if known + new_calls > self.limits.max_tool_calls {
            return None;
        }
        // Only a value read is merged: without one, `usageMetadata` stays as it is and no
        // `usage` event is due, so its copy to compare with is not made.
        let usage_before = if self.options.events && any {
            self.keys.get("usageMetadata").cloned()
        } else {
            None
        };
        let mut sink = self.options.events.then_some(Sink {
            events,
            options: self.options,
            max_depth: self.limits.max_depth,
        });
        let split = r.candidates_at.min(r.keys.len());
        let key = |i: usize| {
            let value = (*values.get(i)?)?;
            Some((r.kept.str(r.keys.get(i)?.0), value))
        };
        let mut changed = any && merge_pairs(&mut self.keys, (0..split).filter_map(key));
        // Clean: the last application inserted it, and nothing since removed it.
        if !clean {
            changed |= insert_null(&mut self.keys, "candidates");
        }
        let (at, added) = insert_candidate(&mut self.candidates, r.index, found);
        changed |= added;
        if let Some(candidate) = self.candidates.get_mut(at) {
            changed |= candidate.apply_recipe(r, part, clean, &mut sink);
        }
        if any {
            changed |= merge_pairs(&mut self.keys, (split..r.keys.len()).filter_map(key));
        }
        if changed {
            self.changes += 1;
        }
        if let Some(sink) = sink.filter(|_| any) {
            usage_event(
                &self.keys,
                usage_before.as_ref(),
                sink.max_depth,
                sink.events,
            );
        }
        self.finished = !self.candidates.is_empty() && self.candidates.iter().all(|c| c.finished);
        self.folded += 1;
        Some(())
    }

    fn apply(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), ErrorKind> {
        #[cfg(test)]
        {
            self.decoded += 1;
        }
        let (chunk, shape) = scan(data, self.limits.max_depth, &self.keys, &self.candidates)?;
        // A chunk that ends the stream (its one candidate finishes, and every other one has)
        // needs no template: its recipe is not made (the usual stream's last payload).
        let ends = match chunk.candidates.as_deref() {
            Some([c]) => {
                let finishes = c
                    .keys
                    .iter()
                    .any(|(k, v)| k == "finishReason" && !is_null(v));
                finishes && (self.candidates.iter()).all(|k| k.index == c.index || k.finished)
            }
            _ => false,
        };
        let learned = if ends { None } else { recipe(&chunk, &shape) };
        self.apply_chunk(chunk, events)?;
        // A finished fold ends its stream (`Folded::End`): no later payload would use it.
        if let (Some((recipe, roles)), false) = (learned, self.finished) {
            if let Some(mut template) = Template::learn(data, &shape, roles, recipe) {
                // The chunk merged what the recipe merges, and its numbers are the payload's.
                template.learned(data);
                template.recipe.clean_at = Some(self.changes);
                let [first, second] = &mut self.templates;
                *second = first.replace(Box::new(template));
                self.order = Order::default();
            }
        }
        Ok(())
    }

    fn apply_chunk(
        &mut self,
        chunk: ChunkDelta<'_>,
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind> {
        // Every limit is checked before anything changes, so a refused chunk leaves no trace.
        // Each function-call part of a chunk counts as a new call (a continuation counts too:
        // the check is simple and the same in both twins).
        for c in chunk.candidates.iter().flatten() {
            if c.index > self.limits.max_choice_index {
                return Err(ErrorKind::Limit {
                    limit: LimitName::ChoiceIndex,
                    maximum: self.limits.max_choice_index,
                });
            }
            let new_calls = c.content.iter().flat_map(|content| &content.parts);
            let new_calls = new_calls
                .filter(|p| matches!(p.kind, PartKind::Call(_)))
                .count();
            let known = self
                .candidates
                .binary_search_by_key(&c.index, |k| k.index)
                .map_or(0, |at| self.candidates[at].calls());
            if known + new_calls > self.limits.max_tool_calls {
                return Err(ErrorKind::Limit {
                    limit: LimitName::ToolCalls,
                    maximum: self.limits.max_tool_calls as u64,
                });
            }
        }
        let usage_before = if self.options.events {
            self.keys.get("usageMetadata").cloned()
        } else {
            None
        };
        let mut sink = self.options.events.then_some(Sink {
            events,
            options: self.options,
            max_depth: self.limits.max_depth,
        });
        let (before, after) = chunk
            .keys
            .split_at(chunk.candidates_at.min(chunk.keys.len()));
        merge_raw(&mut self.keys, before);
        if chunk.candidates_seen {
            self.keys.insert_if_absent("candidates", || Value::Null);
        }
        for delta in chunk.candidates.into_iter().flatten() {
            let found = self
                .candidates
                .binary_search_by_key(&delta.index, |c| c.index);
            let (at, _) = insert_candidate(&mut self.candidates, delta.index, found);
            if let Some(candidate) = self.candidates.get_mut(at) {
                candidate.apply(delta, &mut sink);
            }
        }
        merge_raw(&mut self.keys, after);
        if let Some(sink) = sink {
            usage_event(
                &self.keys,
                usage_before.as_ref(),
                sink.max_depth,
                sink.events,
            );
        }
        // Ended once every candidate seen has its finishReason: with one candidate (the
        // usual case) that is docs/formats.md's "some candidate has a finishReason", and with
        // several, no candidate's tail is lost as data after the end.
        self.finished = !self.candidates.is_empty() && self.candidates.iter().all(|c| c.finished);
        self.folded += 1;
        self.changes += 1;
        Ok(())
    }
}

impl Gemini {
    /// The result, built by `b`: the one walk behind both [`Fold::result`] and
    /// [`Fold::build_result`], so that they agree to the key order.
    fn build<B: Build>(&self, b: &mut B) -> Result<B::Out, B::Error> {
        let mut out = b.object(self.keys.len())?;
        for (key, value) in &self.keys {
            let v = if key == "candidates" {
                let mut list = b.list(self.candidates.len())?;
                for candidate in &self.candidates {
                    let candidate = candidate.build(b)?;
                    b.push(&mut list, candidate)?;
                }
                b.end_list(list)?
            } else {
                b.value(value)?
            };
            b.set(&mut out, key, v)?;
        }
        Ok(b.end_object(out))
    }

    /// Whether the result would hold a text of at least `len` bytes. Kept values are JSON
    /// text ([`Value::Raw`]) or null: only the parts hold texts.
    fn holds_text(&self, len: usize) -> bool {
        (self.candidates.iter()).any(|c| c.parts.iter().any(|p| p.holds_text(len)))
    }

    /// A top-level key's value as a tree (top-level values are kept as their text).
    fn top(&self, key: &str) -> Option<Value> {
        match self.keys.get(key)? {
            Value::Raw(text) => {
                crate::json::reader::parse(text.as_bytes(), self.limits.max_depth).ok()
            }
            other => Some(other.clone()),
        }
    }
}

/// A kept value as a tree.
fn tree(v: Option<&Value>, max_depth: usize) -> Option<Value> {
    match v? {
        Value::Raw(text) => crate::json::reader::parse(text.as_bytes(), max_depth).ok(),
        other => Some(other.clone()),
    }
}

impl Fold for Gemini {
    fn new(config: &Config) -> Self {
        Gemini {
            limits: config.limits,
            options: config.options,
            folded: 0,
            keys: Map::new(),
            candidates: Vec::new(),
            finished: false,
            templates: [None, None],
            order: Order::default(),
            steps: Parsed::default(),
            changes: 0,
            #[cfg(test)]
            decoded: 0,
            #[cfg(test)]
            template_reads: 0,
            #[cfg(test)]
            clean_texts: 0,
        }
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Gemini)
    }

    fn ends_stream(&self, _data: &[u8]) -> bool {
        false
    }

    fn end_marker(&self) -> &'static str {
        "finishReason"
    }

    fn missing_end(&self) -> &'static str {
        "a finishReason"
    }

    fn fold(
        &mut self,
        _event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        if !self.apply_repeated(data, events)? {
            self.apply(data, events)?;
        }
        Ok(if self.finished {
            Folded::End
        } else {
            Folded::Continue
        })
    }

    fn fold_repaired(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.fold(event_type, data, events)
    }

    fn next_stream(&mut self) {
        self.keys = Map::new();
        self.candidates.clear();
        self.finished = false;
        self.templates = [None, None];
        self.order = Order::default();
        self.changes += 1;
    }

    fn folded(&self) -> u64 {
        self.folded
    }

    fn complete(&self) -> bool {
        false
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        if !self.options.events {
            return;
        }
        let mut sink = Sink {
            events,
            options: self.options,
            max_depth: self.limits.max_depth,
        };
        for candidate in &mut self.candidates {
            candidate.done_events(&mut sink);
        }
    }

    fn result(&self) -> Value {
        built(self.build(&mut ValueBuild))
    }

    /// Built from the state, unless a part holds a text the builder would rather move
    /// (see [`Build::long_text`]).
    fn build_result<B: Build>(&self, b: &mut B) -> Option<Result<B::Out, B::Error>> {
        let long = b.long_text();
        if long != usize::MAX && self.holds_text(long) {
            return None;
        }
        Some(self.build(b))
    }

    /// As [`Fold::result`], with the fold's maps, texts and values moved into the result
    /// rather than copied ([`Fold::restore`] moves them back): the kept `candidates`
    /// placeholder is null, and each candidate moves its own.
    fn take_result(&mut self) -> Value {
        let mut top = std::mem::take(&mut self.keys);
        if let Some(slot) = top.get_mut("candidates") {
            let candidates = self.candidates.iter_mut().map(Candidate::take);
            *slot = Value::Array(candidates.collect());
        }
        Value::Object(top)
    }

    fn restore(&mut self, result: Value) {
        let Value::Object(mut top) = result else {
            return;
        };
        let shown = top.get_mut("candidates").map(std::mem::take);
        self.keys = top;
        if let Some(Value::Array(shown)) = shown {
            for (candidate, shown) in self.candidates.iter_mut().zip(shown) {
                candidate.restore(shown);
            }
        }
    }

    fn version(&self) -> (u64, u64) {
        (self.folded, 0)
    }

    /// Candidate 0: its text, thought text, function calls (arguments: `args` as JSON, `{}`
    /// when none) and finishReason; the usage from `usageMetadata`.
    fn summary(&self) -> Summary {
        let depth = self.limits.max_depth;
        let candidate = self.candidates.first().filter(|c| c.index == 0);
        let parts = candidate.map_or(&[][..], |c| c.parts.as_slice());
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        for part in parts {
            match part {
                Part::Text {
                    text: t, thought, ..
                } => {
                    if *thought {
                        reasoning.push_str(t);
                    } else {
                        text.push_str(t);
                    }
                }
                Part::Call(CallPart {
                    name, args, extra, ..
                }) => tool_calls.push(ToolCall {
                    id: summary::text(tree(extra.get("id"), depth).as_ref()),
                    name: name.clone(),
                    arguments: args.as_ref().map_or_else(|| "{}".to_string(), json_text),
                }),
                Part::Other { .. } => {}
            }
        }
        let usage = self.top("usageMetadata");
        let usage = usage.as_ref();
        let thoughts = summary::count(summary::field(usage, "thoughtsTokenCount"));
        let candidates_tokens = summary::count(summary::field(usage, "candidatesTokenCount"));
        let output = match (candidates_tokens, thoughts) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        let input = summary::count(summary::field(usage, "promptTokenCount"));
        let stop_reason =
            tree(candidate.and_then(|c| c.keys.get("finishReason")), depth).unwrap_or_default();
        Summary {
            format: Some(Format::Gemini),
            id: summary::text(self.top("responseId").as_ref()),
            model: summary::text(self.top("modelVersion").as_ref()),
            finish_reason: summary::finish_reason(stop_reason.as_str(), !tool_calls.is_empty()),
            stop_reason,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: summary::count(summary::field(usage, "totalTokenCount"))
                    .or_else(|| summary::sum(input, output)),
                cached_input_tokens: summary::count(summary::field(
                    usage,
                    "cachedContentTokenCount",
                )),
                cache_write_tokens: None,
                reasoning_tokens: thoughts,
            },
            text,
            reasoning,
            tool_calls,
            ..Summary::default()
        }
    }
}

/// Compact JSON text of a value, escaped as orjson escapes (what the reference twin's
/// `orjson.dumps` gives): `"`, `\\` and control characters only; numbers as they came.
pub fn json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

pub(crate) fn write_json(out: &mut String, v: &Value) {
    // Iterative over an explicit stack: arguments may be nested to `max_depth`.
    enum Step<'a> {
        Value(&'a Value),
        Key(&'a str),
        Text(&'static str),
    }
    let mut todo = vec![Step::Value(v)];
    while let Some(step) = todo.pop() {
        match step {
            Step::Text(t) => out.push_str(t),
            Step::Key(k) => {
                write_string(out, k);
                out.push(':');
            }
            Step::Value(v) => match v {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) | Value::Raw(n) => out.push_str(n),
                Value::String(s) => write_string(out, s),
                Value::Array(items) => {
                    out.push('[');
                    todo.push(Step::Text("]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        todo.push(Step::Value(item));
                        if i > 0 {
                            todo.push(Step::Text(","));
                        }
                    }
                }
                Value::Object(m) => {
                    out.push('{');
                    todo.push(Step::Text("}"));
                    let entries: Vec<_> = m.iter().collect();
                    for (i, (k, item)) in entries.into_iter().enumerate().rev() {
                        todo.push(Step::Value(item));
                        todo.push(Step::Key(k));
                        if i > 0 {
                            todo.push(Step::Text(","));
                        }
                    }
                }
            },
        }
    }
}

pub(crate) fn write_string(out: &mut String, s: &str) {
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
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
pub(crate) mod tests;
