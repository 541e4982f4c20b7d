//! Decodes one `data:` payload into a [`Chunk`]: a view of a `chat.completion.chunk` that
//! borrows every escape-free string from the payload.
//!
//! The scanner knows the chunk schema, so it checks types as it reads, skips what is dropped
//! (`obfuscation`) without building it, and builds owned [`Value`]s only for keys it does not
//! know. Key order does not matter; a duplicate key replaces the earlier one (as in orjson).

use std::borrow::Cow;

use crate::error::DecodeKind;
use crate::json::reader::{JsonError, Reader};
use crate::json::value::{Map, OrderedMap, Value};

/// A chunk field that may be absent, explicitly null, or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn set(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

pub type Str<'a> = Cow<'a, str>;

/// Byte range of a string token in the payload: its opening quote to just after its closing
/// quote. Recorded for the values [`crate::formats::chat::template`] may re-read in later chunks.
pub type Span = (usize, usize);
/// Keys the scanner does not know, in order; a duplicate key replaces the earlier value in
/// place, as in a JSON object. Boxed and absent until used: most chunks have none, and the
/// views stay small to move.
#[derive(Debug, Default)]
pub struct Extras<'a>(Option<Box<OrderedMap<Str<'a>>>>);

impl<'a> Extras<'a> {
    pub fn insert(&mut self, key: Str<'a>, value: Value) {
        self.0.get_or_insert_with(Box::default).insert(key, value);
    }

    pub fn remove(&mut self, key: &str) {
        if let Some(m) = self.0.as_mut() {
            m.shift_remove(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref().and_then(|m| m.get(key))
    }

    pub fn has_array_value(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|m| m.values().any(|v| matches!(v, Value::Array(_))))
    }
}

impl<'a> IntoIterator for Extras<'a> {
    type Item = (Str<'a>, Value);
    type IntoIter =
        std::iter::Flatten<std::option::IntoIter<<OrderedMap<Str<'a>> as IntoIterator>::IntoIter>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.map(|m| m.into_iter()).into_iter().flatten()
    }
}

#[derive(Debug, Default)]
pub struct Chunk<'a> {
    pub id: Field<Str<'a>>,
    pub model: Field<Str<'a>>,
    /// The integer's JSON text.
    pub created: Field<&'a str>,
    pub system_fingerprint: Field<Str<'a>>,
    pub service_tier: Field<Str<'a>>,
    pub choices: Vec<ChoiceDelta<'a>>,
    pub usage: Field<Box<Map>>,
    /// Other top-level keys, in order, duplicates removed (last wins).
    pub extras: Extras<'a>,
    /// A non-null `error` value, or the whole payload when `"object": "error"`.
    pub error: Option<Box<Value>>,
    pub obfuscation_span: Option<Span>,
    /// Whether the payload has a `choices` key, and whether its last `object` is the string
    /// `"text_completion"`: what tells a legacy Completions chunk (`crate::sniff`).
    pub has_choices: bool,
    pub text_completion: bool,
}

#[derive(Debug, Default)]
pub struct ChoiceDelta<'a> {
    pub index: u64,
    /// Payload position of the index value, for limit errors.
    pub index_pos: usize,
    pub delta: Option<Delta<'a>>,
    pub finish_reason: Field<Str<'a>>,
    pub logprobs: Field<Box<Logprobs>>,
    pub extras: Extras<'a>,
    /// Whether the choice has a `delta` key, null or not (`crate::sniff`).
    pub has_delta: bool,
}

#[derive(Debug, Default)]
pub struct Logprobs {
    pub content: Option<Vec<Value>>,
    pub refusal: Option<Vec<Value>>,
    pub extras: Map,
    /// Where the `content` array is, and the depth of the object holding it (for the template
    /// of logprobs chunks).
    pub content_at: Option<(Span, usize)>,
}

#[derive(Debug)]
pub enum Content<'a> {
    Text(Str<'a>),
    Parts(Vec<Value>),
}

