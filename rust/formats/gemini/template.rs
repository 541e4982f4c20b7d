//! The fast path for repeated Gemini events.
//!
//! Every Gemini event is a whole `GenerateContentResponse`, and the events of a stream repeat a
//! few shapes byte for byte apart from a few values: a text part's `text`, a `partialArgs`
//! entry's `jsonPath` and `stringValue`, and the numbers of `usageMetadata`. After a payload
//! with one candidate and one such part was decoded in full, [`Template::learn`] keeps its bytes
//! with those values cut out as holes (every number inside a top-level value other than
//! `candidates` is one), and the delta the decoder read from it less those values (its
//! recipe). A later payload with the same bytes around valid strings and valid numbers is the
//! same delta with the new values: the fold applies it as it applies a decoded one, so the
//! result, events and limits are the same whatever the fold holds.
//!
//! Only a byte-exact match is taken: anything else, including an invalid string or number, goes
//! through the full decoder, which reports errors with their positions.

use std::borrow::Cow;

use crate::json::number::Num;
#[cfg(not(target_arch = "x86_64"))]
use crate::json::reader::plain_run;
use crate::json::reader::Reader;

/// More numbers than this in the top-level values: no template (matching them would cost as
/// much as validating the payload).
const MAX_HOLES: usize = 64;

/// Larger payloads get no template: a parser keeps two, and a large event is mostly its text,
/// which a template reads anyway.
const MAX_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// A string: a part's `text`, or a `partialArgs` entry's `jsonPath` or `stringValue`.
    String(Role),
    Number,
}

/// Which string a hole holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Text,
    Path,
    Value,
}

/// What a full decode saw of a payload, for learning its template.
#[derive(Debug, Default)]
pub struct Shape<'a> {
    /// Per [`Role`]: how many such keys the payload had, anywhere, and the last one's value
    /// span (its quotes included).
    pub strings: [(usize, (usize, usize)); 3],
    /// Where the `candidates` value starts.
    pub candidates_at: usize,
    /// Top-level keys other than `candidates` and `error`, with their values' spans.
    pub values: Vec<(Cow<'a, str>, usize, usize)>,
    /// How many parts' `thought` members the payload had, and the last one's span from the
    /// end of the member before it (None when it was its part's first).
    pub thoughts: (usize, Option<(usize, usize)>),
    /// As `thoughts`, for the `willContinue` members of `partialArgs` entries.
    pub continues: (usize, Option<(usize, usize)>),
    /// How many `functionCall` objects the payload had, and the last one's members: the
    /// span between its braces.
    pub calls: (usize, Option<(usize, usize)>),
}

impl Shape<'_> {
    /// A string of `role` at `start..end`.
    pub fn saw(&mut self, role: Role, start: usize, end: usize) {
        if let Some((count, span)) = self.strings.get_mut(role as usize) {
            *count += 1;
            *span = (start, end);
        }
    }

    /// A part's `thought` member, at `span` (see [`Self::thoughts`]).
    pub fn thought(&mut self, span: Option<(usize, usize)>) {
        self.thoughts = (self.thoughts.0 + 1, span);
    }

    /// A `partialArgs` entry's `willContinue` member, at `span` (see [`Self::continues`]).
    pub fn continues(&mut self, span: Option<(usize, usize)>) {
        self.continues = (self.continues.0 + 1, span);
    }

    /// A `functionCall` object whose members are at `start..end` (see [`Self::calls`]).
    pub fn call(&mut self, start: usize, end: usize) {
        self.calls = (self.calls.0 + 1, Some((start, end)));
    }
}

#[derive(Debug)]
pub struct Template {
    /// The learned payload; the holes' bytes in it are not compared.
    bytes: Vec<u8>,
    /// Spans of `bytes` whose values may differ, in order, not overlapping.
    holes: Vec<(usize, usize, Hole)>,
    /// The payload's delta, less the holes' values.
    pub recipe: super::Recipe,
    /// Per hole: its length in the payload being matched (scratch, kept to spare allocation).
    lengths: Vec<usize>,
    /// The number holes' slots of `lengths` hold `numbers`' lengths (as [`Self::applied`] and
    /// [`Self::read_strings`] leave them, until a full read writes others): a read by the
    /// strings alone need not copy them again.
    numbers_in_lengths: bool,
    /// The number holes of the payload last applied ([`Self::applied`]); None before the
    /// first.
    numbers: Option<Applied>,
    /// The span of the member [`Self::next`] cuts out, with the comma before it: a thought
    /// text part's `thought`, or a continuing string entry's `willContinue`.
    cut: Option<(usize, usize)>,
    /// A `partialArgs` template's: the members of its `functionCall`, which
    /// [`Self::call_end`] cuts out.
    call: Option<(usize, usize)>,
    /// When every number hole comes after the last string hole: the bytes after that string
    /// in the payload last applied. A payload that ends with them holds the numbers applied
    /// then, so [`Self::read`] reads only its strings and the literals before them.
    tail: Option<Tail>,
}

/// See [`Template::tail`].
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    /// How many holes come before it: the string holes (the number holes follow them).
    strings: usize,
}

