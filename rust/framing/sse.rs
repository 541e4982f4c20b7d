//! WHATWG event-stream framing ("Interpreting an event stream", HTML Living Standard 9.2.6)
//! over raw network reads.
//!
//! The framer works on bytes and never decodes text: field names are compared as bytes, values
//! are handed out as bytes, and the consumer decodes them (lossy UTF-8). Only CR and LF end
//! lines, so U+2028, U+2029, NEL and invalid UTF-8 all pass through as ordinary data.
//!
//! Cost model: at the start of a block, the common event (an optional `event:` line, one `data:`
//! line and the blank line, all inside the read) is recognised in one step and dispatched with
//! `RawEvent::data` pointing into the read itself (`whole_event`; its two usual spellings,
//! `event: <the previous type>` + `data: ` and `data: ` alone under LF or CRLF, by a few word
//! compares first, in `common_event`). The sink is a [`Sink`], so a caller can have its
//! per-event work compiled into this loop (the driver does). An event of that shape cut by the
//! end of the read is copied once, unframed (`Framer::tail`); the next read is searched only
//! for its blank line, and the event, completed by that head of the read, is recognised whole
//! and dispatched (`Framer::dispatch_tail`), with no second search for the end of a data line
//! the read had cut (`TailEnd::InValue`), while the rest of the read is framed in place. Anything else goes line by line: each line's
//! end is found (`find_line_end`), classified and applied to the block. Only the bytes of an
//! event that the recogniser gave up on, or that a read cut, are scanned twice. A line that
//! lies inside one read is processed in place; only a line that spans reads outside a held
//! tail is copied (into `line`). Data is copied into the framer only when it must outlive the
//! read or when several data lines have to be joined.

use memchr::{memchr, memchr2};

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Buffers whose capacity grew past this are released after use, so that one huge event does not
/// pin its memory in an otherwise idle parser (thousands of idle parsers must stay small).
const KEEP_CAPACITY_BYTES: usize = 64 * 1024;

/// One dispatched event, borrowed from the framer and the current read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// Raw bytes of the `event` field; empty means "message".
    pub event_type: &'a [u8],
    /// Data lines joined with b'\n', no trailing LF.
    pub data: &'a [u8],
    /// The last-event-id buffer at dispatch.
    pub last_event_id: &'a [u8],
    /// Reconnection time at dispatch (persists); None if never set.
    pub retry: Option<u64>,
    /// Stream offset of the first byte of the first `data` line's value (a BOM counts).
    pub data_offset: u64,
    /// 0-based count of events dispatched before this one.
    pub index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedError<E> {
    /// The sink refused an event; framing stopped right after it.
    Sink(E),
    /// A line, or an event's joined data, is longer than `limit` bytes. `line_offset` is the
    /// stream offset of the start of that line; `event_index` is the index the event it belonged
    /// to would have had. That block is not dispatched: its remaining lines up to the next blank
    /// line are still read (`id` and `retry` take effect) but its data is dropped.
    LineTooLong {
        line_offset: u64,
        limit: usize,
        event_index: u64,
    },
}

/// Takes the events a [`Framer`] dispatches. Every `FnMut(&RawEvent) -> Result<(), E>` is one;
/// a caller whose per-event work should be compiled into the framer's loop implements it with
/// an `#[inline(always)]` method (a closure cannot ask for that).
pub trait Sink<E> {
    /// One event; an error stops framing right after it.
    ///
    /// # Errors
    /// Whatever the taker refuses the event with.
    fn event(&mut self, event: &RawEvent<'_>) -> Result<(), E>;
}

impl<E, F: FnMut(&RawEvent<'_>) -> Result<(), E>> Sink<E> for F {
    #[inline]
    fn event(&mut self, event: &RawEvent<'_>) -> Result<(), E> {
        self(event)
    }
}

/// How [`Framer::feed_or_hand_back`] stopped before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped<E> {
    /// As [`Framer::feed`] stops: the rest of the input is kept and framed by the next call.
    Kept(FeedError<E>),
    /// The sink refused an event with an error the caller asked to have handed back: the input
    /// from `rest_at` on was not taken.
    HandedBack { error: E, rest_at: usize },
}

/// Why framing of one input slice stopped before its end.
enum Stop<E> {
    Sink(E),
    LineTooLong { line_offset: u64 },
}

/// The per-block state of the spec ("data buffer", "event type buffer", "last event ID buffer")
/// plus what persists between blocks.
// The flags are independent facts of one block (data seen, poisoned, id changed, type set),
// not the states of one machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default)]
struct Block {
    /// Joined data lines without the spec's trailing LF. Empty while the only data line so far is
    /// still borrowed from the current read.
    data: Vec<u8>,
    /// Whether any `data` line arrived in this block: `data: ` alone must still dispatch "".
    has_data: bool,
    data_offset: u64,
    /// The `event` field's value once `has_event_type`; otherwise the previous block's, kept
    /// so that a repeat of its line is recognised without a search (see `repeated_event_line`).
    event_type: Vec<u8>,
    has_event_type: bool,
    /// A line of this block was over the limit: the block is consumed but never dispatched.
    poisoned: bool,
    id_buffer: Vec<u8>,
    /// The last-event-id as of the latest blank line: an `id` in a block that the end of the
    /// stream cuts off never takes effect.
    id_string: Vec<u8>,
    id_changed: bool,
    retry: Option<u64>,
}

impl Block {
    fn reset(&mut self) {
        release_if_large(&mut self.data);
        self.data.clear();
        self.has_data = false;
        self.has_event_type = false;
        self.poisoned = false;
    }

    fn poison(&mut self) {
        self.poisoned = true;
        self.data.clear();
    }

    /// Applies an `event`, `id` or `retry` field; everything else has no effect here.
    fn apply_field(&mut self, field: LineField, line: &[u8]) {
        match field {
            LineField::Event(at) => {
                self.event_type.clear();
                self.event_type
                    .extend_from_slice(line.get(at..).unwrap_or_default());
                self.has_event_type = true;
            }
            LineField::Id(at) => {
                let value = line.get(at..).unwrap_or_default();
                if memchr(0, value).is_none() {
                    self.id_buffer.clear();
                    self.id_buffer.extend_from_slice(value);
                    self.id_changed = true;
                }
            }
            LineField::Retry(at) => {
                if let Some(ms) = parse_retry(line.get(at..).unwrap_or_default()) {
                    self.retry = Some(ms);
                }
            }
            LineField::Blank | LineField::Data(_) | LineField::Ignored => {}
        }
    }

    /// Where the line at the start of `rest` ends, when it is `event: ` and the last event
    /// type value seen, followed by CR or LF. That line holds no CR or LF (its value came from
    /// one line), so the terminator after it is the first one in `rest`: the answer is the
    /// one the search would give.
    #[inline(always)]
    fn repeated_event_line(&self, rest: &[u8]) -> Option<usize> {
        let tail = rest
            .strip_prefix(b"event: ")?
            .strip_prefix(self.event_type.as_slice())?;
        matches!(tail.first(), Some(&(CR | LF))).then_some(rest.len() - tail.len())
    }

