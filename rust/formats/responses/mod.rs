//! `OpenAI` Responses (`/v1/responses`, `stream=true`): `response.*` events folded into the
//! `response` object (docs/formats.md, "Responses").
//!
//! Items are addressed by `output_index` and parts by `content_index` / `summary_index`, never
//! by `item_id` (some servers rotate item ids on every event). Every `*.delta` family appends
//! its text by one rule; when a closing event arrives its `response` is the result, kept as its
//! validated text (it is usually the biggest payload of the stream and is handed out whole).

pub mod scan;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::driver::{Config, Options};
use crate::error::{DecodeKind, ErrorKind};
use crate::event::{self, Event, TextOf, TextTrail, UsageLog};
use crate::formats::{Fold, Folded, Format, Note};
use crate::json::partial::PartialJson;
use crate::json::reader::JsonErrorCode;
use crate::json::value::{Map, Value};
use crate::limits::{LimitName, Limits};
use crate::summary::{self, Status, Summary, ToolCall, Usage};

use std::borrow::Cow;

use crate::json::reader::Reader;
use scan::{Decoded, Int, Slice};

fn is_lifecycle(kind: &str) -> bool {
    matches!(
        kind,
        "response.created" | "response.in_progress" | "response.queued"
    )
}

/// Event types that change nothing in the folded response (progress reports; their items and
/// parts arrive in `output_item` / `content_part` events). A `match`, which compares the
/// length first and then a few bytes, not a scan of a list.
fn is_progress(kind: &str) -> bool {
    matches!(
        kind,
        "response.audio.delta"
            | "response.audio.done"
            | "response.audio.transcript.delta"
            | "response.audio.transcript.done"
            | "response.code_interpreter_call.completed"
            | "response.code_interpreter_call.in_progress"
            | "response.code_interpreter_call.interpreting"
            | "response.compaction.compacting"
            | "response.file_search_call.completed"
            | "response.file_search_call.in_progress"
            | "response.file_search_call.searching"
            | "response.image_generation_call.completed"
            | "response.image_generation_call.generating"
            | "response.image_generation_call.in_progress"
            | "response.image_generation_call.partial_image"
            | "response.mcp_call.completed"
            | "response.mcp_call.failed"
            | "response.mcp_call.in_progress"
            | "response.mcp_list_tools.completed"
            | "response.mcp_list_tools.failed"
            | "response.mcp_list_tools.in_progress"
            | "response.shell_call_output_content.delta"
            | "response.shell_call_output_content.done"
            | "response.steer"
            | "response.steer.accepted"
            | "response.steer.failed"
            | "response.steer.pending"
            | "response.web_search_call.completed"
            | "response.web_search_call.in_progress"
            | "response.web_search_call.searching"
    )
}

const INDEX: &str = "a non-negative integer";
const EXISTING_ITEM: &str = "the index of an output item already added";
const EXISTING_PART: &str = "the index of a part already added, or of the next one";

/// How the stream closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Complete,
    Failed,
}

/// Where a delta family's text goes: a part of the item (`content` / `summary`), an object
/// inside the item, or the item itself; and the field.
#[derive(Debug, Clone, Copy)]
enum Place<'f> {
    Part(&'static str, &'f str),
    Inner(&'static str, &'f str),
    Item(&'f str),
}

fn place_of(family: &str) -> Place<'_> {
    match family {
        "output_text" | "reasoning_text" => Place::Part("content", "text"),
        "refusal" => Place::Part("content", "refusal"),
        "reasoning_summary_text" => Place::Part("summary", "text"),
        "apply_patch_call_operation_diff" => Place::Inner("operation", "diff"),
        // The generic rule: the family's last word, on the part the event addresses.
        _ => Place::Item(family.rsplit('_').next().unwrap_or(family)),
    }
}

/// `output_text` for `response.output_text.delta` and suffix `.delta`.
fn family<'k>(kind: &'k str, suffix: &str) -> Option<&'k str> {
    let f = kind.strip_prefix("response.")?.strip_suffix(suffix)?;
    (!f.is_empty() && !f.contains('.')).then_some(f)
}

/// An event type's last step (`.delta`, `.done`, ...): compared as bytes, event types are
/// case-sensitive.
fn ends(kind: &str, step: &str) -> bool {
    kind.as_bytes().ends_with(step.as_bytes())
}

fn is_client_call(item: &Value) -> Option<bool> {
    match item {
        Value::Object(m) => match m.get("type").and_then(Value::as_str) {
            Some("function_call") => Some(true),
            Some("custom_tool_call") => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn shared_str(m: &Map, key: &str) -> Option<Arc<str>> {
    m.get(key).and_then(Value::as_str).map(Arc::from)
}

/// A client tool call, for its events.
#[derive(Debug)]
struct Call {
    position: usize,
    id: Option<Arc<str>>,
    name: Option<Arc<str>>,
    arguments: String,
    trail: TextTrail,
    /// Only for `function_call` arguments, which are JSON (a custom tool's input is text).
    partial: Option<PartialJson>,
    done: bool,
}

#[derive(Debug, Default)]
struct TextEvents {
    text: Option<String>,
    trail: TextTrail,
    done: bool,
}

impl TextEvents {
    fn push(&mut self, piece: &str) {
        self.text.get_or_insert_with(String::new).push_str(piece);
        self.trail.push(piece.into());
    }
}

/// A value that varies between otherwise byte-identical delta events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Sequence,
    Delta,
    /// A string that is validated and dropped (`obfuscation`, which is random per event).
    Skipped,
}

/// The shape of a delta event decoded in full: its bytes with the variable values cut out.
/// A later payload that has exactly these bytes around values of the same JSON types is the
/// same event with other values, so it is folded without decoding its keys again (a stream's
/// deltas repeat type, item id and indices byte for byte; only the sequence number, the text
/// and the obfuscation padding change).
#[derive(Debug)]
struct Template {
    /// Which template this is, for [`TextPath::checked_for`]: unique within a fold.
    id: u64,
    /// Shared, so that folding by the template takes no allocation per event.
    kind: Arc<str>,
    /// The type and its family, when the type is one of [`KNOWN_DELTAS`].
    known: Option<(&'static str, &'static str)>,
    /// `vars.len() + 1` fixed byte runs, around the variable values.
    fixed: Vec<Box<[u8]>>,
    vars: Vec<Var>,
    /// `vars` are a sequence number, the delta and a skipped string, in that order: the
    /// shape of every delta a server sends, read by [`Template::read_common`].
    common: bool,
    output_index: Int,
    content_index: Int,
    summary_index: Int,
}

/// The delta types of the families streams carry most: a template of one of these holds its
/// type and family as constants, so folding by it needs neither a shared string nor a parse
/// of the type.
const KNOWN_DELTAS: [&str; 6] = [
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.refusal.delta",
    "response.custom_tool_call_input.delta",
];

/// The run text's first capacity (see `Responses::run_text`).
const RUN_TEXT_ROOM: usize = 4096;

/// Templates kept at once: a reasoning summary, its text and a call can take turns.
const MAX_TEMPLATES: usize = 4;

impl Template {
    fn learn(data: &[u8], d: &Decoded<'_>, kind: &str, id: u64) -> Option<Template> {
        let mut cuts: Vec<(Slice, Var)> = Vec::with_capacity(3);
        let mut seen_delta = false;
        for (key, slice) in &d.others {
            match &**key {
                "sequence_number" => cuts.push((*slice, Var::Sequence)),
                "delta" => {
                    seen_delta = true;
                    cuts.push((*slice, Var::Delta));
                }
                "obfuscation" if slice.first(data) == b'"' => cuts.push((*slice, Var::Skipped)),
                // Kept as fixed bytes: only a logprobs value that adds nothing.
                "logprobs" => {
                    let v = slice.bytes(data);
                    if !(v == b"[]" || v == b"null") {
                        return None;
                    }
                }
                _ => {}
            }
        }
        // A repeated key would make the cut ambiguous: only one of each.
        let count = |v: Var| cuts.iter().filter(|(_, w)| *w == v).count();
        if !seen_delta
            || count(Var::Delta) != 1
            || count(Var::Sequence) > 1
            || count(Var::Skipped) > 1
        {
            return None;
        }
        cuts.sort_by_key(|(s, _)| s.start);
        let mut fixed = Vec::with_capacity(cuts.len() + 1);
        let mut at = 0;
        for (s, _) in &cuts {
            fixed.push(data.get(at..s.start)?.into());
            at = s.end;
        }
        fixed.push(data.get(at..)?.into());
        let vars: Vec<Var> = cuts.into_iter().map(|(_, v)| v).collect();
        Some(Template {
            id,
            kind: kind.into(),
            known: KNOWN_DELTAS
                .iter()
                .find(|k| **k == kind)
                .and_then(|k| Some((*k, family(k, ".delta")?))),
            fixed,
            common: vars == [Var::Sequence, Var::Delta, Var::Skipped],
            vars,
            output_index: d.output_index,
            content_index: d.content_index,
            summary_index: d.summary_index,
        })
    }

    /// The sequence number and the delta of a payload of this shape: the delta's text in the
    /// payload, or `None` when it had escapes and its decoded text is in `scratch` (a buffer
    /// the fold keeps, so that decoding takes no allocation per event).
    fn read<'a>(
        &self,
        data: &'a [u8],
        max_depth: usize,
        scratch: &mut String,
    ) -> Option<(Int, Option<&'a str>)> {
        if self.common {
            if let [head, middle, after_delta, tail] = &self.fixed[..] {
                let runs = [&**head, &**middle, &**after_delta, &**tail];
                return read_common(data, runs, max_depth, scratch);
            }
        }
        let mut pos = 0;
        let mut sequence = Int::Absent;
        let mut delta = None;
        for (n, run) in self.fixed.iter().enumerate() {
            if data.get(pos..pos + run.len())? != &**run {
                return None;
            }
            pos += run.len();
            let Some(var) = self.vars.get(n) else { break };
            // The plain values are read in place; the rest by the reads `read_common` uses.
            match var {
                Var::Sequence => {
                    (sequence, pos) = match scan::plain_integer(data, pos) {
                        Some((value, len)) => (Int::Value(value, pos), pos + len),
                        None => sequence_by_reader(data, pos, max_depth)?,
                    };
                }
                Var::Delta => {
                    let (text, end) = match plain_string_end(data, pos) {
                        Some(end) => {
                            let text = data.get(pos + 1..end - 1)?;
                            // SAFETY: `plain_string_end` admitted only bytes 0x20..0x7F to
                            // the string, and ASCII is valid UTF-8.
                            (Some(unsafe { std::str::from_utf8_unchecked(text) }), end)
                        }
                        None => delta_escaped(data, pos, max_depth, scratch)?,
                    };
                    delta = Some(text);
                    pos = end;
                }
                Var::Skipped => pos = skipped_at(data, pos, max_depth)?,
            }
        }
        (pos == data.len()).then_some(())?;
        Some((sequence, delta?))
    }
}

/// [`Template::read`] for a template of the common shape (`runs` around a sequence number, the
/// delta and a skipped string), with the same answer: the runs are compared and the values
/// read in the order of the payload, except the last run, which ends the payload and so also
/// says where the skipped string must end. Strings are scanned sixteen bytes at a time.
#[inline]
fn read_common<'a>(
    data: &'a [u8],
    [head, middle, after_delta, tail]: [&[u8]; 4],
    max_depth: usize,
    scratch: &mut String,
) -> Option<(Int, Option<&'a str>)> {
    let tail_at = data.len().checked_sub(tail.len())?;
    if data.get(..head.len())? != head {
        return None;
    }
    let (sequence, pos) = sequence_at(data, head.len(), max_depth)?;
    let end = pos + middle.len();
    if data.get(pos..end)? != middle {
        return None;
    }
    let (delta, pos) = delta_at(data, end, max_depth, scratch)?;
    let end = pos + after_delta.len();
    if data.get(pos..end)? != after_delta || data.get(tail_at..)? != tail {
        return None;
    }
    // The skipped string is the rest up to the tail: a quote, plain ASCII, a quote, the
    // string the reader reads there and ends where the tail starts.
    let plain = tail_at >= end + 2
        && data.get(end) == Some(&b'"')
        && data.get(tail_at - 1) == Some(&b'"')
        && plain_ascii_span(data, end + 1, tail_at - 1);
    if !plain && skipped_at(data, end, max_depth)? != tail_at {
        return None;
    }
    Some((sequence, delta))
}

/// A sequence number at `at` and where it ends, as [`Template::read`] reads it.
#[inline]
fn sequence_at(data: &[u8], at: usize, max_depth: usize) -> Option<(Int, usize)> {
    if let Some((value, len)) = short_digits(data, at) {
        return Some((Int::Value(i128::from(value), at), at + len));
    }
    if let Some((value, len)) = scan::plain_integer(data, at) {
        return Some((Int::Value(value, at), at + len));
    }
    sequence_by_reader(data, at, max_depth)
}

/// A number of one to seven plain digits at `at` (no leading zero, no fraction or exponent
/// after it), read from the word at `at` without a loop: its value and length, what
/// `scan::plain_integer` gives for it. `None` for anything else, which that reads.
#[inline]
fn short_digits(data: &[u8], at: usize) -> Option<(u64, usize)> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?);
    // A digit byte becomes its value, 0..=9; every other byte something above 9.
    let values = word ^ (LOW * u64::from(b'0'));
    // The top bit of each byte above 9: a carry out of a byte goes only into the bytes after
    // it, and only out of one above 9, so the lowest set bit is the first byte that is not a
    // digit.
    let not_digits = (values.wrapping_add(LOW * 0x76) | values) & HIGH;
    let len = not_digits.trailing_zeros() as usize / 8;
    if len == 0 || len == 8 {
        return None;
    }
    let next = data.get(at + len).copied();
    if (len > 1 && data.get(at) == Some(&b'0')) || matches!(next, Some(b'.' | b'e' | b'E')) {
        return None;
    }
    // The digits moved to the top of the word, the first at the lowest place: a number of
    // eight digits with leading zeros. Pairs, then fours, then the eight are summed up.
    let eight = values << (8 * (8 - len));
    let pairs = eight.wrapping_mul(10).wrapping_add(eight >> 8);
    let pairs_mask = 0x0000_00FF_0000_00FF;
    let value = (pairs & pairs_mask)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((pairs >> 16) & pairs_mask).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some((value & 0xFFFF_FFFF, len))
}

/// A sequence number the reads in place leave (a sign, a fraction or exponent, a leading zero,
/// more digits): the reader's, range-checked. Rare.
#[cold]
#[inline(never)]
fn sequence_by_reader(data: &[u8], at: usize, max_depth: usize) -> Option<(Int, usize)> {
    let mut r = Reader::new(data, max_depth);
    r.resume_at(at);
    let text = r.take_number().ok()??;
    if text.contains(['.', 'e', 'E']) {
        return None;
    }
    let value: i128 = text.parse().ok()?;
    if !(-(1i128 << 63)..=i128::from(u64::MAX)).contains(&value) {
        return None;
    }
    Some((Int::Value(value, at), r.pos()))
}

/// The delta string at `at` and where it ends, as [`Template::read`] reads it: its text in
/// the payload, or `None` when it had escapes and its decoded text is in `scratch`.
#[inline]
fn delta_at<'a>(
    data: &'a [u8],
    at: usize,
    max_depth: usize,
    scratch: &mut String,
) -> Option<(Option<&'a str>, usize)> {
    if data.get(at) == Some(&b'"') {
        if let Some((len, ascii)) = string_body(data, at + 1) {
            let body = data.get(at + 1..at + 1 + len)?;
            let text = if ascii {
                // SAFETY: `string_body` found no byte with the top bit set in `body`, and
                // ASCII is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(body) }
            } else {
                // Invalid UTF-8 is an error wherever it is read.
                std::str::from_utf8(body).ok()?
            };
            return Some((Some(text), at + 1 + len + 1));
        }
    }
    delta_escaped(data, at, max_depth, scratch)
}

