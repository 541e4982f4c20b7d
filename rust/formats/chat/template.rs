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
//! A logprobs stream's chunk also carries its token's `logprobs.content` entries, after the
//! content string. Its template takes that array as a second varying part: the entries are
//! validated as the full decoder validates them, at the same depth and limit, and appended as
//! the same raw text.
//!
//! Only a byte-exact match is taken: anything else, including an invalid string, goes through
//! the full decoder, which reports errors with their positions.

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::formats::chat::assemble::Slot;
use crate::formats::chat::scan::{Chunk, Content, Field, Span};
#[cfg(target_arch = "x86_64")]
use crate::json::reader::string_stops16;
use crate::json::reader::{small_int_array_len, Reader};
use crate::json::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The bytes before the varying string's opening quote (the prefix), then the bytes after
    /// it (the middle: up to the obfuscation string when a suffix follows, else to the end),
    /// then the bytes after the obfuscation string (the suffix). One buffer and narrow offsets:
    /// every live parser keeps its templates, and three buffers cost two allocations more.
    bytes: Box<[u8]>,
    prefix_end: u32,
    middle_end: u32,
    /// Whether an obfuscation string and a suffix (maybe empty) follow the middle.
    has_suffix: bool,
    /// Re-applying the chunk sets nothing but its header and first-non-empty values: another
    /// chunk with the same header cannot have changed anything this one would set back.
    plain: bool,
    pub slot: Slot,
    /// Length of the header (through `"choices":`) at the start of the prefix; never 0, so
    /// the `None` fits in the niche (a template is 56 bytes, see the assembler's size test).
    header_len: Option<NonZeroU32>,
    /// For a tool-call fragment's template: where the fragment's `index` digits are in the
    /// prefix, and how many (0: the template takes its own index only). A payload with
    /// another index there is the same fragment of another call (see `target`).
    call_index_at: u32,
    call_index_len: u8,
    /// For a chunk that also appends `logprobs.content` entries of the varying string's
    /// choice: where that array is. Boxed: most streams have no logprobs.
    entries: Option<Box<EntriesAt>>,
}

/// The `logprobs.content` array of a template: it follows the varying string after `before`,
/// and `middle` follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntriesAt {
    before: Vec<u8>,
    /// Containers open around the array (the full decoder's depth there).
    depth: usize,
    max_depth: usize,
}

/// Where a payload that starts as a template's prefix has its varying string, and the
/// tool-call index it has where the template's is, if another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    quote: usize,
    call_index: Option<u32>,
}

/// What a payload matching a template adds besides its varying string: the logprobs entries,
/// when the template has them.
#[derive(Debug, PartialEq)]
pub struct Matched {
    pub entries: Option<Vec<Value>>,
}

/// What a payload matching a template adds: the varying string, and the logprobs entries
/// when the template has them.
#[cfg(test)]
#[derive(Debug, PartialEq)]
pub struct Reading<'a> {
    pub text: Cow<'a, str>,
    pub entries: Option<Vec<Value>>,
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
            // Logprobs entries append (the template appends them again), and `refusal`
            // entries are not in a template; other logprobs keys would keep a last value.
            let logprobs_plain = match &c.logprobs {
                Field::Set(lp) => lp.extras.is_empty(),
                _ => true,
            };
            !finish && logprobs_plain && c.extras.is_empty() && !tool_extras
        })
}

/// An array's span and the depth of the container holding it.
type ArrayAt = (Span, usize);