    fn publish_id(&mut self) {
        if self.id_changed {
            self.id_changed = false;
            self.id_string.clone_from(&self.id_buffer);
        }
    }
}

/// What one complete line means. Offsets are where the field value starts in the line.
#[derive(Clone, Copy)]
enum LineField {
    Blank,
    Data(usize),
    Event(usize),
    Id(usize),
    Retry(usize),
    /// Comments and unknown fields.
    Ignored,
}

#[inline(always)]
fn classify(line: &[u8]) -> LineField {
    // Nearly every line of a chat stream is `data: ...` or blank: test those before searching
    // for the colon.
    if line.starts_with(b"data:") {
        return LineField::Data(value_start(line, 5));
    }
    let Some(&first) = line.first() else {
        return LineField::Blank;
    };
    if first == b':' {
        return LineField::Ignored;
    }
    let (name, value_at) = match memchr(b':', line) {
        Some(colon) => (
            line.get(..colon).unwrap_or_default(),
            value_start(line, colon + 1),
        ),
        None => (line, line.len()),
    };
    match name {
        b"data" => LineField::Data(value_at),
        b"event" => LineField::Event(value_at),
        b"id" => LineField::Id(value_at),
        b"retry" => LineField::Retry(value_at),
        _ => LineField::Ignored,
    }
}

/// The spec removes exactly one U+0020 after the colon.
#[inline(always)]
fn value_start(line: &[u8], after_colon: usize) -> usize {
    if line.get(after_colon) == Some(&b' ') {
        after_colon + 1
    } else {
        after_colon
    }
}

/// `retry` counts only when it is non-empty ASCII digits; a value that overflows u64 is ignored
/// like any other unusable value.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &byte| {
        if byte.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
        } else {
            None
        }
    })
}

/// Given the index of a CR or LF in `input`, returns where the next line starts and whether the
/// terminator was a CR at the very end of the read (its LF, if any, arrives with the next read).
#[inline(always)]
fn after_terminator(input: &[u8], terminator: usize) -> (usize, bool) {
    if input.get(terminator) == Some(&CR) {
        match input.get(terminator + 1) {
            Some(&LF) => (terminator + 2, false),
            Some(_) => (terminator + 1, false),
            None => (terminator + 1, true),
        }
    } else {
        (terminator + 1, false)
    }
}

/// Past this many bytes without a line end, [`find_line_end`] hands the rest to `memchr2`,
/// whose wider steps then repay the cost of the call.
const INLINE_SEARCH_BYTES: usize = 512;

/// The index of the first CR or LF in `bytes`. Event lines are tens to hundreds of bytes: a
/// search of our own costs about half the instructions of a call into `memchr2`'s dispatch
/// for them; a longer line goes on with `memchr2`. With AVX2 (most `x86_64` CPUs, checked once
/// and cached by std) sixty-four bytes are searched per step, otherwise thirty-two.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, as just checked.
        return unsafe { find_line_end_avx2(bytes) };
    }
    find_line_end_sse2(bytes)
}

/// [`find_line_end`] with SSE2, part of every `x86_64`, inlined.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_line_end_sse2(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // 0xFF in each byte of `block` that is CR or LF.
    let hits = |block: &[u8; 16]| -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every
        // machine the crate runs on; the load reads the sixteen bytes of `block` (unaligned
        // loads are allowed) and nothing else.
        unsafe {
            let x = _mm_loadu_si128(block.as_ptr().cast());
            let cr = _mm_cmpeq_epi8(x, _mm_set1_epi8(i8::from_ne_bytes([CR])));
            let lf = _mm_cmpeq_epi8(x, _mm_set1_epi8(i8::from_ne_bytes([LF])));
            _mm_or_si128(cr, lf)
        }
    };
    // Bit k is set when byte k of the block is CR or LF.
    let mask = |hits: __m128i| -> u32 {
        // SAFETY: SSE2, as above; no memory is read.
        let mask = unsafe { _mm_movemask_epi8(hits) };
        u32::from_ne_bytes(mask.to_ne_bytes())
    };
    let mut at = 0;
    // Two blocks per step, tested together: one branch per thirty-two bytes.
    while let Some(pair) = bytes.get(at..at + 32) {
        if at >= INLINE_SEARCH_BYTES {
            let rest = bytes.get(at..).unwrap_or_default();
            return memchr2(CR, LF, rest).map(|found| at + found);
        }
        let (low, high) = pair.split_at(16);
        let (Ok(low), Ok(high)) = (<&[u8; 16]>::try_from(low), <&[u8; 16]>::try_from(high)) else {
            break;
        };
        let (low, high) = (hits(low), hits(high));
        // SAFETY: SSE2, as above; no memory is read.
        if mask(unsafe { _mm_or_si128(low, high) }) != 0 {
            let found = mask(low) | mask(high) << 16;
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 32;
    }
    if let Some(Ok(block)) = bytes.get(at..at + 16).map(<&[u8; 16]>::try_from) {
        let found = mask(hits(block));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 16;
    }
    if at == bytes.len() {
        return None;
    }
    match bytes.split_last_chunk::<16>() {
        // The last sixteen bytes overlap blocks already searched, which held no terminator,
        // so the first one found lies in the unsearched rest.
        Some((_, last)) => {
            let found = mask(hits(last));
            (found != 0).then(|| bytes.len() - 16 + found.trailing_zeros() as usize)
        }
        None => bytes.iter().position(|&byte| byte == CR || byte == LF),
    }
}

/// [`find_line_end`] for a CPU with AVX2, on at least sixty-four bytes: thirty-two bytes per
/// compare, sixty-four per step, so a line of a few hundred bytes takes half the steps.
///
/// # Safety
/// Only on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn find_line_end_avx2(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };
    // Macros rather than closures: a closure would not inherit this function's target
    // feature, and its intrinsics would not be inlined.
    // 0xFF in each byte of the 32-byte block that is CR or LF.
    macro_rules! hits {
        ($block:expr) => {{
            let block: &[u8; 32] = $block;
            // SAFETY: the caller guarantees AVX2 (the body of this unsafe fn is an unsafe context);
            // the load reads the thirty-two bytes of `block` (unaligned loads are allowed)
            // and nothing else.
            let x = _mm256_loadu_si256(block.as_ptr().cast());
            let cr = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(i8::from_ne_bytes([CR])));
            let lf = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(i8::from_ne_bytes([LF])));
            _mm256_or_si256(cr, lf)
        }};
    }
    // Bit k is set when byte k of the block is CR or LF.
    macro_rules! mask {
        ($hits:expr) => {{
            let hits: __m256i = $hits;
            let mask = _mm256_movemask_epi8(hits);
            u64::from(u32::from_ne_bytes(mask.to_ne_bytes()))
        }};
    }
    let mut at = 0;
    while let Some(pair) = bytes.get(at..at + 64) {
        if at >= INLINE_SEARCH_BYTES {
            let rest = bytes.get(at..).unwrap_or_default();
            return memchr2(CR, LF, rest).map(|found| at + found);
        }
        let (low, high) = pair.split_at(32);
        let (Ok(low), Ok(high)) = (<&[u8; 32]>::try_from(low), <&[u8; 32]>::try_from(high)) else {
            break;
        };
        let (low, high) = (hits!(low), hits!(high));
        if mask!(_mm256_or_si256(low, high)) != 0 {
            let found = mask!(low) | mask!(high) << 32;
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 64;
    }
    if let Some(Ok(block)) = bytes.get(at..at + 32).map(<&[u8; 32]>::try_from) {
        let found = mask!(hits!(block));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 32;
    }
    if at == bytes.len() {
        return None;
    }
    // At least sixty-four bytes: the last thirty-two overlap blocks already searched, which
    // held no terminator, so the first one found lies in the unsearched rest.
    let last = bytes.last_chunk::<32>()?;
    let found = mask!(hits!(last));
    (found != 0).then(|| bytes.len() - 32 + found.trailing_zeros() as usize)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    memchr2(CR, LF, bytes)
}