/// A delta string that neither [`delta_at`] nor the generic read takes in place (escapes, or
/// one that does not end where they look): its text, or decoded into `scratch`.
#[cold]
#[inline(never)]
fn delta_escaped<'a>(
    data: &'a [u8],
    at: usize,
    max_depth: usize,
    scratch: &mut String,
) -> Option<(Option<&'a str>, usize)> {
    if let Some((text, end)) = unescaped_string(data, at) {
        return Some((Some(text), end));
    }
    scratch.clear();
    if let Some(end) = ascii_escaped_into(data, at, scratch) {
        return Some((None, end));
    }
    let mut r = Reader::new(data, max_depth);
    r.resume_at(at);
    scratch.clear();
    if !r.take_string_into(scratch).ok()? {
        return None;
    }
    Some((None, r.pos()))
}

/// Where the string at `at` that [`Template::read`] skips ends.
#[cold]
#[inline(never)]
fn skipped_at(data: &[u8], at: usize, max_depth: usize) -> Option<usize> {
    if let Some(end) = plain_string_end(data, at) {
        return Some(end);
    }
    let mut r = Reader::new(data, max_depth);
    r.resume_at(at);
    r.take_string().ok()??;
    Some(r.pos())
}

/// The length of the string text from `from` up to its closing quote and whether it is
/// ASCII, when nothing but a quote stops it (no escape, no control byte) and it ends at least
/// sixteen bytes before the payload does, as a delta does. `None` for anything else, which
/// the caller's other reads take.
#[cfg(target_arch = "x86_64")]
#[inline]
fn string_body(data: &[u8], from: usize) -> Option<(usize, bool)> {
    use crate::json::reader::string_stops16;
    let mut at = from;
    let mut high = 0;
    loop {
        let block = <&[u8; 16]>::try_from(data.get(at..at + 16)?).ok()?;
        let (stops, top) = string_stops16(block);
        if stops != 0 {
            let n = stops.trailing_zeros();
            high |= top & ((1u32 << n) - 1);
            let len = at - from + n as usize;
            return (data.get(from + len) == Some(&b'"')).then_some((len, high == 0));
        }
        high |= top;
        at += 16;
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn string_body(data: &[u8], from: usize) -> Option<(usize, bool)> {
    let end = plain_string_end(data, from.checked_sub(1)?)?;
    Some((end - from - 1, true))
}

/// Whether `data[from..to]` is plain ASCII string text: no quote, backslash, control byte or
/// byte with the top bit set (`true` for an empty span). `false` also when the span ends in
/// the payload's first sixteen bytes, which no template's skipped string does.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain_ascii_span(data: &[u8], from: usize, to: usize) -> bool {
    use crate::json::reader::string_stops16;
    let stops_of = |start: usize| {
        data.get(start..start + 16)
            .and_then(|b| <&[u8; 16]>::try_from(b).ok())
            .map(|b| {
                let (stops, top) = string_stops16(b);
                stops | top
            })
    };
    let (Some(len), Some(last)) = (to.checked_sub(from), to.checked_sub(16)) else {
        return false;
    };
    if len < 16 {
        // The sixteen bytes that end at `to`, of which only the last `len` count.
        return stops_of(last).is_some_and(|m| m >> (16 - len) == 0);
    }
    let mut at = from;
    while at + 16 < to {
        if stops_of(at) != Some(0) {
            return false;
        }
        at += 16;
    }
    // The last sixteen bytes, overlapping the block before.
    stops_of(last) == Some(0)
}

#[cfg(not(target_arch = "x86_64"))]
fn plain_ascii_span(data: &[u8], from: usize, to: usize) -> bool {
    data.get(from..to).is_some_and(|s| {
        s.iter()
            .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
    })
}

/// The decoded text of the JSON string at `at`, appended to `out`, and where the string ends
/// (one past its closing quote), when the string is printable ASCII with one-letter escapes
/// only: what the reader gives for it. `None` for anything else (`\u`, a non-ASCII or
/// control byte, an unknown escape, no closing quote), which the reader reads; `out` may then
/// hold part of the text.
fn ascii_escaped_into(data: &[u8], at: usize, out: &mut String) -> Option<usize> {
    if data.get(at) != Some(&b'"') {
        return None;
    }
    // Bytes, not chars: `String::push` calls `reserve` for each char (out of line in a
    // build without LTO), `Vec::push` only when the buffer is full.
    // SAFETY: only ASCII goes in (the bytes 0x20..=0x7F and what `short_escape` gives, all
    // below 0x80), so `out` stays valid UTF-8 however far this gets.
    let bytes = unsafe { out.as_mut_vec() };
    let mut p = at + 1;
    loop {
        match *data.get(p)? {
            b'"' => return Some(p + 1),
            b'\\' => {
                let byte = crate::json::short_escape(*data.get(p + 1)?)?;
                bytes.push(byte);
                p += 2;
            }
            b @ 0x20..=0x7F => {
                bytes.push(b);
                p += 1;
            }
            _ => return None,
        }
    }
}

/// Where the JSON string at `at` ends (one past its closing quote) when it is printable ASCII
/// without escapes, as the sequence-free parts of a delta event usually are (`obfuscation`,
/// English text). Anything else is left to the reader, which reads such a string the same way.
fn plain_string_end(data: &[u8], at: usize) -> Option<usize> {
    if data.get(at) != Some(&b'"') {
        return None;
    }
    let body = data.get(at + 1..)?;
    let mut len = 0;
    // Eight bytes at a time: one branch per word where a byte loop takes one per byte, and
    // padding such as `obfuscation` is 8-16 bytes. The word holding the first byte that ends
    // the run says where it is, so no byte loop follows but within the last eight bytes.
    while let Some(word) = body
        .get(len..len + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
    {
        let stops = stop_bits(u64::from_le_bytes(word));
        if stops != 0 {
            len += stops.trailing_zeros() as usize / 8;
            return (body.get(len) == Some(&b'"')).then_some(at + 1 + len + 1);
        }
        len += 8;
    }
    len += body
        .get(len..)?
        .iter()
        .take_while(|&&b| plain_byte(b))
        .count();
    (body.get(len) == Some(&b'"')).then_some(at + 1 + len + 1)
}

/// The text of the JSON string at `at` and where it ends (one past its closing quote), when
/// it has no escape and is valid UTF-8 (checked here): what the reader gives for it. `None`
/// for anything else (an escape, a control byte, invalid UTF-8, a string that ends within
/// the payload's last eight bytes), which the reader reads.
fn unescaped_string(data: &[u8], at: usize) -> Option<(&str, usize)> {
    if data.get(at) != Some(&b'"') {
        return None;
    }
    let body = data.get(at + 1..)?;
    let mut len = 0;
    loop {
        let word = <[u8; 8]>::try_from(body.get(len..len + 8)?).ok()?;
        let stops = string_stop_bits(u64::from_le_bytes(word));
        if stops != 0 {
            len += stops.trailing_zeros() as usize / 8;
            break;
        }
        len += 8;
    }
    if body.get(len) != Some(&b'"') {
        return None;
    }
    let text = std::str::from_utf8(body.get(..len)?).ok()?;
    Some((text, at + 1 + len + 1))
}

/// The top bits of the bytes of `w` that end a string's unescaped text (`"`, `\\`, a control
/// byte), exact up to the first of them (see [`stop_bits`]); other bytes, non-ASCII ones
/// included, borrow nothing.
fn string_stop_bits(w: u64) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let any_zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
    let control = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
    any_zero(w ^ (LOW * u64::from(b'"'))) | any_zero(w ^ (LOW * u64::from(b'\\'))) | control
}

fn plain_byte(b: u8) -> bool {
    (0x20..0x7F).contains(&b) && b != b'"' && b != b'\\'
}

/// Whether all eight bytes of `w` are [`plain_byte`]s (the tests compare the two).
#[cfg(test)]
fn plain_word(w: u64) -> bool {
    stop_bits(w) == 0
}

/// The top bits of the bytes of `w` (little-endian) that are not [`plain_byte`]s, exact up
/// to the first such byte: borrows only set bits above a byte that truly is one, so the
/// lowest set bit is the first of them (the tests compare it with a byte scan).
fn stop_bits(w: u64) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The top bit of each byte of `v` that is zero (exact up to the first zero byte).
    let any_zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
    let high = w & HIGH;
    // Without a high bit, the top bit of each byte below 0x20 (exact up to the first one).
    let control = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
    let stop = any_zero(w ^ (LOW * u64::from(b'"')))
        | any_zero(w ^ (LOW * u64::from(b'\\')))
        | any_zero(w ^ (LOW * 0x7F));
    high | control | stop
}

/// The Responses fold.
pub struct Responses {
    options: Options,
    limits: Limits,
    /// Top-level fields from the lifecycle events, without `output`.
    base: Option<Map>,
    /// The first lifecycle response as its text, while nothing needed it as a tree (a later
    /// lifecycle event usually repeats it byte for byte).
    base_text: Option<Box<str>>,
    /// `base_text`'s shape, positions from its start (see [`scan::Known`]).
    base_shape: scan::ResponseShape,
    /// `base_text`'s members (see [`scan::Known::members`]).
    base_members: Vec<Slice>,
    items: BTreeMap<u64, Value>,
    /// Output indexes whose item, or a part of it, is kept as text (see `materialize`).
    kept_as_text: std::collections::BTreeSet<u64>,
    /// The closing event's response: its validated text, or a tree when the output had to be
    /// filled in from the folded items.
    closed: Option<Value>,
    status: Option<Closed>,
    last_sequence: Option<i128>,
    folded: u64,
    changes: u64,
    content: TextEvents,
    refusal: TextEvents,
    reasoning: Vec<(&'static str, TextEvents)>,
    calls: BTreeMap<u64, Call>,
    usage_log: UsageLog,
    templates: Vec<Template>,
    /// Templates learned so far: the next one's id.
    learned: u64,
    /// The part the last text went into, as (`output_index`, part list, position), checked to
    /// exist then. Deltas come in long runs for one part, and nothing but a fully decoded
    /// event changes which parts exist (`apply` forgets this first), so a run's next delta
    /// skips the check.
    last_part: Option<(u64, &'static str, u64)>,
    /// Where the last delta's text is in the tree, by positions, so that the next delta of a
    /// run appends without looking its keys up; forgotten with `last_part`.
    text_path: Option<TextPath>,
    /// The end of the text at `text_path` that the run's template deltas added and the tree
    /// does not hold yet: appended there by [`Responses::flush_run`] before anything else
    /// reads or changes the tree, so that a run's deltas append to one buffer without
    /// finding their text in the tree each. Empty when there is none.
    run_text: String,
    /// Where a template delta's escaped text is decoded (see `Template::read`).
    scratch: String,
    /// The last `*.done` text that [`Responses::done_as_built`] read, as the JSON string it
    /// was written as (quotes included), validated then: the finished part that follows
    /// repeats it (a kilobyte of escaped text, say), and is compared with it rather than read
    /// again (see [`scan::decode`]). Empty when there is none.
    done_text: Vec<u8>,
    /// Notes of the last payload, for the driver (see [`Note`]).
    notes: Vec<Note>,
    /// What folding the payload being folded saw, turned into `notes` once it folded (and
    /// dropped if it did not): kept here so that a payload that sees nothing, nearly every
    /// one, neither returns nor drops a list.
    seen: Vec<Seen>,
    /// The last payload was the closing event.
    just_closed: bool,
}

/// Positions in the tree of a text that deltas append to: the item, the part list's position
/// in the item and the part's index in it (none for a text of the item itself), and the
/// field's position in its object. Keys are checked on use (see `append_by_path`).
#[derive(Debug)]
struct TextPath {
    /// The delta family it was found for: another delta of the family goes to the same list
    /// and field, so its address need not be worked out again.
    family: Box<str>,
    /// The part list's key and which index of the delta addresses the part in it.
    list: Option<(&'static str, PartIndex)>,
    /// The family's place depends on which indexes a delta has (`Place::Item`).
    by_presence: bool,
    field: Box<str>,
    output_index: u64,
    part: Option<(usize, u64)>,
    field_at: usize,
    /// The template (by id) whose deltas were found to address this text, which the tree
    /// holds: its next deltas go to `run_text` without checking that again (nothing but
    /// what forgets this path changes the tree, and a template's indexes are constants).
    checked_for: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartIndex {
    Content,
    Summary,
}

/// The indexes that address a delta's text: `output_index`, `content_index`, `summary_index`.
#[derive(Debug, Clone, Copy)]
struct Indexes {
    output: Int,
    content: Int,
    summary: Int,
}

impl Indexes {
    fn of(d: &Decoded<'_>) -> Indexes {
        Indexes {
            output: d.output_index,
            content: d.content_index,
            summary: d.summary_index,
        }
    }
}

impl TextPath {
    /// Whether a delta (or `*.done`) of `family` with indexes `d` addresses this text.
    #[inline]
    fn addresses(&self, family: &str, d: Indexes) -> bool {
        if *self.family != *family || d.output.index() != Some(self.output_index) {
            return false;
        }
        if self.by_presence {
            let which = if d.summary.present() {
                Some(PartIndex::Summary)
            } else if d.content.present() {
                Some(PartIndex::Content)
            } else {
                None
            };
            if which != self.list.map(|(_, w)| w) {
                return false;
            }
        }
        match (self.list, self.part) {
            (None, None) => true,
            (Some((_, which)), Some((_, part))) => {
                let index = match which {
                    PartIndex::Content => d.content,
                    PartIndex::Summary => d.summary,
                };
                index.index() == Some(part)
            }
            _ => false,
        }
    }
}

/// The text `path` points at, when the tree still has it there (its keys are checked).
#[inline(always)]
fn text_at<'t>(items: &'t mut BTreeMap<u64, Value>, path: &TextPath) -> Option<&'t mut String> {
    text_in(items.get_mut(&path.output_index)?, path)
}

/// [`text_at`] in the item at `path.output_index`.
#[inline(always)]
fn text_in<'t>(item: &'t mut Value, path: &TextPath) -> Option<&'t mut String> {
    let Value::Object(item) = item else {
        return None;
    };
    let target = match (path.list, path.part) {
        (None, None) => item,
        (Some((key, _)), Some((list_at, part))) => {
            let Some((k, Value::Array(parts))) = item.entry_at_mut(list_at) else {
                return None;
            };
            if k != key {
                return None;
            }
            match usize::try_from(part).ok().and_then(|p| parts.get_mut(p)) {
                Some(Value::Object(m)) => m,
                _ => return None,
            }
        }
        _ => return None,
    };
    match target.entry_at_mut(path.field_at) {
        Some((k, Value::String(s))) if *k == *path.field => Some(s),
        _ => None,
    }
}

/// The part list and index (none for the item itself) and the field a delta of `family`
/// addressed by `d` appends to, as `Responses::target` finds them; `None` for the families
/// whose text goes into an inner object.
fn text_address<'f>(
    family: &'f str,
    d: &Decoded<'_>,
) -> Option<(Option<(&'static str, u64)>, &'f str)> {
    match place_of(family) {
        Place::Part(key, field) => {
            let index = if key == "content" {
                d.content_index
            } else {
                d.summary_index
            };
            Some((Some((key, index.index()?)), field))
        }
        Place::Item(field) => {
            if d.summary_index.present() {
                Some((Some(("summary", d.summary_index.index()?)), field))
            } else if d.content_index.present() {
                Some((Some(("content", d.content_index.index()?)), field))
            } else {
                Some((None, field))
            }
        }
        Place::Inner(..) => None,
    }
}

/// The fields a template delta's text goes through when it extends the run (see
/// `Responses::run_text`): borrowed apart from the template and the scratch text it was read
/// with.
struct Run<'r> {
    path: &'r mut Option<TextPath>,
    items: &'r mut BTreeMap<u64, Value>,
    text: &'r mut String,
}