/// The varying string of a chunk and, when the chunk also appends logprobs entries of that
/// string's choice, their array and its depth; or why there is none. For a tool-call
/// fragment that sets nothing but its arguments (no id, type or name), also where its
/// `index` value starts: re-applied to another call, such a fragment appends to that call's
/// arguments and makes it the current call, and nothing else, exactly as its own chunk would.
fn target(chunk: &Chunk<'_>) -> Option<(Slot, Span, Option<ArrayAt>, Option<usize>)> {
    let mut found: Option<(Slot, Span)> = None;
    let mut index_at: Option<usize> = None;
    // The choice whose `logprobs.content` appends, with the array's place.
    let mut entries: Option<(u32, ArrayAt)> = None;
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
        let choice = u32::try_from(c.index).ok()?;
        // List values append and would not be idempotent on re-application.
        if c.extras.has_array_value() {
            return None;
        }
        if let Field::Set(lp) = &c.logprobs {
            let appends = |l: &Option<Vec<Value>>| l.as_ref().is_some_and(|v| !v.is_empty());
            if appends(&lp.refusal) {
                return None;
            }
            if appends(&lp.content) {
                if entries.is_some() {
                    return None;
                }
                entries = Some((choice, lp.content_at?));
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
            let index = u32::try_from(t.index?).ok()?;
            if let Some(a) = &t.arguments {
                offer(Slot::ToolArguments { choice, index }, t.arguments_span, a);
                let unset = |v: &Option<Cow<'_, str>>| v.as_deref().is_none_or(str::is_empty);
                if unset(&t.id) && unset(&t.kind) && unset(&t.name) {
                    index_at = Some(t.index_pos);
                }
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
    let (slot, span) = found?;
    let index_at = index_at.filter(|_| matches!(slot, Slot::ToolArguments { .. }));
    match entries {
        None => Some((slot, span, None, index_at)),
        // Entries go with the content text of their own choice, after it.
        Some((choice, at)) if slot == (Slot::Content { choice }) && (at.0).0 >= span.1 => {
            Some((slot, span, Some(at), index_at))
        }
        Some(_) => None,
    }
}

impl Template {
    /// The template of a fully decoded chunk, if it has exactly one varying string and
    /// everything else in it is idempotent.
    pub fn learn(
        payload: &[u8],
        chunk: &Chunk<'_>,
        header_len: Option<usize>,
        max_depth: usize,
    ) -> Option<Template> {
        let (slot, (start, string_end), array, index_at) = target(chunk)?;
        let prefix = payload.get(..start)?;
        let (entries, end) = match array {
            Some(((array_start, array_end), depth)) => (
                Some(Box::new(EntriesAt {
                    before: payload.get(string_end..array_start)?.to_vec(),
                    depth,
                    max_depth,
                })),
                array_end,
            ),
            None => (None, string_end),
        };
        let (middle, suffix) = match chunk.obfuscation_span {
            Some((os, oe)) if os >= end => (payload.get(end..os)?, Some(payload.get(oe..)?)),
            _ => (payload.get(end..)?, None),
        };
        // A payload too long for the offsets gets no template: it is decoded in full.
        let prefix_end = u32::try_from(prefix.len()).ok()?;
        // The index's digits, when they are in the prefix exactly as the index is written
        // canonically (so that another canonical index can stand in their place).
        let (call_index_at, call_index_len) = match (slot, index_at) {
            (Slot::ToolArguments { index, .. }, Some(at)) => {
                let digits = index.to_string();
                let end = at + digits.len();
                let canonical = prefix.get(at..end) == Some(digits.as_bytes())
                    && prefix.get(end).is_some_and(|b| !is_number_byte(*b));
                match (canonical, u32::try_from(at), u8::try_from(digits.len())) {
                    (true, Ok(at), Ok(len)) if at > 0 => (at, len),
                    _ => (0, 0),
                }
            }
            _ => (0, 0),
        };
        let middle_end = u32::try_from(prefix.len().checked_add(middle.len())?).ok()?;
        let mut bytes =
            Vec::with_capacity(prefix.len() + middle.len() + suffix.map_or(0, <[u8]>::len));
        bytes.extend_from_slice(prefix);
        bytes.extend_from_slice(middle);
        bytes.extend_from_slice(suffix.unwrap_or_default());
        Some(Template {
            bytes: bytes.into_boxed_slice(),
            prefix_end,
            middle_end,
            has_suffix: suffix.is_some(),
            plain: is_plain(chunk),
            slot,
            header_len: header_len
                .filter(|n| *n <= start)
                .and_then(|n| u32::try_from(n).ok())
                .and_then(NonZeroU32::new),
            call_index_at,
            call_index_len,
            entries,
        })
    }

    fn prefix(&self) -> &[u8] {
        self.bytes
            .get(..self.prefix_end as usize)
            .unwrap_or_default()
    }

    fn middle(&self) -> &[u8] {
        let range = self.prefix_end as usize..self.middle_end as usize;
        self.bytes.get(range).unwrap_or_default()
    }

    fn suffix(&self) -> Option<&[u8]> {
        let suffix = self
            .bytes
            .get(self.middle_end as usize..)
            .unwrap_or_default();
        self.has_suffix.then_some(suffix)
    }

    /// The header (through `"choices":`) of the chunk this template was learned from.
    pub fn header(&self) -> Option<&[u8]> {
        self.header_len
            .and_then(|n| self.prefix().get(..n.get() as usize))
    }

    /// Whether this template stays valid after a chunk with header `header` was applied in
    /// full: only a plain template, and only if that header is byte-identical to its own.
    pub fn survives(&self, header: Option<&[u8]>) -> bool {
        match (self.plain, self.header_len, header) {
            (true, Some(n), Some(h)) => self.prefix().get(..n.get() as usize) == Some(h),
            _ => false,
        }
    }

    /// Where the varying string is when `payload` starts with this template's prefix and then
    /// a string.
    #[inline]
    fn own_start(&self, payload: &[u8]) -> Option<Start> {
        let prefix = self.prefix();
        // Compared as slices rather than by `starts_with`, which a build may leave as a call.
        (payload.get(..prefix.len()) == Some(prefix) && payload.get(prefix.len()) == Some(&b'"'))
            .then_some(Start {
                quote: prefix.len(),
                call_index: None,
            })
    }

    /// Where the varying string is: [`Template::own_start`], or [`Template::other_call_start`].
    #[cfg(test)]
    pub fn start(&self, payload: &[u8]) -> Option<Start> {
        self.own_start(payload)
            .or_else(|| self.other_call_start(payload))
    }

    /// Whether this template also reads the same fragment of another call (see
    /// [`Template::other_call_start`]).
    #[inline]
    pub fn takes_other_calls(&self) -> bool {
        self.call_index_len > 0
    }

    /// For a tool-call fragment's template: where the varying string is when `payload` starts
    /// with this template's prefix but for another index (canonical, 32 bits) in place of its
    /// own. `None` for anything else.
    pub fn other_call_start(&self, payload: &[u8]) -> Option<Start> {
        if !self.takes_other_calls() {
            return None;
        }
        let prefix = self.prefix();
        let at = self.call_index_at as usize;
        let after = prefix.get(at + usize::from(self.call_index_len)..)?;
        if payload.get(..at) != prefix.get(..at) {
            return None;
        }
        let (index, n) = canonical_u32(payload.get(at..)?)?;
        let quote = at + n + after.len();
        if payload.get(at + n..quote) != Some(after) || payload.get(quote) != Some(&b'"') {
            return None;
        }
        Some(Start {
            quote,
            call_index: Some(index),
        })
    }

    /// After a payload that started with another call's index (see [`Template::start`]) was
    /// read: the template of that payload, the same but for the index, so that the call's next
    /// fragments match its prefix as it is. `None` when the payload had the template's own
    /// index.
    #[inline(never)]
    pub fn for_other_call(&self, payload: &[u8], start: Start) -> Option<Template> {
        let index = start.call_index?;
        let Slot::ToolArguments { choice, .. } = self.slot else {
            return None;
        };
        // `start` checked that the payload's prefix is this one but for the index's digits:
        // only those, and so the prefix's length, differ.
        let prefix = payload.get(..start.quote)?;
        let at = self.call_index_at as usize;
        let after_digits = self.prefix().len() - at - usize::from(self.call_index_len);
        let digits = prefix.len().checked_sub(at + after_digits)?;
        let rest = self.bytes.get(self.prefix_end as usize..)?;
        let prefix_end = u32::try_from(prefix.len()).ok()?;
        Some(Template {
            bytes: [prefix, rest].concat().into_boxed_slice(),
            prefix_end,
            middle_end: prefix_end.checked_add(self.middle_end - self.prefix_end)?,
            call_index_len: u8::try_from(digits).ok()?,
            slot: Slot::ToolArguments { choice, index },
            // Logprobs entries go with content templates only.
            entries: None,
            ..*self
        })
    }

    /// The slot a payload that starts at `start` appends to.
    #[inline]
    pub fn slot_at(&self, start: Start) -> Slot {
        match (self.slot, start.call_index) {
            (Slot::ToolArguments { choice, .. }, Some(index)) => {
                Slot::ToolArguments { choice, index }
            }
            (slot, _) => slot,
        }
    }

    /// Whether a matching payload also carries logprobs entries.
    pub fn has_entries(&self) -> bool {
        self.entries.is_some()
    }

    /// If `payload` has this template's shape around a valid string (and a valid array of
    /// entries): appends the string's text to `out` and returns the entries. `None`, with
    /// `out` as it was, for any other payload.
    pub fn read_into(&self, payload: &[u8], out: &mut String) -> Option<Matched> {
        let start = self.own_start(payload)?;
        let before = out.len();
        let read = self.read_after(payload, start, out);
        if read.is_none() {
            out.truncate(before);
        }
        read
    }

    /// [`Template::read_into`] of a payload whose start was found (another call's index).
    #[inline(never)]
    pub fn read_from(&self, payload: &[u8], start: Start, out: &mut String) -> Option<Matched> {
        let before = out.len();
        let read = self.read_after(payload, start, out);
        if read.is_none() {
            out.truncate(before);
        }
        read
    }

    /// [`Template::read_into`], leaving whatever it appended when the payload turns out not
    /// to match.
    #[inline(always)]
    fn read_after(&self, payload: &[u8], start: Start, out: &mut String) -> Option<Matched> {
        let quote = start.quote;
        // A plain string (no escape), as nearly every token and fragment is, is found and
        // appended here; any other string is read by the reader, which checks escapes.
        let after = if let Some((end, ascii)) = plain_string_end(payload, quote + 1) {
            let run = payload.get(quote + 1..end)?;
            if ascii {
                // SAFETY: every byte of `run` is below 0x80 (`plain_string_end` said so), and
                // ASCII is valid UTF-8.
                out.push_str(unsafe { std::str::from_utf8_unchecked(run) });
            } else {
                // The reader refuses invalid UTF-8 here too: the full decoder reports it.
                out.push_str(std::str::from_utf8(run).ok()?);
            }
            end + 1
        } else {
            let mut r = Reader::new(payload, 1);
            r.resume_at(quote);
            if !r.take_string_into(out).ok()? {
                return None;
            }
            r.pos()
        };
        let (entries, after) = match &self.entries {
            None => (None, after),
            Some(e) => {
                let at = after + e.before.len();
                if payload.get(after..at)? != e.before.as_slice() {
                    return None;
                }
                // Depth matters only inside the entries; the reader is moved to their depth.
                let mut r = Reader::new(payload, e.max_depth);
                r.resume_at_depth(at, e.depth);
                let items = entries(&mut r, payload, e.max_depth)?;
                (Some(items), r.pos())
            }
        };
        let rest = payload.get(after..)?;
        let middle = self.middle();
        match self.suffix() {
            None => (rest == middle).then_some(Matched { entries }),
            Some(suffix) => {
                if rest.get(..middle.len()) != Some(middle) {
                    return None;
                }
                let at = after + middle.len();
                if payload.get(at) != Some(&b'"') {
                    return None;
                }
                if padding_then(payload, at, suffix) {
                    return Some(Matched { entries });
                }
                let mut r = Reader::new(payload, 1);
                r.resume_at(at);
                r.take_string().ok()??;
                let tail = payload.get(r.pos()..)?;
                (tail == suffix).then_some(Matched { entries })
            }
        }
    }

    /// What a template reads from `payload` (at its own index or another call's), the text on its own.
    #[cfg(test)]
    pub fn read<'a>(&self, payload: &'a [u8]) -> Option<Reading<'a>> {
        let mut text = String::new();
        let matched = self.read_from(payload, self.start(payload)?, &mut text)?;
        Some(Reading {
            text: Cow::Owned(text),
            entries: matched.entries,
        })
    }
}

/// Whether `b` can continue a JSON number's text.
fn is_number_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
}