/// The number holes' bytes in a payload, end to end, and each one's length.
#[derive(Debug, Default)]
struct Applied {
    bytes: Vec<u8>,
    lengths: Vec<usize>,
}

/// Whether `b` may continue a JSON number (a number followed by it may be longer).
fn continues_number(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
}

/// A matched payload: its strings by [`Role`], and the top-level values with numbers.
pub struct Matched<'a, 't> {
    pub strings: [Option<Cow<'a, str>>; 3],
    /// Every number hole has the bytes it had in the payload last applied.
    pub numbers_as_applied: bool,
    pub template: &'t Template,
    payload: &'a [u8],
}

impl<'a> Matched<'a, '_> {
    /// The text in the payload of the top-level value learned at `start..end`.
    pub fn value(&self, start: usize, end: usize) -> Option<&'a str> {
        let t = self.template;
        let (start, end) = (t.moved(start), t.moved(end));
        std::str::from_utf8(self.payload.get(start..end)?).ok()
    }
}

/// The JSON string at `pos` of `payload` (which must start there) and its length with its
/// quotes, or None for anything else (not a string, an invalid one), which the full decoder
/// reports. A string without escapes is found with one scan of its bytes; an escaped one is
/// read by the [`Reader`].
fn string_at(payload: &[u8], pos: usize) -> Option<(Cow<'_, str>, usize)> {
    let start = pos + 1;
    if payload.get(pos) != Some(&b'"') {
        return None;
    }
    let rest = payload.get(start..)?;
    let (n, ascii) = plain_span(rest);
    match rest.get(n) {
        Some(b'"') => {
            let text = rest.get(..n)?;
            let text = if ascii {
                // SAFETY: every byte of `text` is below 0x80, and ASCII is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(text) }
            } else {
                std::str::from_utf8(text).ok()?
            };
            Some((Cow::Borrowed(text), n + 2))
        }
        Some(b'\\') => {
            // Depth is irrelevant here: only a string is read.
            let mut r = Reader::new(payload, 1);
            r.resume_at(pos);
            let text = r.take_string().ok()??;
            Some((text, r.pos() - pos))
        }
        _ => None,
    }
}

/// [`crate::json::reader::plain_run`] for the short strings of a template's holes: sixteen bytes at a time, the
/// last few as a block of their own padded with quotes, so that no byte-by-byte loop follows
/// (a text of a few words is two or three blocks). Inline: it is most of its callers' work,
/// once per templated payload.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain_span(rest: &[u8]) -> (usize, bool) {
    use crate::json::reader::string_stops16;
    // The top bits of the plain blocks so far: a block's plain bytes are ASCII when no top
    // bit below its stop is set.
    let mut high = 0;
    let mut i = 0;
    let mut chunks = rest.chunks_exact(16);
    for chunk in &mut chunks {
        let Ok(bytes) = <&[u8; 16]>::try_from(chunk) else {
            break;
        };
        let (stop, top) = string_stops16(bytes);
        if stop != 0 {
            let plain = stop.trailing_zeros();
            return (
                i + plain as usize,
                (high | top & ((1u32 << plain) - 1)) == 0,
            );
        }
        high |= top;
        i += 16;
    }
    let left = chunks.remainder();
    let mut padded = [b'"'; 16];
    if let Some(to) = padded.get_mut(..left.len()) {
        to.copy_from_slice(left);
    }
    // A quote at `left.len()` at the latest: a stop below 16.
    let (stop, top) = string_stops16(&padded);
    let plain = stop.trailing_zeros().min(16);
    (
        i + (plain as usize).min(left.len()),
        (high | top & ((1u32 << plain) - 1)) == 0,
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn plain_span(rest: &[u8]) -> (usize, bool) {
    plain_run(rest)
}

/// The spans of the numbers in a validated JSON text, offset by `at`.
fn numbers(text: &[u8], at: usize, out: &mut Vec<(usize, usize, Hole)>) {
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => {
                // A validated string: its end is the next quote not escaped.
                i += 1;
                while let Some(&c) = text.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let (used, _) = Num::Start.scan(text.get(i..).unwrap_or_default());
                let used = used.max(1);
                out.push((at + i, at + i + used, Hole::Number));
                i += used;
            }
            _ => i += 1,
        }
    }
}