impl Run<'_> {
    /// Adds a template delta's text to the run's text when it goes where the run's text is,
    /// which the tree holds; false (nothing changed) otherwise. A template found to address
    /// the run's text is not checked again for the rest of the run.
    #[inline]
    fn append(self, template: &Template, family: &str, piece: &str) -> bool {
        let Some(path) = self.path else {
            return false;
        };
        if path.checked_for != Some(template.id) {
            let at = Indexes {
                output: template.output_index,
                content: template.content_index,
                summary: template.summary_index,
            };
            if !path.addresses(family, at) || text_at(self.items, path).is_none() {
                return false;
            }
            path.checked_for = Some(template.id);
        }
        append_in_room(self.text, piece);
        true
    }
}

/// `text.push_str(piece)`, growing the run's text by at least doubling: the text is reserved
/// ahead (see `RUN_TEXT_ROOM`), so nearly every delta fits, and a long run grows as
/// `push_str` would make it.
#[inline]
fn append_in_room(text: &mut String, piece: &str) {
    if text.capacity() - text.len() < piece.len() {
        text.reserve(piece.len().max(text.capacity()));
    }
    text.push_str(piece);
}

/// What folding one payload did besides changing the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// An event type this fold does not know: nothing changed.
    Unknown(String),
    /// `sequence_number` did not follow the previous one.
    Sequence { number: i128, after: i128 },
}

fn schema(field: &'static str, expected: &'static str, pos: usize) -> ErrorKind {
    ErrorKind::Decode(DecodeKind::Schema {
        field,
        expected,
        pos,
    })
}

fn index_of(v: Int, field: &'static str) -> Result<u64, ErrorKind> {
    v.index().ok_or_else(|| schema(field, INDEX, v.pos(0)))
}

impl Responses {
    pub fn new(config: &Config) -> Self {
        Responses::with(config.options, config.limits)
    }

    pub fn with(options: Options, limits: Limits) -> Self {
        Responses {
            options,
            limits,
            base: None,
            base_text: None,
            base_shape: scan::ResponseShape::default(),
            base_members: Vec::new(),
            items: BTreeMap::new(),
            kept_as_text: std::collections::BTreeSet::new(),
            closed: None,
            status: None,
            last_sequence: None,
            folded: 0,
            changes: 0,
            content: TextEvents::default(),
            refusal: TextEvents::default(),
            reasoning: Vec::new(),
            calls: BTreeMap::new(),
            usage_log: UsageLog::default(),
            templates: Vec::new(),
            learned: 0,
            last_part: None,
            text_path: None,
            // Room for a run of a few kilobytes at once: grown by doubling from empty, a
            // run's text took eight or nine reallocations per stream.
            run_text: String::with_capacity(RUN_TEXT_ROOM),
            scratch: String::new(),
            done_text: Vec::new(),
            notes: Vec::new(),
            seen: Vec::new(),
            just_closed: false,
        }
    }

    /// How the stream closed, once a closing event arrived.
    pub fn closed(&self) -> Option<Closed> {
        self.status
    }

    pub fn folded(&self) -> u64 {
        self.folded
    }

    pub fn version(&self) -> (u64, u64) {
        (self.folded, self.changes)
    }

    /// The folded output items, in `output_index` order (with the run's text, which the
    /// tree may not hold yet: see `run_text`).
    fn output(&self) -> Vec<Value> {
        let mut output: Vec<Value> = self.items.values().cloned().collect();
        if let (false, Some(path)) = (self.run_text.is_empty(), &self.text_path) {
            let at = self.items.range(..path.output_index).count();
            if let Some(text) = output.get_mut(at).and_then(|item| text_in(item, path)) {
                text.push_str(&self.run_text);
            }
        }
        output
    }

    /// Moves the run's text (see `run_text`) into the tree, where its path says.
    fn flush_run(&mut self) {
        if self.run_text.is_empty() {
            return;
        }
        let text = self
            .text_path
            .as_ref()
            .and_then(|path| text_at(&mut self.items, path));
        // The path was checked to hold a text when the run began, and nothing changed the
        // tree since (everything else flushes first).
        debug_assert!(text.is_some(), "a run's text has its place");
        if let Some(text) = text {
            text.push_str(&self.run_text);
        }
        self.run_text.clear();
    }

    /// The result so far: the closing response once it arrived, else the folded state with
    /// status `incomplete` (a stream that ends here ended before the server closed it).
    pub fn result(&self) -> Value {
        if let Some(v) = &self.closed {
            return v.clone();
        }
        let from_text = self.base_text.as_ref().map(|text| {
            let v = scan::tree_of_text(text, self.limits.max_depth);
            let mut m = Map::new();
            if let Value::Object(all) = v {
                for (k, v) in all {
                    if k != "output" {
                        m.insert(k, v);
                    }
                }
            }
            m
        });
        let mut m = match (&self.base, from_text) {
            (_, Some(m)) => m,
            (Some(b), None) => b.clone(),
            (None, None) => {
                let mut m = Map::new();
                m.insert("id".into(), Value::Null);
                m.insert("object".into(), Value::string("response"));
                m.insert("created_at".into(), Value::Null);
                m.insert("status".into(), Value::Null);
                m.insert("model".into(), Value::Null);
                m.insert("output".into(), Value::Null);
                m.insert("usage".into(), Value::Null);
                m
            }
        };
        m.insert("status".into(), Value::string("incomplete"));
        m.insert("output".into(), Value::Array(self.output()));
        Value::Object(m)
    }

    /// Folds one payload in, keeping its notes for the driver; `End` after a closing event.
    ///
    /// # Errors
    /// As [`Responses::fold_seen`].
    pub fn fold_payload(
        &mut self,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.just_closed = false;
        if let Err(e) = self.fold_noting(data, events) {
            self.seen.clear();
            return Err(e);
        }
        // Most payloads note nothing: no iterator to set up and drop for them.
        if !self.seen.is_empty() {
            self.notes
                .extend(self.seen.drain(..).map(|seen| match seen {
                    Seen::Unknown(kind) => Note {
                        kind: "UnknownEvent",
                        skipped: true,
                        message: format!("unknown event type '{kind}' skipped"),
                    },
                    Seen::Sequence { number, after } => Note {
                        kind: "SequenceGap",
                        skipped: false,
                        message: format!("sequence_number {number} after {after}"),
                    },
                }));
        }
        Ok(if std::mem::take(&mut self.just_closed) {
            Folded::End
        } else {
            Folded::Continue
        })
    }