#[derive(Debug, Default)]
pub struct Delta<'a> {
    pub role: Option<Str<'a>>,
    pub content: Option<Content<'a>>,
    pub content_span: Option<Span>,
    pub refusal: Option<Str<'a>>,
    pub refusal_span: Option<Span>,
    pub tool_calls: Vec<ToolCallDelta<'a>>,
    pub function_call: Option<Box<FunctionCallDelta<'a>>>,
    pub audio: Option<Box<Map>>,
    /// Other delta keys with non-null values, in order (last wins on duplicates).
    pub extras: Extras<'a>,
}

#[derive(Debug, Default)]
pub struct ToolCallDelta<'a> {
    pub index: Option<u64>,
    pub index_pos: usize,
    pub id: Option<Str<'a>>,
    pub kind: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub arguments: Option<Str<'a>>,
    pub arguments_span: Option<Span>,
    pub function_extras: Extras<'a>,
    pub extras: Extras<'a>,
}

#[derive(Debug, Default)]
pub struct FunctionCallDelta<'a> {
    pub name: Option<Str<'a>>,
    pub arguments: Option<Str<'a>>,
    pub arguments_span: Option<Span>,
    pub extras: Extras<'a>,
}

type R<T> = Result<T, DecodeKind>;

/// Type errors found inside one object or array, reported when the container ends. Reading
/// on first matters twice: with duplicate keys only the last value counts (as in orjson, so
/// an invalid value followed by a valid one is fine), and a syntax error anywhere in the
/// payload wins over a type error, as for a parser that validates after parsing.
#[derive(Default)]
struct Pending {
    errors: Vec<(String, DecodeKind)>,
}