/// Where the common shape of a whole event lies in a read: an optional `event` line, one `data`
/// line and the blank line that dispatches it, every terminator inside the read. Positions are
/// indices into the read.
#[derive(Clone, Copy)]
struct WholeEvent {
    /// The `event` line's value, when the event has one and it differs from the previous one.
    new_event_type: Option<(usize, usize)>,
    /// The event has an `event` line.
    has_event_type: bool,
    /// The `data` line's value.
    data: (usize, usize),
    /// Where the line after the blank line starts.
    next: usize,
    /// The blank line was a CR at the very end of the read.
    ended_on_cr: bool,
}

/// A line end already known: the first CR or LF at or after `from` is at `at` (a completed
/// tail's data line, see [`TailEnd::InValue`]), so a data value that starts at or before
/// `from` needs no search.
#[derive(Clone, Copy)]
struct KnownEnd {
    from: usize,
    at: usize,
}

/// Why no [`WholeEvent`] was recognised.
#[derive(Clone, Copy)]
enum Miss {
    /// The read ended inside an event of the common shape, before its blank line: the lines
    /// so far are `event` and `data` lines only. The tail of the read can wait, unframed, for
    /// the rest of the event (see `Framer::tail`).
    Incomplete(TailEnd),
    /// Anything else: the general path frames it.
    Other,
}

/// How the bytes of a held tail end: inside a line, right after a line's end (LF or CRLF), or
/// right after a CR, whose LF may open the next read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TailEnd {
    InLine,
    /// Inside the value of the event's `data` line, its last line, which a recogniser searched
    /// to the end of the tail: no CR or LF lies between that value and the end of the tail, so
    /// when the tail is completed the line's end is the first one the completing read holds.
    InValue,
    LineStart,
    AfterCr,
}

/// What [`event_end`] found in the bytes after a tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TailScan {
    /// The blank line that ends the event ends just before this index.
    End(usize),
    /// No blank line yet; the bytes end as this says.
    Open(TailEnd),
    /// A line of the event starts with `r`: it may be `retry`, which takes effect as soon as
    /// its line ends, so the event is framed line by line now rather than held.
    Refused,
}

/// Tails shorter than this that the recognisers gave up on for another reason than the end of
/// the read are searched for their blank line: their lines may still be held whole (a read that
/// ends inside `data:`, say). Longer ones go line by line at once, so an event of another shape
/// never pays for a second search of many bytes.
const SEARCHED_TAIL_BYTES: usize = 64;

/// Searches `bytes`, which continue bytes that end as `state` says, for the blank line that
/// ends an event; a line that starts with `r` stops the search.
fn event_end(bytes: &[u8], state: TailEnd) -> TailScan {
    let mut at = 0;
    let mut state = state;
    loop {
        match state {
            TailEnd::AfterCr => match bytes.get(at) {
                None => return TailScan::Open(TailEnd::AfterCr),
                // The LF of the CRLF that ended the line.
                Some(&LF) => {
                    at += 1;
                    state = TailEnd::LineStart;
                }
                Some(_) => state = TailEnd::LineStart,
            },
            TailEnd::LineStart => match bytes.get(at) {
                None => return TailScan::Open(TailEnd::LineStart),
                Some(&(CR | LF)) => return TailScan::End(after_terminator(bytes, at).0),
                Some(&b'r') => return TailScan::Refused,
                Some(_) => state = TailEnd::InLine,
            },
            TailEnd::InLine | TailEnd::InValue => {
                let Some(found) = bytes.get(at..).and_then(find_line_end) else {
                    // Still inside the same line: what the state said about it holds.
                    return TailScan::Open(state);
                };
                let terminator = at + found;
                at = terminator + 1;
                state = if bytes.get(terminator) == Some(&CR) {
                    TailEnd::AfterCr
                } else {
                    TailEnd::LineStart
                };
            }
        }
    }
}

/// What the general path would hold after framing `tail` (held from a clean block, without a
/// blank line): the joined values of its complete `data` lines, and its unfinished line.
fn held_by_lines(tail: &[u8]) -> usize {
    let mut held = 0;
    let mut has_data = false;
    let mut rest = tail;
    while let Some(found) = find_line_end(rest) {
        let line = rest.get(..found).unwrap_or_default();
        if let LineField::Data(value_at) = classify(line) {
            held += usize::from(has_data) + line.len() - value_at;
            has_data = true;
        }
        rest = rest
            .get(after_terminator(rest, found).0..)
            .unwrap_or_default();
    }
    held + rest.len()
}

/// Whether `a` and `b` hold the same bytes, compared sixteen at a time inline: an event type is
/// tens of bytes, for which the call into `memcmp` that slice equality makes costs more than
/// the compare, and the commonest (`response.output_text.delta`, `content_block_delta`) take
/// two sixteen-byte compares with no loop.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let block = |s: &[u8], at: usize| {
        s.get(at..)?
            .first_chunk::<16>()
            .map(|w| u128::from_ne_bytes(*w))
    };
    let word = |s: &[u8], at: usize| {
        s.get(at..)?
            .first_chunk::<8>()
            .map(|w| u64::from_ne_bytes(*w))
    };
    let Some(last) = a.len().checked_sub(16) else {
        // Under sixteen bytes: the first and the last eight, overlapping, or byte by byte.
        return match a.len().checked_sub(8) {
            Some(last) => word(a, 0) == word(b, 0) && word(a, last) == word(b, last),
            None => a.iter().zip(b).all(|(x, y)| x == y),
        };
    };
    let mut at = 0;
    while at < last {
        if block(a, at) != block(b, at) {
            return false;
        }
        at += 16;
    }
    // The last sixteen bytes, overlapping blocks already compared when the length is not a
    // multiple of sixteen.
    block(a, last) == block(b, last)
}

/// The first eight bytes at `at` as a little-endian word, for compares of a fixed prefix.
#[inline(always)]
fn word_at(input: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*input.get(at..)?.first_chunk::<8>()?))
}