    /// Folds one payload in, with what it saw; nothing changes on error.
    ///
    /// # Errors
    /// A syntax or shape error, a limit, or an in-band `error` event (`Api`).
    pub fn fold_seen(
        &mut self,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Vec<Seen>, ErrorKind> {
        self.seen.clear();
        let folded = self.fold_noting(data, events);
        let seen = std::mem::take(&mut self.seen);
        folded.map(|()| seen)
    }

    /// Folds one payload in, pushing what it saw to `seen` (which the caller clears if it
    /// fails: a failed payload notes nothing).
    fn fold_noting(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), ErrorKind> {
        if self.fold_by_template(data, events)? {
            return Ok(());
        }
        self.fold_in_full(data, events)
    }

    /// [`Responses::fold_noting`] for a payload no template folds: out of line, so that the
    /// template path, nearly every payload, does not carry this path's state.
    #[inline(never)]
    fn fold_in_full(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), ErrorKind> {
        let max_depth = self.limits.max_depth;
        // Everything from here reads or changes the tree.
        self.flush_run();
        if self.done_as_built(data, events) {
            return Ok(());
        }
        let known = self.base_text.as_deref().map(|text| scan::Known {
            text,
            shape: self.base_shape,
            members: &self.base_members,
        });
        let (d, is_object) = scan::decode(data, max_depth, known, &self.items, &self.done_text)
            .map_err(|e| match e {
                DecodeKind::Syntax(s) if s.code == JsonErrorCode::TooDeep => ErrorKind::Limit {
                    limit: LimitName::Depth,
                    maximum: max_depth as u64,
                },
                other => ErrorKind::Decode(other),
            })?;
        if !is_object {
            return Err(schema("payload", "a JSON object", 0));
        }
        let Some(kind) = d.kind.as_deref() else {
            return Err(schema("type", "a string", d.kind_pos));
        };
        match d.sequence_number {
            Int::Absent | Int::Null(_) | Int::Value(..) => {}
            Int::Other(p) => return Err(schema("sequence_number", "an integer or null", p)),
        }
        check(kind, &d, data)?;
        if kind == "error" {
            let body = crate::json::reader::parse(data, max_depth).unwrap_or(Value::Null);
            return Err(ErrorKind::Api { body });
        }
        let last = self.last_sequence;
        self.sequence(d.sequence_number);
        let applied = self.apply(kind, &d, data, events).inspect_err(|_| {
            self.last_sequence = last;
        });
        if applied? {
            self.folded += 1;
            self.changes += 1;
            if family(kind, ".delta").is_some() && !kind.starts_with("response.shell_call_command.")
            {
                self.learned += 1;
                if let Some(t) = Template::learn(data, &d, kind, self.learned) {
                    self.templates
                        .retain(|old| old.kind != t.kind || old.fixed != t.fixed);
                    self.templates.insert(0, t);
                    self.templates.truncate(MAX_TEMPLATES);
                }
            }
        } else {
            self.seen.push(Seen::Unknown(kind.to_string()));
        }
        Ok(())
    }

    /// Notes a sequence number that does not follow the last one in `seen`; the number
    /// becomes the last one.
    fn sequence(&mut self, number: Int) {
        if let Int::Value(n, _) = number {
            if let Some(last) = self.last_sequence {
                if n != last + 1 {
                    self.seen.push(Seen::Sequence {
                        number: n,
                        after: last,
                    });
                }
            }
            self.last_sequence = Some(n);
        }
    }

    /// Folds a delta event shaped like a recent one, if it is; false when no template fits.
    fn fold_by_template(
        &mut self,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<bool, ErrorKind> {
        let max_depth = self.limits.max_depth;
        let mut found = None;
        for (n, t) in self.templates.iter().enumerate() {
            if let Some((sequence, delta)) = t.read(data, max_depth, &mut self.scratch) {
                found = Some((n, sequence, delta));
                break;
            }
        }
        let Some((n, sequence, text)) = found else {
            return Ok(false);
        };
        let Some(t) = self.templates.get(n) else {
            return Ok(false);
        };
        // The run's next delta, where its last one went: what `delta` would do, without
        // building a decoded event. Nothing is materialized: an item the run's text is in was
        // materialized when the run found it, and every event that keeps items as text
        // forgets the run's place first.
        if let (Some((_, f)), false) = (t.known, self.options.events) {
            let run = Run {
                path: &mut self.text_path,
                items: &mut self.items,
                text: &mut self.run_text,
            };
            if run.append(t, f, text.unwrap_or(&self.scratch)) {
                self.sequence(sequence);
                self.folded += 1;
                self.changes += 1;
                return Ok(true);
            }
        }
        let delta = match text {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(self.scratch.clone()),
        };
        // What follows reads and changes the tree.
        self.flush_run();
        let Some(t) = self.templates.get(n) else {
            return Ok(false);
        };
        let shared: Arc<str>;
        let (kind, f) = if let Some(known) = t.known {
            known
        } else {
            shared = Arc::clone(&t.kind);
            let Some(f) = family(&shared, ".delta") else {
                return Ok(false);
            };
            (&*shared, f)
        };
        let d = Decoded {
            kind: Some(Cow::Borrowed(kind)),
            kind_present: true,
            sequence_number: sequence,
            output_index: t.output_index,
            content_index: t.content_index,
            summary_index: t.summary_index,
            delta: Some(Ok(delta)),
            ..Decoded::default()
        };
        self.materialize(&d);
        // The same checks as a full decode would make: a missing part is still an error.
        self.sequence_checked(sequence, |this| this.delta(f, &d, data, events))?;
        self.folded += 1;
        self.changes += 1;
        Ok(true)
    }

    /// A `*.done` event of the last delta run's family and text whose text is the text the
    /// run built (as a server sends it): read and compared, not decoded into a new string
    /// that would replace an equal one. It then changes what `apply` would: nothing in the
    /// tree. False (nothing changed) for anything else, which the full decode reads: another
    /// text, another address, a repeated key, a value of another type, any error.
    fn done_as_built(&mut self, data: &[u8], events: &mut Vec<Event>) -> bool {
        self.done_as_built_read(data, events).is_some()
    }

    fn done_as_built_read(&mut self, data: &[u8], events: &mut Vec<Event>) -> Option<()> {
        // The text built is the tree's with the run's text (which changes nothing it holds).
        self.flush_run();
        let path = self.text_path.as_ref()?;
        // Only the families `apply` hands to `done` whatever the event (a generic family's
        // `.done` can be a type `apply` reads otherwise, `response.content_part.done`), and
        // with their text in a tree (a run's item is, see `fold_by_template`; checked anyway).
        let known = matches!(
            &*path.family,
            "output_text"
                | "function_call_arguments"
                | "reasoning_summary_text"
                | "reasoning_text"
                | "refusal"
                | "custom_tool_call_input"
        );
        if !known || self.kept_as_text.contains(&path.output_index) {
            return None;
        }
        let built = text_at(&mut self.items, path)?;
        let mut r = Reader::new(data, self.limits.max_depth);
        if !r.begin_object().ok()? {
            return None;
        }
        let (mut kind_seen, mut equal) = (false, None);
        let mut text_at = 0..0;
        let mut ints = [Int::Absent; 4];
        let mut first = true;
        while let Some(key) = r.next_key(&mut first).ok()? {
            let slot = match &*key {
                "type" => {
                    let kind = r.take_string().ok()??;
                    if kind_seen || family(&kind, ".done") != Some(&*path.family) {
                        return None;
                    }
                    kind_seen = true;
                    continue;
                }
                "sequence_number" => 0,
                "output_index" => 1,
                "content_index" => 2,
                "summary_index" => 3,
                k if k == &*path.field => {
                    if equal.is_some() {
                        return None;
                    }
                    r.peek();
                    let start = r.pos();
                    equal = Some(r.take_string_matching(built).ok()??);
                    text_at = start..r.pos();
                    continue;
                }
                _ => {
                    r.skip_value().ok()?;
                    continue;
                }
            };
            let int = ints.get_mut(slot)?;
            if int.present() {
                return None;
            }
            *int = scan::int(&mut r, data).ok()?;
        }
        r.end().ok()?;
        let [sequence, output, content, summary] = ints;
        let at = Indexes {
            output,
            content,
            summary,
        };
        // The checks a full decode makes (`check`, `sequence`) pass, and it addresses the run's
        // text, which it holds: anything else is left to the full decode.
        let indexes_ok = [content, summary]
            .iter()
            .all(|i| !i.present() || i.index().is_some());
        if !(kind_seen
            && equal == Some(true)
            && indexes_ok
            && !matches!(sequence, Int::Other(_))
            && path.addresses(&path.family, at))
        {
            return None;
        }
        let call = matches!(
            &*path.family,
            "function_call_arguments" | "custom_tool_call_input"
        );
        let oi = path.output_index;
        // A string the reader took whole: valid JSON text for the finished part to repeat.
        self.done_text.clear();
        self.done_text
            .extend_from_slice(data.get(text_at).unwrap_or_default());
        // As `apply` does before any event.
        self.last_part = None;
        self.text_path = None;
        self.sequence(sequence);
        if self.options.events && call {
            self.call_done(oi, events);
        }
        self.folded += 1;
        self.changes += 1;
        Some(())
    }

    /// Runs `apply`, keeping the sequence number only once it succeeded (on error, the
    /// caller drops `seen`).
    fn sequence_checked(
        &mut self,
        number: Int,
        apply: impl FnOnce(&mut Self) -> Result<(), ErrorKind>,
    ) -> Result<(), ErrorKind> {
        let last = self.last_sequence;
        self.sequence(number);
        if let Err(e) = apply(self) {
            self.last_sequence = last;
            return Err(e);
        }
        Ok(())
    }

    fn apply(
        &mut self,
        kind: &str,
        d: &Decoded<'_>,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<bool, ErrorKind> {
        let max_depth = self.limits.max_depth;
        // Any of these events may add, replace or remove items and parts.
        self.last_part = None;
        self.text_path = None;
        if is_lifecycle(kind) {
            if let Some((s, shape)) = d.response {
                let text = s.bytes(data);
                match &self.base_text {
                    None if self.base.is_none() && shape.no_items => {
                        self.base_text = Some(d.texts.response.into());
                        self.base_shape = shape.relative_to(s.start);
                        self.base_members.clone_from(&d.members);
                    }
                    Some(first) if first.as_bytes() == text => {}
                    _ => {
                        self.build_base();
                        self.lifecycle(scan::tree(data, s, max_depth));
                    }
                }
            }
            return Ok(true);
        }
        if matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            if let Some((s, shape)) = d.response {
                self.close(kind, data, (s, d.texts.response), shape, events);
            }
            return Ok(true);
        }
        match kind {
            "response.output_item.added" | "response.output_item.done" => {
                let Some(s) = d.item.filter(|s| !s.is_null(data)) else {
                    return Ok(true);
                };
                let index = index_of(d.output_index, "output_index")?;
                // A finished item is usually replaced by the closing snapshot and never
                // touched again: kept as its text unless a call has to be registered from it.
                if kind == "response.output_item.done"
                    && (self.calls.contains_key(&index)
                        || !matches!(
                            scan::peek_type(s.bytes(data), max_depth).as_deref(),
                            Some("function_call" | "custom_tool_call")
                        ))
                {
                    self.items.insert(index, Value::Raw(d.texts.item.into()));
                    self.kept_as_text.insert(index);
                    if self.options.events {
                        self.call_done(index, events);
                    }
                    return Ok(true);
                }
                let item = d
                    .item_tree
                    .take()
                    .unwrap_or_else(|| scan::tree(data, s, max_depth));
                if let (Some(json), Value::Object(m)) = (is_client_call(&item), &item) {
                    if !self.calls.contains_key(&index) {
                        let position = self.calls.len();
                        self.calls.insert(
                            index,
                            Call {
                                position,
                                id: shared_str(m, "call_id"),
                                name: shared_str(m, "name"),
                                arguments: String::new(),
                                trail: TextTrail::default(),
                                partial: (self.options.partial_arguments && json)
                                    .then(|| PartialJson::new(max_depth)),
                                done: false,
                            },
                        );
                    }
                }
                self.items.insert(index, item);
                if kind == "response.output_item.done" && self.options.events {
                    self.call_done(index, events);
                }
                return Ok(true);
            }
            "response.content_part.added" | "response.content_part.done" => {
                self.materialize(d);
                self.set_part(d, data, "content", d.content_index, "content_index")?;
                return Ok(true);
            }
            "response.reasoning_summary_part.added" | "response.reasoning_summary_part.done" => {
                self.materialize(d);
                self.set_part(d, data, "summary", d.summary_index, "summary_index")?;
                return Ok(true);
            }
            "response.output_text.annotation.added" => {
                self.materialize(d);
                let annotation = d
                    .annotation
                    .map_or(Value::Null, |s| scan::tree(data, s, max_depth));
                let part = self.part(d, "content", d.content_index, "content_index")?;
                match part.get_mut("annotations") {
                    Some(Value::Array(list)) => list.push(annotation),
                    _ => {
                        part.insert("annotations".into(), Value::Array(vec![annotation]));
                    }
                }
                return Ok(true);
            }
            _ => {}
        }
        self.materialize(d);
        if let Some(step) = kind.strip_prefix("response.shell_call_command.") {
            return self.shell_command(step, d, data);
        }
        if is_progress(kind) {
            return Ok(true);
        }
        if d.output_index.present() {
            if let Some(f) = family(kind, ".delta") {
                self.delta(f, d, data, events)?;
                return Ok(true);
            }
            if let Some(f) = family(kind, ".done") {
                self.done(f, d, data, events)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The kept first lifecycle response, built as the base.
    fn build_base(&mut self) {
        if let Some(text) = self.base_text.take() {
            let v = scan::tree_of_text(&text, self.limits.max_depth);
            self.lifecycle(v);
        }
    }

    fn lifecycle(&mut self, response: Value) {
        let Value::Object(m) = response else { return };
        match &mut self.base {
            None => {
                let mut base = Map::with_capacity(m.len());
                for (k, v) in m {
                    if k == "output" {
                        if let Value::Array(items) = v {
                            for (i, item) in (0u64..).zip(items) {
                                if matches!(item, Value::Object(_)) {
                                    self.items.entry(i).or_insert(item);
                                }
                            }
                        }
                    } else {
                        base.insert(k, v);
                    }
                }
                self.base = Some(base);
            }
            Some(base) => {
                for (k, v) in m {
                    if k != "output" {
                        base.insert(k, v);
                    }
                }
            }
        }
    }

    fn close(
        &mut self,
        kind: &str,
        data: &[u8],
        (s, text): (Slice, &str),
        shape: scan::ResponseShape,
        events: &mut Vec<Event>,
    ) {
        let max_depth = self.limits.max_depth;
        let closed = if shape.has_output {
            Value::Raw(text.into())
        } else {
            // Some servers close without the output: as the SDK does, the folded items stand.
            let mut v = scan::tree(data, s, max_depth);
            if let Value::Object(m) = &mut v {
                m.insert("output".into(), Value::Array(self.output()));
            }
            v
        };
        self.closed = Some(closed);
        self.just_closed = true;
        self.status = Some(if kind == "response.failed" {
            Closed::Failed
        } else {
            Closed::Complete
        });
        if self.options.events {
            self.finish_events(events);
            if let Some(u) = shape.usage.filter(|u| u.is_object(data)) {
                if let Value::Object(usage) = scan::tree(data, u, max_depth) {
                    events.push(Event::Usage(self.usage_log.record(usage.clone(), &usage)));
                }
            }
        }
    }

    /// Builds the addressed item, and its parts, as trees where they were kept as text (see
    /// `output_item.done`); the value does not change.
    fn materialize(&mut self, d: &Decoded<'_>) {
        let max_depth = self.limits.max_depth;
        let Some(index) = d.output_index.index() else {
            return;
        };
        if !self.kept_as_text.remove(&index) {
            return;
        }
        self.text_path = None;
        let Some(item) = self.items.get_mut(&index) else {
            return;
        };
        if let Value::Raw(text) = item {
            *item = scan::tree_of_text(text, max_depth);
        }
        if let Value::Object(m) = item {
            for key in ["content", "summary"] {
                if let Some(Value::Array(parts)) = m.get_mut(key) {
                    for part in parts {
                        if let Value::Raw(text) = part {
                            *part = scan::tree_of_text(text, max_depth);
                        }
                    }
                }
            }
        }
    }

    fn item_mut(&mut self, d: &Decoded<'_>) -> Result<&mut Map, ErrorKind> {
        let index = index_of(d.output_index, "output_index")?;
        match self.items.get_mut(&index) {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(schema("output_index", EXISTING_ITEM, d.output_index.pos(0))),
        }
    }

    /// The part list `key` of the addressed item, and the addressed position in it (which
    /// may be one past the end).
    fn parts(
        &mut self,
        d: &Decoded<'_>,
        key: &str,
        index: Int,
        field: &'static str,
    ) -> Result<(&mut Vec<Value>, usize), ErrorKind> {
        let at = index_of(index, field)?;
        let item = self.item_mut(d)?;
        let len = match item.get(key) {
            Some(Value::Array(list)) => list.len(),
            _ => 0,
        };
        let position = usize::try_from(at)
            .ok()
            .filter(|&p| p <= len)
            .ok_or_else(|| schema(field, EXISTING_PART, index.pos(0)))?;
        if !matches!(item.get(key), Some(Value::Array(_))) {
            item.insert(key.to_string(), Value::Array(Vec::new()));
        }
        match item.get_mut(key) {
            Some(Value::Array(list)) => Ok((list, position)),
            _ => Err(schema(field, EXISTING_PART, index.pos(0))),
        }
    }

    fn part(
        &mut self,
        d: &Decoded<'_>,
        key: &'static str,
        index: Int,
        field: &'static str,
    ) -> Result<&mut Map, ErrorKind> {
        let at = d.output_index.index().zip(index.index());
        let seen = at.is_some_and(|(oi, p)| self.last_part == Some((oi, key, p)));
        if !seen {
            // Checked first (and without changes): an error leaves everything as it was.
            self.check_part(d, key, index, field)?;
            self.last_part = at.map(|(oi, p)| (oi, key, p));
        }
        self.existing_part(d, key, index)
            .ok_or_else(|| schema(field, EXISTING_PART, index.pos(0)))
    }

    fn existing_part(&mut self, d: &Decoded<'_>, key: &str, index: Int) -> Option<&mut Map> {
        let item = self.items.get_mut(&d.output_index.index()?)?;
        let Value::Object(item) = item else {
            return None;
        };
        let Some(Value::Array(list)) = item.get_mut(key) else {
            return None;
        };
        match list.get_mut(usize::try_from(index.index()?).ok()?)? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    fn check_part(
        &self,
        d: &Decoded<'_>,
        key: &str,
        index: Int,
        field: &'static str,
    ) -> Result<(), ErrorKind> {
        let at = index_of(index, field)?;
        let oi = index_of(d.output_index, "output_index")?;
        let Some(Value::Object(item)) = self.items.get(&oi) else {
            return Err(schema("output_index", EXISTING_ITEM, d.output_index.pos(0)));
        };
        let exists = match item.get(key) {
            Some(Value::Array(list)) => usize::try_from(at)
                .ok()
                .and_then(|p| list.get(p))
                .is_some_and(|v| matches!(v, Value::Object(_))),
            _ => false,
        };
        if exists {
            Ok(())
        } else {
            Err(schema(field, EXISTING_PART, index.pos(0)))
        }
    }

    fn set_part(
        &mut self,
        d: &Decoded<'_>,
        data: &[u8],
        key: &str,
        index: Int,
        field: &'static str,
    ) -> Result<(), ErrorKind> {
        let max_depth = self.limits.max_depth;
        // A finished part is kept as its text (see `materialize`), a new one as a tree that
        // deltas append to.
        let done = d.kind.as_deref().is_some_and(|k| ends(k, ".done"));
        let part = match d.part {
            Some(_) if done => {
                if let Some(i) = d.output_index.index() {
                    self.kept_as_text.insert(i);
                }
                Value::Raw(d.texts.part.into())
            }
            Some(s) => d
                .part_tree
                .take()
                .unwrap_or_else(|| scan::tree(data, s, max_depth)),
            None => Value::Null,
        };
        let (list, position) = self.parts(d, key, index, field)?;
        if let Some(slot) = list.get_mut(position) {
            *slot = part;
        } else {
            list.push(part);
        }
        Ok(())
    }

    /// The object a delta family's text goes into, and the field.
    fn target<'f>(
        &mut self,
        family: &'f str,
        d: &Decoded<'_>,
    ) -> Result<(&mut Map, &'f str), ErrorKind> {
        match place_of(family) {
            Place::Item(field) => {
                if d.summary_index.present() {
                    Ok((
                        self.part(d, "summary", d.summary_index, "summary_index")?,
                        field,
                    ))
                } else if d.content_index.present() {
                    Ok((
                        self.part(d, "content", d.content_index, "content_index")?,
                        field,
                    ))
                } else {
                    Ok((self.item_mut(d)?, field))
                }
            }
            Place::Part(key, field) => {
                let (index, name) = if key == "content" {
                    (d.content_index, "content_index")
                } else {
                    (d.summary_index, "summary_index")
                };
                if !index.present() {
                    return Err(schema(name, INDEX, 0));
                }
                Ok((self.part(d, key, index, name)?, field))
            }
            Place::Inner(key, field) => {
                let item = self.item_mut(d)?;
                if !matches!(item.get(key), Some(Value::Object(_))) {
                    item.insert(key.to_string(), Value::Object(Map::new()));
                }
                match item.get_mut(key) {
                    Some(Value::Object(m)) => Ok((m, field)),
                    _ => Err(schema("output_index", EXISTING_ITEM, 0)),
                }
            }
        }
    }

    fn delta(
        &mut self,
        family: &str,
        d: &Decoded<'_>,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind> {
        let Some(Ok(piece)) = &d.delta else {
            return Err(schema("delta", "a string", 0));
        };
        let max_depth = self.limits.max_depth;
        let logprobs = d.logprobs.filter(|s| s.first(data) == b'[');
        if logprobs.is_some() || !self.append_by_path(family, Indexes::of(d), piece) {
            let (target, field) = self.target(family, d)?;
            match target.get_mut(field) {
                Some(Value::String(s)) => s.push_str(piece),
                _ => {
                    target.insert(field.to_string(), Value::string(piece.as_ref()));
                }
            }
            self.text_path = self.locate(family, d);
        }
        if family == "output_text" {
            if let Some(s) = logprobs {
                let (target, _) = self.target(family, d)?;
                if let Value::Array(new) = scan::tree(data, s, max_depth) {
                    if !new.is_empty() {
                        match target.get_mut("logprobs") {
                            Some(Value::Array(list)) => list.extend(new),
                            _ => {
                                target.insert("logprobs".into(), Value::Array(new));
                            }
                        }
                    }
                }
            }
        }
        if !self.options.events || piece.is_empty() {
            return Ok(());
        }
        let (of, text) = match family {
            "output_text" => (TextOf::Content, &mut self.content),
            "refusal" => (TextOf::Refusal, &mut self.refusal),
            "reasoning_text" | "reasoning_summary_text" => {
                let name: &'static str = if family == "reasoning_text" {
                    "reasoning_text"
                } else {
                    "reasoning_summary_text"
                };
                let pos = if let Some(p) = self.reasoning.iter().position(|(f, _)| *f == name) {
                    p
                } else {
                    self.reasoning.push((name, TextEvents::default()));
                    self.reasoning.len() - 1
                };
                let Some((_, t)) = self.reasoning.get_mut(pos) else {
                    return Ok(());
                };
                (TextOf::Reasoning(name), t)
            }
            "function_call_arguments" | "custom_tool_call_input" => {
                let oi = d.output_index.index().unwrap_or(0);
                if let Some(call) = self.calls.get_mut(&oi) {
                    if !call.done {
                        call.arguments.push_str(piece);
                        call.trail.push(piece.as_ref().into());
                        if let Some(p) = call.partial.as_mut() {
                            p.feed(piece.as_bytes());
                        }
                        events.push(Event::ArgumentsDelta {
                            call: call.event_call(),
                            trail: call.trail.clone(),
                            parsed: call.partial.as_ref().map(PartialJson::snapshot),
                        });
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        text.push(piece);
        events.push(Event::TextDelta {
            of,
            choice_index: 0,
            trail: text.trail.clone(),
        });
        Ok(())
    }

    /// Appends a delta's text where `text_path` says the last one went, when that is where
    /// this one goes and the text is there; false (nothing changed) otherwise.
    fn append_by_path(&mut self, family: &str, d: Indexes, piece: &str) -> bool {
        let Some(path) = &self.text_path else {
            return false;
        };
        if !path.addresses(family, d) {
            return false;
        }
        match text_at(&mut self.items, path) {
            Some(s) => {
                s.push_str(piece);
                true
            }
            None => false,
        }
    }

    /// The positions of the text a delta of `family` addressed by `d` goes into, once it
    /// is there.
    fn locate(&self, family: &str, d: &Decoded<'_>) -> Option<TextPath> {
        let (list, field) = text_address(family, d)?;
        let output_index = d.output_index.index()?;
        let Some(Value::Object(item)) = self.items.get(&output_index) else {
            return None;
        };
        let (target, part) = match list {
            None => (item, None),
            Some((key, index)) => {
                let list_at = item.index_of(key)?;
                let Some(Value::Array(parts)) = item.get(key) else {
                    return None;
                };
                match parts.get(usize::try_from(index).ok()?)? {
                    Value::Object(m) => (m, Some((list_at, index))),
                    _ => return None,
                }
            }
        };
        let field_at = target.index_of(field)?;
        Some(TextPath {
            family: family.into(),
            // `text_address` names the list by the index that addresses it.
            list: list.map(|(key, _)| {
                let which = if key == "content" {
                    PartIndex::Content
                } else {
                    PartIndex::Summary
                };
                (key, which)
            }),
            by_presence: matches!(place_of(family), Place::Item(_)),
            field: field.into(),
            output_index,
            part,
            field_at,
            checked_for: None,
        })
    }

    fn done(
        &mut self,
        family: &str,
        d: &Decoded<'_>,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind> {
        let max_depth = self.limits.max_depth;
        let (target, field) = self.target(family, d)?;
        if let Some(s) = d.other(field) {
            target.insert(field.to_string(), scan::tree(data, s, max_depth));
        }
        if self.options.events
            && matches!(family, "function_call_arguments" | "custom_tool_call_input")
        {
            self.call_done(d.output_index.index().unwrap_or(0), events);
        }
        Ok(())
    }

    fn shell_command(
        &mut self,
        step: &str,
        d: &Decoded<'_>,
        data: &[u8],
    ) -> Result<bool, ErrorKind> {
        if !matches!(step, "added" | "delta" | "done") {
            return Ok(false);
        }
        let max_depth = self.limits.max_depth;
        let index = index_of(d.command_index, "command_index")?;
        let piece = match (&d.delta, step) {
            (Some(Ok(p)), "delta") => Some(p.clone()),
            (_, "delta") => return Err(schema("delta", "a string", 0)),
            _ => None,
        };
        let command = d.other("command").map(|s| scan::tree(data, s, max_depth));
        let item = self.item_mut(d)?;
        let len = match item.get("action") {
            Some(Value::Object(a)) => match a.get("commands") {
                Some(Value::Array(c)) => c.len(),
                _ => 0,
            },
            _ => 0,
        };
        let position = usize::try_from(index)
            .ok()
            .filter(|&p| p <= len)
            .ok_or_else(|| schema("command_index", EXISTING_PART, d.command_index.pos(0)))?;
        if !matches!(item.get("action"), Some(Value::Object(_))) {
            item.insert("action".into(), Value::Object(Map::new()));
        }
        let Some(Value::Object(action)) = item.get_mut("action") else {
            return Ok(true);
        };
        if !matches!(action.get("commands"), Some(Value::Array(_))) {
            action.insert("commands".into(), Value::Array(Vec::new()));
        }
        let Some(Value::Array(commands)) = action.get_mut("commands") else {
            return Ok(true);
        };
        if position == commands.len() {
            commands.push(Value::string(""));
        }
        let Some(slot) = commands.get_mut(position) else {
            return Ok(true);
        };
        if let Some(p) = piece {
            match slot {
                Value::String(s) => s.push_str(&p),
                _ => *slot = Value::string(p.as_ref()),
            }
        } else if let Some(c) = command {
            *slot = c;
        }
        Ok(true)
    }

    fn call_done(&mut self, index: u64, events: &mut Vec<Event>) {
        if let Some(call) = self.calls.get_mut(&index) {
            if !call.done {
                call.done = true;
                events.push(call_done_event(call));
            }
        }
    }

    /// The `*.done` events not fired yet: text, refusal, reasoning, then calls.
    pub fn finish_events(&mut self, events: &mut Vec<Event>) {
        let texts = [
            (TextOf::Content, &mut self.content),
            (TextOf::Refusal, &mut self.refusal),
        ];
        let reasoning = self
            .reasoning
            .iter_mut()
            .map(|(field, t)| (TextOf::Reasoning(field), t));
        for (of, t) in texts.into_iter().chain(reasoning) {
            if let (false, Some(text)) = (t.done, &t.text) {
                events.push(Event::TextDone {
                    of,
                    choice_index: 0,
                    text: text.clone(),
                });
                t.done = true;
            }
        }
        let mut open: Vec<&mut Call> = self.calls.values_mut().filter(|c| !c.done).collect();
        open.sort_by_key(|c| c.position);
        for call in open {
            call.done = true;
            events.push(call_done_event(call));
        }
    }
}

fn call_done_event(call: &Call) -> Event {
    Event::ArgumentsDone {
        call: call.event_call(),
        text: call.arguments.clone(),
        parsed: call.partial.as_ref().map(PartialJson::snapshot),
    }
}

impl Call {
    fn event_call(&self) -> event::Call {
        event::Call::tool(0, self.position, self.id.clone(), self.name.clone())
    }
}

/// The shape checks of the reference (`schema_violation`), in the same order.
fn check(kind: &str, d: &Decoded<'_>, data: &[u8]) -> Result<(), ErrorKind> {
    let idx = |v: Int, field: &'static str| index_of(v, field).map(|_| ());
    if is_lifecycle(kind)
        || matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        )
    {
        return match d.response {
            Some((s, _)) if s.is_object(data) => Ok(()),
            other => Err(schema(
                "response",
                "an object",
                other.map_or(0, |(s, _)| s.start),
            )),
        };
    }
    if kind == "error" || is_progress(kind) {
        return Ok(());
    }
    if matches!(
        kind,
        "response.output_item.added" | "response.output_item.done"
    ) {
        return match d.item {
            None => Ok(()),
            Some(s) if s.is_null(data) => Ok(()),
            Some(s) if s.is_object(data) => idx(d.output_index, "output_index"),
            Some(s) => Err(schema("item", "an object or null", s.start)),
        };
    }
    let content_part = kind.starts_with("response.content_part.");
    if content_part || kind.starts_with("response.reasoning_summary_part.") {
        if ends(kind, ".added") || ends(kind, ".done") {
            match d.part {
                Some(s) if s.is_object(data) => {}
                other => return Err(schema("part", "an object", other.map_or(0, |s| s.start))),
            }
            idx(d.output_index, "output_index")?;
            return if content_part {
                idx(d.content_index, "content_index")
            } else {
                idx(d.summary_index, "summary_index")
            };
        }
        return Ok(());
    }
    if kind == "response.output_text.annotation.added" {
        idx(d.output_index, "output_index")?;
        return idx(d.content_index, "content_index");
    }
    if kind.starts_with("response.shell_call_command.") {
        idx(d.output_index, "output_index")?;
        idx(d.command_index, "command_index")?;
        if ends(kind, ".delta") {
            if let Some(Ok(_)) = d.delta {
            } else {
                return Err(schema("delta", "a string", delta_pos(d)));
            }
        }
        return Ok(());
    }
    let is_delta = family(kind, ".delta").is_some();
    if (is_delta || family(kind, ".done").is_some()) && d.output_index.present() {
        idx(d.output_index, "output_index")?;
        if d.content_index.present() {
            idx(d.content_index, "content_index")?;
        }
        if d.summary_index.present() {
            idx(d.summary_index, "summary_index")?;
        }
        if is_delta {
            if !matches!(d.delta, Some(Ok(_))) {
                return Err(schema("delta", "a string", delta_pos(d)));
            }
            if kind == "response.output_text.delta" {
                if let Some(s) = d.logprobs {
                    if !s.is_null(data) && s.first(data) != b'[' {
                        return Err(schema("logprobs", "an array or null", s.start));
                    }
                }
            }
        }
    }
    Ok(())
}

fn delta_pos(d: &Decoded<'_>) -> usize {
    match &d.delta {
        Some(Err(p)) => *p,
        _ => 0,
    }
}

impl Fold for Responses {
    fn new(config: &Config) -> Self {
        Responses::new(config)
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Responses)
    }

    fn ends_stream(&self, _data: &[u8]) -> bool {
        // The closing events are JSON payloads, found when folded (`Folded::End`).
        false
    }

    fn end_marker(&self) -> &'static str {
        "response.completed"
    }

    fn missing_end(&self) -> &'static str {
        "response.completed, response.incomplete or response.failed"
    }

    // Inline, as `take_notes`: called by the driver for every payload, and nothing but a
    // forward (or a check) of its own.
    #[inline]
    fn fold(
        &mut self,
        _event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.fold_payload(data, events)
    }

    fn fold_repaired(
        &mut self,
        _event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.fold_payload(data, events)
    }

    fn next_stream(&mut self) {
        *self = Responses::with(self.options, self.limits);
    }

    fn folded(&self) -> u64 {
        self.folded
    }

    fn complete(&self) -> bool {
        // Only a closing event ends a Responses stream.
        false
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        Responses::finish_events(self, events);
    }

    fn result(&self) -> Value {
        Responses::result(self)
    }

    fn version(&self) -> (u64, u64) {
        Responses::version(self)
    }

    fn summary(&self) -> Summary {
        Responses::summary(self)
    }

    #[inline]
    fn take_notes(&mut self, notes: &mut Vec<Note>) {
        // Nearly every payload notes nothing: no call to move nothing.
        if !self.notes.is_empty() {
            notes.append(&mut self.notes);
        }
    }
}

impl Responses {
    /// This format's part of the summary, from the result (docs/formats.md, "The summary"): the
    /// answer text, the reasoning (reasoning text, then summaries, per item) and the client
    /// calls of the output, the usage of the response, and as `stop_reason` the
    /// `incomplete_details.reason` or else the closing status (`completed` is `stop`).
    pub fn summary(&self) -> Summary {
        let max_depth = self.limits.max_depth;
        let tree = |v: &Value| -> Value {
            match v {
                Value::Raw(t) => scan::tree_of_text(t, max_depth),
                other => other.clone(),
            }
        };
        let result = tree(&self.result());
        let Value::Object(response) = &result else {
            return Summary::default();
        };
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        if let Some(Value::Array(items)) = response.get("output") {
            for item in items {
                let item = tree(item);
                let Value::Object(item) = &item else { continue };
                let parts = |key: &str| -> Vec<Value> {
                    match item.get(key) {
                        Some(Value::Array(list)) => list.iter().map(tree).collect(),
                        _ => Vec::new(),
                    }
                };
                match item.get("type").and_then(Value::as_str) {
                    Some("message") => {
                        for part in parts("content") {
                            if let Value::Object(p) = &part {
                                if p.get("type").and_then(Value::as_str) == Some("output_text") {
                                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                                        text.push_str(t);
                                    }
                                }
                            }
                        }
                    }
                    Some("reasoning") => {
                        for key in ["content", "summary"] {
                            for part in parts(key) {
                                if let Some(t) =
                                    summary::field(Some(&part), "text").and_then(Value::as_str)
                                {
                                    reasoning.push_str(t);
                                }
                            }
                        }
                    }
                    Some(kind @ ("function_call" | "custom_tool_call")) => {
                        let key = if kind == "function_call" {
                            "arguments"
                        } else {
                            "input"
                        };
                        calls.push(ToolCall {
                            id: summary::text(item.get("call_id")),
                            name: summary::text(item.get("name")),
                            arguments: item
                                .get(key)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        });
                    }
                    _ => {}
                }
            }
        }
        let stop_reason = if self.status.is_some() {
            match summary::field(response.get("incomplete_details"), "reason") {
                Some(reason) if !reason.is_null() => reason.clone(),
                _ => response.get("status").cloned().unwrap_or(Value::Null),
            }
        } else {
            Value::Null
        };
        let usage = response.get("usage");
        let count = |key: &str| summary::count(summary::field(usage, key));
        let detail = |outer: &str, key: &str| {
            summary::count(summary::field(summary::field(usage, outer), key))
        };
        let input_tokens = count("input_tokens");
        let output_tokens = count("output_tokens");
        let failed = self.status == Some(Closed::Failed);
        let mut s = Summary {
            format: Some(Format::Responses),
            id: summary::text(response.get("id")),
            model: summary::text(response.get("model")),
            finish_reason: summary::finish_reason(stop_reason.as_str(), !calls.is_empty()),
            stop_reason,
            usage: Usage {
                input_tokens,
                output_tokens,
                total_tokens: count("total_tokens").or(summary::sum(input_tokens, output_tokens)),
                cached_input_tokens: detail("input_tokens_details", "cached_tokens"),
                cache_write_tokens: detail("input_tokens_details", "cache_write_tokens"),
                reasoning_tokens: detail("output_tokens_details", "reasoning_tokens"),
            },
            text,
            reasoning,
            tool_calls: calls,
            ..Summary::default()
        };
        if failed {
            s.status = Status::Failed;
            s.finish_reason = Some("error");
            s.error = response.get("error").filter(|e| !e.is_null()).cloned();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the in-place reads of a template's values accept, the reader reads the same
    /// way: same value, same end.
    #[test]
    fn in_place_reads_agree_with_the_reader() {
        let cases: [&[u8]; 22] = [
            b"0,",
            b"7}",
            b"42,",
            b"123456789012345678,",
            b"1234567890123456789,",
            b"01,",
            b"-1,",
            b"1.5,",
            b"1e3,",
            b"1E3,",
            b" 5,",
            b"5",
            br#""abc","#,
            br#""","#,
            br#""a\"b","#,
            br#""caf\u00e9","#,
            "\"caf\u{e9}\",".as_bytes(),
            b"\"a\tb\",",
            br#""unterminated"#,
            br#" "x","#,
            br#""~ !#","#,
            b"\"\x7f\",",
        ];
        let mut fast_integers = 0;
        let mut fast_strings = 0;
        for case in cases {
            if let Some((value, len)) = scan::plain_integer(case, 0) {
                fast_integers += 1;
                let mut r = Reader::new(case, 8);
                let text = r.take_number().ok().flatten();
                assert_eq!(
                    text.and_then(|t| t.parse::<i128>().ok()),
                    Some(value),
                    "{case:?}"
                );
                assert_eq!(r.pos(), len, "{case:?}");
            }
            if let Some(end) = plain_string_end(case, 0) {
                fast_strings += 1;
                let mut r = Reader::new(case, 8);
                let text = r.take_string().ok().flatten();
                let expected = case
                    .get(1..end - 1)
                    .and_then(|t| std::str::from_utf8(t).ok());
                assert_eq!(text.as_deref(), expected, "{case:?}");
                assert_eq!(r.pos(), end, "{case:?}");
            }
        }
        // The cases that must go in place, so the loop checks something.
        assert_eq!((fast_integers, fast_strings), (5, 3));
    }

    /// The word-at-a-time test agrees with the byte test for every byte at every position of
    /// a word, and the in-place string read stops where the byte-by-byte scan stops.
    #[test]
    fn plain_words_agree_with_plain_bytes() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                assert_eq!(
                    plain_word(u64::from_le_bytes(word)),
                    plain_byte(b),
                    "{b:#x} at {at}"
                );
            }
        }
        for len in 0..24 {
            for stop in [b'"', b'\\', 0x1F, 0x7F, 0x80, 0xC3] {
                let mut s = vec![b'"'];
                s.extend(std::iter::repeat_n(b'x', len));
                s.push(stop);
                s.extend_from_slice(b"x\"");
                let by_bytes = s[1..].iter().take_while(|&&b| plain_byte(b)).count();
                let expected = (s.get(1 + by_bytes) == Some(&b'"')).then_some(by_bytes + 2);
                assert_eq!(plain_string_end(&s, 0), expected, "{s:?}");
                assert_eq!(expected.is_some(), stop == b'"', "{s:?}");
            }
        }
    }

    /// The lowest stop bit of a word is its first byte that is not plain, whatever follows
    /// it (borrows from a stop byte may mark bytes after it): every byte value at every
    /// place, after a plain byte or a stop byte, before bytes that borrow, stop or not.
    #[test]
    fn the_lowest_stop_bit_is_the_first_stop_byte() {
        let first_stop = |word: [u8; 8]| word.iter().position(|&b| !plain_byte(b));
        for b in 0..=255u8 {
            for at in 0..8 {
                for before in [b'a', 0x00, 0x1F, b'"', 0x80] {
                    for after in [b'a', 0x00, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7F, 0xFF] {
                        let mut word = [after; 8];
                        if at > 0 {
                            word[..at].fill(b'a');
                            word[at - 1] = before;
                        }
                        word[at] = b;
                        let stops = stop_bits(u64::from_le_bytes(word));
                        let found = (stops != 0).then(|| stops.trailing_zeros() as usize / 8);
                        assert_eq!(found, first_stop(word), "{word:?}");
                    }
                }
            }
        }
    }

    /// A delta's unescaped text, read in place with its UTF-8 check, is what the reader
    /// reads there (same text, same end); what it leaves to the reader is a string the
    /// reader reads otherwise or rejects: escapes, control bytes, invalid or cut UTF-8,
    /// strings that end near the end of the payload.
    #[test]
    fn unescaped_strings_read_as_the_reader_reads() {
        let cases: [&[u8]; 14] = [
            "\"caf\u{e9} cr\u{e8}me\",\"logprobs\":[]}".as_bytes(),
            "\"\u{6a21}\u{578b}\",\"obfuscation\":\"x\"}".as_bytes(),
            "\"\u{1f600}\u{1f642}!\",\"x\":1}".as_bytes(),
            b"\"plain ascii text\",\"x\":1}",
            b"\"\",\"logprobs\":[]}",
            b"\"bad \xff byte\",\"x\":1}",
            b"\"cut \xc3\",\"x\":1}",
            b"\"\xe6\xa8\",\"x\":1}",
            b"\"a\\\"b\",\"x\":1}",
            b"\"\xc3\xa9\\n\",\"x\":1}",
            b"\"tab\there\",\"x\":1}",
            b"\"\xc3\xa9\x7f\",\"x\":1}",
            "\"caf\u{e9}\"}".as_bytes(),
            b"\"unterminated \xc3\xa9 and more",
        ];
        let mut in_place = 0;
        for case in cases {
            let mut r = Reader::new(case, 8);
            let read = r
                .take_string()
                .map(|t| t.map(|t| (t.into_owned(), r.pos())));
            if let Some((text, end)) = unescaped_string(case, 0) {
                in_place += 1;
                assert_eq!(read, Ok(Some((text.to_string(), end))), "{case:?}");
            } else {
                let escaped = matches!(&read, Ok(Some((t, _))) if t.len() + 2 < case.len()
                    && case.contains(&b'\\'));
                let near_end = case.len() < 12;
                assert!(read.is_err() || escaped || near_end, "{case:?}: {read:?}");
            }
        }
        // The first five and the DEL case go in place.
        assert_eq!(in_place, 6);
    }

    /// An ASCII string with one-letter escapes, decoded in place, is what the reader reads
    /// there (same text, same end); everything else is left to the reader: `\u` escapes,
    /// unknown escapes, non-ASCII and control bytes, a missing closing quote.
    #[test]
    fn ascii_escaped_strings_read_as_the_reader_reads() {
        let cases: [&[u8]; 14] = [
            br#""a\tb","x":1}"#,
            br#""\"quoted\"","x":1}"#,
            br#""\\\/\b\f\n\r\t"}"#,
            br#""plain","x":1}"#,
            br#""","x":1}"#,
            b"\"del \x7f\\n\"}",
            br#""tail \n""#,
            br#""\u0041","x":1}"#,
            br#""\x","x":1}"#,
            b"\"caf\xc3\xa9\\n\",\"x\":1}",
            b"\"tab\there\",\"x\":1}",
            br#""cut \"#,
            br#""unterminated \n and more"#,
            br#"x"not a string""#,
        ];
        let mut in_place = 0;
        for case in cases {
            let mut r = Reader::new(case, 8);
            let read = r
                .take_string()
                .map(|t| t.map(|t| (t.into_owned(), r.pos())));
            let mut out = String::from("kept");
            if let Some(end) = ascii_escaped_into(case, 0, &mut out) {
                in_place += 1;
                let text = out.strip_prefix("kept").map(str::to_string);
                assert_eq!(read, Ok(text.map(|t| (t, end))), "{case:?}");
            } else {
                let other = match &read {
                    Ok(Some((t, _))) => t.contains(|c: char| !c.is_ascii()) || case.contains(&b'u'),
                    _ => true,
                };
                assert!(other, "{case:?}: {read:?}");
            }
        }
        // The first seven go in place.
        assert_eq!(in_place, 7);
    }

    /// A template of the common shape reads every payload as the generic read does (same
    /// sequence number, text, decoded text and refusals): text and call payloads of texts
    /// and skipped strings of 0-40 bytes (ASCII, escaped, not ASCII), and each of them with
    /// every byte replaced by a byte that stops, ends or changes a value, dropped, or doubled.
    #[test]
    fn common_template_reads_agree_with_the_generic_read() {
        let deltas = [
            "",
            "a",
            "Hello",
            "fifteen bytes!!",
            "sixteen bytes!!!",
            "seventeen bytes!!",
            "forty bytes of text, forty bytes of text",
            "caf\u{e9} cr\u{e8}me",
            r#"a\nb\"c"#,
            r"\u00e9t\u00e9",
        ];
        let skipped = [
            "",
            "x",
            "fifteen_bytes!!",
            "sixteen_bytes!!!",
            "seventeen_bytes!!",
            "a_skipped_string_of_thirty_three",
        ];
        let replacements = [
            b'"', b'\\', 0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF, b'x', b'}', b'0', b' ',
        ];
        let mut compared = 0;
        for (n, delta) in deltas.iter().enumerate() {
            for (obf, call) in skipped.iter().flat_map(|o| [(o, false), (o, true)]) {
                // Both shapes servers send: a call's delta has no logprobs and no content
                // index, so other runs follow its text.
                let payload = if call {
                    format!(
                        r#"{{"type":"response.function_call_arguments.delta","sequence_number":{n},"item_id":"fc_1","output_index":1,"delta":"{delta}","obfuscation":"{obf}"}}"#
                    )
                } else {
                    format!(
                        r#"{{"type":"response.output_text.delta","sequence_number":{n},"item_id":"msg_1","output_index":0,"content_index":0,"delta":"{delta}","logprobs":[],"obfuscation":"{obf}"}}"#
                    )
                };
                let data = payload.as_bytes();
                let (d, _) = scan::decode(data, 64, None, &BTreeMap::new(), b"").unwrap();
                let kind = d.kind.as_deref().unwrap();
                let common = Template::learn(data, &d, kind, 1).unwrap();
                assert!(common.common);
                let mut generic = Template::learn(data, &d, kind, 1).unwrap();
                generic.common = false;
                let mut variants = vec![data.to_vec()];
                for at in 0..data.len() {
                    for b in replacements {
                        let mut v = data.to_vec();
                        v[at] = b;
                        variants.push(v);
                    }
                    let mut dropped = data.to_vec();
                    dropped.remove(at);
                    variants.push(dropped);
                    let mut doubled = data.to_vec();
                    doubled.insert(at, data[at]);
                    variants.push(doubled);
                }
                for v in &variants {
                    let (mut a, mut b) = (String::from("a"), String::from("b"));
                    let by_common = common.read(v, 64, &mut a);
                    let by_generic = generic.read(v, 64, &mut b);
                    assert_eq!(by_common, by_generic, "{:?}", String::from_utf8_lossy(v));
                    if let Some((_, None)) = by_common {
                        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(v));
                    }
                    compared += 1;
                }
            }
        }
        assert!(compared > 100_000);
    }

