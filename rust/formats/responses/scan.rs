//! Decoding one Responses event payload: the keys the fold reads, each with the byte position
//! of its value; big values (`response`, `item`, `part`) are validated and kept as slices of
//! the payload, built into trees only where the fold needs a tree.

use std::borrow::Cow;

use crate::error::DecodeKind;
use crate::json::reader::{JsonError, Reader};
use crate::json::value::Value;

/// An integer-valued key: absent, or present with its value (an integer in `i128`, or not an
/// integer at all) and the value's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Int {
    #[default]
    Absent,
    /// `null`.
    Null(usize),
    /// An integer as orjson reads it (within [-2^63, 2^64-1]; larger ones are floats there).
    Value(i128, usize),
    /// Any other value.
    Other(usize),
}

impl Int {
    pub fn present(self) -> bool {
        !matches!(self, Int::Absent)
    }

    /// A non-negative integer, if that is what it is.
    pub fn index(self) -> Option<u64> {
        match self {
            Int::Value(n, _) => u64::try_from(n).ok(),
            _ => None,
        }
    }

    pub fn pos(self, fallback: usize) -> usize {
        match self {
            Int::Absent => fallback,
            Int::Null(p) | Int::Value(_, p) | Int::Other(p) => p,
        }
    }
}

/// A validated value kept as its place in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub start: usize,
    pub end: usize,
}

impl Slice {
    pub fn bytes(self, data: &[u8]) -> &[u8] {
        data.get(self.start..self.end).unwrap_or_default()
    }

    pub fn first(self, data: &[u8]) -> u8 {
        data.get(self.start).copied().unwrap_or(b' ')
    }

    pub fn is_null(self, data: &[u8]) -> bool {
        self.first(data) == b'n'
    }

    pub fn is_object(self, data: &[u8]) -> bool {
        self.first(data) == b'{'
    }
}

/// What the fold needs to know about a closing or lifecycle event's `response` object.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseShape {
    /// `output` is present and not null.
    pub has_output: bool,
    /// `output` is absent, null or an empty array.
    pub no_items: bool,
    /// The `usage` value, when present.
    pub usage: Option<Slice>,
}

/// One decoded event. `type` is kept as text; other keys the fold may read by name (`text`,
/// `arguments`, ... on `*.done` events) are in `others`, last occurrence wins.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub kind_pos: usize,
    pub kind_present: bool,
    pub sequence_number: Int,
    pub output_index: Int,
    pub content_index: Int,
    pub summary_index: Int,
    pub command_index: Int,
    /// `delta`: the string, or the position of a value that is not a string.
    pub delta: Option<Result<Cow<'a, str>, usize>>,
    pub logprobs: Option<Slice>,
    pub response: Option<(Slice, ResponseShape)>,
    pub item: Option<Slice>,
    pub part: Option<Slice>,
    pub annotation: Option<Slice>,
    pub others: Vec<(Cow<'a, str>, Slice)>,
    /// The text of `response`, `item` and `part`, taken as the reader validated it (these
    /// are kept as text, and the biggest values of a stream).
    pub texts: Texts<'a>,
}

/// See [`Decoded::texts`]; empty for a key that is absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Texts<'a> {
    pub response: &'a str,
    pub item: &'a str,
    pub part: &'a str,
}

impl Decoded<'_> {
    /// The value of another key, by name (the last one when repeated).
    pub fn other(&self, key: &str) -> Option<Slice> {
        self.others
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, s)| *s)
    }
}

fn syntax(e: JsonError) -> DecodeKind {
    DecodeKind::Syntax(e)
}

/// Decodes a payload. A payload that is valid JSON but not an object decodes to an event with
/// no keys and `kind_present` false (the fold reports the shape).
///
/// # Errors
/// A syntax error with its position (a too-deep value is `TooDeep`).
pub fn decode(data: &[u8], max_depth: usize) -> Result<(Decoded<'_>, bool), DecodeKind> {
    let mut r = Reader::new(data, max_depth);
    let mut d = Decoded::default();
    if !r.begin_object().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        r.end().map_err(syntax)?;
        return Ok((d, false));
    }
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        r.peek();
        let at = r.pos();
        match &*key {
            "type" => {
                d.kind_present = true;
                d.kind_pos = at;
                d.kind = r.take_string().map_err(syntax)?;
                if d.kind.is_none() {
                    r.skip_value().map_err(syntax)?;
                }
            }
            "sequence_number" => d.sequence_number = int(&mut r)?,
            "output_index" => d.output_index = int(&mut r)?,
            "content_index" => d.content_index = int(&mut r)?,
            "summary_index" => d.summary_index = int(&mut r)?,
            "command_index" => d.command_index = int(&mut r)?,
            "delta" => {
                d.delta = Some(if let Some(s) = r.take_string().map_err(syntax)? {
                    Ok(s)
                } else {
                    r.skip_value().map_err(syntax)?;
                    Err(at)
                });
            }
            "response" => {
                let (s, shape, text) = response(&mut r, data)?;
                d.response = Some((s, shape));
                d.texts.response = text;
            }
            "logprobs" => d.logprobs = Some(skip(&mut r)?.0),
            "item" => {
                let (s, text) = skip(&mut r)?;
                d.item = Some(s);
                d.texts.item = text;
            }
            "part" => {
                let (s, text) = skip(&mut r)?;
                d.part = Some(s);
                d.texts.part = text;
            }
            "annotation" => d.annotation = Some(skip(&mut r)?.0),
            _ => r.skip_value().map_err(syntax)?,
        }
        // Every key stays readable by name: a `*.done` event of any family carries its value
        // under the family's own field name.
        d.others.push((
            key,
            Slice {
                start: at,
                end: r.pos(),
            },
        ));
    }
    r.end().map_err(syntax)?;
    Ok((d, true))
}