impl Template {
    /// The template of a payload whose delta is `recipe` plus the strings of `roles`, each
    /// sent once in the payload; `shape` is what the decode saw.
    pub fn learn(
        payload: &[u8],
        shape: &Shape<'_>,
        roles: &[Role],
        recipe: super::Recipe,
    ) -> Option<Self> {
        if payload.len() > MAX_BYTES {
            return None;
        }
        // Room for the usual few strings and numbers: one allocation.
        let mut holes = Vec::with_capacity(8);
        for (i, role) in [Role::Text, Role::Path, Role::Value]
            .into_iter()
            .enumerate()
        {
            let (count, (start, end)) = shape.strings[i];
            match (count, roles.contains(&role)) {
                (0, false) => {}
                (1, true) => holes.push((start, end, Hole::String(role))),
                _ => return None,
            }
        }
        for (i, (key, start, end)) in shape.values.iter().enumerate() {
            // A key sent twice is merged twice, in order: not worth a template.
            if shape.values[..i].iter().any(|(k, _, _)| k == key) {
                return None;
            }
            numbers(payload.get(*start..*end)?, *start, &mut holes);
        }
        if holes.len() > MAX_HOLES {
            return None;
        }
        holes.sort_unstable_by_key(|h| h.0);
        if holes.windows(2).any(|w| w[0].1 > w[1].0) {
            return None;
        }
        let mut recipe = recipe;
        recipe.fixed = (recipe.keys.iter().take(64).enumerate())
            .filter(|(_, (_, start, end))| !holes.iter().any(|h| h.0 >= *start && h.1 <= *end))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        let only_thought = {
            let mut part_extra = recipe.kept.pairs(recipe.part_extra);
            part_extra.len() == 1 && part_extra.all(|(k, v)| k == "thought" && v == "true")
        };
        let cut = match (&recipe.part, shape.thoughts, shape.continues) {
            (super::PartRecipe::Text { thought: true }, (1, Some(span)), _) if only_thought => {
                Some(span)
            }
            (super::PartRecipe::Arg(arg), _, (1, Some(span))) if arg.arg_will_continue => {
                Some(span)
            }
            _ => None,
        };
        let cut = cut.filter(|&(start, end)| !holes.iter().any(|h| h.0 < end && h.1 > start));
        // Every hole wholly in the call's members (its strings) or wholly out of them.
        let call = match (&recipe.part, shape.calls) {
            (super::PartRecipe::Arg(_), (1, Some((start, end)))) => Some((start, end)),
            _ => None,
        };
        let call = call.filter(|&(start, end)| {
            (holes.iter()).all(|h| h.1 <= start || h.0 >= end || (h.0 >= start && h.1 <= end))
        });
        Some(Template {
            bytes: payload.to_vec(),
            lengths: vec![0; holes.len()],
            numbers_in_lengths: false,
            holes,
            recipe,
            numbers: None,
            cut,
            call,
            tail: None,
        })
    }

    /// [`Self::next`], or once that was taken [`Self::call_end`], once each per template:
    /// it is tried on the first payload no template matched (`payload`), and a stream whose
    /// next payloads differ more than that pays for it once. The call's end is made only
    /// for a payload that could match it (a decoded payload between fragments, a whole
    /// `args` say, leaves it for the end).
    pub fn take_next(&mut self, payload: &[u8]) -> Option<Self> {
        if self.cut.is_some() {
            let next = self.next();
            self.cut = None;
            return next;
        }
        if !self.could_end_call(payload) {
            return None;
        }
        let end = self.call_end();
        self.call = None;
        end
    }

    /// False when `payload` does not start as the template [`Self::call_end`] makes would
    /// match (this one's bytes before its call's members, then those after them, up to the
    /// next hole): a payload after a call's fragments that is not its end (the stream's last
    /// one, say) spares making that template. True when holes come first (no check).
    fn could_end_call(&self, payload: &[u8]) -> bool {
        let Some((start, end)) = self.call else {
            return false;
        };
        if self.holes.first().is_some_and(|h| h.0 < start) {
            return true;
        }
        let next_hole = (self.holes.iter())
            .map(|h| h.0)
            .find(|&at| at >= end)
            .unwrap_or(self.bytes.len());
        let (Some(before), Some(after)) = (self.bytes.get(..start), self.bytes.get(end..next_hole))
        else {
            return false;
        };
        let after = after.get(..after.len().min(32)).unwrap_or_default();
        payload.starts_with(before)
            && (payload.get(start..)).is_some_and(|rest| rest.starts_with(after))
    }

    /// The template of the payload Gemini streams after a run of this one's, which differs
    /// only by a member this one has, so that it needs no full decode:
    /// - after thoughts, the answer: the thought text part's template without the part's
    ///   `thought` member (the part is then an answer's text part, with no other key);
    /// - after a string's fragments, the entry that ends it: the template of a `partialArgs`
    ///   entry that continues, without the entry's `willContinue` member.
    ///
    /// Either is what a full decode of such a payload would learn.
    pub fn next(&self) -> Option<Self> {
        let (start, end) = self.cut?;
        let mut next = self.without(start, end)?;
        match &mut next.recipe.part {
            super::PartRecipe::Text { thought } => {
                *thought = false;
                next.recipe.part_extra = (0, 0);
            }
            super::PartRecipe::Arg(arg) => arg.arg_will_continue = false,
            super::PartRecipe::CallEnd => {}
        }
        // What this template noted of the payload it applied last holds for that payload less
        // the member, which the new template would have read as the same delta and numbers:
        // its recipe keeps the same merged keys (so `clean_at` carries over), its number holes
        // are these in the same order, and its tail is this one less the member.
        next.tail = self.tail_without(start, end);
        // The member cut was inside the call's members.
        let moved = |at: usize| if at >= end { at - (end - start) } else { at };
        next.call = self.call.map(|(s, e)| (moved(s), moved(e)));
        Some(next)
    }