    /// The word-at-a-time digits read what `scan::plain_integer` reads (same value, same
    /// length) wherever they answer, and answer for every plain number of one to seven
    /// digits: numbers of 1-9 digits, with leading zeros, before every byte value.
    #[test]
    fn short_digits_read_as_plain_integer_reads() {
        let mut numbers: Vec<String> = (0..2000).map(|n| n.to_string()).collect();
        for digits in 1..=9u32 {
            numbers.push("9".repeat(digits as usize));
            numbers.push(format!("1{}", "0".repeat(digits as usize - 1)));
            numbers.push(format!("0{}", "7".repeat(digits as usize - 1)));
            numbers.push(format!("{}", 1_234_567_891u64 % 10u64.pow(digits)));
        }
        let mut answered = 0;
        for number in &numbers {
            for follow in 0..=255u8 {
                let mut data = number.as_bytes().to_vec();
                data.push(follow);
                data.extend_from_slice(b",\"item_id\":\"m\"}");
                let fast = short_digits(&data, 0);
                let plain = scan::plain_integer(&data, 0);
                if let Some((value, len)) = fast {
                    answered += 1;
                    assert_eq!(Some((i128::from(value), len)), plain, "{data:?}");
                } else {
                    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
                    assert!(plain.is_none() || digits >= 8, "{data:?}");
                }
            }
        }
        assert!(answered > 400_000, "{answered}");
        assert_eq!(short_digits(b"12345", 0), None, "fewer than eight bytes");
    }

