//! Decoding one Responses event payload: the keys the fold reads, each with the byte position
//! of its value; big values (`response`, `item`, `part`) are validated and kept as slices of
//! the payload, built into trees only where the fold needs a tree.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::error::DecodeKind;
use crate::json::number::plain_digits;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseShape {
    /// `output` is present and not null.
    pub has_output: bool,
    /// `output` is absent, null or an empty array.
    pub no_items: bool,
    /// The `usage` value, when present.
    pub usage: Option<Slice>,
}

impl ResponseShape {
    /// The shape with its positions counted from `start` instead of from the payload's start.
    #[must_use]
    pub fn relative_to(self, start: usize) -> ResponseShape {
        ResponseShape {
            usage: self.usage.map(|u| Slice {
                start: u.start.saturating_sub(start),
                end: u.end.saturating_sub(start),
            }),
            ..self
        }
    }

    /// A shape kept by [`Self::relative_to`], placed at `start` of a payload again.
    #[must_use]
    pub fn placed_at(self, start: usize) -> ResponseShape {
        ResponseShape {
            usage: self.usage.map(|u| Slice {
                start: u.start + start,
                end: u.end + start,
            }),
            ..self
        }
    }
}

/// A `response` object a previous payload of the stream carried, as its validated text and
/// its shape (positions from the text's start). `response.in_progress` usually repeats
/// `response.created`'s response byte for byte: such a repeat is recognised by comparing
/// bytes, not validated again.
///
/// A closing response usually repeats most of its members byte for byte (all but `status`,
/// `output` and `usage`, as servers send it): `members` are the spans of the text's members
/// (key to value, positions from the text's start; empty for `output` and `usage`, which are
/// always read), and a member of a later `response` equal to the one at the same place is
/// compared, not validated again.
#[derive(Debug, Clone, Copy)]
pub struct Known<'k> {
    pub text: &'k str,
    pub shape: ResponseShape,
    pub members: &'k [Slice],
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
    /// The members of `response` (see [`Known::members`]), when it was read without a known
    /// response to compare with.
    pub members: Vec<Slice>,
    /// `item` and `part` as trees, when the event is one whose value the fold builds as a
    /// tree (`output_item.added`, `*_part.added`): read once into the tree rather than
    /// validated and then read. Taken by the fold (hence a `RefCell`).
    pub item_tree: RefCell<Option<Value>>,
    pub part_tree: RefCell<Option<Value>>,
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
/// no keys and `kind_present` false (the fold reports the shape). A `response` value that is
/// `known`'s text byte for byte decodes as that text did, without being read again; so do
/// its members that repeat `known`'s, and the items of its `output` that repeat the finished
/// items the fold kept as text (`items`, by `output_index`: see [`output`]). A finished
/// part's member values that are `done_text`'s bytes (a JSON string validated before, quotes
/// included, or empty) are compared, not read again (see [`part`]).
///
/// # Errors
/// A syntax error with its position (a too-deep value is `TooDeep`).
pub fn decode<'a>(
    data: &'a [u8],
    max_depth: usize,
    known: Option<Known<'_>>,
    items: &BTreeMap<u64, Value>,
    done_text: &[u8],
) -> Result<(Decoded<'a>, bool), DecodeKind> {
    let mut r = Reader::new(data, max_depth);
    let mut d = Decoded {
        // Room for the keys of any event a server sends (up to nine), so that the list grows
        // by one allocation rather than three.
        others: Vec::with_capacity(12),
        ..Decoded::default()
    };
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
            "sequence_number" => d.sequence_number = int(&mut r, data)?,
            "output_index" => d.output_index = int(&mut r, data)?,
            "content_index" => d.content_index = int(&mut r, data)?,
            "summary_index" => d.summary_index = int(&mut r, data)?,
            "command_index" => d.command_index = int(&mut r, data)?,
            "delta" => {
                d.delta = Some(if let Some(s) = r.take_string().map_err(syntax)? {
                    Ok(s)
                } else {
                    r.skip_value().map_err(syntax)?;
                    Err(at)
                });
            }
            "response" => {
                let repeat = known.and_then(|k| repeated(&mut r, data, k));
                let (s, shape, text) = match repeat {
                    Some(found) => found,
                    None => response(&mut r, data, (known, items, max_depth), &mut d.members)?,
                };
                d.response = Some((s, shape));
                d.texts.response = text;
            }
            "logprobs" => d.logprobs = Some(skip(&mut r)?.0),
            "item" if d.kind.as_deref() == Some("response.output_item.added") => {
                let (s, text, tree) = tree_here(&mut r, data)?;
                d.item = Some(s);
                d.texts.item = text;
                *d.item_tree.get_mut() = Some(tree);
            }
            "item" => {
                let folded = d.output_index.index().and_then(|i| items.get(&i));
                let (s, text) = item(&mut r, data, folded, max_depth)?;
                d.item = Some(s);
                d.texts.item = text;
                *d.item_tree.get_mut() = None;
            }
            "part"
                if matches!(
                    d.kind.as_deref(),
                    Some("response.content_part.added" | "response.reasoning_summary_part.added")
                ) =>
            {
                let (s, text, tree) = tree_here(&mut r, data)?;
                d.part = Some(s);
                d.texts.part = text;
                *d.part_tree.get_mut() = Some(tree);
            }
            "part" => {
                let (s, text) = part(&mut r, data, done_text)?;
                d.part = Some(s);
                d.texts.part = text;
                *d.part_tree.get_mut() = None;
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

/// Reads the next value into a tree, with its place and its text: for a value the fold
/// builds as a tree anyway, read once instead of validated here and read again there. The
/// reader checks it as it checks a skipped value (same errors, same depth limit).
fn tree_here<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
) -> Result<(Slice, &'a str, Value), DecodeKind> {
    r.peek();
    let start = r.pos();
    let tree = r.read_value().map_err(syntax)?;
    // SAFETY: the reader accepted these bytes as one JSON value: every string in it was
    // checked as UTF-8 (as `Reader::raw_value`).
    let (s, text) = unsafe { accepted_span(r, data, start) };
    Ok((s, text, tree))
}

/// The span from `start` to the reader's position, and its text.
///
/// # Safety
/// The reader must have accepted the span as one JSON value whose strings are valid UTF-8
/// (read and checked, or equal to the bytes of a string that was): the grammar admits only
/// ASCII outside strings, so the whole span is then valid UTF-8.
unsafe fn accepted_span<'a>(r: &Reader<'a>, data: &'a [u8], start: usize) -> (Slice, &'a str) {
    let s = Slice {
        start,
        end: r.pos(),
    };
    // SAFETY: the caller's contract.
    (s, unsafe { std::str::from_utf8_unchecked(s.bytes(data)) })
}