impl Pending {
    /// The outcome of reading the value of `key`: a type error waits, a syntax error stops.
    fn note(&mut self, key: &str, outcome: R<()>) -> R<()> {
        match outcome {
            Ok(()) => {
                self.errors.retain(|(k, _)| k != key);
                Ok(())
            }
            Err(e @ DecodeKind::Schema { .. }) => {
                self.errors.retain(|(k, _)| k != key);
                self.errors.push((key.to_string(), e));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The outcome of reading one array element.
    fn note_item(&mut self, outcome: R<()>) -> R<()> {
        match outcome {
            Ok(()) => Ok(()),
            Err(e @ DecodeKind::Schema { .. }) => {
                self.errors.push((String::new(), e));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The first type error in payload order, if any is left.
    fn finish(self) -> R<()> {
        match self
            .errors
            .into_iter()
            .map(|(_, e)| e)
            .min_by_key(DecodeKind::pos)
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn syntax(e: JsonError) -> DecodeKind {
    DecodeKind::Syntax(e)
}

fn schema<T>(field: &'static str, expected: &'static str, pos: usize) -> R<T> {
    Err(DecodeKind::Schema {
        field,
        expected,
        pos,
    })
}

/// Inserting an existing key replaces its value in place, as a duplicate key in a JSON object.
fn add_extra<'a>(extras: &mut Extras<'a>, key: Str<'a>, value: Value) {
    extras.insert(key, value);
}

fn string_or_null<'a>(r: &mut Reader<'a>, field: &'static str) -> R<Field<Str<'a>>> {
    if let Some(s) = r.take_string().map_err(syntax)? {
        return Ok(Field::Set(s));
    }
    if r.take_null().map_err(syntax)? {
        return Ok(Field::Null);
    }
    let pos = r.pos();
    // Validate the value first, so a syntax error inside it wins over the type error.
    r.skip_value().map_err(syntax)?;
    schema(field, "a string or null", pos)
}

/// Position of the next value (after whitespace).
fn value_start(r: &mut Reader<'_>) -> usize {
    r.peek();
    r.pos()
}

/// A string-or-null with the span of the string.
fn spanned<'a>(r: &mut Reader<'a>, field: &'static str) -> R<(Option<Str<'a>>, Option<Span>)> {
    let at = value_start(r);
    Ok(match opt_string(r, field)? {
        Some(s) => (Some(s), Some((at, r.pos()))),
        None => (None, None),
    })
}

fn opt_string<'a>(r: &mut Reader<'a>, field: &'static str) -> R<Option<Str<'a>>> {
    Ok(match string_or_null(r, field)? {
        Field::Set(s) => Some(s),
        _ => None,
    })
}

/// Integer text within i64/u64 (what orjson returns as an int).
fn int_text(text: &str) -> bool {
    !text.contains(['.', 'e', 'E']) && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())
}

fn index_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Option<(u64, usize)>> {
    const EXPECTED: &str = "a non-negative integer";
    let pos = {
        r.peek();
        r.pos()
    };
    if let Some(text) = r.take_number().map_err(syntax)? {
        // "-0" is the integer 0, as in Python.
        let digits = text
            .strip_prefix('-')
            .filter(|d| d.bytes().all(|b| b == b'0'));
        if let Some(_zero) = digits {
            return Ok(Some((0, pos)));
        }
        if !int_text(text) {
            return schema(field, EXPECTED, pos);
        }
        return match text.parse::<u64>() {
            Ok(n) => Ok(Some((n, pos))),
            Err(_) => schema(field, EXPECTED, pos),
        };
    }
    if r.take_null().map_err(syntax)? {
        return Ok(None);
    }
    r.skip_value().map_err(syntax)?;
    schema(field, EXPECTED, pos)
}

fn object_or_null(r: &mut Reader<'_>, field: &'static str) -> R<bool> {
    if r.begin_object().map_err(syntax)? {
        return Ok(true);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(false);
    }
    let pos = r.pos();
    r.skip_value().map_err(syntax)?;
    schema(field, "an object or null", pos)
}

fn array_or_null(r: &mut Reader<'_>, field: &'static str) -> R<bool> {
    if r.begin_array().map_err(syntax)? {
        return Ok(true);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(false);
    }
    let pos = r.pos();
    r.skip_value().map_err(syntax)?;
    schema(field, "an array or null", pos)
}

fn value_array_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Option<Vec<Value>>> {
    let pos = {
        r.peek();
        r.pos()
    };
    match r.read_value().map_err(syntax)? {
        Value::Array(items) => Ok(Some(items)),
        Value::Null => Ok(None),
        _ => schema(field, "an array or null", pos),
    }
}

/// An array or null whose elements are kept as [`Value::Raw`] text.
fn raw_array_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Option<Vec<Value>>> {
    if !array_or_null(r, field)? {
        return Ok(None);
    }
    let mut items = Vec::new();
    let mut first = true;
    while r.next_element(&mut first).map_err(syntax)? {
        items.push(Value::Raw(r.raw_value().map_err(syntax)?.into()));
    }
    Ok(Some(items))
}

fn map_or_null(r: &mut Reader<'_>, field: &'static str) -> R<Field<Map>> {
    let pos = {
        r.peek();
        r.pos()
    };
    match r.read_value().map_err(syntax)? {
        Value::Object(m) => Ok(Field::Set(m)),
        Value::Null => Ok(Field::Null),
        _ => schema(field, "an object or null", pos),
    }
}

/// Decodes one payload. `max_depth` bounds nesting (the top-level object is depth 1).
pub fn decode(payload: &[u8], max_depth: usize) -> R<Chunk<'_>> {
    decode_after(payload, max_depth, &[]).map(|d| d.chunk)
}

/// A decoded chunk and the length of its header: the bytes from the payload start through
/// `"choices":`, when only the fixed header keys (id, object, created, model,
/// `system_fingerprint`, `service_tier`) come before `choices` and none of them comes after.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub chunk: Chunk<'a>,
    pub header_len: Option<usize>,
}

fn is_header_key(key: &str) -> bool {
    matches!(
        key,
        "id" | "object" | "created" | "model" | "system_fingerprint" | "service_tier"
    )
}

/// Like [`decode`], but when the payload starts with `known_header` (the header of the last
/// chunk applied), those bytes are not read again: streams repeat id, model and created
/// byte for byte on every chunk, and applying them again would change nothing. The caller
/// must only pass a header that it applied, from a chunk with `header_len` set.
pub fn decode_after<'a>(
    payload: &'a [u8],
    max_depth: usize,
    known_header: &[u8],
) -> R<Decoded<'a>> {
    let mut r = Reader::new(payload, max_depth);
    let mut chunk = Chunk::default();
    let resumed = open(&mut r, payload, known_header)?;
    let mut first = !resumed;
    let mut resumed_key: Option<Str<'a>> = resumed.then_some(Cow::Borrowed("choices"));
    let mut pending = Pending::default();
    let mut object_is_error = false;
    let mut header = HeaderEnd::default();
    loop {
        let key = match resumed_key.take() {
            Some(k) => k,
            None => match r.next_key(&mut first).map_err(syntax)? {
                Some(k) => k,
                None => break,
            },
        };
        header.see(&key, r.pos());
        let outcome = top_level_value(&mut r, &mut chunk, &key, &mut object_is_error);
        pending.note(&key, outcome)?;
    }
    pending.finish()?;
    r.end().map_err(syntax)?;
    if object_is_error && chunk.error.is_none() {
        chunk.error = Some(Box::new(
            crate::json::reader::parse(payload, max_depth).map_err(syntax)?,
        ));
    }
    Ok(Decoded {
        chunk,
        header_len: header.len,
    })
}

/// Opens the payload's object, or resumes inside it after `known_header` when the payload
/// starts with it; returns whether it resumed (the next key is then `choices`).
fn open(r: &mut Reader<'_>, payload: &[u8], known_header: &[u8]) -> R<bool> {
    if !known_header.is_empty() && payload.starts_with(known_header) {
        r.resume_in_object(known_header.len());
        return Ok(true);
    }
    let pos = {
        r.peek();
        r.pos()
    };
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        r.end().map_err(syntax)?;
        return schema("the payload", "a JSON object", pos);
    }
    Ok(false)
}