/// Validates the next value: its place and its text.
fn skip<'a>(r: &mut Reader<'a>) -> Result<(Slice, &'a str), DecodeKind> {
    r.peek();
    let start = r.pos();
    let text = r.raw_value().map_err(syntax)?;
    Ok((
        Slice {
            start,
            end: r.pos(),
        },
        text,
    ))
}

/// Reads an integer-valued key the way orjson would type it.
fn int(r: &mut Reader<'_>) -> Result<Int, DecodeKind> {
    r.peek();
    let at = r.pos();
    if r.take_null().map_err(syntax)? {
        return Ok(Int::Null(at));
    }
    if let Some(text) = r.take_number().map_err(syntax)? {
        let integral = !text.contains(['.', 'e', 'E']);
        if integral {
            if let Ok(n) = text.parse::<i128>() {
                if (-(1i128 << 63)..=i128::from(u64::MAX)).contains(&n) {
                    return Ok(Int::Value(n, at));
                }
            }
        }
        return Ok(Int::Other(at));
    }
    r.skip_value().map_err(syntax)?;
    Ok(Int::Other(at))
}

/// Validates a `response` value, noting whether it has a non-null `output` and where its
/// `usage` is.
fn response<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
) -> Result<(Slice, ResponseShape, &'a str), DecodeKind> {
    r.peek();
    let start = r.pos();
    let mut shape = ResponseShape {
        no_items: true,
        ..ResponseShape::default()
    };
    if r.begin_object().map_err(syntax)? {
        let mut first = true;
        while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
            match &*key {
                "output" => {
                    shape.has_output = !r.take_null().map_err(syntax)?;
                    shape.no_items = !shape.has_output;
                    if shape.has_output {
                        let (s, _) = skip(r)?;
                        let text = s.bytes(data);
                        shape.no_items = text.iter().filter(|b| !b.is_ascii_whitespace()).eq(b"[]");
                    }
                }
                "usage" => shape.usage = Some(skip(r)?.0),
                _ => r.skip_value().map_err(syntax)?,
            }
        }
        let s = Slice {
            start,
            end: r.pos(),
        };
        let bytes = s.bytes(data);
        // SAFETY: the reader accepted these bytes as one JSON object: every key and every
        // value in it was validated (strings as UTF-8), and the grammar admits only ASCII
        // outside strings, so the whole span is valid UTF-8 (as `Reader::raw_value` has it).
        let text = unsafe { std::str::from_utf8_unchecked(bytes) };
        return Ok((s, shape, text));
    }
    let (s, text) = skip(r)?;
    Ok((s, shape, text))
}

/// Parses a validated slice into a tree.
pub fn tree(data: &[u8], s: Slice, max_depth: usize) -> Value {
    let mut r = Reader::new(s.bytes(data), max_depth);
    r.read_value().unwrap_or(Value::Null)
}

/// Parses kept text (a [`Value::Raw`] or a kept response) into a tree; its strings were
/// validated when it was kept, so they are not checked as UTF-8 again.
pub fn tree_of_text(text: &str, max_depth: usize) -> Value {
    let mut r = Reader::over_text(text, max_depth);
    r.read_value().unwrap_or(Value::Null)
}

/// A payload's top-level `type` without decoding the rest (for detection).
pub fn peek_type(data: &[u8], max_depth: usize) -> Option<String> {
    let mut r = Reader::new(data, max_depth);
    if !r.begin_object().ok()? {
        return None;
    }
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).ok()? {
        if key == "type" {
            return r.take_string().ok()?.map(Cow::into_owned);
        }
        r.skip_value().ok()?;
    }
    None
}