    /// The template of the payload that ends a call streamed by `partialArgs` fragments
    /// (`"functionCall":{}`): this fragment template less its call's members, and with them
    /// its string holes. A full decode of such a payload gives this one's delta with an empty
    /// call (no name, arguments or `willContinue`) as its part: the part's other members,
    /// the candidate and the top-level values are outside the cut and read the same. It
    /// learns no template ([`super::recipe`] takes a call with one entry only), so the fold
    /// would decode it in full.
    pub fn call_end(&self) -> Option<Self> {
        let (start, end) = self.call?;
        let mut call_end = self.without(start, end)?;
        call_end.recipe.part = super::PartRecipe::CallEnd;
        // As for [`Self::next`], the merged keys and the number holes, in the same order, are
        // this template's. The tail held a string hole's end, which is cut: none.
        Some(call_end)
    }

    /// This template less its learned bytes `start..end` and the holes in them, with the
    /// recipe's key spans and the numbers as applied carried over; no cut, call or tail
    /// (the callers say which carry over).
    fn without(&self, start: usize, end: usize) -> Option<Self> {
        let cut = end.checked_sub(start)?;
        let mut bytes = Vec::with_capacity(self.bytes.len().saturating_sub(cut));
        bytes.extend_from_slice(self.bytes.get(..start)?);
        bytes.extend_from_slice(self.bytes.get(end..)?);
        let moved = |at: usize| if at >= end { at - cut } else { at };
        // Sized for all: `next` cuts out no hole.
        let mut holes = Vec::with_capacity(self.holes.len());
        holes.extend(
            (self.holes.iter())
                .filter(|h| h.1 <= start || h.0 >= end)
                .map(|&(s, e, hole)| (moved(s), moved(e), hole)),
        );
        let mut recipe = self.recipe.clone();
        for (_, s, e) in &mut recipe.keys {
            (*s, *e) = (moved(*s), moved(*e));
        }
        let numbers = (self.numbers.as_ref()).map(|n| Applied {
            bytes: n.bytes.clone(),
            lengths: n.lengths.clone(),
        });
        Some(Template {
            bytes,
            lengths: vec![0; holes.len()],
            numbers_in_lengths: false,
            holes,
            recipe,
            numbers,
            cut: None,
            call: None,
            tail: None,
        })
    }

    /// [`Self::tail`] less the learned bytes `start..end` (outside every hole): unchanged when
    /// they come before it, cut out of it when they are in it; None when there is no tail.
    fn tail_without(&self, start: usize, end: usize) -> Option<Tail> {
        let tail = self.tail.as_ref()?;
        // Where the tail starts in the learned payload: the end of the last string hole.
        let (strings, numbers) = self.holes.split_at_checked(tail.strings)?;
        let tail_at = strings.last().map_or(0, |h| h.1);
        if end <= tail_at {
            return Some(Tail {
                bytes: tail.bytes.clone(),
                strings: tail.strings,
            });
        }
        if start < tail_at {
            return None;
        }
        // In the tail, `start` is moved by the numbers before it as applied.
        let lengths = &self.numbers.as_ref()?.lengths;
        let mut at = start - tail_at;
        for ((hole_start, hole_end, _), len) in numbers.iter().zip(lengths) {
            if *hole_end > start {
                break;
            }
            at = (at + len).checked_sub(hole_end - hole_start)?;
        }
        let cut = end - start;
        if tail.bytes.get(at..at + cut)? != self.bytes.get(start..end)? {
            return None;
        }
        let mut bytes = Vec::with_capacity(tail.bytes.len() - cut);
        bytes.extend_from_slice(tail.bytes.get(..at)?);
        bytes.extend_from_slice(tail.bytes.get(at + cut..)?);
        Some(Tail {
            bytes,
            strings: tail.strings,
        })
    }

    /// Where byte `at` of the learned payload (outside every hole) is in the matched one.
    fn moved(&self, at: usize) -> usize {
        let mut to = at;
        for ((start, end, _), &len) in self.holes.iter().zip(&self.lengths) {
            if *end > at {
                break;
            }
            to = (to + len).saturating_sub(end - start);
        }
        to
    }

    /// The payload's text and values, if it has this template's bytes around valid values.
    pub fn read<'a, 't>(&'t mut self, payload: &'a [u8]) -> Option<Matched<'a, 't>> {
        if let Some(strings) = self.read_strings(payload) {
            return Some(Matched {
                strings,
                numbers_as_applied: true,
                template: self,
                payload,
            });
        }
        self.numbers_in_lengths = false;
        let mut strings = [None, None, None];
        let mut pos = 0;
        let mut last = 0;
        // Where the next number's bytes are in `self.numbers`, and which number it is, while
        // they all agree.
        let mut applied_at = self.numbers.as_ref().map(|_| (0, 0));
        for (i, (start, end, hole)) in self.holes.iter().enumerate() {
            let literal = self.bytes.get(last..*start)?;
            if payload.get(pos..pos + literal.len())? != literal {
                return None;
            }
            pos += literal.len();
            let len = match hole {
                Hole::String(role) => {
                    let (text, used) = string_at(payload, pos)?;
                    *strings.get_mut(*role as usize)? = Some(text);
                    used
                }
                Hole::Number => {
                    let rest = payload.get(pos..)?;
                    // The number applied last, not followed by a byte that would lengthen it:
                    // the same complete number as then, with no scan. Anything else is scanned.
                    let same = applied_at.and_then(|(at, k)| {
                        let applied = self.numbers.as_ref()?;
                        let len = *applied.lengths.get(k)?;
                        let before = applied.bytes.get(at..at + len)?;
                        let ends = !rest.get(len).is_some_and(|&b| continues_number(b));
                        (rest.get(..len)? == before && ends).then_some((at + len, k + 1, len))
                    });
                    if let Some((at, k, len)) = same {
                        applied_at = Some((at, k));
                        len
                    } else {
                        let (used, state) = Num::Start.scan(rest);
                        if used == 0 || !state.is_complete() {
                            return None;
                        }
                        applied_at = None;
                        used
                    }
                }
            };
            if let Some(slot) = self.lengths.get_mut(i) {
                *slot = len;
            }
            pos += len;
            last = *end;
        }
        if payload.get(pos..)? != self.bytes.get(last..)? {
            return None;
        }
        // Every number is at least a byte long: all bytes agreed, so every number did.
        let numbers_as_applied = applied_at
            .is_some_and(|(at, _)| (self.numbers.as_ref()).is_some_and(|n| n.bytes.len() == at));
        Some(Matched {
            strings,
            numbers_as_applied,
            template: self,
            payload,
        })
    }