/// Reads an integer-valued key the way orjson would type it. `data` is the reader's input:
/// an index or a sequence number is usually a few plain digits, read in place.
pub fn int(r: &mut Reader<'_>, data: &[u8]) -> Result<Int, DecodeKind> {
    r.peek();
    let at = r.pos();
    if let Some((value, len)) = plain_integer(data, at) {
        r.resume_at(at + len);
        return Ok(Int::Value(value, at));
    }
    int_by_reader(r)
}

/// [`int`] for every value it does not read in place: the reader's number, null or value.
fn int_by_reader(r: &mut Reader<'_>) -> Result<Int, DecodeKind> {
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

/// A JSON integer at `at` written as plain digits (no sign, no leading zero, neither a
/// fraction nor an exponent after it, at most 18 digits so it cannot overflow): its value and
/// length. Anything else is left to the reader, which reads such digits the same way.
#[inline]
pub fn plain_integer(data: &[u8], at: usize) -> Option<(i128, usize)> {
    plain_digits(data.get(at..)?).map(|(value, len)| (i128::from(value), len))
}

/// The `response` value at the reader's position when its bytes are `known`'s text: the
/// reader moves past it. `known` is an object validated as a `response` value of this stream,
/// at the same depth and under the same limits, so the same bytes here are valid too and end
/// where it ended (an object's closing brace ends it, whatever follows).
fn repeated<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
    known: Known<'_>,
) -> Option<(Slice, ResponseShape, &'a str)> {
    if !known.text.starts_with('{') {
        return None;
    }
    r.peek();
    let start = r.pos();
    let end = start + known.text.len();
    let bytes = data.get(start..end)?;
    if bytes != known.text.as_bytes() {
        return None;
    }
    r.resume_at(end);
    // SAFETY: `bytes` are equal to the bytes of a `str`, so they are valid UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(bytes) };
    Some((Slice { start, end }, known.shape.placed_at(start), text))
}

/// The members a `response` is expected to have at most, for [`response`]'s list of them.
const MEMBERS_ROOM: usize = 40;

/// Validates a `response` value, noting whether it has a non-null `output` and where its
/// `usage` is. Its members equal to `known`'s at the same place (or the next, for a member
/// left out) are compared, not read; without `known`, the members are noted in `members`.
fn response<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
    (known, items, max_depth): (Option<Known<'_>>, &BTreeMap<u64, Value>, usize),
    members: &mut Vec<Slice>,
) -> Result<(Slice, ResponseShape, &'a str), DecodeKind> {
    r.peek();
    let start = r.pos();
    let mut shape = ResponseShape {
        no_items: true,
        ..ResponseShape::default()
    };
    if known.is_none() {
        // A response has about thirty members: one allocation, not four growing ones.
        members.reserve(MEMBERS_ROOM);
    }
    if r.begin_object().map_err(syntax)? {
        let mut first = true;
        // The place in `known`'s members of the member read next.
        let mut place = 0;
        loop {
            if let Some(k) = known {
                let text = k.text.as_bytes();
                let same = (place..k.members.len().min(place + 2)).find(|&n| {
                    k.members
                        .get(n)
                        .is_some_and(|m| r.skip_member_if(&mut first, m.bytes(text)))
                });
                if let Some(n) = same {
                    place = n + 1;
                    continue;
                }
            }
            let member_start = if known.is_none() {
                member_start(r, data, first)
            } else {
                0
            };
            let Some(key) = r.next_key(&mut first).map_err(syntax)? else {
                break;
            };
            place += 1;
            let read = match &*key {
                "output" => {
                    shape.has_output = !r.take_null().map_err(syntax)?;
                    shape.no_items = !shape.has_output;
                    if shape.has_output {
                        shape.no_items = output(r, data, items, max_depth)? == Some(0);
                    }
                    false
                }
                "usage" => {
                    shape.usage = Some(skip(r)?.0);
                    false
                }
                _ => {
                    r.skip_value().map_err(syntax)?;
                    true
                }
            };
            if known.is_none() {
                // `output` and `usage` are always read: an empty span never compares equal.
                let (from, to) = if read {
                    (
                        member_start.saturating_sub(start),
                        r.pos().saturating_sub(start),
                    )
                } else {
                    (0, 0)
                };
                members.push(Slice {
                    start: from,
                    end: to,
                });
            }
        }
        let s = Slice {
            start,
            end: r.pos(),
        };
        let bytes = s.bytes(data);
        // SAFETY: the reader accepted these bytes as one JSON object: every key and every
        // value in it was validated (strings as UTF-8), or is a member or an item equal to
        // one that was (`Reader::skip_member_if`, `output`), and the grammar admits only
        // ASCII outside strings, so the whole span is valid UTF-8 (as `Reader::raw_value`).
        let text = unsafe { std::str::from_utf8_unchecked(bytes) };
        return Ok((s, shape, text));
    }
    let (s, text) = skip(r)?;
    Ok((s, shape, text))
}