/// Whether `word` starts with the first `N` bytes of `prefix` (N < 8): one masked compare.
#[inline(always)]
fn word_starts_with<const N: usize>(word: u64, prefix: &[u8; N]) -> bool {
    let mut expected = [0u8; 8];
    let mut i = 0;
    while i < N {
        expected[i] = prefix[i];
        i += 1;
    }
    let mask = u64::MAX >> (8 * (8 - N));
    word & mask == u64::from_le_bytes(expected)
}

/// The two commonest whole events in their usual spelling, `event: <the previous event's
/// type>` + `data: <value>` (Anthropic, Responses) and `data: <value>` alone (chat, Gemini),
/// each line ended by LF or CRLF, recognised with a few word compares; a [`Miss`] for anything
/// else, which [`whole_event`] then tries (unless the read just ended inside such an event). What it takes, `whole_event` would take the same way: the
/// event line is the previous type's line with one space after the colon (checked against the
/// limit again: the type may have come from a line without the space), and the one space after
/// each colon is the one the spec removes.
#[inline(always)]
fn common_event(
    input: &[u8],
    at: usize,
    limit: usize,
    last_type: &[u8],
    known_end: Option<KnownEnd>,
) -> Result<WholeEvent, Miss> {
    let head = word_at(input, at).ok_or(Miss::Other)?;
    // A stream whose last event had a type (Anthropic, Responses) names one on nearly every
    // event: its `event` line is tested first. Before any type, an `event: ` line is left to
    // `whole_event` (the repeat of an empty type is rare).
    let typed_line = !last_type.is_empty() && word_starts_with(head, b"event: ");
    let (value, has_event_type) = if !typed_line && word_starts_with(head, b"data: ") {
        (at + 6, false)
    } else if typed_line {
        let after_type = at + 7 + last_type.len();
        let typed = input.get(at + 7..after_type).ok_or(Miss::Other)?;
        if !same_bytes(typed, last_type) || 7 + last_type.len() > limit {
            return Err(Miss::Other);
        }
        let next_line = word_at(input, after_type).ok_or(Miss::Other)?;
        let value = if word_starts_with(next_line, b"\ndata: ") {
            after_type + 7
        } else if next_line == u64::from_le_bytes(*b"\r\ndata: ") {
            after_type + 8
        } else {
            return Err(Miss::Other);
        };
        (value, true)
    } else {
        return Err(Miss::Other);
    };
    // The data line starts six bytes before its value (`data: `).
    data_line_and_blank(
        input,
        value - 6,
        value,
        limit,
        None,
        has_event_type,
        known_end,
    )
}

/// The end of a [`WholeEvent`] whose data line starts at `line` and its value at `value`: the
/// line ends inside the read and within `limit`, and a blank line follows it. Shared by both
/// recognisers so that the two check the data line alike. When the read ends before that blank
/// line, the miss says where it ended (the caller has checked the lines before the data line,
/// none of which is blank or `retry`).
#[inline(always)]
fn data_line_and_blank(
    input: &[u8],
    line: usize,
    value: usize,
    limit: usize,
    new_event_type: Option<(usize, usize)>,
    has_event_type: bool,
    known_end: Option<KnownEnd>,
) -> Result<WholeEvent, Miss> {
    let end = match known_end {
        Some(known) if value <= known.from => known.at,
        _ => {
            let after_value = input.get(value..).ok_or(Miss::Other)?;
            value + find_line_end(after_value).ok_or(Miss::Incomplete(TailEnd::InValue))?
        }
    };
    if end - line > limit {
        return Err(Miss::Other);
    }
    let (blank, data_ended_on_cr) = after_terminator(input, end);
    match input.get(blank) {
        Some(&(CR | LF)) => {}
        Some(_) => return Err(Miss::Other),
        None if data_ended_on_cr => return Err(Miss::Incomplete(TailEnd::AfterCr)),
        None => return Err(Miss::Incomplete(TailEnd::LineStart)),
    }
    let (next, ended_on_cr) = after_terminator(input, blank);
    Ok(WholeEvent {
        new_event_type,
        has_event_type,
        data: (value, end),
        next,
        ended_on_cr,
    })
}

/// Recognises a [`WholeEvent`] starting at `at`, or a [`Miss`] for anything else (comments, `id`,
/// `retry`, several data lines, a line not ended inside the read, a line over `limit`): the
/// general path frames those. Every byte it skips is checked as the general path would: the
/// exact field name and colon, at most one space, and CR, LF or CRLF ends; so an event it takes
/// is the event that path would dispatch. `last_type` is the previous `event` value, whose
/// repeat is recognised without a search.
#[inline(always)]
fn whole_event(
    input: &[u8],
    at: usize,
    limit: usize,
    last_type: &[u8],
    known_end: Option<KnownEnd>,
) -> Result<WholeEvent, Miss> {
    let mut at = at;
    let mut new_event_type = None;
    let has_event_type = input.get(at) == Some(&b'e');
    if has_event_type {
        // Fixed-size compares: they stay inline whatever the optimiser decides for slices.
        if input.get(at..).and_then(<[u8]>::first_chunk::<6>) != Some(b"event:") {
            return Err(Miss::Other);
        }
        let value = value_start(input, at + 6);
        let after_value = input.get(value..).ok_or(Miss::Other)?;
        // The previous value cannot hold CR or LF (it came from one line), so when it is
        // followed by one, that is the first terminator of the line; and a value that is not
        // followed by one differs from it.
        let repeated = after_value
            .get(..last_type.len())
            .is_some_and(|value| same_bytes(value, last_type))
            && matches!(after_value.get(last_type.len()), Some(&(CR | LF)));
        let end = if repeated {
            value + last_type.len()
        } else {
            let found = find_line_end(after_value).ok_or(Miss::Incomplete(TailEnd::InLine))?;
            let end = value + found;
            new_event_type = Some((value, end));
            end
        };
        if end - at > limit {
            return Err(Miss::Other);
        }
        at = after_terminator(input, end).0;
    }
    if input.get(at..).and_then(<[u8]>::first_chunk::<5>) != Some(b"data:") {
        return Err(Miss::Other);
    }
    let value = value_start(input, at + 5);
    data_line_and_blank(
        input,
        at,
        value,
        limit,
        new_event_type,
        has_event_type,
        known_end,
    )
}

/// Appends without ever letting the buffer's capacity run past `limit` (the caller has already
/// checked that the content fits), so a long line never reserves twice the limit.
fn append_bounded(buffer: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    let needed = buffer.len().saturating_add(bytes.len());
    if needed > buffer.capacity() {
        let target = needed
            .max(buffer.capacity().saturating_mul(2))
            .min(limit)
            .max(needed);
        buffer.reserve_exact(target - buffer.len());
    }
    buffer.extend_from_slice(bytes);
}

fn release_if_large(buffer: &mut Vec<u8>) {
    if buffer.capacity() > KEEP_CAPACITY_BYTES {
        *buffer = Vec::new();
    }
}