    /// [`Self::read`] of a payload that ends with [`Self::tail`]: its strings, with every
    /// hole's length noted, or None (nothing learned) for any other payload, which the full
    /// read then handles. The tail is that of a payload read and applied, bytes for bytes, at
    /// the payload's end: it holds the same complete numbers (a number cannot run on past
    /// the end, and the byte before the tail is a string's closing quote in both).
    fn read_strings<'a>(&mut self, payload: &'a [u8]) -> Option<[Option<Cow<'a, str>>; 3]> {
        let tail = self.tail.as_ref()?;
        let body = payload.len().checked_sub(tail.bytes.len())?;
        if payload.get(body..)? != tail.bytes.as_slice() {
            return None;
        }
        let applied = self.numbers.as_ref()?;
        let (strings_at, _) = self.holes.split_at_checked(tail.strings)?;
        let (string_lengths, number_lengths) = self.lengths.split_at_mut_checked(tail.strings)?;
        if number_lengths.len() != applied.lengths.len() {
            return None;
        }
        if !self.numbers_in_lengths {
            number_lengths.copy_from_slice(&applied.lengths);
            self.numbers_in_lengths = true;
        }
        let mut strings = [None, None, None];
        let (mut pos, mut last) = (0, 0);
        // Indexed rather than zipped: here, per event, the zip was not inlined.
        for (i, &(start, end, hole)) in strings_at.iter().enumerate() {
            let Hole::String(role) = hole else {
                return None;
            };
            let literal = self.bytes.get(last..start)?;
            if payload.get(pos..pos + literal.len())? != literal {
                return None;
            }
            pos += literal.len();
            let (text, used) = string_at(payload, pos)?;
            *strings.get_mut(role as usize)? = Some(text);
            *string_lengths.get_mut(i)? = used;
            pos += used;
            last = end;
        }
        (pos == body).then_some(strings)
    }

    /// [`Self::read_strings`] for a template whose one string hole is a text part's `text`,
    /// of a payload whose text has no escape: that text, or None for any other template or
    /// payload (which [`Self::read`] then takes as before). The text runs from the end of the
    /// bytes before it to the start of the tail, so its quotes are at known places and the
    /// scan only checks that no byte between them is a quote, backslash or control byte: the
    /// payloads `read_strings` would read as one plain string, and the same text. Nothing is
    /// noted: a read that notes lengths follows before any use of them.
    pub fn read_text<'a>(&self, payload: &'a [u8]) -> Option<&'a str> {
        let tail = self.tail.as_ref()?;
        let &[(start, _, Hole::String(Role::Text)), ref numbers @ ..] = self.holes.as_slice()
        else {
            return None;
        };
        if tail.strings != 1 || numbers.len() != self.numbers.as_ref()?.lengths.len() {
            return None;
        }
        let body = payload.len().checked_sub(tail.bytes.len())?;
        let [b'"', text @ .., b'"'] = payload.get(start..body)? else {
            return None;
        };
        if payload.get(body..)? != tail.bytes.as_slice()
            || payload.get(..start)? != self.bytes.get(..start)?
        {
            return None;
        }
        // Scanned on past the text: its closing quote stops the scan within the blocks of
        // sixteen (a tail is rarely shorter), sparing the padded last block's copy.
        let (plain, ascii) = plain_span(payload.get(start + 1..)?);
        if plain != text.len() {
            return None;
        }
        if ascii {
            // SAFETY: every byte of `text` is below 0x80, and ASCII is valid UTF-8.
            Some(unsafe { std::str::from_utf8_unchecked(text) })
        } else {
            std::str::from_utf8(text).ok()
        }
    }

    /// Notes the payload it was learned from, which the fold applied in full, as read and
    /// applied: the next payload with the same numbers is read by its strings alone.
    pub fn learned(&mut self, payload: &[u8]) {
        for ((start, end, _), len) in self.holes.iter().zip(&mut self.lengths) {
            *len = end - start;
        }
        self.applied(payload);
    }

    /// Notes the number holes' bytes of `payload`, the one last read, as applied.
    pub fn applied(&mut self, payload: &[u8]) {
        let mut numbers = self.numbers.take().unwrap_or_default();
        numbers.bytes.clear();
        numbers.lengths.clear();
        let (mut pos, mut last) = (0, 0);
        // Where the last string hole ends in `payload`, while no number hole came before it.
        let mut strings_end = Some(0);
        for ((start, end, hole), len) in self.holes.iter().zip(&self.lengths) {
            pos += start - last;
            if *hole == Hole::Number {
                numbers
                    .bytes
                    .extend_from_slice(payload.get(pos..pos + len).unwrap_or_default());
                numbers.lengths.push(*len);
            } else if !numbers.lengths.is_empty() {
                strings_end = None;
            } else {
                strings_end = Some(pos + len);
            }
            pos += len;
            last = *end;
        }
        let mut tail = self.tail.take().unwrap_or_default();
        tail.bytes.clear();
        tail.strings = self.holes.len() - numbers.lengths.len();
        self.numbers = Some(numbers);
        self.numbers_in_lengths = true;
        match strings_end.and_then(|at| payload.get(at..)) {
            Some(bytes) if strings_end != Some(0) => {
                tail.bytes.extend_from_slice(bytes);
                self.tail = Some(tail);
            }
            _ => self.tail = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::value::Map;

    const A: &[u8] = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#;

    fn learn(p: &[u8]) -> Option<Template> {
        let (chunk, shape) = super::super::scan(p, 128, &Map::new(), &[]).ok()?;
        let (recipe, roles) = super::super::recipe(&chunk, &shape)?;
        Template::learn(p, &shape, roles, recipe)
    }

    fn template() -> Template {
        learn(A).unwrap_or_else(|| panic!("no template"))
    }

    #[test]
    fn strings_and_numbers_outside_strings_are_holes() {
        let t = template();
        let holes: Vec<&[u8]> = t.holes.iter().map(|h| &A[h.0..h.1]).collect();
        assert_eq!(holes, [&b"\"He\""[..], b"9", b"-1.5e3"]);
        let call = br#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a[0]","stringValue":"x\"","willContinue":true}],"willContinue":true}}]}}],"n":[1,2]}"#;
        let t = learn(call).unwrap_or_else(|| panic!("no template"));
        let holes: Vec<&[u8]> = t.holes.iter().map(|h| &call[h.0..h.1]).collect();
        assert_eq!(holes, [&b"\"$.a[0]\""[..], b"\"x\\\"\"", b"1", b"2"]);
    }

    #[test]
    fn payloads_without_one_repeatable_part_have_no_template() {
        let none: [&[u8]; 7] = [
            br#"{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b"}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"inlineData":{}}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a","numberValue":1}]}}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"n":1,"n":2}"#,
        ];
        for p in none {
            assert!(learn(p).is_none(), "{}", String::from_utf8_lossy(p));
        }
        let text = "a".repeat(MAX_BYTES);
        let big = format!(r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}]}}}}]}}"#);
        assert!(learn(big.as_bytes()).is_none());
        let small = format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{}"}}]}}}}]}}"#,
            &text[..100]
        );
        assert!(learn(small.as_bytes()).is_some());
    }

    #[test]
    fn same_bytes_around_new_values_match() {
        let mut t = template();
        let b = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"llo \"q\" \u00e9"}]},"index":0}],"usageMetadata":{"promptTokenCount":1234,"details":[{"m":"TEXT","n":0}],"s":"x1"},"modelVersion":"m-2"}"#;
        let usage = t.recipe.keys[0];
        assert_eq!(t.recipe.kept.str(usage.0), "usageMetadata");
        let m = t.read(b).unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.strings[0].as_deref(), Some("llo \"q\" \u{e9}"));
        assert_eq!(
            m.value(usage.1, usage.2),
            Some(r#"{"promptTokenCount":1234,"details":[{"m":"TEXT","n":0}],"s":"x1"}"#)
        );
    }

    /// A number equal to the one applied last is recognised without a scan only when no byte
    /// after it would lengthen it; anything longer, shorter or different is a new number.
    #[test]
    fn numbers_as_applied_are_those_bytes_and_no_longer() {
        let mut t = template();
        let with = |prompt: &str, n: &str| {
            let text = String::from_utf8_lossy(A)
                .replace(":9,", &format!(":{prompt},"))
                .replace("-1.5e3", n);
            text.into_bytes()
        };
        let usage = t.recipe.keys[0];
        let same = |t: &mut Template, p: &[u8]| {
            let m = t.read(p).unwrap_or_else(|| panic!("no match"));
            let value = m.value(usage.1, usage.2).map(str::to_string);
            (m.numbers_as_applied, value)
        };
        assert!(!same(&mut t, A).0);
        t.applied(A);
        assert!(same(&mut t, A).0);
        for (prompt, n) in [
            ("97", "-1.5e3"),
            ("9", "-1.5e31"),
            ("9", "-1.5"),
            ("8", "-1.5e3"),
        ] {
            let p = with(prompt, n);
            let (as_applied, value) = same(&mut t, &p);
            assert!(!as_applied, "{prompt} {n}");
            let expected = format!(
                r#"{{"promptTokenCount":{prompt},"details":[{{"m":"TEXT","n":{n}}}],"s":"x1"}}"#
            );
            assert_eq!(value.as_deref(), Some(expected.as_str()));
        }
        // Noted again (after a read of it, as the fold does): those bytes are now the ones
        // applied.
        let p = with("97", "-1.5e31");
        assert!(!same(&mut t, &p).0);
        t.applied(&p);
        assert!(same(&mut t, &p).0);
        assert!(!same(&mut t, A).0);
    }

    /// Once a payload was applied, one that ends with its bytes after the text is read by its
    /// strings alone: it gives what the full read gives, and anything the full read refuses
    /// (a bad string, other bytes before the tail, another number) is refused or read in full.
    #[test]
    fn a_payload_ending_as_the_applied_one_reads_as_in_full() {
        let mut t = template();
        let usage = t.recipe.keys[0];
        assert!(t.read(A).is_some());
        t.applied(A);
        let with_text = |text: &[u8]| {
            let mut p = A.to_vec();
            let at = A
                .windows(4)
                .position(|w| w == b"\"He\"")
                .unwrap_or_default();
            p.splice(at..at + 4, text.iter().copied());
            p
        };
        let read = |t: &mut Template, p: &[u8]| {
            t.read(p).map(|m| {
                let value = m.value(usage.1, usage.2).map(str::to_string);
                (
                    m.strings[0].clone().map(Cow::into_owned),
                    m.numbers_as_applied,
                    value,
                )
            })
        };
        let value = Some(
            r#"{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"}"#.to_string(),
        );
        for (text, expected) in [
            (&b"\"\""[..], ""),
            (b"\"plain words\"", "plain words"),
            (b"\"caf\xc3\xa9\"", "caf\u{e9}"),
            (b"\"a \\\"q\\\" \\u00e9\\n\"", "a \"q\" \u{e9}\n"),
        ] {
            let p = with_text(text);
            let got = read(&mut t, &p);
            assert_eq!(
                got,
                Some((Some(expected.to_string()), true, value.clone())),
                "{}",
                String::from_utf8_lossy(&p)
            );
        }
        for text in [
            &b"\"a\x01\""[..],
            b"\"a\xff\"",
            b"\"a\\q\"",
            b"\"a\",\"thought\":\"b\"",
            b"\"a\" ",
            b"\"a",
            b"5",
            b"\"a\"\"",
        ] {
            let p = with_text(text);
            assert_eq!(read(&mut t, &p), None, "{}", String::from_utf8_lossy(&p));
        }
        // The tail's numbers are those applied; another number is read in full.
        let p = String::from_utf8_lossy(A).replace(":9,", ":97,");
        let got = read(&mut t, p.as_bytes());
        let expected = Some(
            r#"{"promptTokenCount":97,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"}"#.to_string(),
        );
        assert_eq!(got, Some((Some("He".to_string()), false, expected)));
        let before = String::from_utf8_lossy(A).replace("\"model\"", "\"modex\"");
        assert_eq!(read(&mut t, before.as_bytes()), None);
    }

    /// A text read by [`Template::read_text`] is the one [`Template::read_strings`] reads, and
    /// every plain text that reads is read so: whatever its length around the scan's blocks and
    /// however few bytes follow it; an escaped, invalid or unended text, or other bytes around
    /// it, are not read; nor is any payload of a template whose strings are not one text.
    #[test]
    fn a_plain_text_reads_as_the_strings_read() {
        const SHORT: &[u8] = br#"{"candidates":[{"content":{"parts":[{"text":"He"}]}}]}"#;
        let mut texts: Vec<Vec<u8>> = (0..40)
            .map(|n| {
                let mut t = vec![b'"'];
                t.extend(b"abcdefghijklmnopqrstuvwxyz".iter().cycle().take(n));
                t.push(b'"');
                t
            })
            .collect();
        for n in [0, 1, 14, 15, 16, 17, 31, 32] {
            for bad in [
                &b"\\\\"[..],
                b"\\\"",
                b"\"",
                b"\x01",
                b"\x1f",
                b"\xff",
                b"\xc3",
            ] {
                let mut t = texts[n].clone();
                let at = 1 + n / 2;
                t.splice(at..at, bad.iter().copied());
                texts.push(t);
            }
            for good in [&b"\xc3\xa9"[..], b"\xf0\x9f\x98\x80", b"\x7f", b" "] {
                let mut t = texts[n].clone();
                let at = 1 + n;
                t.splice(at..at, good.iter().copied());
                texts.push(t);
            }
        }
        texts.extend([&b"\"a"[..], b"a\"", b"5", b"\"\"\"", b""].map(<[u8]>::to_vec));
        for learned in [A, SHORT] {
            let mut t = learn(learned).unwrap_or_else(|| panic!("no template"));
            t.learned(learned);
            let at = (learned.windows(4))
                .position(|w| w == b"\"He\"")
                .unwrap_or_default();
            let mut read = 0;
            for text in &texts {
                let mut p = learned.to_vec();
                p.splice(at..at + 4, text.iter().copied());
                let fast = t.read_text(&p).map(str::to_string);
                let strings = t
                    .read_strings(&p)
                    .map(|s| s[0].clone().map(Cow::into_owned));
                let shown = String::from_utf8_lossy(&p);
                if fast.is_some() {
                    assert_eq!(strings, Some(fast.clone()), "{shown}");
                    read += 1;
                } else {
                    let escaped = strings.is_some() && text.contains(&b'\\');
                    assert!(strings.is_none() || escaped, "{shown}");
                }
                for other in [p[1..].to_vec(), [&p[..], b" "].concat()] {
                    assert_eq!(t.read_text(&other), None, "{shown}");
                }
            }
            assert_eq!(read, 40 + 8 * 4, "{}", String::from_utf8_lossy(learned));
        }
        let call = br#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a","stringValue":"x"}]}}]}}]}"#;
        let numbered = br#"{"n":1,"candidates":[{"content":{"parts":[{"text":"He"}]}}]}"#;
        for p in [&call[..], numbered] {
            let mut t = learn(p).unwrap_or_else(|| panic!("no template"));
            t.learned(p);
            assert!(t.read_strings(p).is_some() || p == numbered);
            assert_eq!(t.read_text(p), None);
        }
    }

    /// A template notes the payload it was learned from as applied, and the one derived from
    /// it notes that payload less the cut member: a payload with the same numbers is read by
    /// its strings alone (its tail), with what a full read gives; other numbers or other bytes
    /// where the member was are not.
    #[test]
    fn learned_and_derived_templates_start_with_their_payload_applied() {
        let with = |part: &str, n: &str| {
            format!(
                r#"{{"candidates":[{{"content":{{"parts":[{{{part}}}]}},"index":0}}],"usageMetadata":{{"promptTokenCount":{n},"n":[1,22]}},"modelVersion":"m"}}"#
            )
            .into_bytes()
        };
        let thought = with(r#""text":"a","thought":true"#, "9");
        let mut t = learn(&thought).unwrap_or_else(|| panic!("no template"));
        t.learned(&thought);
        let usage = t.recipe.keys[0];
        let again = with(r#""text":"b","thought":true"#, "9");
        assert!(t.read_strings(&again).is_some());
        let m = t.read(&again).unwrap_or_else(|| panic!("no match"));
        assert!(m.numbers_as_applied);
        assert_eq!(m.strings[0].as_deref(), Some("b"));
        assert_eq!(
            m.value(usage.1, usage.2),
            Some(r#"{"promptTokenCount":9,"n":[1,22]}"#)
        );
        let mut answer = t.next().unwrap_or_else(|| panic!("no answer template"));
        let usage = answer.recipe.keys[0];
        let expected_usage = r#"{"promptTokenCount":9,"n":[1,22]}"#;
        for text in ["c", "", "d \\\"e\\\""] {
            let p = with(&format!(r#""text":"{text}""#), "9");
            assert!(answer.read_strings(&p).is_some(), "{text}");
            let m = answer.read(&p).unwrap_or_else(|| panic!("no match"));
            assert!(m.numbers_as_applied);
            assert!(m.strings[0].is_some());
            assert_eq!(m.value(usage.1, usage.2), Some(expected_usage));
        }
        let other = with(r#""text":"c""#, "10");
        assert!(answer.read_strings(&other).is_none());
        let m = answer.read(&other).unwrap_or_else(|| panic!("no match"));
        assert!(!m.numbers_as_applied);
        assert_eq!(
            m.value(usage.1, usage.2),
            Some(r#"{"promptTokenCount":10,"n":[1,22]}"#)
        );
        for part in [
            r#""text":"c","thought":true"#,
            r#""text":"c","thought":false"#,
            r#""text":"c","x":true"#,
            r#""text":"c" "#,
        ] {
            let p = with(part, "9");
            assert!(answer.read(&p).is_none(), "{part}");
        }
    }

    /// The block scan stops where the byte scan stops, with the same ASCII flag, wherever the
    /// stop byte falls in or after a block, and at the end of the input.
    #[test]
    fn plain_span_stops_where_plain_run_stops() {
        use crate::json::reader::plain_run;
        for len in 0..50usize {
            for stop_at in 0..=len {
                for (stop, high_at) in [
                    (b'"', None),
                    (b'"', Some(stop_at + 1)),
                    (b'\\', Some(0)),
                    (0x1f, Some(stop_at / 2)),
                    (b'a', Some(len.saturating_sub(1))),
                ] {
                    let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    if let Some(h) = high_at.filter(|&h| h < len) {
                        bytes[h] = 0xC3;
                    }
                    if stop_at < len {
                        bytes[stop_at] = stop;
                    }
                    assert_eq!(plain_span(&bytes), plain_run(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn anything_else_is_not_matched() {
        let mut t = template();
        let cases: [&[u8]; 7] = [
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":1}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"a\q"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":5}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":09,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":"9","details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"} x"#,
        ];
        for c in cases {
            assert!(t.read(c).is_none(), "{}", String::from_utf8_lossy(c));
        }
        let ctrl = b"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"a\x01\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"details\":[{\"m\":\"TEXT\",\"n\":-1.5e3}],\"s\":\"x1\"},\"modelVersion\":\"m-2\"}";
        assert!(t.read(ctrl).is_none());
    }
}