/// Validates an `output` value; for an array, the number of its items. An item that repeats
/// the finished item kept as text at its index is compared, not read again: that text was
/// validated as a value one level inside a payload under these limits, so equal bytes are
/// valid here, nested deeper, as long as its own nesting still fits under `max_depth`.
fn output(
    r: &mut Reader<'_>,
    data: &[u8],
    items: &BTreeMap<u64, Value>,
    max_depth: usize,
) -> Result<Option<u64>, DecodeKind> {
    if !r.begin_array().map_err(syntax)? {
        r.skip_value().map_err(syntax)?;
        return Ok(None);
    }
    let mut first = true;
    let mut count = 0u64;
    while r.next_element(&mut first).map_err(syntax)? {
        let repeated = match items.get(&count) {
            Some(Value::Raw(text)) => skip_text_if(r, data, text, max_depth),
            _ => false,
        };
        if !repeated {
            r.skip_value().map_err(syntax)?;
        }
        count += 1;
    }
    Ok(Some(count))
}

/// Validates an `item` value. A finished item (`output_item.done`) repeats the parts its
/// `content_part.done` / `reasoning_summary_part.done` events finished, which the fold keeps
/// as text in `folded`, the item so far: those are compared, not read again (as in
/// [`output`]); everything else is read.
fn item<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
    folded: Option<&Value>,
    max_depth: usize,
) -> Result<(Slice, &'a str), DecodeKind> {
    let Some(Value::Object(folded)) = folded else {
        return skip(r);
    };
    let kept = |list: &Value| matches!(list, Value::Array(parts) if parts.iter().any(|p| matches!(p, Value::Raw(_))));
    if !["content", "summary"]
        .iter()
        .any(|key| folded.get(key).is_some_and(kept))
    {
        return skip(r);
    }
    let Some(start) = open_object(r)? else {
        return skip(r);
    };
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(syntax)? {
        let parts = match folded.get(&key) {
            Some(Value::Array(parts)) if key == "content" || key == "summary" => parts,
            _ => {
                r.skip_value().map_err(syntax)?;
                continue;
            }
        };
        if !r.begin_array().map_err(syntax)? {
            r.skip_value().map_err(syntax)?;
            continue;
        }
        let mut first_part = true;
        let mut n = 0;
        while r.next_element(&mut first_part).map_err(syntax)? {
            let repeated = match parts.get(n) {
                Some(Value::Raw(text)) => skip_text_if(r, data, text, max_depth),
                _ => false,
            };
            if !repeated {
                r.skip_value().map_err(syntax)?;
            }
            n += 1;
        }
    }
    // SAFETY: the reader accepted these bytes as one JSON object: every key and value in it
    // was validated (strings as UTF-8), or is a part equal to the text of one that was.
    Ok(unsafe { accepted_span(r, data, start) })
}

/// Opens the object a validating walk reads member by member: where it starts, or None when
/// the value is not an object (the caller then skips it whole, which reports any error).
fn open_object(r: &mut Reader<'_>) -> Result<Option<usize>, DecodeKind> {
    r.peek();
    let start = r.pos();
    Ok(r.begin_object().map_err(syntax)?.then_some(start))
}

/// Validates a `part` value. A member value that is `done_text`'s bytes, a JSON string the
/// fold validated in an earlier payload (a finished part repeats its `*.done` event's
/// text), is compared, not read again: a string ends at its first unescaped quote, so equal
/// bytes are that same valid string here, and it nests nothing. Everything else is read.
fn part<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
    done_text: &[u8],
) -> Result<(Slice, &'a str), DecodeKind> {
    if done_text.len() < 2 {
        return skip(r);
    }
    let Some(start) = open_object(r)? else {
        return skip(r);
    };
    let mut first = true;
    while r.next_key(&mut first).map_err(syntax)?.is_some() {
        r.peek();
        let at = r.pos();
        let end = at + done_text.len();
        if data.get(at..end) == Some(done_text) {
            r.resume_at(end);
        } else {
            r.skip_value().map_err(syntax)?;
        }
    }
    // SAFETY: the reader accepted these bytes as one JSON object: every key and value in it
    // was validated (strings as UTF-8), or is a string equal to the text of one that was.
    Ok(unsafe { accepted_span(r, data, start) })
}