/// Incremental WHATWG event-stream framer.
// The flags are independent facts (inside an over-long line, after a CR, at the start, which
// path frames), not the states of one machine.
#[allow(clippy::struct_excessive_bools)]
pub struct Framer {
    max_line_bytes: usize,
    /// The start of a line whose end has not arrived yet. Never holds CR or LF, so it is never
    /// scanned again: the next read is scanned from its own start. While `tail_end` is set it
    /// holds a tail instead (see there): the two never coexist, since a tail is only held at
    /// the start of a block, with no partial line.
    line: Vec<u8>,
    line_start: u64,
    /// Inside an over-long line that was already reported: skip to its end.
    discarding: bool,
    /// The previous read ended with a CR that ended a line; an LF opening the next read belongs
    /// to that CR.
    after_cr: bool,
    /// Still at the very start of the stream, where one BOM is stripped.
    at_start: bool,
    /// How many bytes of a BOM the stream started with so far (held, not yet processed).
    bom_matched: usize,
    block: Block,
    /// Input not yet framed because framing stopped early (sink error or over-long line),
    /// from `pending_start` on; empty whenever nothing is left to frame.
    pending: Vec<u8>,
    pending_start: usize,
    /// Set while `line` holds a tail: the end of a read that stopped inside an event, held
    /// unframed from `consumed` on until the event's blank line arrives; then the event is
    /// framed whole, by the recognisers, and the rest of that read in place. A tail never
    /// holds a blank line or a `retry` line (the only line whose effect shows before its event
    /// ends) and never more than `max_line_bytes`, so framing it later raises nothing and
    /// changes nothing that framing it at once would: no error, offset or state differs, only
    /// when the work is done. The value says how the held bytes end. (Kept in `line` rather
    /// than a buffer of its own: a parser object must stay under 512 bytes.)
    tail_end: Option<TailEnd>,
    /// Stream offset of the next byte to frame.
    consumed: u64,
    bytes_seen: u64,
    dispatched: u64,
    /// Whether whole events of the common shape are recognised in one step (see
    /// [`whole_event`]); off only to compare against the general path.
    whole_events: bool,
}

impl Framer {
    /// `max_line_bytes` bounds one line (terminator excluded) and one event's joined data;
    /// exactly at the limit is allowed.
    pub fn new(max_line_bytes: usize) -> Framer {
        Framer {
            max_line_bytes,
            line: Vec::new(),
            line_start: 0,
            discarding: false,
            after_cr: false,
            at_start: true,
            bom_matched: 0,
            block: Block::default(),
            pending: Vec::new(),
            pending_start: 0,
            tail_end: None,
            consumed: 0,
            bytes_seen: 0,
            dispatched: 0,
            whole_events: true,
        }
    }