/// Where the header ends (see [`Decoded`]), followed key by key.
struct HeaderEnd {
    len: Option<usize>,
    /// Only header keys so far before `choices`.
    header_only: bool,
    seen_choices: bool,
}

impl Default for HeaderEnd {
    fn default() -> Self {
        HeaderEnd {
            len: None,
            header_only: true,
            seen_choices: false,
        }
    }
}

impl HeaderEnd {
    /// `pos` is the reader's position after `key`.
    fn see(&mut self, key: &str, pos: usize) {
        if key == "choices" {
            if self.header_only && !self.seen_choices {
                self.len = Some(pos);
            }
            self.seen_choices = true;
        } else if is_header_key(key) {
            if self.seen_choices {
                self.len = None;
            }
        } else if !self.seen_choices {
            self.header_only = false;
        }
    }
}

/// Reads the value of one top-level `key` into `chunk`. A chunk whose `object` is `"error"`
/// is an error frame (`object_is_error`).
fn top_level_value<'a>(
    r: &mut Reader<'a>,
    chunk: &mut Chunk<'a>,
    key: &Str<'a>,
    object_is_error: &mut bool,
) -> R<()> {
    match key.as_ref() {
        "id" => string_or_null(r, "id").map(|v| chunk.id = v),
        "model" => string_or_null(r, "model").map(|v| chunk.model = v),
        "created" => created(r).map(|v| chunk.created = v),
        "system_fingerprint" => {
            string_or_null(r, "system_fingerprint").map(|v| chunk.system_fingerprint = v)
        }
        "service_tier" => string_or_null(r, "service_tier").map(|v| chunk.service_tier = v),
        "choices" => {
            chunk.has_choices = true;
            choices(r).map(|v| chunk.choices = v)
        }
        "usage" => map_or_null(r, "usage").map(|v| {
            chunk.usage = match v {
                Field::Set(m) => Field::Set(Box::new(m)),
                Field::Null => Field::Null,
                Field::Absent => Field::Absent,
            }
        }),
        "obfuscation" => {
            let at = value_start(r);
            let is_string = r.take_string().map_err(syntax)?.is_some();
            chunk.obfuscation_span = if is_string {
                Some((at, r.pos()))
            } else {
                r.skip_value().map_err(syntax)?;
                None
            };
            Ok(())
        }
        "object" => {
            // A chunk's own `object` is not checked (Azure sends "", Perplexity a "done"
            // marker), except the one value that announces an error frame.
            if let Some(s) = r.take_string().map_err(syntax)? {
                *object_is_error = s == "error";
                chunk.text_completion = s == "text_completion";
            } else {
                *object_is_error = false;
                chunk.text_completion = false;
                r.skip_value().map_err(syntax)?;
            }
            Ok(())
        }
        "error" => {
            let v = r.read_value().map_err(syntax)?;
            chunk.error = if v.is_null() { None } else { Some(Box::new(v)) };
            Ok(())
        }
        _ => {
            let v = r.read_value().map_err(syntax)?;
            add_extra(&mut chunk.extras, key.clone(), v);
            Ok(())
        }
    }
}