/// Moves the reader past the next value of `data` (an array's item) when its bytes are
/// `text` and a delimiter follows,
/// where `text` is a value validated one level inside a payload under `max_depth`: at the
/// reader's depth its nesting must fit too (bounded by its opening brackets, and by half its
/// length, which needs no count).
fn skip_text_if(r: &mut Reader<'_>, data: &[u8], text: &str, max_depth: usize) -> bool {
    r.peek();
    let at = r.pos();
    let end = at + text.len();
    let equal = data.get(at..end) == Some(text.as_bytes())
        && matches!(
            data.get(end),
            Some(b',' | b']' | b' ' | b'\t' | b'\n' | b'\r')
        );
    if !equal {
        return false;
    }
    let fits = |nesting: usize| r.depth() + nesting <= max_depth;
    // A kept item is usually longer than twice the room left, and holds few brackets: they
    // are counted by a vectorised search, not byte by byte.
    if !fits(text.len() / 2) && !fits(memchr::memchr2_iter(b'{', b'[', text.as_bytes()).count()) {
        return false;
    }
    r.resume_at(end);
    true
}

/// Where the next member of an object starts (its key's opening quote), past the comma when
/// one is due; the reader does not move.
fn member_start(r: &mut Reader<'_>, data: &[u8], first: bool) -> usize {
    r.peek();
    let mut at = r.pos();
    if !first && data.get(at) == Some(&b',') {
        at += 1;
        while data
            .get(at)
            .is_some_and(|&b| crate::json::reader::is_json_whitespace(b))
        {
            at += 1;
        }
    }
    at
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

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{"id":"r","status":"in_progress","output":[],"usage":{"n":1},"x":[{"y":"caf\u00e9 é"}]}"#;

    /// The decode of `payload` with and without `known`, as text (errors included).
    /// (Members are noted only without a known response: left out of the comparison.)
    fn both(payload: &str, known: Known<'_>, max_depth: usize) -> (String, String) {
        fn unnoted((mut d, object): (Decoded<'_>, bool)) -> (Decoded<'_>, bool) {
            d.members.clear();
            (d, object)
        }
        let with = decode(
            payload.as_bytes(),
            max_depth,
            Some(known),
            &BTreeMap::new(),
            b"",
        )
        .map(unnoted);
        let without =
            decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"").map(unnoted);
        (format!("{with:?}"), format!("{without:?}"))
    }

    /// A repeated `response` decodes exactly as reading it again would: same slice, shape
    /// (usage moved to where it is in this payload), text and errors; near misses are read.
    #[test]
    fn a_repeated_response_decodes_as_reading_it_again() {
        let first = format!(r#"{{"type":"response.created","response":{CREATED}}}"#);
        let (d, _) = decode(first.as_bytes(), 64, None, &BTreeMap::new(), b"").unwrap_or_default();
        let Some((s, shape)) = d.response else {
            panic!("the response is decoded")
        };
        let known = Known {
            text: d.texts.response,
            shape: shape.relative_to(s.start),
            members: &d.members,
        };
        assert_eq!(known.text, CREATED);
        let mut repeats = 0;
        let changed = CREATED.replace("in_progress", "in_progresz");
        let cases = [
            format!(
                r#"{{"type":"response.in_progress","sequence_number":1,"response":{CREATED}}}"#
            ),
            format!(r#"{{"response": {CREATED} ,"type":"response.in_progress"}}"#),
            format!(r#"{{"type":"response.completed","response":{CREATED},"response":{CREATED}}}"#),
            // Near misses: another value, cut short, or followed by what cannot follow.
            format!(r#"{{"type":"response.in_progress","response":{changed}}}"#),
            format!(
                r#"{{"type":"response.in_progress","response":{}"#,
                &CREATED[..40]
            ),
            format!(r#"{{"type":"response.in_progress","response":{CREATED}"#),
            format!(r#"{{"type":"response.in_progress","response":{CREATED}x}}"#),
            format!(r#"{{"type":"response.in_progress","response":{CREATED}]"#),
            format!(r#"{{"type":"response.in_progress","response":{CREATED},}}"#),
        ];
        for case in &cases {
            let (with, without) = both(case, known, 64);
            assert_eq!(with, without, "{case}");
            let start = case.find(CREATED).unwrap_or(usize::MAX);
            let mut r = Reader::new(case.as_bytes(), 64);
            r.resume_at(start);
            repeats += usize::from(repeated(&mut r, case.as_bytes(), known).is_some());
        }
        // Seven payloads carry the text whole, so the comparison is what read them there.
        assert_eq!(repeats, 7);
        // The known text was validated under these limits: a deeper payload is still too deep
        // at its own nesting, known or not.
        let deep = format!(r#"{{"a":[[[{{"b":1}}]]],"response":{CREATED}}}"#);
        let (with, without) = both(&deep, known, 4);
        assert_eq!(with, without);
        assert!(with.contains("TooDeep"), "{with}");
    }

    /// The members of the first response, noted when it is read: key to value, positions
    /// from its start, empty for `output` and `usage`.
    fn known_of(created: &str) -> (String, ResponseShape, Vec<Slice>) {
        let payload = format!(r#"{{"type":"response.created","response":{created}}}"#);
        let (d, _) =
            decode(payload.as_bytes(), 64, None, &BTreeMap::new(), b"").unwrap_or_default();
        let shape = d
            .response
            .map(|(s, shape)| shape.relative_to(s.start))
            .unwrap_or_default();
        (d.texts.response.to_string(), shape, d.members)
    }

    /// A closing response whose members repeat the first response's compares them instead
    /// of reading them, and decodes exactly as reading it in full does: equal members, the
    /// same values written otherwise, changed, added, left out or moved members, and errors.
    #[test]
    fn a_closing_response_repeating_members_decodes_as_reading_it_in_full() {
        let created = r#"{"id":"r","object":"response","created_at":17,"status":"in_progress","model":"m\u00e9","output":[],"n":1,"t":{"a":[1,{"b":null}]},"usage":null,"user":null}"#;
        let (text, shape, members) = known_of(created);
        let spans: Vec<&str> = members.iter().map(|m| &text[m.start..m.end]).collect();
        assert_eq!(
            spans,
            [
                r#""id":"r""#,
                r#""object":"response""#,
                r#""created_at":17"#,
                r#""status":"in_progress""#,
                r#""model":"m\u00e9""#,
                "",
                r#""n":1"#,
                r#""t":{"a":[1,{"b":null}]}"#,
                "",
                r#""user":null"#,
            ]
        );
        let known = Known {
            text: &text,
            shape,
            members: &members,
        };
        let output = r#"[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]"#;
        let usage = r#"{"input_tokens":3,"output_tokens":1}"#;
        let closing = |response: &str| {
            format!(r#"{{"type":"response.completed","sequence_number":9,"response":{response}}}"#)
        };
        let completed = created
            .replace("in_progress", "completed")
            .replace(r#""output":[]"#, &format!(r#""output":{output}"#))
            .replace(r#""usage":null"#, &format!(r#""usage":{usage}"#));
        let cases = [
            completed.clone(),
            created.to_string(),
            // Written otherwise: whitespace, another escape, keys in another order.
            completed.replace(r#","model""#, r#", "model""#),
            completed.replace(r#""n":1,"#, r#""n" : 1 ,"#),
            completed.replace("m\\u00e9", "m\u{e9}"),
            completed.replace(
                r#""created_at":17,"status":"completed""#,
                r#""status":"completed","created_at":17"#,
            ),
            // Changed, added and left-out members; a longer number; an inner change.
            completed.replace(r#""n":1"#, r#""n":12"#),
            completed.replace(r#""n":1"#, r#""n":1.5"#),
            completed.replace(r#""n":1,"#, r#""n":1,"extra":true,"#),
            completed.replace(r#""n":1,"#, ""),
            completed.replace(r#""id":"r","#, ""),
            completed.replace(r#"{"b":null}"#, r#"{"b":false}"#),
            // Changed into invalid JSON near a member's end, of the same length.
            completed.replace(r#"{"b":null}"#, r#"{"b":nul }"#),
            completed.replace(r#""user":null}"#, r#""user":null,"user":null}"#),
            // A member equal to `output` or `usage` elsewhere is still read as one.
            completed.replace(r#""n":1"#, r#""output":[]"#),
            completed.replace(r#""user":null"#, r#""usage":null"#),
            // Errors right after a repeated member.
            completed.replace(r#""n":1,"#, r#""n":1,,"#),
            completed.replace(r#""user":null}"#, r#""user":null"#),
            completed.replace(r#""user":null}"#, r#""user":nullx}"#),
            completed.replace(r#""user":null}"#, r#""user":null]"#),
            completed[..completed.len() - 1].to_string(),
        ];
        for case in &cases {
            let (with, without) = both(&closing(case), known, 64);
            assert_eq!(with, without, "{case}");
        }
        // The comparison is what read them: with a known response whose members are not what
        // they claim (never so in a fold), the compared ones pass unread.
        let doctored = text.replace(r#""n":1"#, r#""n":["#);
        let lie = Known {
            text: &doctored,
            ..known
        };
        let invalid = completed.replace(r#""n":1"#, r#""n":["#);
        let payload = closing(&invalid);
        assert!(decode(payload.as_bytes(), 64, None, &BTreeMap::new(), b"").is_err());
        let (d, _) =
            decode(payload.as_bytes(), 64, Some(lie), &BTreeMap::new(), b"").unwrap_or_default();
        assert_eq!(d.texts.response, invalid);
        assert!(d
            .response
            .is_some_and(|(_, shape)| shape.has_output && !shape.no_items));
    }

    /// A closing response whose `output` repeats the finished items kept as text compares
    /// them instead of reading them, and decodes exactly as reading it in full does: equal
    /// items, the same items written otherwise, changed, added, missing or moved items,
    /// items nested too deep where they are now, and errors.
    #[test]
    fn closing_output_items_repeating_kept_items_decode_as_reading_them_in_full() {
        let message = r#"{"id":"m","type":"message","content":[{"type":"output_text","annotations":[],"text":"caf\u00e9 \"x\""}]}"#;
        let call = r#"{"type":"function_call","call_id":"c","arguments":"{\"a\":[1]}"}"#;
        let deep = r#"{"a":[[[1]]]}"#;
        // Kept as the fold keeps them: the texts `output_item.done` validated.
        let kept = |texts: &[&str], max_depth: usize| {
            let mut items = BTreeMap::new();
            for (i, text) in (0u64..).zip(texts) {
                let payload = format!(
                    r#"{{"type":"response.output_item.done","output_index":{i},"item":{text}}}"#
                );
                let (d, _) = decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"")
                    .unwrap_or_default();
                assert_eq!(d.texts.item, *text);
                items.insert(i, Value::Raw(d.texts.item.into()));
            }
            items
        };
        let closing = |output: &str| {
            format!(
                r#"{{"type":"response.completed","response":{{"id":"r","status":"completed","output":{output},"usage":{{"n":1}}}}}}"#
            )
        };
        let both = |payload: &str, items: &BTreeMap<u64, Value>, max_depth: usize| {
            let with = decode(payload.as_bytes(), max_depth, None, items, b"");
            let without = decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"");
            (format!("{with:?}"), format!("{without:?}"))
        };
        let items = kept(&[message, call], 64);
        let cases = [
            format!("[{message},{call}]"),
            format!("[ {message} , {call} ]"),
            format!("[{message}]"),
            format!("[{message},{call},{call}]"),
            format!("[{call},{message}]"),
            "[]".to_string(),
            " [ ] ".to_string(),
            "{}".to_string(),
            "7".to_string(),
            // Written otherwise, changed.
            format!(
                "[{},{call}]",
                message.replace(r#""id":"m","#, r#""id": "m","#)
            ),
            format!("[{},{call}]", message.replace("\\u00e9", "\u{e9}")),
            format!("[{},{call}]", message.replace("caf", "cof")),
            format!("[{message},{}]", call.replace("[1]", "[12]")),
            // Changed into invalid JSON near the end, where a comparison cut short would miss it.
            format!("[{message},{}]", call.replace(r#"1]}"}"#, r"1]\q}")),
            format!("[{},{call}]", message.replace(r#"\"x\""#, "\\\"x\u{1}\"")),
            format!("[{message},{{\"type\":\"other\"}}]"),
            // Errors right after a compared item.
            format!("[{message},,{call}]"),
            format!("[{message}x,{call}]"),
            format!("[{message},{call}}}"),
            format!("[{message},{call}"),
            format!("[{message},{call}]").replace(r#""usage":{"n":1}}"#, r#""usage":{"n":1}"#),
        ];
        for output in &cases {
            let payload = closing(output);
            let (with, without) = both(&payload, &items, 64);
            assert_eq!(with, without, "{output}");
        }
        // An item kept under a limit it fits in one level inside a payload may be too deep
        // three levels inside: compared or not, it is read and rejected as too deep.
        let deep_items = kept(&[deep], 5);
        for max_depth in [5, 6, 7, 8] {
            let payload = closing(&format!("[{deep}]"));
            let (with, without) = both(&payload, &deep_items, max_depth);
            assert_eq!(with, without, "{max_depth}");
            assert_eq!(with.contains("TooDeep"), max_depth < 7, "{with}");
        }
        // The comparison is what read them: with kept texts that are not what they claim
        // (never so in a fold), the compared items pass unread.
        let lie = BTreeMap::from([(0u64, Value::Raw(r#"{"a":[}"#.into()))]);
        let payload = closing(r#"[{"a":[}]"#);
        assert!(decode(payload.as_bytes(), 64, None, &BTreeMap::new(), b"").is_err());
        let (d, _) = decode(payload.as_bytes(), 64, None, &lie, b"").unwrap_or_default();
        assert!(d
            .response
            .is_some_and(|(_, shape)| shape.has_output && !shape.no_items));
    }

    /// An `item` or `part` the fold builds as a tree is read into it once: the decode is
    /// what validating it gives (the same slice, text, errors and positions, the depth limit
    /// included), and the tree is what reading the slice gives. Each payload is decoded as
    /// the event whose value is built and as a type of the same length whose value is not.
    #[test]
    fn values_read_once_into_trees_decode_as_validated_values_do() {
        let values = [
            r#"{"type":"message","content":[],"id":"caf\u00e9 é"}"#,
            r#"{"type":"output_text","text":"","annotations":[{"a":[1,2.5,-3e2,true,null]}]}"#,
            "{}",
            "null",
            "[1]",
            r#""text""#,
            r#"{"a":[[[{"b":1}]]]}"#,
            r#"{"a":1,}"#,
            r#"{"a":"\q"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"\ud800"}"#,
            r#"{"a":1e999}"#,
            r#"{"a" 1}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":tru}"#,
            r#"{"a":"cut"#,
        ];
        let pairs = [
            (
                "item",
                "response.output_item.added",
                "response.output_item.adder",
            ),
            (
                "part",
                "response.content_part.added",
                "response.content_part.addee",
            ),
            (
                "part",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_part.addee",
            ),
        ];
        let mut trees = 0;
        for value in values {
            for (key, built, validated) in pairs {
                for max_depth in [4, 64] {
                    let payload = |kind: &str| {
                        format!(
                            r#"{{"type":"{kind}","output_index":0,"content_index":0,"summary_index":0,"{key}":{value},"x":1}}"#
                        )
                    };
                    let (once, twice) = (payload(built), payload(validated));
                    let a = decode(once.as_bytes(), max_depth, None, &BTreeMap::new(), b"");
                    let b = decode(twice.as_bytes(), max_depth, None, &BTreeMap::new(), b"");
                    match (a, b) {
                        (Ok((a, _)), Ok((b, _))) => {
                            let (slice, text, tree) = if key == "item" {
                                (a.item, a.texts.item, a.item_tree.take())
                            } else {
                                (a.part, a.texts.part, a.part_tree.take())
                            };
                            let (b_slice, b_text) = if key == "item" {
                                (b.item, b.texts.item)
                            } else {
                                (b.part, b.texts.part)
                            };
                            assert_eq!((slice, text), (b_slice, b_text), "{once}");
                            let expected = slice.map(|s| tree_of(once.as_bytes(), s, max_depth));
                            assert_eq!(tree, expected, "{once}");
                            trees += usize::from(tree.is_some());
                        }
                        (Err(a), Err(b)) => assert_eq!(a, b, "{once}"),
                        other => panic!("{once}: {other:?}"),
                    }
                }
            }
        }
        // Valid at both depths: five of the first seven; the second and seventh only at 64.
        assert_eq!(trees, 5 * 3 * 2 + 2 * 3);
    }

    fn tree_of(data: &[u8], s: Slice, max_depth: usize) -> Value {
        tree(data, s, max_depth)
    }

    /// An integer-valued key read in place is what the reader's number gives: the same
    /// value, type, position and end, and the same errors after it.
    #[test]
    fn integers_read_in_place_are_what_the_reader_reads() {
        let values = [
            "0",
            "7",
            " 42",
            "01",
            "-1",
            "-0",
            "1.5",
            "1e3",
            "1E3",
            "2.",
            "99999999999999999",
            "123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "null",
            "nul",
            "\"3\"",
            "[1]",
            "1x",
            "",
        ];
        let mut in_place = 0;
        for value in values {
            let payload = format!(r#"{{"output_index":{value},"x":1}}"#);
            let data = payload.as_bytes();
            let read = |f: fn(&mut Reader<'_>, &[u8]) -> Result<Int, DecodeKind>| {
                let mut r = Reader::new(data, 8);
                let key = r.begin_object().and_then(|_| r.next_key(&mut true));
                assert!(matches!(key, Ok(Some(_))), "{payload}");
                let int = f(&mut r, data);
                let rest = r.next_key(&mut false).map(|k| k.map(Cow::into_owned));
                (int, r.pos(), rest)
            };
            let fast = read(int);
            assert_eq!(fast, read(|r, _| int_by_reader(r)), "{payload}");
            in_place +=
                usize::from(plain_integer(data, payload.find(':').unwrap_or(0) + 1).is_some());
        }
        // 0, 7, 99999999999999999, 123456789012345678 and the 1 of 1x go in place.
        assert_eq!(in_place, 5);
    }

    /// A finished item whose parts repeat the parts the fold kept as text compares them
    /// instead of reading them, and decodes exactly as reading it in full does: equal parts,
    /// parts written otherwise, changed, added, missing or unkept parts, parts nested too
    /// deep where they are now, and errors.
    #[test]
    fn finished_items_repeating_kept_parts_decode_as_reading_them_in_full() {
        let text =
            r#"{"type":"output_text","annotations":[],"logprobs":[],"text":"caf\u00e9 \"x\""}"#;
        let summary = r#"{"type":"summary_text","text":"s"}"#;
        let deep = r#"{"a":[[[1]]]}"#;
        // The item so far, as the fold holds it: its finished parts kept as their text.
        let folded = |parts: &[&str], max_depth: usize| {
            let mut list = Vec::new();
            for part in parts {
                let payload = format!(
                    r#"{{"type":"response.content_part.done","output_index":0,"content_index":0,"part":{part}}}"#
                );
                let (d, _) = decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"")
                    .unwrap_or_default();
                assert_eq!(d.texts.part, *part);
                list.push(Value::Raw(d.texts.part.into()));
            }
            let mut item = crate::json::value::Map::new();
            item.insert("type".into(), Value::string("message"));
            item.insert("content".into(), Value::Array(list));
            item.insert(
                "summary".into(),
                Value::Array(vec![Value::Raw(summary.into()), Value::Null]),
            );
            BTreeMap::from([(0u64, Value::Object(item))])
        };
        let done = |item: &str| {
            format!(
                r#"{{"type":"response.output_item.done","sequence_number":3,"output_index":0,"item":{item}}}"#
            )
        };
        let both = |payload: &str, items: &BTreeMap<u64, Value>, max_depth: usize| {
            let with = decode(payload.as_bytes(), max_depth, None, items, b"");
            let without = decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"");
            (format!("{with:?}"), format!("{without:?}"))
        };
        let items = folded(&[text, text], 64);
        let item = |content: &str| {
            format!(
                r#"{{"id":"m","type":"message","content":{content},"summary":[{summary},{summary}],"role":"assistant"}}"#
            )
        };
        let cases = [
            done(&item(&format!("[{text},{text}]"))),
            done(&item(&format!("[ {text} ,{text} ]"))),
            done(&item(&format!("[{text}]"))),
            done(&item(&format!("[{text},{text},{text}]"))),
            done(&item("[]")),
            done(&item("null")),
            done(&item(r#"{"a":1}"#)),
            done(r#"{"id":"m","type":"message"}"#),
            done(&item(&format!("[{text},{text}]")).replace(r#""content""#, r#""cont\u0065nt""#)),
            // The item before its index: read in full.
            format!(
                r#"{{"type":"response.output_item.done","item":{},"output_index":0}}"#,
                item(&format!("[{text}]"))
            ),
            // Written otherwise, changed.
            done(&item(&format!(
                "[{},{text}]",
                text.replace(r#""annotations":[],"#, r#""annotations": [],"#)
            ))),
            done(&item(&format!(
                "[{},{text}]",
                text.replace("\\u00e9", "\u{e9}")
            ))),
            done(&item(&format!("[{text},{}]", text.replace("caf", "cof")))),
            // Changed into invalid JSON near the end, where a comparison cut short would miss it.
            done(&item(&format!(
                "[{text},{}]",
                text.replace(r#"\"x\""#, r#"\"x\q"#)
            ))),
            done(&item(&format!(
                "[{text},{}]",
                text.replace(r#"\"x\""#, "\\\"x\u{1}\"")
            ))),
            done(&item(&format!("[{text},{summary}]"))),
            // Errors right after a compared part.
            done(&item(&format!("[{text},,{text}]"))),
            done(&item(&format!("[{text}x]"))),
            done(&item(&format!("[{text}}}"))),
            done(&item(&format!("[{text}"))),
            done(&item(&format!("[{text}]")))[..150].to_string(),
        ];
        for payload in &cases {
            let (with, without) = both(payload, &items, 64);
            assert_eq!(with, without, "{payload}");
        }
        // A part kept under a limit it fits in one level inside a payload may be too deep two
        // levels further in: compared or not, it is read and rejected as too deep.
        let deep_items = folded(&[deep], 5);
        for max_depth in [5, 6, 7, 8] {
            let payload = done(&format!(r#"{{"content":[{deep}]}}"#));
            let (with, without) = both(&payload, &deep_items, max_depth);
            assert_eq!(with, without, "{max_depth}");
            assert_eq!(with.contains("TooDeep"), max_depth < 7, "{with}");
        }
        // The comparison is what read them: with kept parts that are not what they claim
        // (never so in a fold), the compared parts pass unread.
        let lie = folded(&[], 64);
        let mut lie = lie;
        if let Some(Value::Object(m)) = lie.get_mut(&0) {
            m.insert(
                "content".into(),
                Value::Array(vec![Value::Raw(r#"{"a":[}"#.into())]),
            );
        }
        let payload = done(r#"{"content":[{"a":[}]}"#);
        assert!(decode(payload.as_bytes(), 64, None, &BTreeMap::new(), b"").is_err());
        let (d, _) = decode(payload.as_bytes(), 64, None, &lie, b"").unwrap_or_default();
        assert_eq!(d.texts.item, r#"{"content":[{"a":[}]}"#);
    }

    /// A finished part whose member values repeat a validated `*.done` text decodes exactly
    /// as reading it in full: same slice, text and errors (positions included), for the
    /// repeats, their near misses and errors right after a compared string.
    #[test]
    fn finished_parts_repeating_a_done_text_decode_as_reading_them_in_full() {
        let text = r#""a\"b\ncaf\u00e9 é \ud83d\ude00""#;
        let done = |part: &str| {
            format!(
                r#"{{"type":"response.content_part.done","sequence_number":4,"output_index":0,"content_index":0,"part":{part}}}"#
            )
        };
        let part = |value: &str| {
            format!(r#"{{"type":"output_text","annotations":[],"logprobs":[],"text":{value}}}"#)
        };
        let both = |payload: &str, max_depth: usize| {
            let with = decode(
                payload.as_bytes(),
                max_depth,
                None,
                &BTreeMap::new(),
                text.as_bytes(),
            );
            let without = decode(payload.as_bytes(), max_depth, None, &BTreeMap::new(), b"");
            (format!("{with:?}"), format!("{without:?}"))
        };
        let cases = [
            done(&part(text)),
            done(&part(&format!(" {text} "))),
            done(&format!(r#"{{"text":{text},"refusal":{text}}}"#)),
            done(&format!(r#"{{"text":{text},"text":{text}}}"#)),
            done(&format!(r#"{{"x":[{text}],"text":{text}}}"#)),
            done(&format!(r#"{{"text":{text}}}"#).replace("\\u00e9", "\u{e9}")),
            done(&part(&text.replace("caf", "cof"))),
            done(&part(&text[..text.len() - 1])),
            done(&part(&format!("{}x\"", &text[..text.len() - 1]))),
            done(&part("null")),
            done(&format!("[{text}]")),
            done(text),
            done("null"),
            // A text that the compared one is a prefix of, and invalid ones near its end.
            done(&part(&format!("{}\\n\"", &text[..text.len() - 1]))),
            done(&part(&format!("{}\\q\"", &text[..text.len() - 1]))),
            done(&part(&format!("{}\u{1}\"", &text[..text.len() - 1]))),
            // Errors right after a compared string.
            done(&format!(r#"{{"text":{text}x}}"#)),
            done(&format!(r#"{{"text":{text},}}"#)),
            done(&format!(r#"{{"text":{text}"#)),
            done(&format!(r#"{{"text":{text}]}}"#)),
            done(&format!(r#"{{"text":{text}:1}}"#)),
            done(&part(text))[..120].to_string(),
            done(&part(text)).trim_end_matches('}').to_string(),
            // Not a finished part: read as the fold reads each.
            done(&part(text)).replace("content_part.done", "content_part.added"),
            done(&part(text)).replace("content_part.done", "reasoning_summary_part.done"),
        ];
        for payload in &cases {
            let (with, without) = both(payload, 64);
            assert_eq!(with, without, "{payload}");
        }
        // Compared or read, a part too deep is rejected as too deep.
        for max_depth in [1, 2, 3] {
            let payload = done(&format!(r#"{{"a":{{"b":{text}}}}}"#));
            let (with, without) = both(&payload, max_depth);
            assert_eq!(with, without, "{max_depth}");
            assert_eq!(with.contains("TooDeep"), max_depth < 3, "{with}");
        }
        // The comparison is what read it: with a text that is not what it claims (never so
        // in a fold), the compared value passes unread.
        let lie = r#""a\q""#;
        let payload = done(&format!(r#"{{"text":{lie}}}"#));
        assert!(decode(payload.as_bytes(), 64, None, &BTreeMap::new(), b"").is_err());
        let (d, _) = decode(
            payload.as_bytes(),
            64,
            None,
            &BTreeMap::new(),
            lie.as_bytes(),
        )
        .unwrap_or_default();
        assert_eq!(d.texts.part, format!(r#"{{"text":{lie}}}"#));
    }
}