    /// Frame one read; `sink` gets every event the read completes, in order. If the sink returns
    /// Err, framing stops right after that event and the rest of `input` is kept inside the
    /// framer, so the next `feed` (even with b"") resumes exactly there.
    /// On `LineTooLong` the over-long line is being discarded up to its end (never buffered beyond
    /// the limit) and the event it belonged to will not be dispatched; the rest of the read is
    /// likewise kept so the next `feed` resumes.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        sink: impl FnMut(&RawEvent<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        match self.feed_or_hand_back(input, sink, |_| false) {
            Ok(()) => Ok(()),
            Err(Stopped::Kept(error)) => Err(error),
            // Never chosen above; mapped for completeness.
            Err(Stopped::HandedBack { error, .. }) => Err(FeedError::Sink(error)),
        }
    }

    /// As [`Framer::feed`], for a caller that wants to frame the rest of the read itself after
    /// some sink errors (the driver does, once the first event has decided the format, to go on
    /// with a loop compiled for that format). When the sink refuses an event of `input` with an
    /// error for which `hand_back` is true, the rest of `input` (from `rest_at`) is neither
    /// framed nor kept nor counted in [`Framer::bytes_seen`]: it is as if the read had ended
    /// there, and the caller feeds the rest next. Any other stop (or one met while framing
    /// input held from an earlier call) keeps the rest as `feed` does.
    pub fn feed_or_hand_back<E>(
        &mut self,
        input: &[u8],
        mut sink: impl Sink<E>,
        hand_back: impl Fn(&E) -> bool,
    ) -> Result<(), Stopped<E>> {
        self.bytes_seen += input.len() as u64;
        let read = input;
        let mut input = input;
        if self.at_start {
            match self.strip_bom(input) {
                Some(rest) => input = rest,
                None => return Ok(()),
            }
        }
        if !self.pending.is_empty() {
            let mut pending = std::mem::take(&mut self.pending);
            let start = std::mem::take(&mut self.pending_start).min(pending.len());
            let held = pending.get(start..).unwrap_or_default();
            if let Err((stopped_at, stop)) = self.run(held, &mut sink, true) {
                // A sink may stop on every event of a large read: advance an offset rather
                // than shift the rest down each time, and compact only once the framed part
                // is the larger half, so resuming stays linear in the read.
                let mut start = start.saturating_add(stopped_at).min(pending.len());
                if start.saturating_mul(2) >= pending.len() {
                    pending.drain(..start);
                    start = 0;
                }
                pending.extend_from_slice(input);
                self.pending = pending;
                self.pending_start = start;
                return Err(Stopped::Kept(self.to_feed_error(stop)));
            }
            // Keep the allocation for the next stop unless it is a large one.
            pending.clear();
            release_if_large(&mut pending);
            self.pending = pending;
        }
        if let Some(end) = self.tail_end {
            match self.frame_tail(input, end, &mut sink) {
                Ok(Some(rest)) => input = rest,
                Ok(None) => return Ok(()),
                Err(stop) => return Err(Stopped::Kept(self.to_feed_error(stop))),
            }
        }
        if let Err((stopped_at, stop)) = self.run(input, &mut sink, true) {
            let rest = input.get(stopped_at..).unwrap_or_default();
            if let Stop::Sink(error) = stop {
                if hand_back(&error) {
                    self.bytes_seen -= rest.len() as u64;
                    // An index into the caller's read, which may start with a stripped BOM.
                    return Err(Stopped::HandedBack {
                        error,
                        rest_at: read.len() - rest.len(),
                    });
                }
                self.pending.extend_from_slice(rest);
                return Err(Stopped::Kept(FeedError::Sink(error)));
            }
            self.pending.extend_from_slice(rest);
            return Err(Stopped::Kept(self.to_feed_error(stop)));
        }
        Ok(())
    }

    /// Keeps `input` unframed, after the input already held: for a call that reports an error
    /// kept from the previous call instead of framing (see `Decoder`). Only valid once framing
    /// has begun (a held BOM prefix is framed by `feed` alone).
    pub fn hold(&mut self, input: &[u8]) {
        if input.is_empty() {
            return;
        }
        debug_assert!(!self.at_start, "hold before any framing");
        if self.tail_end.take().is_some() {
            // The tail starts at `consumed`, ahead of anything else not framed yet.
            let held = self.pending.get(self.pending_start..).unwrap_or_default();
            let mut joined = std::mem::take(&mut self.line);
            joined.extend_from_slice(held);
            self.pending = joined;
            self.pending_start = 0;
        }
        self.bytes_seen += input.len() as u64;
        self.pending.extend_from_slice(input);
    }

    /// End of input. Returns true if an unterminated event was discarded: a non-empty
    /// unterminated line, or data lines not yet dispatched. Input kept after a stop and never
    /// resumed with `feed` is discarded too (and counts). The persistent state (last event id,
    /// retry, counters) stays readable; a later `feed` starts a fresh block.
    pub fn finish(&mut self) -> bool {
        if self.tail_end.take().is_some() {
            // Framed line by line, so that what is discarded is judged as if it had been
            // framed when it arrived. It holds no blank line, so nothing is dispatched, and it
            // is within the limit, so nothing is refused.
            let tail = std::mem::take(&mut self.line);
            let mut no_events = |_: &RawEvent<'_>| Ok::<(), ()>(());
            let framed = self.run(&tail, &mut no_events, false);
            debug_assert!(framed.is_ok(), "a held tail framed with an error");
        }
        let discarded = !self.line.is_empty()
            || self.discarding
            || self.bom_matched > 0
            || self.block.has_data
            || !self.pending.is_empty();
        self.line = Vec::new();
        self.discarding = false;
        self.after_cr = false;
        self.at_start = false;
        self.bom_matched = 0;
        self.pending = Vec::new();
        self.pending_start = 0;
        self.block.reset();
        self.block.data = Vec::new();
        self.consumed = self.bytes_seen;
        discarded
    }

    /// Frames every line through the general path, for tests that compare it with the
    /// whole-event recogniser; the events, offsets and errors must not change.
    #[doc(hidden)]
    pub fn set_whole_events(&mut self, on: bool) {
        self.whole_events = on;
    }

    /// The last event ID string: the `id` buffer as of the latest blank line.
    pub fn last_event_id(&self) -> &[u8] {
        &self.block.id_string
    }

    pub fn retry(&self) -> Option<u64> {
        self.block.retry
    }

    /// Total bytes passed to `feed` so far (a kept remainder is counted once, when first fed).
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Bytes currently held: partial line, undispatched data, kept remainder, held BOM prefix.
    /// Whether input stopped by a sink error is still held, unframed: a caller that wants
    /// every event before feeding more calls `feed(b"")` until this is false.
    pub fn has_held_input(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn buffered_bytes(&self) -> usize {
        let line = if self.tail_end.is_some() {
            held_by_lines(&self.line)
        } else {
            self.line.len()
        };
        line + self.block.data.len()
            + self.pending.len().saturating_sub(self.pending_start)
            + self.bom_matched
    }

    fn to_feed_error<E>(&self, stop: Stop<E>) -> FeedError<E> {
        match stop {
            Stop::Sink(error) => FeedError::Sink(error),
            Stop::LineTooLong { line_offset } => FeedError::LineTooLong {
                line_offset,
                limit: self.max_line_bytes,
                event_index: self.dispatched,
            },
        }
    }

    /// Matches the stream's first bytes against the BOM, across reads. Returns the input left to
    /// frame, or None while every byte so far could still be a BOM.
    fn strip_bom<'i>(&mut self, input: &'i [u8]) -> Option<&'i [u8]> {
        let held_before = self.bom_matched;
        let mut taken = 0;
        while let (Some(&expected), Some(&byte)) = (BOM.get(self.bom_matched), input.get(taken)) {
            if byte != expected {
                break;
            }
            self.bom_matched += 1;
            taken += 1;
        }
        if self.bom_matched == BOM.len() {
            self.at_start = false;
            self.bom_matched = 0;
            self.consumed += BOM.len() as u64;
            return Some(input.get(taken..).unwrap_or_default());
        }
        if taken == input.len() {
            return None;
        }
        // Not a BOM after all: the bytes held from earlier reads start the first line, and the
        // bytes matched in this read are framed in place.
        self.at_start = false;
        self.bom_matched = 0;
        if held_before > 0 {
            self.line_start = 0;
            self.line
                .extend_from_slice(BOM.get(..held_before).unwrap_or_default());
            self.consumed += held_before as u64;
        }
        Some(input)
    }

    /// Completes the held tail with the head of `input`. Returns the rest of `input` to frame,
    /// or None when all of it joined the tail. The tail is framed whole once its blank line is
    /// in; line by line, as if it had never been held, once it would grow past the limit or
    /// meets a `retry` line. A stop keeps what was not framed, as a stop in held input does.
    fn frame_tail<'i, E>(
        &mut self,
        input: &'i [u8],
        tail_end: TailEnd,
        sink: &mut impl Sink<E>,
    ) -> Result<Option<&'i [u8]>, Stop<E>> {
        let fits = |len: usize| self.line.len().saturating_add(len) <= self.max_line_bytes;
        // A tail cut inside its data line's value: that line ends at the first CR or LF of
        // `input`, found once here and not searched for again in the whole event.
        let mut known_end = None;
        let scan = match tail_end {
            TailEnd::InValue => match find_line_end(input) {
                Some(found) => {
                    known_end = Some(KnownEnd {
                        from: self.line.len(),
                        at: self.line.len() + found,
                    });
                    // The search from the data line's end, at the line after it: the
                    // terminator just found is not searched for again.
                    let (next, ended_on_cr) = after_terminator(input, found);
                    let state = if ended_on_cr {
                        TailEnd::AfterCr
                    } else {
                        TailEnd::LineStart
                    };
                    match input.get(next..) {
                        // The blank line right after the data line: nearly every event.
                        Some([CR | LF, ..]) => TailScan::End(after_terminator(input, next).0),
                        Some(after) => match event_end(after, state) {
                            TailScan::End(end) => TailScan::End(next + end),
                            scan => scan,
                        },
                        None => TailScan::Open(TailEnd::InValue),
                    }
                }
                None => TailScan::Open(TailEnd::InValue),
            },
            _ => event_end(input, tail_end),
        };
        let (head, rest) = match scan {
            TailScan::Open(end) if fits(input.len()) => {
                self.line.extend_from_slice(input);
                self.tail_end = Some(end);
                return Ok(None);
            }
            TailScan::End(end) if fits(end) => input.split_at(end),
            _ => (&[][..], input),
        };
        self.tail_end = None;
        let mut tail = std::mem::take(&mut self.line);
        tail.extend_from_slice(head);
        if !head.is_empty() {
            if let Some(framed) = self.dispatch_tail(&tail, known_end, sink) {
                self.keep_line_allocation(tail);
                return match framed {
                    Ok(()) => Ok(Some(rest)),
                    Err(error) => {
                        // Stopped right after the tail's event: only `rest` is left.
                        self.pending.clear();
                        self.pending.extend_from_slice(rest);
                        self.pending_start = 0;
                        Err(Stop::Sink(error))
                    }
                };
            }
        }
        let framed = self.run(&tail, sink, false);
        if let Err((stopped_at, stop)) = framed {
            self.pending.clear();
            self.pending
                .extend_from_slice(tail.get(stopped_at..).unwrap_or_default());
            self.pending.extend_from_slice(rest);
            self.pending_start = 0;
            self.keep_line_allocation(tail);
            return Err(stop);
        }
        self.keep_line_allocation(tail);
        Ok(Some(rest))
    }

    /// A completed tail that is one whole event of the common shape, dispatched as the
    /// whole-event loop of [`Framer::run`] would dispatch it, without a pass of that loop: `None`
    /// (nothing done) for anything else, which `run` then frames.
    #[inline(always)]
    fn dispatch_tail<E>(
        &mut self,
        tail: &[u8],
        known_end: Option<KnownEnd>,
        sink: &mut impl Sink<E>,
    ) -> Option<Result<(), E>> {
        // The conditions under which `run` would try its recognisers at the tail's start.
        if !self.whole_events
            || self.block.has_data
            || self.block.poisoned
            || !self.line.is_empty()
            || self.after_cr
            || self.discarding
        {
            return None;
        }
        let (limit, last_type) = (self.max_line_bytes, self.block.event_type.as_slice());
        let recognised = match common_event(tail, 0, limit, last_type, known_end) {
            Err(Miss::Other) => whole_event(tail, 0, limit, last_type, known_end),
            found => found,
        };
        let whole = recognised.ok().filter(|whole| whole.next == tail.len())?;
        let base = self.consumed;
        let outcome = self.dispatch_whole(tail, base, &whole, sink);
        self.consumed = base + tail.len() as u64;
        Some(outcome)
    }

    /// Gives `line` back the allocation of a tail just framed, unless framing it left a partial
    /// line there or the allocation is a large one.
    #[inline]
    fn keep_line_allocation(&mut self, mut tail: Vec<u8>) {
        if self.line.capacity() == 0 {
            tail.clear();
            release_if_large(&mut tail);
            self.line = tail;
        }
    }

    /// Dispatches the whole event `whole` recognised in `input` (which starts at stream offset
    /// `base`), leaving the block as a blank line after its lines would.
    #[inline(always)]
    fn dispatch_whole<E>(
        &mut self,
        input: &[u8],
        base: u64,
        whole: &WholeEvent,
        sink: &mut impl Sink<E>,
    ) -> Result<(), E> {
        if let Some((start, end)) = whole.new_event_type {
            self.block.event_type.clear();
            self.block
                .event_type
                .extend_from_slice(input.get(start..end).unwrap_or_default());
        }
        self.block.publish_id();
        let (start, end) = whole.data;
        let event = RawEvent {
            event_type: if whole.has_event_type || self.block.has_event_type {
                &self.block.event_type
            } else {
                b""
            },
            data: input.get(start..end).unwrap_or_default(),
            last_event_id: &self.block.id_string,
            retry: self.block.retry,
            data_offset: base + start as u64,
            index: self.dispatched,
        };
        let outcome = sink.event(&event);
        self.dispatched += 1;
        // All `reset` would do: the data buffer was not touched.
        self.block.has_event_type = false;
        self.after_cr = whole.ended_on_cr;
        outcome
    }

    /// Frames `input`, which starts at stream offset `self.consumed`. On a stop returns the
    /// index in `input` where framing must resume. With `hold_tail`, an event of the common
    /// shape that the end of `input` cuts is held unframed (see `Framer::tail`).
    fn run<E>(
        &mut self,
        input: &[u8],
        sink: &mut impl Sink<E>,
        hold_tail: bool,
    ) -> Result<(), (usize, Stop<E>)> {
        debug_assert!(self.tail_end.is_none(), "framing while a tail is held");
        let base = self.consumed;
        let limit = self.max_line_bytes;
        let mut pos = 0usize;
        // The block's only data line so far, when it lies inside `input`: (start, end).
        let mut borrowed: Option<(usize, usize)> = None;

        if self.after_cr {
            if let Some(&first) = input.first() {
                self.after_cr = false;
                if first == LF {
                    pos = 1;
                }
            }
        }
        if self.discarding {
            match memchr2(CR, LF, input.get(pos..).unwrap_or_default()) {
                None => {
                    self.consumed = base + input.len() as u64;
                    return Ok(());
                }
                Some(found) => {
                    self.discarding = false;
                    let (next, ended_on_cr) = after_terminator(input, pos + found);
                    self.after_cr = ended_on_cr;
                    pos = next;
                }
            }
        }

        loop {
            if self.whole_events
                && !self.block.has_data
                && !self.block.poisoned
                && self.line.is_empty()
            {
                // A whole event leaves the block as it found it (no data, not poisoned, no
                // partial line): the next one is tried without checking again.
                loop {
                    let last_type = self.block.event_type.as_slice();
                    let recognised = match common_event(input, pos, limit, last_type, None) {
                        Err(Miss::Other) => whole_event(input, pos, limit, last_type, None),
                        found => found,
                    };
                    let whole = match recognised {
                        Ok(whole) => whole,
                        Err(miss) => {
                            let rest = input.get(pos..).unwrap_or_default();
                            if rest.is_empty() {
                                // The read ended with an event (as a read that completes a
                                // held tail always does): the general path has nothing to do.
                                self.consumed = base + pos as u64;
                                return Ok(());
                            }
                            let open = match miss {
                                Miss::Incomplete(end) => Some(end),
                                Miss::Other if rest.len() < SEARCHED_TAIL_BYTES => {
                                    match event_end(rest, TailEnd::LineStart) {
                                        TailScan::Open(end) => Some(end),
                                        TailScan::End(_) | TailScan::Refused => None,
                                    }
                                }
                                Miss::Other => None,
                            };
                            if let Some(end) = open.filter(|_| hold_tail && rest.len() <= limit) {
                                self.line.extend_from_slice(rest);
                                self.tail_end = Some(end);
                                self.consumed = base + pos as u64;
                                return Ok(());
                            }
                            break;
                        }
                    };
                    let outcome = self.dispatch_whole(input, base, &whole, sink);
                    pos = whole.next;
                    if let Err(error) = outcome {
                        self.consumed = base + pos as u64;
                        return Err((pos, Stop::Sink(error)));
                    }
                }
            }
            let rest = input.get(pos..).unwrap_or_default();
            // Every event ends with a blank line, and most repeat the previous event's
            // `event:` line: find those line ends without a call into the search.
            let mut repeated_event = false;
            let found = match rest.first() {
                Some(&(CR | LF)) => Some(0),
                Some(&b'e') => match self.block.repeated_event_line(rest) {
                    Some(end) => {
                        repeated_event = true;
                        Some(end)
                    }
                    None => find_line_end(rest),
                },
                _ => find_line_end(rest),
            };
            let Some(found) = found else {
                // The read ends inside a line: hold it, but never beyond the limit.
                if !rest.is_empty() {
                    if self.line.is_empty() {
                        self.line_start = base + pos as u64;
                    }
                    if self.line.len() + rest.len() > limit {
                        self.line.clear();
                        release_if_large(&mut self.line);
                        self.discarding = true;
                        self.block.poison();
                        self.consumed = base + input.len() as u64;
                        let line_offset = self.line_start;
                        return Err((input.len(), Stop::LineTooLong { line_offset }));
                    }
                    append_bounded(&mut self.line, rest, limit);
                }
                if let Some((start, end)) = borrowed {
                    // The event outlives this read: its data must now be owned.
                    self.block
                        .data
                        .extend_from_slice(input.get(start..end).unwrap_or_default());
                }
                self.consumed = base + input.len() as u64;
                return Ok(());
            };
            let end = pos + found;
            let (next, ended_on_cr) = after_terminator(input, end);
            self.after_cr = ended_on_cr;
            let segment = input.get(pos..end).unwrap_or_default();

            let spans_reads = !self.line.is_empty();
            let line_offset = if spans_reads {
                self.line_start
            } else {
                base + pos as u64
            };
            if self.line.len() + segment.len() > limit {
                self.line.clear();
                release_if_large(&mut self.line);
                self.block.poison();
                self.consumed = base + next as u64;
                return Err((next, Stop::LineTooLong { line_offset }));
            }
            if repeated_event && !spans_reads {
                // The line is `event: ` and the value the buffer already holds: applying it
                // would copy that value onto itself.
                self.block.has_event_type = true;
                pos = next;
                continue;
            }
            let line: &[u8] = if spans_reads {
                append_bounded(&mut self.line, segment, limit);
                &self.line
            } else {
                segment
            };

            match classify(line) {
                LineField::Blank => {
                    self.block.publish_id();
                    if self.block.has_data && !self.block.poisoned {
                        let data: &[u8] = match borrowed {
                            Some((start, end)) => input.get(start..end).unwrap_or_default(),
                            None => &self.block.data,
                        };
                        let event = RawEvent {
                            event_type: if self.block.has_event_type {
                                &self.block.event_type
                            } else {
                                b""
                            },
                            data,
                            last_event_id: &self.block.id_string,
                            retry: self.block.retry,
                            data_offset: self.block.data_offset,
                            index: self.dispatched,
                        };
                        let outcome = sink.event(&event);
                        self.dispatched += 1;
                        borrowed = None;
                        self.block.reset();
                        if let Err(error) = outcome {
                            self.consumed = base + next as u64;
                            return Err((next, Stop::Sink(error)));
                        }
                    } else {
                        self.block.reset();
                    }
                }
                LineField::Data(value_at) => {
                    let value = line.get(value_at..).unwrap_or_default();
                    if self.block.poisoned {
                        self.block.has_data = true;
                    } else if !self.block.has_data {
                        self.block.has_data = true;
                        self.block.data_offset = line_offset + value_at as u64;
                        if spans_reads {
                            append_bounded(&mut self.block.data, value, limit);
                        } else {
                            borrowed = Some((pos + value_at, end));
                        }
                    } else {
                        if let Some((start, end)) = borrowed.take() {
                            self.block
                                .data
                                .extend_from_slice(input.get(start..end).unwrap_or_default());
                        }
                        if self.block.data.len() + 1 + value.len() > limit {
                            self.block.poison();
                            if spans_reads {
                                self.line.clear();
                                release_if_large(&mut self.line);
                            }
                            self.consumed = base + next as u64;
                            return Err((next, Stop::LineTooLong { line_offset }));
                        }
                        append_bounded(&mut self.block.data, b"\n", limit);
                        append_bounded(&mut self.block.data, value, limit);
                    }
                }
                field => self.block.apply_field(field, line),
            }
            if spans_reads {
                self.line.clear();
                release_if_large(&mut self.line);
            }
            pos = next;
        }
    }
}