fn created<'a>(r: &mut Reader<'a>) -> R<Field<&'a str>> {
    let pos = {
        r.peek();
        r.pos()
    };
    if let Some(text) = r.take_number().map_err(syntax)? {
        if int_text(text) {
            return Ok(Field::Set(text));
        }
        return schema("created", "an integer or null", pos);
    }
    if r.take_null().map_err(syntax)? {
        return Ok(Field::Null);
    }
    r.skip_value().map_err(syntax)?;
    schema("created", "an integer or null", pos)
}

fn choices<'a>(r: &mut Reader<'a>) -> R<Vec<ChoiceDelta<'a>>> {
    let mut out = Vec::new();
    if !array_or_null(r, "choices")? {
        return Ok(out);
    }
    let mut pending = Pending::default();
    let mut first = true;
    while r.next_element(&mut first).map_err(syntax)? {
        pending.note_item(choice(r).map(|c| out.push(c)))?;
    }
    pending.finish().map(|()| out)
}

fn choice<'a>(r: &mut Reader<'a>) -> R<ChoiceDelta<'a>> {
    let pos = value_start(r);
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        return schema("a choice", "an object", pos);
    }
    let mut c = ChoiceDelta {
        index_pos: pos,
        ..ChoiceDelta::default()
    };
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        c.has_delta |= key == "delta";
        let outcome: R<()> = match key.as_ref() {
            "index" => {
                let at = value_start(r);
                match index_or_null(r, "choice index") {
                    Ok(Some((n, p))) => {
                        c.index = n;
                        c.index_pos = p;
                        Ok(())
                    }
                    Ok(None) => schema("choice index", "a non-negative integer", at),
                    Err(e) => Err(e),
                }
            }
            "delta" => match object_or_null(r, "delta") {
                Ok(true) => delta(r).map(|d| c.delta = Some(d)),
                Ok(false) => {
                    c.delta = None;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            "finish_reason" => string_or_null(r, "finish_reason").map(|v| c.finish_reason = v),
            "logprobs" => match object_or_null(r, "logprobs") {
                Ok(true) => logprobs(r).map(|l| c.logprobs = Field::Set(Box::new(l))),
                Ok(false) => {
                    c.logprobs = Field::Null;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut c.extras, key.clone(), v);
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish().map(|()| c)
}

fn logprobs(r: &mut Reader<'_>) -> R<Logprobs> {
    let mut lp = Logprobs::default();
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let outcome: R<()> = match key.as_ref() {
            "content" => {
                let (at, depth) = (value_start(r), r.depth());
                raw_array_or_null(r, "logprobs.content").map(|v| {
                    lp.content_at = v.as_ref().map(|_| ((at, r.pos()), depth));
                    lp.content = v;
                })
            }
            "refusal" => raw_array_or_null(r, "logprobs.refusal").map(|v| lp.refusal = v),
            _ => {
                let v = r.read_value().map_err(syntax)?;
                lp.extras.insert(key.to_string(), v);
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish().map(|()| lp)
}

fn delta<'a>(r: &mut Reader<'a>) -> R<Delta<'a>> {
    let mut d = Delta::default();
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let outcome: R<()> = match key.as_ref() {
            "content" => {
                let at = value_start(r);
                d.content_span = None;
                if let Some(s) = r.take_string().map_err(syntax)? {
                    d.content_span = Some((at, r.pos()));
                    d.content = Some(Content::Text(s));
                    Ok(())
                } else {
                    value_array_or_null(r, "content")
                        .map_err(|e| retag(e, "content", "a string, an array or null"))
                        .map(|v| d.content = v.map(Content::Parts))
                }
            }
            "role" => opt_string(r, "role").map(|v| d.role = v),
            // Only repeats the choice index (some servers send it); not a message key.
            "index" => r.skip_value().map_err(syntax),
            "refusal" => spanned(r, "refusal").map(|(v, span)| {
                d.refusal = v;
                d.refusal_span = span;
            }),
            "tool_calls" => {
                d.tool_calls.clear();
                match array_or_null(r, "tool_calls") {
                    Ok(true) => {
                        let mut items = Pending::default();
                        let mut first_el = true;
                        while r.next_element(&mut first_el).map_err(syntax)? {
                            items.note_item(tool_call(r).map(|t| d.tool_calls.push(t)))?;
                        }
                        items.finish()
                    }
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            "function_call" => match object_or_null(r, "function_call") {
                Ok(true) => function_call(r).map(|f| d.function_call = Some(Box::new(f))),
                Ok(false) => {
                    d.function_call = None;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            "audio" => map_or_null(r, "audio").map(|v| {
                d.audio = match v {
                    Field::Set(m) => Some(Box::new(m)),
                    _ => None,
                }
            }),
            _ => {
                let v = r.read_value().map_err(syntax)?;
                if v.is_null() {
                    // A null increment changes nothing; drop an earlier duplicate so the
                    // last occurrence wins.
                    d.extras.remove(&key);
                } else {
                    add_extra(&mut d.extras, key.clone(), v);
                }
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish().map(|()| d)
}

fn retag(e: DecodeKind, field: &'static str, expected: &'static str) -> DecodeKind {
    match e {
        DecodeKind::Schema { pos, .. } => DecodeKind::Schema {
            field,
            expected,
            pos,
        },
        other @ (DecodeKind::Syntax(_) | DecodeKind::Event { .. }) => other,
    }
}

fn tool_call<'a>(r: &mut Reader<'a>) -> R<ToolCallDelta<'a>> {
    let pos = value_start(r);
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        return schema("a tool call", "an object", pos);
    }
    let mut t = ToolCallDelta {
        index_pos: pos,
        ..ToolCallDelta::default()
    };
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let outcome: R<()> = match key.as_ref() {
            "index" => index_or_null(r, "tool call index").map(|v| match v {
                Some((n, p)) => {
                    t.index = Some(n);
                    t.index_pos = p;
                }
                None => t.index = None,
            }),
            "id" => opt_string(r, "tool call id").map(|v| t.id = v),
            "type" => opt_string(r, "tool call type").map(|v| t.kind = v),
            "function" => {
                // A repeated `function` key replaces the whole object.
                t.name = None;
                t.arguments = None;
                t.arguments_span = None;
                t.function_extras = Extras::default();
                match object_or_null(r, "function") {
                    Ok(true) => function_object(r, &mut t),
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut t.extras, key.clone(), v);
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish().map(|()| t)
}

/// The `function` object of a tool call (its `{` already consumed).
fn function_object<'a>(r: &mut Reader<'a>, t: &mut ToolCallDelta<'a>) -> R<()> {
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let outcome: R<()> = match key.as_ref() {
            "name" => opt_string(r, "function.name").map(|v| t.name = v),
            "arguments" => spanned(r, "function.arguments").map(|(v, span)| {
                t.arguments = v;
                t.arguments_span = span;
            }),
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut t.function_extras, key.clone(), v);
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish()
}

fn function_call<'a>(r: &mut Reader<'a>) -> R<FunctionCallDelta<'a>> {
    let mut f = FunctionCallDelta::default();
    let mut pending = Pending::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let outcome: R<()> = match key.as_ref() {
            "name" => opt_string(r, "function_call.name").map(|v| f.name = v),
            "arguments" => spanned(r, "function_call.arguments").map(|(v, span)| {
                f.arguments = v;
                f.arguments_span = span;
            }),
            _ => {
                let v = r.read_value().map_err(syntax)?;
                add_extra(&mut f.extras, key.clone(), v);
                Ok(())
            }
        };
        pending.note(&key, outcome)?;
    }
    pending.finish().map(|()| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_field(payload: &str) -> &'static str {
        match decode(payload.as_bytes(), 128) {
            Err(DecodeKind::Schema { field, .. }) => field,
            other => panic!("{payload}: expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_text_chunk_borrowing_its_strings() {
        let p = br#"{"id":"c1","object":"chat.completion.chunk","created":17,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"xx"}"#;
        let c = match decode(p, 128) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(c.id.set().map(std::convert::AsRef::as_ref), Some("c1"));
        assert!(matches!(c.id, Field::Set(Cow::Borrowed(_))));
        assert_eq!(c.created, Field::Set("17"));
        assert_eq!(c.choices.len(), 1);
        let d = c.choices[0].delta.as_ref();
        assert!(matches!(d.and_then(|d| d.content.as_ref()), Some(Content::Text(t)) if t == "Hi"));
        assert!(matches!(c.usage, Field::Null));
        assert!(c.extras.is_empty(), "obfuscation must be dropped");
    }

    #[test]
    fn wrong_types_are_schema_errors() {
        assert_eq!(
            schema_field(r#"{"choices":[{"delta":{"content":5}}]}"#),
            "content"
        );
        assert_eq!(
            schema_field(r#"{"choices":[{"delta":{"tool_calls":{}}}]}"#),
            "tool_calls"
        );
        assert_eq!(
            schema_field(
                r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":{}}}]}}]}"#
            ),
            "function.arguments"
        );
        assert_eq!(schema_field(r#"{"usage":"lots"}"#), "usage");
        assert_eq!(
            schema_field(r#"{"choices":[{"index":-1}]}"#),
            "choice index"
        );
        assert_eq!(
            schema_field(r#"{"choices":[{"index":true}]}"#),
            "choice index"
        );
        assert_eq!(
            schema_field(r#"{"choices":[{"index":1.0}]}"#),
            "choice index"
        );
        assert_eq!(
            schema_field(r#"{"choices":[{"index":null}]}"#),
            "choice index"
        );
        assert_eq!(
            schema_field(r#"{"choices":[{"index":18446744073709551616}]}"#),
            "choice index"
        );
        assert_eq!(schema_field(r#"{"created":1.5}"#), "created");
        assert_eq!(schema_field(r"[1]"), "the payload");
        assert_eq!(schema_field(r#"{"choices":"x"}"#), "choices");
    }

    #[test]
    fn schema_error_position_is_the_value_start() {
        let p = r#"{"choices":[{"delta":{"content": 5}}]}"#;
        match decode(p.as_bytes(), 128) {
            Err(DecodeKind::Schema { pos, .. }) => assert_eq!(&p[pos..=pos], "5"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn known_header_is_skipped_and_gives_the_same_chunk() {
        let a = br#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"A"}}],"usage":null}"#;
        let b = br#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"B"}}],"usage":null}"#;
        let first = decode_after(a, 128, &[]).ok();
        let n = first.as_ref().and_then(|d| d.header_len);
        let header = n.map(|n| &a[..n]).unwrap_or_default();
        assert!(header.ends_with(br#""choices":"#));
        let second = decode_after(b, 128, header).ok();
        let delta = second
            .as_ref()
            .and_then(|d| d.chunk.choices[0].delta.as_ref());
        assert!(
            matches!(delta.and_then(|d| d.content.as_ref()), Some(Content::Text(t)) if t == "B")
        );
        assert_eq!(second.as_ref().and_then(|d| d.header_len), n);
        assert!(
            second.is_some_and(|d| d.chunk.id.is_absent()),
            "header not re-read"
        );
        // A different header is read in full.
        let c = br#"{"id":"d","choices":[]}"#;
        let third = decode_after(c, 128, header).ok();
        assert_eq!(
            third.map(|d| d.chunk.id),
            Some(Field::Set(Cow::Borrowed("d")))
        );
    }

    #[test]
    fn header_len_only_for_plain_headers() {
        let len = |p: &[u8]| decode_after(p, 128, &[]).ok().and_then(|d| d.header_len);
        assert!(len(br#"{"id":"a","choices":[]}"#).is_some());
        assert_eq!(len(br#"{"x":1,"choices":[]}"#), None);
        assert_eq!(len(br#"{"id":"a","choices":[],"id":"b"}"#), None);
        assert!(len(br#"{"id":"a","choices":[],"usage":null}"#).is_some());
    }

    #[test]
    fn duplicate_keys_validate_the_last_value_only() {
        let ok = decode(
            br#"{"choices":[{"delta":{"content":5,"content":"ok"},"finish_reason":"stop"}]}"#,
            128,
        );
        let d = ok.as_ref().ok().and_then(|c| c.choices[0].delta.as_ref());
        assert!(matches!(d.and_then(|d| d.content.as_ref()), Some(Content::Text(t)) if t == "ok"));
        let bad = decode(
            br#"{"choices":[{"delta":{"content":"ok","content":5}}]}"#,
            128,
        );
        assert!(matches!(
            bad,
            Err(DecodeKind::Schema {
                field: "content",
                ..
            })
        ));
        let replaced = decode(br#"{"choices":[5],"choices":[]}"#, 128);
        assert!(replaced.is_ok_and(|c| c.choices.is_empty()));
        let function = decode(
            br#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"a"},"function":{"arguments":"x"}}]}}]}"#,
            128,
        );
        let t = function.ok().map(|c| {
            let d = c
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.delta)
                .unwrap_or_default();
            let t = d.tool_calls.into_iter().next().unwrap_or_default();
            (
                t.name.map(std::borrow::Cow::into_owned),
                t.arguments.map(std::borrow::Cow::into_owned),
            )
        });
        assert_eq!(t, Some((None, Some("x".to_string()))));
    }

    #[test]
    fn a_syntax_error_wins_over_an_earlier_type_error() {
        let e = decode(
            br#"{"choices":[{"delta":{"content":5}}],"usage":{"a":1,}}"#,
            128,
        );
        assert!(matches!(e, Err(DecodeKind::Syntax(_))), "{e:?}");
    }

    #[test]
    fn huge_index_is_read_not_allocated() {
        let c = decode(br#"{"choices":[{"index":4294967295,"delta":{}}]}"#, 128);
        assert_eq!(c.ok().map(|c| c.choices[0].index), Some(4_294_967_295));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let c = decode(br#"{"id":"a","id":"b","x":1,"x":2}"#, 128).ok();
        let c = c.unwrap_or_default();
        assert_eq!(c.id.set().map(std::convert::AsRef::as_ref), Some("b"));
        assert_eq!(c.extras.len(), 1);
        assert_eq!(c.extras.get("x"), Some(&Value::Number("2".into())));
    }

    #[test]
    fn error_frames_are_recognised() {
        let c = decode(br#"{"error":{"message":"boom"}}"#, 128)
            .ok()
            .unwrap_or_default();
        assert!(matches!(c.error.as_deref(), Some(Value::Object(_))));
        let c = decode(br#"{"object":"error","message":"x"}"#, 128)
            .ok()
            .unwrap_or_default();
        assert!(
            matches!(c.error.as_deref(), Some(Value::Object(m)) if m.get("message") == Some(&Value::string("x")))
        );
        let c = decode(br#"{"error":null}"#, 128).ok().unwrap_or_default();
        assert!(c.error.is_none());
    }

    #[test]
    fn many_unknown_keys_stay_linear() {
        use std::fmt::Write as _;
        let mut p = String::from("{");
        for i in 0..20_000 {
            let _ = write!(p, "\"k{i}\":{i},");
        }
        p.push_str("\"k0\":-1}");
        let c = decode(p.as_bytes(), 128).ok().unwrap_or_default();
        assert_eq!(c.extras.len(), 20_000);
        assert_eq!(c.extras.get("k0"), Some(&Value::Number("-1".into())));
    }
}