    fn fold_all(input: &str, options: Options) -> (Responses, Vec<Event>, Vec<Seen>) {
        let mut f = Responses::with(options, Limits::default());
        let mut events = Vec::new();
        let mut notes = Vec::new();
        for line in input.lines().filter(|l| l.starts_with("data: ")) {
            let data = line.trim_start_matches("data: ").as_bytes();
            if let Ok(n) = f.fold_seen(data, &mut events) {
                notes.extend(n);
            }
        }
        (f, events, notes)
    }

    const SMALL: &str = r#"
data: {"type":"response.created","sequence_number":0,"response":{"id":"r1","object":"response","status":"in_progress","model":"m","output":[],"usage":null}}
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"a","type":"message","role":"assistant","content":[]}}
data: {"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":0,"item_id":"b","part":{"type":"output_text","text":"","annotations":[]}}
data: {"type":"response.output_text.delta","sequence_number":3,"output_index":0,"content_index":0,"item_id":"c","delta":"Hel","obfuscation":"xyz"}
data: {"type":"response.output_text.delta","sequence_number":5,"output_index":0,"content_index":0,"delta":"lo"}
data: {"type":"response.output_item.added","sequence_number":6,"output_index":1,"item":{"type":"function_call","call_id":"k","name":"f","arguments":""}}
data: {"type":"response.function_call_arguments.delta","sequence_number":7,"output_index":1,"delta":"{\"a\":"}
data: {"type":"response.mystery","sequence_number":8}
"#;

    #[test]
    fn deltas_fold_by_output_index_and_the_state_is_incomplete_until_closed() {
        let (f, _, notes) = fold_all(SMALL, Options::default());
        let expected = crate::json::reader::parse(
            br#"{"id":"r1","object":"response","status":"incomplete","model":"m","output":[
              {"id":"a","type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]},
              {"type":"function_call","call_id":"k","name":"f","arguments":"{\"a\":"}],"usage":null}"#,
            64,
        )
        .unwrap_or_default();
        assert_eq!(f.result(), expected);
        assert_eq!(
            notes,
            vec![
                Seen::Sequence {
                    number: 5,
                    after: 3
                },
                Seen::Unknown("response.mystery".into())
            ]
        );
        assert_eq!(f.closed(), None);
    }

    /// The notes the driver takes after each payload are that payload's own: a payload that
    /// fails notes nothing (its sequence gap is dropped with it, and the number it carried is
    /// not the last one), on the full path and the template path alike.
    #[test]
    fn each_payload_hands_the_driver_its_own_notes_and_a_failed_one_none() {
        let mut f = Responses::with(Options::default(), Limits::default());
        let mut events = Vec::new();
        let lines = [
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"r1","status":"in_progress","output":[]}}"#,
            r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","content":[]}}"#,
            r#"{"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":3,"output_index":0,"content_index":0,"delta":"a","obfuscation":"xy"}"#,
            // A gap, then an error (no part 5): neither the note nor the number stays.
            r#"{"type":"response.output_text.delta","sequence_number":9,"output_index":0,"content_index":5,"delta":"b","obfuscation":"xy"}"#,
            // The template's shape: in order after 3, so no note.
            r#"{"type":"response.output_text.delta","sequence_number":4,"output_index":0,"content_index":0,"delta":"c","obfuscation":"zz"}"#,
            // The template's shape, with a gap: its note.
            r#"{"type":"response.output_text.delta","sequence_number":6,"output_index":0,"content_index":0,"delta":"d","obfuscation":"zz"}"#,
            r#"{"type":"response.mystery","sequence_number":7}"#,
            // The template's shape, in order: no note.
            r#"{"type":"response.output_text.delta","sequence_number":8,"output_index":0,"content_index":0,"delta":"e","obfuscation":"zz"}"#,
        ];
        let mut taken = Vec::new();
        for line in lines {
            let ok = f.fold_payload(line.as_bytes(), &mut events).is_ok();
            let mut notes = Vec::new();
            f.take_notes(&mut notes);
            let messages: Vec<String> = notes.into_iter().map(|n| n.message).collect();
            taken.push((ok, messages));
        }
        let none = || Vec::<String>::new();
        assert_eq!(
            taken,
            vec![
                (true, none()),
                (true, none()),
                (true, none()),
                (true, none()),
                (false, none()),
                (true, none()),
                (true, vec!["sequence_number 6 after 4".to_string()]),
                (
                    true,
                    vec!["unknown event type 'response.mystery' skipped".to_string()]
                ),
                (true, none()),
            ]
        );
        assert!(!f.templates.is_empty(), "the deltas went by the template");
        let expected = crate::json::reader::parse(
            br#"{"id":"r1","status":"incomplete","output":[
              {"type":"message","content":[{"type":"output_text","text":"acde"}]}]}"#,
            64,
        )
        .unwrap_or_default();
        assert_eq!(f.result(), expected);
    }

    #[test]
    fn the_closing_response_is_the_result_and_events_follow_the_deltas() {
        let closing = r#"data: {"type":"response.completed","sequence_number":9,"response":{"id":"r1","status":"completed","output":[{"type":"x"}],"usage":{"input_tokens":3}}}"#;
        let input = format!("{SMALL}{closing}\n");
        let options = Options {
            events: true,
            partial_arguments: true,
        };
        let (f, events, _) = fold_all(&input, options);
        assert_eq!(f.closed(), Some(Closed::Complete));
        let expected = crate::json::reader::parse(
            br#"{"id":"r1","status":"completed","output":[{"type":"x"}],"usage":{"input_tokens":3}}"#,
            64,
        )
        .unwrap_or_default();
        let Value::Raw(text) = f.result() else {
            panic!("the closing response is kept as its text")
        };
        assert_eq!(
            crate::json::reader::parse(text.as_bytes(), 64).unwrap_or_default(),
            expected
        );
        let kinds: Vec<&str> = events.iter().map(|e| e.kind().name()).collect();
        assert_eq!(
            kinds,
            [
                "content.delta",
                "content.delta",
                "tool_calls.function.arguments.delta",
                "content.done",
                "tool_calls.function.arguments.done",
                "usage"
            ]
        );
        let done_text = match events.get(3) {
            Some(Event::TextDone { text, .. }) => Some(text.as_str()),
            _ => None,
        };
        assert_eq!(done_text, Some("Hello"));
    }

    #[test]
    fn bad_shapes_are_schema_errors_and_change_nothing() {
        let (mut f, _, _) = fold_all(SMALL, Options::default());
        let before = f.result();
        for bad in [
            "[1]",
            r#"{"type":5}"#,
            r#"{"type":"response.output_text.delta","output_index":9,"content_index":0,"delta":"x"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":3,"delta":"x"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":5}"#,
            r#"{"type":"response.output_text.delta","output_index":-1,"content_index":0,"delta":"x"}"#,
            r#"{"type":"response.created","response":[]}"#,
            r#"{"type":"response.shell_call_command.added","output_index":0,"command_index":4}"#,
        ] {
            let r = f.fold_seen(bad.as_bytes(), &mut Vec::new());
            assert!(
                matches!(r, Err(ErrorKind::Decode(DecodeKind::Schema { .. }))),
                "{bad}: {r:?}"
            );
        }
        assert_eq!(f.result(), before);
        let r = f.fold_seen(
            br#"{"type":"error","error":{"message":"m"}}"#,
            &mut Vec::new(),
        );
        assert!(matches!(r, Err(ErrorKind::Api { .. })));
    }

    /// Runs of deltas switch parts, and an event in between replaces the item: each delta
    /// lands in the part it addresses, in the item as it stands.
    #[test]
    fn delta_texts_land_where_each_delta_addresses_when_runs_interleave() {
        // Runs alternate between a part's text, an item's own field and a part whose text
        // key is missing or not a string at first, so a remembered place must be left for
        // another and found again; every delta repeats a shape, so most go by template.
        let text = |seq: u32, oi: u32, part: u32, t: &str| {
            format!(
                r#"data: {{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"m","output_index":{oi},"content_index":{part},"delta":"{t}","obfuscation":"abc"}}"#
            )
        };
        let args = |seq: u32, t: &str| {
            format!(
                r#"data: {{"type":"response.function_call_arguments.delta","sequence_number":{seq},"item_id":"c","output_index":1,"delta":"{t}"}}"#
            )
        };
        let input = |seq: u32, index: &str| {
            format!(
                r#"data: {{"type":"response.custom_tool_call_input.delta","sequence_number":{seq},"output_index":2{index},"delta":"{seq}"}}"#
            )
        };
        let lines = [
            r#"data: {"type":"response.output_item.added","sequence_number":0,"output_index":0,"item":{"type":"message","content":[{"type":"output_text"},{"type":"output_text","text":null}]}}"#.to_string(),
            r#"data: {"type":"response.output_item.added","sequence_number":1,"output_index":1,"item":{"type":"function_call","call_id":"k","name":"f","arguments":"<"}}"#.to_string(),
            text(2, 0, 0, "a"),
            text(3, 0, 0, "b"),
            args(4, "x"),
            text(5, 0, 1, "c"),
            text(6, 0, 1, "d"),
            args(7, "y"),
            args(8, "z"),
            text(9, 0, 0, "e"),
            text(10, 0, 1, "f"),
            text(11, 0, 0, "g"),
            // A generic family goes to the item, or to a part when the delta has an index.
            r#"data: {"type":"response.output_item.added","sequence_number":12,"output_index":2,"item":{"type":"custom_tool_call","input":"","content":[{"type":"x","input":""}]}}"#.to_string(),
            input(13, ""),
            input(14, r#","content_index":0"#),
            input(15, ""),
            input(16, r#","content_index":0"#),
        ];
        let (f, _, notes) = fold_all(&lines.join("\n"), Options::default());
        assert_eq!(notes, []);
        let output = f.output();
        let field = |v: Option<&Value>, key: &str| -> Option<String> {
            match v {
                Some(Value::Object(m)) => m.get(key).and_then(Value::as_str).map(String::from),
                _ => None,
            }
        };
        let parts = match output.first() {
            Some(Value::Object(item)) => match item.get("content") {
                Some(Value::Array(parts)) => parts.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        assert_eq!(field(parts.first(), "text").as_deref(), Some("abeg"));
        assert_eq!(field(parts.get(1), "text").as_deref(), Some("cdf"));
        assert_eq!(field(output.get(1), "arguments").as_deref(), Some("<xyz"));
        assert_eq!(field(output.get(2), "input").as_deref(), Some("1315"));
        let custom_parts = match output.get(2) {
            Some(Value::Object(item)) => match item.get("content") {
                Some(Value::Array(parts)) => parts.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        assert_eq!(
            field(custom_parts.first(), "input").as_deref(),
            Some("1416")
        );
    }

    /// One stream folded twice: once as servers send it (every delta of a run has the shape of
    /// the one before, so the runs go by template), once with an `item_id` that changes per
    /// event (so every delta is decoded in full). Both folds agree event by event: results,
    /// notes (sequence gaps), errors (a part that does not exist), events.
    #[test]
    fn template_deltas_fold_as_full_decodes_do() {
        let stream = |unique: bool| -> Vec<String> {
            // Of one length, so that error positions agree.
            let id = |seq: u32| {
                if unique {
                    format!("m{seq:03}")
                } else {
                    "m000".into()
                }
            };
            let text = |seq: u32, part: u32, t: &str| {
                format!(
                    r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{}","output_index":0,"content_index":{part},"delta":"{t}","logprobs":[],"obfuscation":"ab"}}"#,
                    id(seq)
                )
            };
            let summary = |seq: u32, t: &str| {
                format!(
                    r#"{{"type":"response.reasoning_summary_text.delta","sequence_number":{seq},"item_id":"{}","output_index":1,"summary_index":0,"delta":"{t}"}}"#,
                    id(seq)
                )
            };
            let args = |seq: u32, t: &str| {
                format!(
                    r#"{{"type":"response.function_call_arguments.delta","sequence_number":{seq},"item_id":"{}","output_index":2,"delta":"{t}"}}"#,
                    id(seq)
                )
            };
            vec![
                r#"{"type":"response.output_item.added","sequence_number":0,"output_index":0,"item":{"type":"message","content":[]}}"#.into(),
                r#"{"type":"response.content_part.added","sequence_number":1,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#.into(),
                r#"{"type":"response.output_item.added","sequence_number":2,"output_index":1,"item":{"type":"reasoning","summary":[{"type":"summary_text","text":"<"}]}}"#.into(),
                r#"{"type":"response.output_item.added","sequence_number":3,"output_index":2,"item":{"type":"function_call","call_id":"c","name":"f","arguments":""}}"#.into(),
                text(4, 0, "a"),
                text(5, 0, "b"),
                text(7, 0, r#"c\"d\n"#),
                text(8, 0, "caf\u{e9}"),
                // No part 1: an error, and nothing changes.
                text(9, 1, "x"),
                text(10, 0, "e"),
                summary(11, "s"),
                summary(12, r"\u00e9t"),
                args(13, r#"{\"k\""#),
                args(15, ":1}"),
                text(16, 0, "f"),
                summary(17, "!"),
                r#"{"type":"response.output_item.done","sequence_number":18,"output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"Z"}]}}"#.into(),
                text(19, 0, "g"),
                text(20, 0, "h"),
                // Escaped ASCII (decoded in place), escaped non-ASCII (by the reader), and
                // a raw control byte (an error either way).
                text(21, 0, r"\ti\\"),
                text(22, 0, "j\u{e9}\\n"),
                text(23, 0, "k\tl"),
                text(24, 0, r"\/"),
            ]
        };
        for events_on in [false, true] {
            let options = Options {
                events: events_on,
                partial_arguments: true,
            };
            let mut folds = [stream(false), stream(true)].map(|lines| {
                let mut f = Responses::with(options, Limits::default());
                let mut events = Vec::new();
                let outcomes: Vec<String> = lines
                    .iter()
                    .map(|line| format!("{:?}", f.fold_seen(line.as_bytes(), &mut events)))
                    .collect();
                (f, events, outcomes)
            });
            let [(by_template, events, outcomes), (decoded, full_events, full_outcomes)] =
                &mut folds;
            assert_eq!(outcomes, full_outcomes);
            assert_eq!(format!("{events:?}"), format!("{full_events:?}"));
            assert_eq!(by_template.result(), decoded.result());
            assert!(!by_template.templates.is_empty());
            let gaps = outcomes.iter().filter(|o| o.contains("Sequence")).count();
            let errors = outcomes.iter().filter(|o| o.starts_with("Err")).count();
            assert_eq!((gaps, errors), (4, 2), "{outcomes:?}");
            let text = |f: &Responses, oi: usize, list: &str, key: &str| -> Option<String> {
                let output = f.output();
                let Some(Value::Object(item)) = output.get(oi) else {
                    return None;
                };
                let target = match item.get(list) {
                    Some(Value::Array(parts)) => match parts.first() {
                        Some(Value::Object(p)) => p.clone(),
                        _ => return None,
                    },
                    _ => item.clone(),
                };
                target.get(key).and_then(Value::as_str).map(String::from)
            };
            assert_eq!(
                text(by_template, 0, "content", "text").as_deref(),
                Some("Zgh\ti\\j\u{e9}\n/")
            );
            assert_eq!(
                text(by_template, 1, "summary", "text").as_deref(),
                Some("<s\u{e9}t!")
            );
            assert_eq!(
                text(by_template, 2, "", "arguments").as_deref(),
                Some(r#"{"k":1}"#)
            );
        }
    }

    /// A `*.done` that repeats the text its run built is compared, not decoded: it gives
    /// what the full decode gives. Each case is folded after a run of deltas twice: right
    /// after the run (where the comparison applies) and after a progress event without a
    /// sequence number, which changes nothing but makes the `.done` go the full way.
    #[test]
    fn a_done_repeating_the_built_text_folds_as_a_full_decode_does() {
        let run = [
            r#"{"type":"response.output_item.added","sequence_number":0,"output_index":0,"item":{"type":"message","content":[]}}"#,
            r#"{"type":"response.content_part.added","sequence_number":1,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#,
            r#"{"type":"response.output_item.added","sequence_number":2,"output_index":1,"item":{"type":"function_call","call_id":"c","name":"f","arguments":""}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":3,"output_index":0,"content_index":0,"delta":"a"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":4,"output_index":0,"content_index":0,"delta":"\"b\n"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":5,"output_index":0,"content_index":0,"delta":"caf\u00e9"}"#,
        ];
        let args = r#"{"type":"response.function_call_arguments.delta","sequence_number":6,"output_index":1,"delta":"{\"k\":1}"}"#;
        let done = |rest: &str| {
            format!(
                r#"{{"type":"response.output_text.done","sequence_number":6,"output_index":0,{rest}}}"#
            )
        };
        let built = "a\"b\ncafé";
        let fast = [
            done(r#""content_index":0,"text":"a\"b\ncafé","logprobs":[]"#),
            done(r#""text":"a\u0022b\u000acaf\u00e9","content_index":0"#),
            done(r#""content_index":0,"item_id":"x","text":"a\"b\ncafé","sequence_number":9"#)
                .replace(r#""sequence_number":6,"#, ""),
        ];
        let full = [
            done(r#""content_index":0,"text":"a\"b\ncafè""#),
            done(r#""content_index":0,"text":"a\"b\n""#),
            done(r#""content_index":0,"text":"a\"b\ncafé!""#),
            done(r#""content_index":0,"text":5"#),
            done(r#""content_index":0,"text":"a\"b\ncafé","text":"a\"b\ncafé""#),
            done(r#""content_index":1,"text":"a\"b\ncafé""#),
            done(r#""content_index":-1,"text":"a\"b\ncafé""#),
            done(r#""text":"a\"b\ncafé""#),
            done(r#""content_index":0,"summary_index":"s","text":"a\"b\ncafé""#),
            done(r#""content_index":0,"text":"a\"b\ncafé""#)
                .replace(r#""output_index":0"#, r#""output_index":1"#),
            done(r#""content_index":0,"text":"a\"b\ncafé""#)
                .replace(r#""sequence_number":6"#, r#""sequence_number":"6""#),
            done(r#""content_index":0,"text":"a\"b\ncafé""#).replace(".done", ".delta"),
            done(r#""content_index":0,"text":"a\"b\ncafé""#)
                .replace("output_text.done", "refusal.done"),
            done(r#""content_index":0,"text":"a\"b\ncafé""#)
                .replace(r#""type":"response.output_text.done","#, ""),
            // Cut short right inside the text, and right after the payload's last value.
            done(r#""content_index":0,"text":"a\"b\ncafé""#)[..90].to_string(),
            done(r#""content_index":0,"text":"a\"b\ncafé""#)
                .trim_end_matches('}')
                .to_string(),
            done(r#""content_index":0,"text":"a\"b\ncafé"} "#),
            done(r#""content_index":0,"text":"a\"b\ncafé"}}"#),
        ];
        // After the arguments' run, its own `.done` (a call: events fire) and a text `.done`,
        // which is not the run's and goes the full way.
        let args_done = r#"{"type":"response.function_call_arguments.done","sequence_number":7,"output_index":1,"arguments":"{\"k\":1}"}"#;
        let neutral = r#"{"type":"response.web_search_call.searching","output_index":0}"#;
        let fold = |lines: &[&str], last: &str, detour: bool, events_on: bool| {
            let options = Options {
                events: events_on,
                partial_arguments: true,
            };
            let mut f = Responses::with(options, Limits::default());
            let mut events = Vec::new();
            for line in lines {
                assert!(f.fold_seen(line.as_bytes(), &mut events).is_ok(), "{line}");
            }
            if detour {
                assert_eq!(
                    f.fold_seen(neutral.as_bytes(), &mut events).ok(),
                    Some(vec![])
                );
            }
            let compared = !detour && f.done_as_built(last.as_bytes(), &mut Vec::new());
            let mut again = Responses::with(options, Limits::default());
            let mut events = Vec::new();
            for line in lines {
                assert!(
                    again.fold_seen(line.as_bytes(), &mut events).is_ok(),
                    "{line}"
                );
            }
            if detour {
                assert!(again.fold_seen(neutral.as_bytes(), &mut events).is_ok());
            }
            let outcome = format!("{:?}", again.fold_seen(last.as_bytes(), &mut events));
            let folded = again.folded() - u64::from(detour);
            (
                again.result(),
                outcome,
                format!("{events:?}"),
                folded,
                compared,
            )
        };
        let with_args: Vec<&str> = run.iter().copied().chain([args]).collect();
        let cases = fast
            .iter()
            .map(|c| (&run[..], c.as_str(), true))
            .chain(full.iter().map(|c| (&run[..], c.as_str(), false)))
            .chain([
                (&with_args[..], args_done, true),
                (&with_args[..], fast[0].as_str(), false),
            ]);
        for (lines, last, expect_compared) in cases {
            for events_on in [false, true] {
                let (result, outcome, events, folded, compared) =
                    fold(lines, last, false, events_on);
                let (result_full, outcome_full, events_full, folded_full, _) =
                    fold(lines, last, true, events_on);
                assert_eq!(outcome, outcome_full, "{last}");
                assert_eq!(result, result_full, "{last}");
                assert_eq!(events, events_full, "{last}");
                assert_eq!(folded, folded_full, "{last}");
                assert_eq!(compared, expect_compared, "{last}");
            }
        }
        // The compared `.done` left the built text; one with another text replaced it.
        let text = |last: &str| {
            let (result, ..) = fold(&run, last, false, false);
            let Value::Object(m) = result else {
                return None;
            };
            let Some(Value::Array(items)) = m.get("output") else {
                return None;
            };
            let Some(Value::Object(item)) = items.first() else {
                return None;
            };
            let Some(Value::Array(parts)) = item.get("content") else {
                return None;
            };
            let Some(Value::Object(part)) = parts.first() else {
                return None;
            };
            part.get("text").and_then(Value::as_str).map(String::from)
        };
        assert_eq!(text(&fast[0]).as_deref(), Some(built));
        assert_eq!(text(&full[0]).as_deref(), Some("a\"b\ncafè"));
        assert_eq!(text(&full[1]).as_deref(), Some("a\"b\n"));
    }

    /// A finished part repeating the `*.done` text compared before it folds as reading it
    /// in full does: each case is folded with the kept text and with it forgotten (the
    /// full read), and gives the same outcome (errors and positions included), result and
    /// events; so does the finished item after it.
    #[test]
    fn a_finished_part_repeating_the_done_text_folds_as_a_full_decode_does() {
        let run = [
            r#"{"type":"response.output_item.added","sequence_number":0,"output_index":0,"item":{"type":"message","content":[]}}"#,
            r#"{"type":"response.content_part.added","sequence_number":1,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":2,"output_index":0,"content_index":0,"delta":"a\"b\n"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":3,"output_index":0,"content_index":0,"delta":"caf\u00e9"}"#,
            r#"{"type":"response.output_text.done","sequence_number":4,"output_index":0,"content_index":0,"text":"a\"b\ncaf\u00e9"}"#,
        ];
        let text = r#""a\"b\ncaf\u00e9""#;
        let part_done = |part: &str| {
            format!(
                r#"{{"type":"response.content_part.done","sequence_number":5,"output_index":0,"content_index":0,"part":{part}}}"#
            )
        };
        let item_done = format!(
            r#"{{"type":"response.output_item.done","sequence_number":6,"output_index":0,"item":{{"type":"message","content":[{{"type":"output_text","text":{text}}}]}}}}"#
        );
        let cases = [
            part_done(&format!(r#"{{"type":"output_text","text":{text}}}"#)),
            part_done(&format!(
                r#"{{"type":"output_text","text":{text},"refusal":{text}}}"#
            )),
            part_done(r#"{"type":"output_text","text":"a\"b\ncafé"}"#),
            part_done(r#"{"type":"output_text","text":"other"}"#),
            part_done(&format!(r#"{{"type":"output_text","text":{text}x}}"#)),
            part_done(&format!(r#"{{"type":"output_text","text":{text},}}"#)),
            part_done(&format!(r#"{{"type":"output_text","text":{text}"#)),
            part_done(&format!(
                r#"{{"type":"output_text","text":{}\q"}}"#,
                &text[..text.len() - 1]
            )),
            part_done(&format!(r#"{{"type":"output_text","text":{text}}}"#))
                .replace(r#""content_index":0"#, r#""content_index":3"#),
            part_done(&format!(r#"{{"type":"output_text","text":{text}}}"#))
                .replace("content_part.done", "reasoning_summary_part.done"),
        ];
        let fold = |last: &str, forget: bool, events_on: bool| {
            let options = Options {
                events: events_on,
                partial_arguments: true,
            };
            let mut f = Responses::with(options, Limits::default());
            let mut events = Vec::new();
            for line in run {
                assert!(f.fold_seen(line.as_bytes(), &mut events).is_ok(), "{line}");
            }
            // The `.done` was compared with the run's text, and its string kept as written.
            assert_eq!(f.done_text, text.as_bytes());
            if forget {
                f.done_text.clear();
            }
            let outcome = format!("{:?}", f.fold_seen(last.as_bytes(), &mut events));
            let after = format!("{:?}", f.fold_seen(item_done.as_bytes(), &mut events));
            (
                f.result(),
                outcome,
                after,
                format!("{events:?}"),
                f.folded(),
            )
        };
        for last in &cases {
            for events_on in [false, true] {
                let kept = fold(last, false, events_on);
                let full = fold(last, true, events_on);
                assert_eq!(kept, full, "{last}");
            }
        }
        // The compared part stands in the result, its text decoded.
        let (result, outcome, ..) = fold(&cases[0], false, false);
        assert!(outcome.starts_with("Ok"), "{outcome}");
        let tree = |v: Option<Value>| match v {
            Some(Value::Raw(t)) => scan::tree_of_text(&t, 8),
            other => other.unwrap_or(Value::Null),
        };
        let item = match &result {
            Value::Object(m) => match m.get("output") {
                Some(Value::Array(items)) => tree(items.first().cloned()),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        let part = match &item {
            Value::Object(item) => match item.get("content") {
                Some(Value::Array(parts)) => tree(parts.first().cloned()),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        let text = match &part {
            Value::Object(p) => p.get("text").and_then(Value::as_str),
            _ => None,
        };
        assert_eq!(text, Some("a\"b\ncafé"), "{result:?}");
    }

    #[test]
    fn delta_runs_follow_their_part_across_changes() {
        let delta = |seq: u32, part: u32, text: &str| {
            format!(
                r#"data: {{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"m","output_index":0,"content_index":{part},"delta":"{text}","obfuscation":"abc"}}"#
            )
        };
        let part_added = |seq: u32, part: u32| {
            format!(
                r#"data: {{"type":"response.content_part.added","sequence_number":{seq},"output_index":0,"content_index":{part},"part":{{"type":"output_text","text":""}}}}"#
            )
        };
        let lines = [
            r#"data: {"type":"response.output_item.added","sequence_number":0,"output_index":0,"item":{"type":"message","content":[]}}"#.to_string(),
            part_added(1, 0),
            delta(2, 0, "a"),
            delta(3, 0, "b"),
            part_added(4, 1),
            delta(5, 1, "c"),
            delta(6, 1, "d"),
            delta(7, 0, "e"),
            delta(8, 0, "f"),
        ];
        let (mut f, _, notes) = fold_all(&lines.join("\n"), Options::default());
        assert_eq!(notes, []);
        let texts = |f: &Responses| -> Vec<String> {
            match f.output().first() {
                Some(Value::Object(item)) => match item.get("content") {
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| match p {
                            Value::Object(m) => {
                                m.get("text").and_then(Value::as_str).map(String::from)
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            }
        };
        assert_eq!(texts(&f), ["abef", "cd"]);
        // Replaced by an item with one part: part 1 is gone, part 0 is the new one.
        let replaced = br#"{"type":"response.output_item.done","sequence_number":9,"output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"Z"}]}}"#;
        assert!(f.fold_seen(replaced, &mut Vec::new()).is_ok());
        let fold = |f: &mut Responses, line: String| {
            f.fold_seen(
                line.trim_start_matches("data: ").as_bytes(),
                &mut Vec::new(),
            )
        };
        assert!(fold(&mut f, delta(10, 0, "g")).is_ok());
        let r = fold(&mut f, delta(11, 1, "h"));
        assert!(
            matches!(
                r,
                Err(ErrorKind::Decode(DecodeKind::Schema {
                    field: "content_index",
                    ..
                }))
            ),
            "{r:?}"
        );
        assert!(fold(&mut f, delta(12, 0, "i")).is_ok());
        assert_eq!(texts(&f), ["Zgi"]);
    }

    /// A run's template deltas go to a buffer, not the tree (`run_text`): after every
    /// event, the result, errors and notes are what folding each event in full gives, with
    /// the run cut by every kind of event (one that changes the tree, one that changes
    /// nothing, a `*.done`, an unknown type, an error) and continued after it, runs of two
    /// templates taking turns on one text, and escaped, non-ASCII and empty deltas.
    #[test]
    fn run_text_folds_as_full_decodes_do_after_every_event() {
        let stream = |unique: bool| -> Vec<String> {
            let id = |seq: u32| {
                if unique {
                    format!("m{seq:03}")
                } else {
                    "m000".into()
                }
            };
            let text = |seq: u32, oi: u32, part: u32, t: &str| {
                format!(
                    r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{}","output_index":{oi},"content_index":{part},"delta":"{t}","logprobs":[],"obfuscation":"abcdefghij"}}"#,
                    id(seq)
                )
            };
            // Another shape (no logprobs) for the same text: a second template.
            let bare = |seq: u32, t: &str| {
                format!(
                    r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{}","output_index":0,"content_index":0,"delta":"{t}"}}"#,
                    id(seq)
                )
            };
            let args = |seq: u32, t: &str| {
                format!(
                    r#"{{"type":"response.function_call_arguments.delta","sequence_number":{seq},"item_id":"{}","output_index":1,"delta":"{t}"}}"#,
                    id(seq)
                )
            };
            vec![
                r#"{"type":"response.created","sequence_number":0,"response":{"id":"r","status":"in_progress","output":[],"usage":null}}"#.into(),
                r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","content":[]}}"#.into(),
                r#"{"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#.into(),
                text(3, 0, 0, "a"),
                text(4, 0, 0, "b"),
                text(5, 0, 0, ""),
                text(6, 0, 0, r#"\"q\"\n"#),
                text(7, 0, 0, "caf\u{e9} \u{1f600}"),
                bare(8, "c"),
                text(9, 0, 0, "d"),
                bare(10, "e"),
                bare(11, "f"),
                // Changes nothing, without a sequence number: the run goes on after it.
                r#"{"type":"response.web_search_call.in_progress","output_index":0}"#.into(),
                text(12, 0, 0, "g"),
                // An unknown type, a gap, an error (no part 1), a missing item: the run goes on.
                r#"{"type":"response.mystery","sequence_number":13}"#.into(),
                text(15, 0, 0, "h"),
                text(16, 0, 1, "x"),
                text(17, 9, 0, "x"),
                text(18, 0, 0, "i"),
                r#"{"type":"response.output_item.added","sequence_number":19,"output_index":1,"item":{"type":"function_call","call_id":"c","name":"f","arguments":""}}"#.into(),
                args(20, r#"{\"k\""#),
                text(21, 0, 0, "j"),
                args(22, ":1}"),
                text(23, 0, 0, "k"),
                // A second part, then the first one replaced in the middle of a run.
                r#"{"type":"response.content_part.added","sequence_number":24,"output_index":0,"content_index":1,"part":{"type":"output_text","text":"<"}}"#.into(),
                text(25, 0, 1, "l"),
                text(26, 0, 1, "m"),
                r#"{"type":"response.content_part.done","sequence_number":27,"output_index":0,"content_index":0,"part":{"type":"output_text","text":"Z"}}"#.into(),
                text(28, 0, 0, "n"),
                text(29, 0, 1, "o"),
                r#"{"type":"response.output_text.done","sequence_number":30,"output_index":0,"content_index":1,"text":"<lmo"}"#.into(),
                text(31, 0, 1, "p"),
                r#"{"type":"response.output_text.annotation.added","sequence_number":32,"output_index":0,"content_index":1,"annotation":{"type":"x"}}"#.into(),
                text(33, 0, 1, "r"),
                r#"{"type":"response.output_item.done","sequence_number":34,"output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"Y"}]}}"#.into(),
                text(35, 0, 0, "s"),
                text(36, 0, 0, "t"),
            ]
        };
        let mut by_template = Responses::with(Options::default(), Limits::default());
        let mut decoded = Responses::with(Options::default(), Limits::default());
        let (fast, full) = (stream(false), stream(true));
        let mut buffered = 0;
        for (line, line_full) in fast.iter().zip(&full) {
            let outcome = by_template.fold_seen(line.as_bytes(), &mut Vec::new());
            let outcome_full = decoded.fold_seen(line_full.as_bytes(), &mut Vec::new());
            assert_eq!(
                format!("{outcome:?}"),
                format!("{outcome_full:?}"),
                "{line}"
            );
            assert_eq!(by_template.result(), decoded.result(), "{line}");
            assert_eq!(by_template.version(), decoded.version(), "{line}");
            buffered += usize::from(!by_template.run_text.is_empty());
        }
        // The buffer is what the run's deltas went to, in each stretch of the stream.
        assert!(buffered >= 8, "{buffered}");
        let texts = |f: &Responses| -> Vec<String> {
            let Some(Value::Object(item)) = f.output().first().cloned() else {
                return Vec::new();
            };
            let Some(Value::Array(parts)) = item.get("content").cloned() else {
                return Vec::new();
            };
            parts
                .iter()
                .filter_map(|p| match p {
                    Value::Object(m) => m.get("text").and_then(Value::as_str).map(String::from),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(texts(&by_template), ["Yst"]);
        // Flushed by the closing event: the closing response is the result.
        let closing = br#"{"type":"response.completed","sequence_number":37,"response":{"id":"r","status":"completed","usage":null}}"#;
        assert!(by_template.fold_seen(closing, &mut Vec::new()).is_ok());
        assert!(by_template.run_text.is_empty());
        let output = match by_template.result() {
            Value::Object(m) => m.get("output").cloned(),
            _ => None,
        };
        let item = match output {
            Some(Value::Array(items)) => items.first().cloned(),
            _ => None,
        };
        assert!(format!("{item:?}").contains("\"Yst\""), "{item:?}");
    }

    /// The events that open a message item's first text part, numbered 0 to 2: what the
    /// template tests below fold before their deltas.
    const TEXT_PART_HEAD: [&str; 3] = [
        r#"{"type":"response.created","sequence_number":0,"response":{"id":"r","status":"in_progress","output":[],"usage":null}}"#,
        r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","content":[]}}"#,
        r#"{"type":"response.content_part.added","sequence_number":2,"output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#,
    ];

    /// A run's text grows past its first room (`RUN_TEXT_ROOM`) by template deltas of every
    /// size, one longer than that room alone, and holds the text a full decode builds.
    #[test]
    fn a_run_longer_than_its_first_room_builds_the_full_decode_text() {
        let head = TEXT_PART_HEAD;
        let mut by_template = Responses::with(Options::default(), Limits::default());
        let mut decoded = Responses::with(Options::default(), Limits::default());
        for line in head {
            assert!(by_template
                .fold_seen(line.as_bytes(), &mut Vec::new())
                .is_ok());
            assert!(decoded.fold_seen(line.as_bytes(), &mut Vec::new()).is_ok());
        }
        let mut expected = String::new();
        let sizes = [1, 7, 300, 1000, RUN_TEXT_ROOM + 5, 2, 4000, 9000, 3];
        for (n, size) in sizes.iter().enumerate() {
            let seq = n + 3;
            let piece: String = (0..*size)
                .map(|i| char::from(b'a' + u8::try_from((i + n) % 26).unwrap_or(0)))
                .collect();
            expected.push_str(&piece);
            let line = |id: &str| {
                format!(
                    r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{id}","output_index":0,"content_index":0,"delta":"{piece}"}}"#
                )
            };
            assert!(by_template
                .fold_seen(line("m").as_bytes(), &mut Vec::new())
                .is_ok());
            let unique = line(&format!("m{seq}"));
            assert!(decoded
                .fold_seen(unique.as_bytes(), &mut Vec::new())
                .is_ok());
        }
        assert!(by_template.run_text.len() > RUN_TEXT_ROOM);
        assert_eq!(by_template.result(), decoded.result());
        assert!(format!("{:?}", by_template.result()).contains(&expected));
    }

    /// A payload that differs from a template only in a one-byte run (the closing brace)
    /// is not of that template: it gets the full decode's error.
    #[test]
    fn a_payload_differing_in_a_one_byte_run_is_not_of_the_template() {
        let head = TEXT_PART_HEAD;
        let line = |seq: u32, id: &str, end: &str| {
            format!(
                r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{id}","output_index":0,"content_index":0,"delta":"a"{end}"#
            )
        };
        let mut by_template = Responses::with(Options::default(), Limits::default());
        let mut decoded = Responses::with(Options::default(), Limits::default());
        for l in head {
            assert!(by_template.fold_seen(l.as_bytes(), &mut Vec::new()).is_ok());
            assert!(decoded.fold_seen(l.as_bytes(), &mut Vec::new()).is_ok());
        }
        for seq in 3..6 {
            let l = line(seq, "m9", "}");
            assert!(by_template.fold_seen(l.as_bytes(), &mut Vec::new()).is_ok());
            let unique = line(seq, &format!("m{seq}"), "}");
            assert!(decoded
                .fold_seen(unique.as_bytes(), &mut Vec::new())
                .is_ok());
        }
        assert!(!by_template.templates.is_empty());
        for end in ["]", " ", "x"] {
            let got = by_template.fold_seen(line(6, "m9", end).as_bytes(), &mut Vec::new());
            let want = decoded.fold_seen(line(6, "m6", end).as_bytes(), &mut Vec::new());
            assert!(got.is_err(), "{end}");
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{end}");
        }
        assert_eq!(by_template.result(), decoded.result());
    }
}