/// A line, or an event's joined data, over the limit (see `FeedError::LineTooLong`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    pub line_offset: u64,
    pub limit: usize,
    pub event_index: u64,
}

/// The framer with the delivery rule of docs/design.md "Errors and limits" (see
/// [`super::delivery`]): events completed before an error first, the error on the next call.
pub type Decoder = super::delivery::Delivery<Framer>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of the search this machine can run: the dispatching one and each of its
    /// paths, so that the SSE2 path stays tested on a CPU with AVX2.
    #[allow(clippy::type_complexity)]
    fn line_end_searches() -> Vec<(&'static str, fn(&[u8]) -> Option<usize>)> {
        let mut searches: Vec<(&'static str, fn(&[u8]) -> Option<usize>)> =
            vec![("find_line_end", |b| find_line_end(b))];
        #[cfg(target_arch = "x86_64")]
        {
            searches.push(("sse2", |b| find_line_end_sse2(b)));
            if std::arch::is_x86_feature_detected!("avx2") {
                searches.push(("avx2", |b| {
                    if b.len() < 64 {
                        find_line_end_sse2(b)
                    } else {
                        // SAFETY: the CPU has AVX2, checked before this closure was listed.
                        unsafe { find_line_end_avx2(b) }
                    }
                }));
            }
        }
        searches
    }

    #[test]
    fn find_line_end_agrees_with_memchr2() {
        // Every length around the sixteen-, thirty-two- and sixty-four-byte blocks, every
        // position of CR and of LF, and a line with none; the first of two terminators wins.
        for (name, search) in line_end_searches() {
            for len in (0..200).chain(INLINE_SEARCH_BYTES - 80..INLINE_SEARCH_BYTES + 140) {
                let plain = vec![b'x'; len];
                assert_eq!(search(&plain), None, "{name} len {len}");
                for at in 0..len {
                    for terminator in [CR, LF] {
                        let mut line = plain.clone();
                        line[at] = terminator;
                        assert_eq!(search(&line), Some(at), "{name} len {len} at {at}");
                        if let Some(later) = line.get_mut(at + 7) {
                            *later = CR ^ LF ^ terminator;
                        }
                        assert_eq!(search(&line), memchr2(CR, LF, &line), "{name} len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        // Every length around the eight- and sixteen-byte steps, every position of a
        // difference, and slices of different lengths.
        for len in 0..80 {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "len {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "len {len} at {at}");
            }
            assert!(!same_bytes(&a, &a[..len.saturating_sub(1)]) || len == 0);
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same_bytes(&a, &longer), "len {len}");
        }
    }

    #[test]
    fn never_ending_line_stays_bounded() {
        let limit = 64 * 1024;
        let mut framer = Framer::new(limit);
        let read = vec![b'x'; 4096];
        let mut errors = 0;
        for _ in 0..2560 {
            // 10 MiB of one line.
            match framer.feed(&read, |_| Ok::<(), ()>(())) {
                Ok(()) => {}
                Err(FeedError::LineTooLong {
                    line_offset,
                    limit: reported,
                    event_index,
                }) => {
                    errors += 1;
                    assert_eq!((line_offset, reported, event_index), (0, limit, 0));
                }
                Err(FeedError::Sink(())) => unreachable!(),
            }
            assert!(framer.buffered_bytes() <= limit);
            assert!(framer.line.capacity() <= limit);
            assert!(framer.pending.is_empty());
        }
        assert_eq!(errors, 1, "one line, one report");
        // The rest of the over-long line's block is dropped with it; the next block is not.
        let mut datas = Vec::new();
        let tail = b"\ndata: same block\n\ndata: next\n\n";
        framer
            .feed(tail, |event| {
                datas.push(event.data.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(datas, vec![b"next".to_vec()]);
        assert_eq!(framer.bytes_seen(), 2560 * 4096 + tail.len() as u64);
    }
}