/// The non-negative integer written canonically (no sign, no leading zero, no fraction or
/// exponent) at the start of `text`, when it fits 32 bits, and its length; `None` otherwise.
fn canonical_u32(text: &[u8]) -> Option<(u32, usize)> {
    let n = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let digits = text.get(..n)?;
    if n == 0 || (n > 1 && digits.first() == Some(&b'0')) {
        return None;
    }
    if text.get(n).is_some_and(|b| is_number_byte(*b)) {
        return None;
    }
    // Ten digits at most, so the sum fits 64 bits before the 32-bit check.
    if n > 10 {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    Some((u32::try_from(value).ok()?, n))
}

/// Where the string whose text starts at `start` (just after its opening quote) ends (its
/// closing quote), and whether its text is ASCII, when that text holds no escape and no
/// control byte and the quote is found sixteen bytes at a time with sixteen bytes to read;
/// `None` otherwise, for the general read. Not a UTF-8 check: the caller makes it.
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_string_end(payload: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut at = start;
    let mut high = 0u32;
    loop {
        let block: &[u8; 16] = payload.get(at..at + 16)?.try_into().ok()?;
        let (stop, top) = string_stops16(block);
        if stop != 0 {
            let n = stop.trailing_zeros();
            let end = at + n as usize;
            // A backslash or a control byte: left to the reader.
            if payload.get(end) != Some(&b'"') {
                return None;
            }
            high |= top & ((1u32 << n) - 1);
            return Some((end, high == 0));
        }
        high |= top;
        at += 16;
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn plain_string_end(_payload: &[u8], _start: usize) -> Option<(usize, bool)> {
    None
}

/// Whether the payload from `at` (an opening quote) is a string of plain ASCII (see
/// [`plain_ascii`]) followed by exactly `suffix`: the usual obfuscation padding, which is
/// then valid and ends where the payload says, without a string scan. `false` leaves any other
/// padding, valid or not, to the general read.
#[inline]
fn padding_then(payload: &[u8], at: usize, suffix: &[u8]) -> bool {
    let Some(end) = payload.len().checked_sub(suffix.len() + 1) else {
        return false;
    };
    let (Some(tail), true) = (payload.get(end..), at < end) else {
        return false;
    };
    // The quote and the suffix; the suffix is short (`}` or a few keys), so compared in line.
    if tail.first() != Some(&b'"') || !short_eq(tail.get(1..).unwrap_or_default(), suffix) {
        return false;
    }
    plain_padding(payload, at + 1, end)
}

/// Whether `a == b`, byte by byte in line: for the few bytes of a suffix, a call costs more.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
        if x != y {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `payload[start..end]` is plain ASCII (see [`plain_ascii`]): the sixteen bytes that
/// end at `end` in one block when the text fits in them (padding is at most sixteen bytes),
/// the bytes before it masked off.
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_padding(payload: &[u8], start: usize, end: usize) -> bool {
    let len = end - start;
    let block: Option<&[u8; 16]> = end
        .checked_sub(16)
        .and_then(|from| payload.get(from..end))
        .and_then(|b| b.try_into().ok());
    match block {
        Some(block) if len <= 16 => {
            let (stop, top) = string_stops16(block);
            // The text is the last `len` of the sixteen bytes.
            let mask = 0xFFFF_u32 & !((1u32 << (16 - len)) - 1);
            (stop | top) & mask == 0
        }
        _ => payload.get(start..end).is_some_and(plain_ascii),
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn plain_padding(payload: &[u8], start: usize, end: usize) -> bool {
    payload.get(start..end).is_some_and(plain_ascii)
}

/// Whether `text` is ASCII that a JSON string holds as it is (no control byte, `"` or `\\`):
/// eight bytes at a time, then byte by byte, as padding is short.
#[inline]
fn plain_ascii(text: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A top bit set where a byte of `v` is zero; any such bit means a zero byte is there.
    let has_zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH != 0;
    let words = text.chunks_exact(8);
    let rest = words.remainder();
    words
        .map(|w| w.try_into().map_or(HIGH, u64::from_le_bytes))
        .all(|x| {
            // Bytes below 0x20 are found by the same borrow trick once no byte is 0x80 or above.
            x & HIGH == 0
                && !has_zero(x ^ (LOW * u64::from(b'"')))
                && !has_zero(x ^ (LOW * u64::from(b'\\')))
                && x.wrapping_sub(LOW * 0x20) & !x & HIGH == 0
        })
        && rest
            .iter()
            .all(|&b| matches!(b, 0x20..=0x7F) && b != b'"' && b != b'\\')
}

/// A non-empty array of valid JSON values at the reader's place, each kept as its raw text
/// (as the full decoder keeps logprobs entries); `None` on anything else, errors included:
/// the full decoder then reports them. `max_depth` is the reader's limit.
fn entries(r: &mut Reader<'_>, payload: &[u8], max_depth: usize) -> Option<Vec<Value>> {
    if r.peek() != Some(b'[') || !r.begin_array().ok()? {
        return None;
    }
    // A compact entry nests four containers (itself, `top_logprobs`, an alternative, its
    // `bytes`): with room for them, none can hit the depth limit that the general skip checks.
    let compact_fits = r.depth() + COMPACT_NESTING <= max_depth;
    let mut items = Vec::new();
    let mut first = true;
    while r.next_element(&mut first).ok()? {
        r.peek();
        let start = r.pos();
        let text = if compact_fits && compact_entry(r, payload).is_some() {
            let bytes = payload.get(start..r.pos())?;
            // SAFETY: `compact_entry` accepted these bytes: its strings were checked as UTF-8
            // by `skip_string_value`, and everything else in it is ASCII (the fixed text it
            // compares, numbers, integers, `null`), so the whole span is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            r.resume_at(start);
            r.raw_value().ok()?
        };
        items.push(Value::Raw(text.into()));
    }
    // An empty array appends nothing: such a chunk would not have yielded this template.
    (!items.is_empty()).then_some(items)
}

/// Containers a compact logprobs entry opens inside one another (see [`compact_entry`]).
const COMPACT_NESTING: usize = 4;

/// A logprobs entry as `OpenAI` writes it, `{"token":S,"logprob":N,"bytes":B,"top_logprobs":
/// [A,...]}` with each alternative `A` `{"token":S,"logprob":N,"bytes":B}` and `B` null or a
/// non-empty array of small integers, without whitespace, at the reader's place: skipped,
/// with its strings and numbers checked as the general skip checks them and the fixed text
/// between them compared. `None` (the reader anywhere in it) for anything else, which the
/// caller then skips in general. Depth is the caller's to check ([`COMPACT_NESTING`]).
fn compact_entry(r: &mut Reader<'_>, payload: &[u8]) -> Option<()> {
    compact_alternative(r, payload)?;
    literal(r, payload, b",\"top_logprobs\":[")?;
    if literal(r, payload, b"]").is_none() {
        loop {
            compact_alternative(r, payload)?;
            literal(r, payload, b"}")?;
            if literal(r, payload, b",").is_none() {
                literal(r, payload, b"]")?;
                break;
            }
        }
    }
    literal(r, payload, b"}")
}

/// `{"token":S,"logprob":N,"bytes":B` (an entry or an alternative, up to where they differ).
fn compact_alternative(r: &mut Reader<'_>, payload: &[u8]) -> Option<()> {
    literal(r, payload, b"{\"token\":")?;
    if payload.get(r.pos()) != Some(&b'"') || !r.skip_string_value().ok()? {
        return None;
    }
    literal(r, payload, b",\"logprob\":")?;
    if !matches!(payload.get(r.pos()), Some(b'-' | b'0'..=b'9')) {
        return None;
    }
    r.take_number().ok()??;
    literal(r, payload, b",\"bytes\":")?;
    if literal(r, payload, b"null").is_none() {
        literal(r, payload, b"[")?;
        let n = small_int_array_len(payload.get(r.pos()..)?)?;
        r.resume_at(r.pos() + n);
    }
    Some(())
}

/// Consumes `text` if the payload goes on with it at the reader's place.
#[inline]
fn literal<const N: usize>(r: &mut Reader<'_>, payload: &[u8], text: &[u8; N]) -> Option<()> {
    let at = r.pos();
    // As an array, so the compare is a few loads rather than a call.
    let next: &[u8; N] = payload.get(at..at + N)?.try_into().ok()?;
    (next == text).then(|| r.resume_at(at + N))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::chat::scan::{decode_after, Content};

    fn learn(p: &[u8]) -> Option<Template> {
        let d = decode_after(p, 128, &[]).ok()?;
        Template::learn(p, &d.chunk, d.header_len, 128)
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
            t.as_ref()
                .and_then(|t| t.read(b))
                .map(|r| r.text)
                .as_deref(),
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

    /// The padding after the middle is checked without a string scan when it is plain
    /// printable ASCII ending right before the suffix; everything else takes the general
    /// read, which accepts exactly the valid strings followed by the suffix.
    #[test]
    fn obfuscation_padding_is_read_as_a_json_string() {
        let Some(t) = learn(A) else {
            panic!("no template")
        };
        let with = |padding: &[u8]| {
            let head = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"#;
            [&head[..], padding, b"}"].concat()
        };
        let valid: [&[u8]; 8] = [
            b"\"\"",
            b"\"Zz09 ~!#\"",
            b"\"abc\\\"d\"",
            b"\"\\u00e9\\n\"",
            "\"\u{e9}t\u{e9}\"".as_bytes(),
            b"\"\\\\\"",
            b"\"}\"",
            b"\"a}\"",
        ];
        for padding in valid {
            let p = with(padding);
            assert!(decode_after(&p, 128, &[]).is_ok());
            assert_eq!(
                t.read(&p).map(|r| r.text).as_deref(),
                Some("He"),
                "{}",
                String::from_utf8_lossy(&p)
            );
        }
        let invalid: [&[u8]; 10] = [
            b"\"",
            b"\"abc",
            b"\"a\"b\"",
            b"\"a\x01\"",
            b"\"a\x7f\"x",
            b"\"\xff\"",
            b"\"\\q\"",
            b"\"\\ud800\"",
            b"\"a\\\"",
            b"\"a\" ",
        ];
        for padding in invalid {
            let p = with(padding);
            assert_eq!(t.read(&p), None, "{}", String::from_utf8_lossy(&p));
        }
        // A control byte in the padding is an error for the full decoder too.
        assert!(decode_after(&with(b"\"a\x01\""), 128, &[]).is_err());
        // DEL is printable for JSON (only bytes below 0x20 are control): valid, read in general.
        let del = with(b"\"a\x7f\"");
        assert!(decode_after(&del, 128, &[]).is_ok());
        assert!(t.read(&del).is_some());
    }

    /// Texts of every length around the sixteen-byte blocks, each with one odd byte (a quote,
    /// a backslash, a control byte, DEL, a lone or leading non-ASCII byte, a whole non-ASCII
    /// character) at every place.
    fn odd_texts() -> Vec<Vec<u8>> {
        let odd: [&[u8]; 10] = [
            b"\"",
            b"\\",
            b"\\n",
            b"\x01",
            b"\x1f",
            b"\x7f",
            b"\x80",
            b"\xc3",
            b"\xff",
            "\u{e9}".as_bytes(),
        ];
        let mut texts = vec![Vec::new()];
        for len in 1..=40 {
            texts.push(vec![b'a'; len]);
            for at in 0..len {
                for o in odd {
                    let mut t = vec![b'a'; len];
                    t.splice(at..=at, o.iter().copied());
                    texts.push(t);
                }
            }
        }
        texts
    }

    /// What the full decoder makes of a payload: its content text, or `None` when it refuses
    /// the payload.
    fn decoded_content(p: &[u8]) -> Option<String> {
        let d = decode_after(p, 128, &[]).ok()?;
        match d.chunk.choices.into_iter().next()?.delta?.content? {
            Content::Text(t) => Some(t.into_owned()),
            Content::Parts(_) => None,
        }
    }

    /// The varying string, read in place when it is plain and by the reader otherwise, is
    /// read exactly as the full decoder reads it: the same text for every payload it accepts,
    /// no match for every payload it refuses. Also with the string near the payload's end
    /// (fewer than sixteen bytes after it), where the in-place scan has no block to load.
    #[test]
    fn varying_strings_read_as_the_full_decoder_reads_them() {
        let shapes: [(&[u8], &[u8]); 2] = [
            (
                br#"{"id":"x","choices":[{"index":0,"delta":{"content":""#,
                br#""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#,
            ),
            (
                br#"{"choices":[{"index":0,"delta":{"content":""#,
                br#""}}]}"#,
            ),
        ];
        for (head, tail) in shapes {
            let Some(t) = learn(&[head, b"He", tail].concat()) else {
                panic!("no template")
            };
            for text in odd_texts() {
                let p = [head, &text[..], tail].concat();
                let read = t.read(&p).map(|r| r.text.into_owned());
                assert_eq!(read, decoded_content(&p), "{}", String::from_utf8_lossy(&p));
            }
        }
    }

    /// The padding after the middle, checked in one block when it is short and word by word
    /// when not, is accepted exactly when the full decoder accepts the payload.
    #[test]
    fn paddings_of_every_length_are_checked_as_the_full_decoder_checks_them() {
        let Some(t) = learn(A) else {
            panic!("no template")
        };
        let head = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"He"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":""#;
        for suffix in [&b"}"[..], b"}  ", b",\"k\":1}"] {
            for padding in odd_texts() {
                let p = [&head[..], &padding[..], b"\"", suffix].concat();
                let read = t.read(&p).map(|r| r.text.into_owned());
                // The template's suffix is `}`: a payload with another one is never read.
                let expected = decoded_content(&p).filter(|_| suffix == b"}");
                assert_eq!(read, expected, "{}", String::from_utf8_lossy(&p));
            }
        }
    }

    /// A string is decoded straight onto the end of the text it goes to, and a string that
    /// turns out invalid, or a payload that turns out not to match, leaves that text as it was.
    #[test]
    fn strings_append_in_place_and_mismatches_leave_the_text_alone() {
        for (json, appended) in [
            (&br#""plain""#[..], Some("plain")),
            (
                br#""q\"\u00e9\n\ud83d\ude00""#,
                Some("q\"\u{e9}\n\u{1f600}"),
            ),
            (b"5", None),
        ] {
            let mut out = String::from("ab");
            let taken = Reader::new(json, 1).take_string_into(&mut out);
            assert_eq!(taken.ok(), Some(appended.is_some()));
            assert_eq!(out, format!("ab{}", appended.unwrap_or_default()));
        }
        for bad in [
            &br#""a\q""#[..],
            br#""a\"\ud800""#,
            b"\"a\\\"\x01\"",
            br#""a\"b"#,
        ] {
            let mut out = String::from("ab");
            assert!(Reader::new(bad, 1).take_string_into(&mut out).is_err());
            assert_eq!(out, "ab", "{}", String::from_utf8_lossy(bad));
        }
        let Some(t) = learn(A) else {
            panic!("no template")
        };
        let good = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"\"q\""},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#;
        let mut out = String::from("ab");
        assert_eq!(t.read_into(good, &mut out), Some(Matched { entries: None }));
        assert_eq!(out, "ab\"q\"");
        // Text decoded, then a byte after it differs: nothing of it stays.
        let late = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"\"q\""},"logprobs":null,"finish_reason":"x"}],"usage":null,"obfuscation":"abc"}"#;
        let mut out = String::from("ab");
        assert_eq!(t.read_into(late, &mut out), None);
        assert_eq!(out, "ab");
    }

    /// Every byte value, at every place of texts that fill words, part of one, or both.
    #[test]
    fn plain_ascii_is_exactly_the_bytes_a_string_holds_unescaped() {
        for b in 0..=u8::MAX {
            let plain = (0x20..=0x7F).contains(&b) && b != b'"' && b != b'\\';
            for len in [1, 7, 8, 9, 16, 17] {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(plain_ascii(&text), plain, "{b:#x} at {at} of {len}");
                }
            }
        }
        assert!(plain_ascii(b""));
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
        let none: [&[u8]; 8] = [
            br#"{"choices":[{"index":0,"delta":{"content":"a","refusal":"b"}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"refusal":[{"t":1}]}}]}"#,
            br#"{"choices":[{"index":0,"logprobs":{"content":[{"t":1}]},"delta":{"content":"a"}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"logprobs":{"content":[{"t":1}]}}]}"#,
            br#"{"choices":[{"index":0,"delta":{"refusal":"a"},"logprobs":{"content":[{"t":1}]}}]}"#,
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

    /// A fragment with the arguments alone is the same fragment for another call: its
    /// template reads a payload with another canonical index in its place as that call's,
    /// and nothing else: not a non-canonical or 33-bit index, not a fragment that also
    /// carries an id, a type or a name.
    #[test]
    fn argument_templates_take_another_calls_index() {
        let frag = |f: &str| {
            format!(
                r#"{{"id":"x","choices":[{{"index":0,"delta":{{"tool_calls":[{f}]}},"finish_reason":null}}],"obfuscation":"ab"}}"#
            )
        };
        let Some(t) = learn(frag(r#"{"index":0,"function":{"arguments":"{\""}}"#).as_bytes())
        else {
            panic!("no template")
        };
        let other = |index: &str| {
            frag(&format!(
                r#"{{"index":{index},"function":{{"arguments":"a\"b"}}}}"#
            ))
        };
        let slot = |p: &str| t.start(p.as_bytes()).map(|s| t.slot_at(s));
        for (index, want) in [
            ("0", Some(0)),
            ("1", Some(1)),
            ("12", Some(12)),
            ("4294967295", Some(u32::MAX)),
        ] {
            let p = other(index);
            assert_eq!(
                slot(&p),
                want.map(|index| Slot::ToolArguments { choice: 0, index }),
                "{p}"
            );
            assert_eq!(
                t.read(p.as_bytes()).map(|r| r.text.into_owned()).as_deref(),
                Some("a\"b")
            );
        }
        for index in [
            "01",
            "00",
            "-1",
            "-0",
            "1.0",
            "1e0",
            "1E1",
            "4294967296",
            " 1",
            "1 ",
            "x",
            "\"1\"",
            "",
        ] {
            let p = other(index);
            assert_eq!(slot(&p), None, "{p}");
        }
        // Another index and also an id, a type or a name: not this template's shape.
        for f in [
            r#"{"index":1,"id":"c","function":{"arguments":"a"}}"#,
            r#"{"index":1,"type":"function","function":{"arguments":"a"}}"#,
            r#"{"index":1,"function":{"name":"f","arguments":"a"}}"#,
        ] {
            assert_eq!(slot(&frag(f)), None, "{f}");
        }
        // Learned from a fragment that names its call: its own index only.
        for learned in [
            r#"{"index":0,"id":"c","function":{"arguments":"{"}}"#,
            r#"{"index":0,"type":"function","function":{"arguments":"{"}}"#,
            r#"{"index":0,"function":{"name":"f","arguments":"{"}}"#,
            r#"{"index":-0,"function":{"arguments":"{"}}"#,
            r#"{"function":{"arguments":"{"},"index":0}"#,
        ] {
            let Some(own) = learn(frag(learned).as_bytes()) else {
                panic!("no template: {learned}")
            };
            let same = learned.replace(r#""{""#, r#""z""#);
            let moved = learned.replace('0', "1").replace(r#""{""#, r#""z""#);
            assert!(own.read(frag(&same).as_bytes()).is_some(), "{learned}");
            assert_eq!(own.read(frag(&moved).as_bytes()), None, "{learned}");
        }
    }

    /// A slot's indexes are 32-bit: a chunk with a larger choice or tool-call index gets no
    /// template (it is decoded in full every time), never one for another slot.
    #[test]
    fn indexes_past_32_bits_get_no_template() {
        let content =
            |i: u64| format!(r#"{{"choices":[{{"index":{i},"delta":{{"content":"a"}}}}]}}"#);
        let tool = |i: u64| {
            format!(
                r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"function":{{"arguments":"{{"}}}}]}}}}]}}"#
            )
        };
        let max = u64::from(u32::MAX);
        assert_eq!(
            learn(content(max).as_bytes()).map(|t| t.slot),
            Some(Slot::Content { choice: u32::MAX })
        );
        assert_eq!(learn(content(max + 1).as_bytes()), None);
        assert_eq!(
            learn(tool(max).as_bytes()).map(|t| t.slot),
            Some(Slot::ToolArguments {
                choice: 0,
                index: u32::MAX
            })
        );
        assert_eq!(learn(tool(max + 1).as_bytes()), None);
    }

    const L: &[u8] = br#"{"id":"x","choices":[{"index":0,"delta":{"content":" a"},"logprobs":{"content":[{"token":" a","logprob":-0.25,"bytes":[32,97],"top_logprobs":[]}],"refusal":null},"finish_reason":null}],"usage":null,"obfuscation":"ab"}"#;

    /// A logprobs chunk's template reads the new text and the new entries, each entry as the
    /// raw text the full decoder keeps.
    #[test]
    fn logprobs_chunks_read_their_text_and_entries() {
        let Some(t) = learn(L) else {
            panic!("no template")
        };
        assert!(t.entries.is_some() && t.plain);
        let b = br#"{"id":"x","choices":[{"index":0,"delta":{"content":"\u00e9"},"logprobs":{"content":[{"token":"\u00e9","logprob":-1e-3,"bytes":[195,169],"top_logprobs":[{"token":" b","logprob":-2,"bytes":[32,98]}]}, {"token":"x"}],"refusal":null},"finish_reason":null}],"usage":null,"obfuscation":"zzzz"}"#;
        let Some(got) = t.read(b) else {
            panic!("not read")
        };
        let full = decode_after(b, 128, &[])
            .ok()
            .and_then(|d| d.chunk.choices.into_iter().next())
            .map(|c| c.logprobs);
        let Some(Field::Set(lp)) = full else {
            panic!("no logprobs")
        };
        assert_eq!(got.text, "\u{e9}");
        assert_eq!(got.entries, lp.content);
        assert_eq!(got.entries.map(|e| e.len()), Some(2));
    }

    /// Anything but a valid non-empty array of entries in the same shape goes to the full
    /// decoder (which reports the errors), the depth limit included.
    #[test]
    fn logprobs_templates_leave_bad_or_other_entries_to_the_full_decoder() {
        let Some(t) = learn(L) else {
            panic!("no template")
        };
        let with = |entries: &str| {
            String::from_utf8_lossy(L).replace(
                r#"[{"token":" a","logprob":-0.25,"bytes":[32,97],"top_logprobs":[]}]"#,
                entries,
            )
        };
        for bad in [
            "[]",
            "null",
            "[1,]",
            "[{\"token\":\"\\ud800\"}]",
            "[-01]",
            "[1e999]",
            "[{\"token\":\" a\"} ]x",
        ] {
            let p = with(bad);
            assert_eq!(t.read(p.as_bytes()), None, "{p}");
        }
        // Depth: the entries' nesting counts from where the array sits in the chunk.
        let Ok(decoded) = decode_after(L, 128, &[]) else {
            panic!("not decoded")
        };
        let Some(shallow) = Template::learn(L, &decoded.chunk, decoded.header_len, 8) else {
            panic!("no template")
        };
        let nested = |n: usize| with(&format!("[{}1{}]", "[".repeat(n), "]".repeat(n)));
        // The array is at depth 5 (object, choices, choice, logprobs, content): 3 more fit in 8.
        assert!(shallow.read(nested(3).as_bytes()).is_some());
        assert_eq!(shallow.read(nested(4).as_bytes()), None);
        assert!(decode_after(nested(3).as_bytes(), 8, &[]).is_ok());
        assert!(decode_after(nested(4).as_bytes(), 8, &[]).is_err());
    }
    /// Compact entries (the shape `compact_entry` compares instead of parsing) are read as
    /// the full decoder reads them, and anything invalid inside that shape is left to it.
    #[test]
    fn compact_entries_are_checked_as_the_full_decoder_checks_them() {
        let Some(t) = learn(L) else {
            panic!("no template")
        };
        let with = |entries: &[u8]| {
            let at = L
                .windows(12)
                .position(|w| w == b"\"content\":[{")
                .unwrap_or(0)
                + 10;
            let end = L
                .windows(14)
                .position(|w| w == b"],\"refusal\":nu")
                .unwrap_or(0)
                + 1;
            [&L[..at], entries, &L[end..]].concat()
        };
        let good: [&[u8]; 6] = [
            r#"[{"token":"\n\u00e9\"","logprob":-2.881288,"bytes":[10,195,169,34],"top_logprobs":[{"token":" a","logprob":-1.406779773,"bytes":[32,97]},{"token":"é","logprob":-3,"bytes":null}]}]"#.as_bytes(),
            br#"[{"token":"a","logprob":-1e-3,"bytes":[97],"top_logprobs":[]},{"token":"b","logprob":0,"bytes":[98],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]} , {"token":"b"}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[],"x":[[1]]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1,"bytes":[98]} ]}]"#,
        ];
        for entries in good {
            let p = with(entries);
            let full = decode_after(&p, 128, &[])
                .ok()
                .and_then(|d| d.chunk.choices.into_iter().next())
                .map(|c| c.logprobs);
            let Some(Field::Set(lp)) = full else {
                panic!("not decoded: {}", String::from_utf8_lossy(&p))
            };
            let read = t.read(&p).and_then(|r| r.entries);
            assert_eq!(read, lp.content, "{}", String::from_utf8_lossy(&p));
        }
        let bad: [&[u8]; 9] = [
            b"[{\"token\":\"\xff\",\"logprob\":-0.5,\"bytes\":[97],\"top_logprobs\":[]}]",
            b"[{\"token\":\"a\x01\",\"logprob\":-0.5,\"bytes\":[97],\"top_logprobs\":[]}]",
            br#"[{"token":"\q","logprob":-0.5,"bytes":[97],"top_logprobs":[]}]"#,
            br#"[{"token":"\ud800","logprob":-0.5,"bytes":[97],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-01,"bytes":[97],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-1e999,"bytes":[97],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[01],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[97,],"top_logprobs":[]}]"#,
            br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]}}]"#,
        ];
        for entries in bad {
            let p = with(entries);
            assert!(decode_after(&p, 128, &[]).is_err());
            assert_eq!(t.read(&p), None, "{}", String::from_utf8_lossy(&p));
        }
        // Depth: the array is at depth 5, and a compact entry with an alternative nests 4 more
        // containers: it fits a limit of 9, not 8, in the template as in the full decoder.
        let deep = with(br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1,"bytes":[98]}]}]"#);
        let flat = with(br#"[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]}]"#);
        let Ok(decoded) = decode_after(L, 128, &[]) else {
            panic!("not decoded")
        };
        for (limit, deep_ok) in [(8, false), (9, true)] {
            let Some(shallow) = Template::learn(L, &decoded.chunk, decoded.header_len, limit)
            else {
                panic!("no template")
            };
            assert_eq!(decode_after(&deep, limit, &[]).is_ok(), deep_ok);
            assert_eq!(shallow.read(&deep).is_some(), deep_ok, "limit {limit}");
            assert!(decode_after(&flat, limit, &[]).is_ok());
            assert!(shallow.read(&flat).is_some(), "limit {limit}");
        }
    }
}
