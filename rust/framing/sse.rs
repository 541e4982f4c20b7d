//! WHATWG event-stream framing ("Interpreting an event stream", HTML Living Standard 9.2.6)
//! over raw network reads.
//!
//! The framer works on bytes and never decodes text: field names are compared as bytes, values
//! are handed out as bytes, and the consumer decodes them (lossy UTF-8). Only CR and LF end
//! lines, so U+2028, U+2029, NEL and invalid UTF-8 all pass through as ordinary data.
//!
//! Cost model: each read is scanned once with `memchr2(CR, LF)`; a byte is never looked at again
//! once its line is known. A line that lies inside one read is processed in place; only a line
//! that spans reads is copied (into `line`). The usual chat-stream event, one `data:` line and a
//! blank line in the same read, is dispatched with `RawEvent::data` pointing into the read itself.
//! Data is copied into the framer only when it must outlive the read or when several data lines
//! have to be joined.

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

/// Why framing of one input slice stopped before its end.
enum Stop<E> {
    Sink(E),
    LineTooLong { line_offset: u64 },
}

/// The per-block state of the spec ("data buffer", "event type buffer", "last event ID buffer")
/// plus what persists between blocks.
#[derive(Default)]
struct Block {
    /// Joined data lines without the spec's trailing LF. Empty while the only data line so far is
    /// still borrowed from the current read.
    data: Vec<u8>,
    /// Whether any `data` line arrived in this block: `data: ` alone must still dispatch "".
    has_data: bool,
    data_offset: u64,
    event_type: Vec<u8>,
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
        self.event_type.clear();
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
pub struct Framer {
    max_line_bytes: usize,
    /// The start of a line whose end has not arrived yet. Never holds CR or LF, so it is never
    /// scanned again: the next read is scanned from its own start.
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
    /// Stream offset of the next byte to frame.
    consumed: u64,
    bytes_seen: u64,
    dispatched: u64,
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
            consumed: 0,
            bytes_seen: 0,
            dispatched: 0,
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
        mut sink: impl FnMut(&RawEvent<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        self.bytes_seen += input.len() as u64;
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
            if let Err((stopped_at, stop)) = self.run(held, &mut sink) {
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
                return Err(self.to_feed_error(stop));
            }
            // Keep the allocation for the next stop unless it is a large one.
            pending.clear();
            release_if_large(&mut pending);
            self.pending = pending;
        }
        if let Err((stopped_at, stop)) = self.run(input, &mut sink) {
            self.pending
                .extend_from_slice(input.get(stopped_at..).unwrap_or_default());
            return Err(self.to_feed_error(stop));
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
        self.bytes_seen += input.len() as u64;
        self.pending.extend_from_slice(input);
    }

    /// End of input. Returns true if an unterminated event was discarded: a non-empty
    /// unterminated line, or data lines not yet dispatched. Input kept after a stop and never
    /// resumed with `feed` is discarded too (and counts). The persistent state (last event id,
    /// retry, counters) stays readable; a later `feed` starts a fresh block.
    pub fn finish(&mut self) -> bool {
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
    pub fn buffered_bytes(&self) -> usize {
        self.line.len()
            + self.block.data.len()
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

    /// Frames `input`, which starts at stream offset `self.consumed`. On a stop returns the
    /// index in `input` where framing must resume.
    fn run<E, F>(&mut self, input: &[u8], sink: &mut F) -> Result<(), (usize, Stop<E>)>
    where
        F: FnMut(&RawEvent<'_>) -> Result<(), E>,
    {
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
            let rest = input.get(pos..).unwrap_or_default();
            let Some(found) = memchr2(CR, LF, rest) else {
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
                            event_type: &self.block.event_type,
                            data,
                            last_event_id: &self.block.id_string,
                            retry: self.block.retry,
                            data_offset: self.block.data_offset,
                            index: self.dispatched,
                        };
                        let outcome = sink(&event);
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

/// The framer with the delivery rule of docs/design.md "Errors and limits": a call that
/// completes events and then meets an error returns those events, and the error is returned by
/// the next call (whose input is kept, unframed, behind the error). A call that completed
/// nothing returns the error at once. Either way framing resumes right after the offending
/// line on the call after the error, so nothing before or after it is lost.
pub struct Decoder {
    framer: Framer,
    deferred: Option<LineTooLong>,
}

impl Decoder {
    pub fn new(max_line_bytes: usize) -> Decoder {
        Decoder {
            framer: Framer::new(max_line_bytes),
            deferred: None,
        }
    }

    /// Frames one read; `make` turns each completed event into an output item.
    pub fn feed<T>(
        &mut self,
        input: &[u8],
        make: impl FnMut(&RawEvent<'_>) -> T,
    ) -> Result<Vec<T>, LineTooLong> {
        if let Some(error) = self.deferred.take() {
            self.framer.hold(input);
            return Err(error);
        }
        self.frame(input, make)
    }

    /// End of input: what the held input still completes; an unterminated event is dropped.
    /// When that held input meets another error after completing events, the events come
    /// first and the framer is not finished yet: the next call reports the error.
    pub fn finish<T>(
        &mut self,
        make: impl FnMut(&RawEvent<'_>) -> T,
    ) -> Result<Vec<T>, LineTooLong> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        let out = self.frame(&[], make)?;
        if self.deferred.is_none() {
            self.framer.finish();
        }
        Ok(out)
    }

    pub fn framer(&self) -> &Framer {
        &self.framer
    }

    fn frame<T>(
        &mut self,
        input: &[u8],
        mut make: impl FnMut(&RawEvent<'_>) -> T,
    ) -> Result<Vec<T>, LineTooLong> {
        let mut out = Vec::new();
        let result = self.framer.feed(input, |event| {
            out.push(make(event));
            Ok::<(), std::convert::Infallible>(())
        });
        match result {
            Ok(()) => Ok(out),
            Err(FeedError::Sink(never)) => match never {},
            Err(FeedError::LineTooLong {
                line_offset,
                limit,
                event_index,
            }) => {
                let error = LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                };
                if out.is_empty() {
                    Err(error)
                } else {
                    self.deferred = Some(error);
                    Ok(out)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// An event copied out of the sink, with every field the framer reports.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct OwnedEvent {
        event_type: Vec<u8>,
        data: Vec<u8>,
        last_event_id: Vec<u8>,
        retry: Option<u64>,
        data_offset: u64,
        index: u64,
    }

    impl OwnedEvent {
        fn of(event: &RawEvent<'_>) -> OwnedEvent {
            OwnedEvent {
                event_type: event.event_type.to_vec(),
                data: event.data.to_vec(),
                last_event_id: event.last_event_id.to_vec(),
                retry: event.retry,
                data_offset: event.data_offset,
                index: event.index,
            }
        }
    }

    /// Everything observable from outside while feeding a stream.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Outcome {
        Event(OwnedEvent),
        TooLong {
            line_offset: u64,
            limit: usize,
            event_index: u64,
        },
        Finished {
            discarded: bool,
            last_event_id: Vec<u8>,
            retry: Option<u64>,
        },
    }

    /// Feeds `reads` in order, resuming after every `LineTooLong`, then finishes.
    fn drive(limit: usize, reads: &[&[u8]]) -> Vec<Outcome> {
        let mut framer = Framer::new(limit);
        let mut outcomes = Vec::new();
        for read in reads {
            let mut next: &[u8] = read;
            loop {
                let mut events = Vec::new();
                let result = framer.feed(next, |event| {
                    events.push(Outcome::Event(OwnedEvent::of(event)));
                    Ok::<(), ()>(())
                });
                outcomes.append(&mut events);
                match result {
                    Ok(()) => break,
                    Err(FeedError::LineTooLong {
                        line_offset,
                        limit,
                        event_index,
                    }) => outcomes.push(Outcome::TooLong {
                        line_offset,
                        limit,
                        event_index,
                    }),
                    Err(FeedError::Sink(())) => panic!("this sink never fails"),
                }
                next = b"";
            }
        }
        let discarded = framer.finish();
        outcomes.push(Outcome::Finished {
            discarded,
            last_event_id: framer.last_event_id().to_vec(),
            retry: framer.retry(),
        });
        outcomes
    }

    fn events_of(outcomes: &[Outcome]) -> Vec<OwnedEvent> {
        outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Outcome::Event(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    const BIG: usize = 64 * 1024 * 1024;

    // ---- conformance cases -------------------------------------------------------------

    struct Case {
        name: String,
        reads: Vec<Vec<u8>>,
        /// (event, data, id, retry) as the case file writes them.
        expected: Vec<(String, String, String, Option<u64>)>,
        final_state: Option<(String, Option<u64>)>,
    }

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    fn load_cases() -> Vec<Case> {
        let path = fixtures_dir().join("conformance/sse_cases.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid case file");
        let cases = json.as_array().expect("a list of cases");
        cases.iter().map(parse_case).collect()
    }

    fn parse_case(case: &serde_json::Value) -> Case {
        let name = case["name"].as_str().expect("name").to_owned();
        let latin1 = match case["chunk_encoding"].as_str() {
            Some("utf-8") => false,
            Some("latin-1") => true,
            other => panic!("{name}: unknown chunk_encoding {other:?}"),
        };
        let reads = case["input_chunks"]
            .as_array()
            .expect("input_chunks")
            .iter()
            .map(|chunk| {
                let text = chunk.as_str().expect("chunk text");
                if latin1 {
                    text.chars()
                        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 char"))
                        .collect()
                } else {
                    text.as_bytes().to_vec()
                }
            })
            .collect();
        let expected = case["expected_events"]
            .as_array()
            .expect("expected_events")
            .iter()
            .map(|event| {
                (
                    event["event"].as_str().expect("event").to_owned(),
                    event["data"].as_str().expect("data").to_owned(),
                    event["id"].as_str().expect("id").to_owned(),
                    event["retry"].as_u64(),
                )
            })
            .collect();
        let final_state = case.get("expected_final_state").map(|state| {
            (
                state["last_event_id"].as_str().expect("id").to_owned(),
                state["retry"].as_u64(),
            )
        });
        Case {
            name,
            reads,
            expected,
            final_state,
        }
    }

    fn as_case_tuple(event: &OwnedEvent) -> (String, String, String, Option<u64>) {
        let event_type = if event.event_type.is_empty() {
            "message".to_owned()
        } else {
            String::from_utf8_lossy(&event.event_type).into_owned()
        };
        (
            event_type,
            String::from_utf8_lossy(&event.data).into_owned(),
            String::from_utf8_lossy(&event.last_event_id).into_owned(),
            event.retry,
        )
    }

    fn whole(case: &Case) -> Vec<u8> {
        case.reads.concat()
    }

    fn reads_of(parts: &[Vec<u8>]) -> Vec<&[u8]> {
        parts.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn conformance_cases_one_read_per_chunk() {
        let cases = load_cases();
        assert_eq!(cases.len(), 86, "the case file changed size");
        for case in &cases {
            let outcomes = drive(BIG, &reads_of(&case.reads));
            let events = events_of(&outcomes);
            let got: Vec<_> = events.iter().map(as_case_tuple).collect();
            assert_eq!(got, case.expected, "case {}", case.name);
            let Some(Outcome::Finished {
                last_event_id,
                retry,
                ..
            }) = outcomes.last()
            else {
                panic!("case {}: no finish", case.name);
            };
            if let Some((expected_id, expected_retry)) = &case.final_state {
                assert_eq!(
                    &String::from_utf8_lossy(last_event_id),
                    expected_id,
                    "case {} final id",
                    case.name
                );
                assert_eq!(retry, expected_retry, "case {} final retry", case.name);
            }
            // Indices count dispatches, and every data_offset points at the first data line's
            // value in the stream as fed.
            let stream = whole(case);
            for (position, event) in events.iter().enumerate() {
                assert_eq!(event.index, position as u64, "case {}", case.name);
                let first_line = event.data.split(|&b| b == LF).next().unwrap_or_default();
                let at = usize::try_from(event.data_offset).expect("offset fits");
                assert_eq!(
                    stream.get(at..at + first_line.len()),
                    Some(first_line),
                    "case {} event {position}: data_offset {at}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn conformance_cases_split_anywhere_give_identical_outcomes() {
        for case in load_cases() {
            let stream = whole(&case);
            let baseline = drive(BIG, &reads_of(&case.reads));
            assert_eq!(drive(BIG, &[&stream]), baseline, "case {} whole", case.name);
            // Every two-way split for the small cases, a stride of them for the long ones.
            let stride = (stream.len() / 1500).max(1);
            for split in (0..=stream.len()).step_by(stride) {
                let (head, tail) = stream.split_at(split);
                assert_eq!(
                    drive(BIG, &[head, tail]),
                    baseline,
                    "case {} split at {split}",
                    case.name
                );
            }
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(
                drive(BIG, &bytewise),
                baseline,
                "case {} byte by byte",
                case.name
            );
        }
    }

    #[test]
    fn sink_error_mid_read_resumes_exactly() {
        for case in load_cases() {
            let stream = whole(&case);
            let baseline = events_of(&drive(BIG, &[&stream]));
            for fail_at in 0..baseline.len().min(50) {
                // The sink refuses event `fail_at` once (after seeing it); feeding b"" resumes.
                let mut framer = Framer::new(BIG);
                let mut got = Vec::new();
                let mut refused = false;
                let mut result = framer.feed(&stream, |event| {
                    got.push(OwnedEvent::of(event));
                    if event.index as usize == fail_at && !refused {
                        refused = true;
                        return Err("stop");
                    }
                    Ok(())
                });
                assert_eq!(result, Err(FeedError::Sink("stop")), "case {}", case.name);
                assert_eq!(framer.bytes_seen(), stream.len() as u64);
                assert!(framer.buffered_bytes() <= stream.len());
                result = framer.feed(b"", |event| {
                    got.push(OwnedEvent::of(event));
                    Ok(())
                });
                assert_eq!(result, Ok(()));
                framer.finish();
                assert_eq!(got, baseline, "case {} failing at {fail_at}", case.name);
            }
        }
    }

    #[test]
    fn sink_error_on_every_event_with_reads_continuing() {
        // The sink refuses every event, and the caller keeps feeding new reads on top of the kept
        // remainder instead of draining it: nothing may be lost or reordered.
        for case in load_cases() {
            let baseline = events_of(&drive(BIG, &reads_of(&case.reads)));
            let mut framer = Framer::new(BIG);
            let mut got = Vec::new();
            for read in &case.reads {
                let _ = framer.feed(read, |event| {
                    got.push(OwnedEvent::of(event));
                    Err(())
                });
            }
            while !framer.pending.is_empty() {
                let _ = framer.feed(b"", |event| {
                    got.push(OwnedEvent::of(event));
                    Err(())
                });
            }
            framer.finish();
            assert_eq!(got, baseline, "case {}", case.name);
        }
    }

    // ---- zero copy -----------------------------------------------------------------------

    fn points_into(inner: &[u8], outer: &[u8]) -> bool {
        let outer_range = outer.as_ptr_range();
        let inner_range = inner.as_ptr_range();
        outer_range.start <= inner_range.start && inner_range.end <= outer_range.end
    }

    #[test]
    fn single_data_line_event_borrows_from_the_read() {
        let input = b": ping\n\ndata: {\"a\":1}\n\ndata: x\r\n\r\nevent: e\ndata: y\n\n".to_vec();
        let mut framer = Framer::new(BIG);
        let mut seen = 0;
        framer
            .feed(&input, |event| {
                assert!(points_into(event.data, &input), "{:?}", event.data);
                seen += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(seen, 3);
        assert_eq!(framer.buffered_bytes(), 0);
    }

    #[test]
    fn data_outliving_the_read_or_joined_is_owned() {
        let mut framer = Framer::new(BIG);
        let first = b"data: a\n".to_vec();
        framer.feed(&first, |_| Err(())).unwrap();
        let second = b"\ndata: b\ndata: c\n\n".to_vec();
        let mut datas = Vec::new();
        framer
            .feed(&second, |event| {
                assert!(!points_into(event.data, &second));
                datas.push(event.data.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(datas, vec![b"a".to_vec(), b"b\nc".to_vec()]);
    }

    // ---- limits --------------------------------------------------------------------------

    fn data_line_of_length(length: usize) -> Vec<u8> {
        let mut line = b"data: ".to_vec();
        line.resize(length, b'x');
        line
    }

    #[test]
    fn line_exactly_at_limit_is_allowed() {
        let limit = 100;
        let mut stream = data_line_of_length(limit);
        stream.extend_from_slice(b"\n\n");
        for reads in [vec![stream.as_slice()], stream.chunks(1).collect()] {
            let outcomes = drive(limit, &reads);
            let events = events_of(&outcomes);
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].data, vec![b'x'; limit - 6]);
            assert!(!outcomes
                .iter()
                .any(|outcome| matches!(outcome, Outcome::TooLong { .. })));
        }
    }

    #[test]
    fn line_one_over_limit_is_reported_and_its_event_dropped() {
        let limit = 100;
        let mut stream = b"data: ok\n\n: comment\n".to_vec();
        let long_line_offset = stream.len() as u64;
        stream.extend_from_slice(&data_line_of_length(limit + 1));
        stream.extend_from_slice(b"\ndata: same block\n\ndata: after\n\n");
        let expected = vec![
            Outcome::Event(OwnedEvent {
                event_type: vec![],
                data: b"ok".to_vec(),
                last_event_id: vec![],
                retry: None,
                data_offset: 6,
                index: 0,
            }),
            Outcome::TooLong {
                line_offset: long_line_offset,
                limit,
                event_index: 1,
            },
            Outcome::Event(OwnedEvent {
                event_type: vec![],
                data: b"after".to_vec(),
                last_event_id: vec![],
                retry: None,
                data_offset: stream.len() as u64 - 7,
                index: 1,
            }),
            Outcome::Finished {
                discarded: false,
                last_event_id: vec![],
                retry: None,
            },
        ];
        assert_eq!(drive(limit, &[&stream]), expected, "one read");
        for split in 0..=stream.len() {
            let (head, tail) = stream.split_at(split);
            assert_eq!(drive(limit, &[head, tail]), expected, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(drive(limit, &bytewise), expected, "byte by byte");
    }

    #[test]
    fn joined_data_at_limit_and_one_over() {
        let limit = 20;
        // "data: " + 9 bytes, twice: joined data is 9 + 1 + 9 = 19, then 20, then 21.
        for (second_length, over) in [(9usize, false), (10, false), (11, true)] {
            let mut stream = b"data: 123456789\n".to_vec();
            let second_line_offset = stream.len() as u64;
            stream.extend_from_slice(b"data: ");
            stream.resize(stream.len() + second_length, b'y');
            stream.extend_from_slice(b"\n\ndata: z\n\n");
            let outcomes = drive(limit, &[&stream]);
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(drive(limit, &bytewise), outcomes);
            let events = events_of(&outcomes);
            if over {
                assert_eq!(
                    outcomes[0],
                    Outcome::TooLong {
                        line_offset: second_line_offset,
                        limit,
                        event_index: 0
                    }
                );
                assert_eq!(events.len(), 1);
                assert_eq!(events[0].data, b"z");
                assert_eq!(events[0].index, 0);
            } else {
                assert_eq!(events.len(), 2);
                assert_eq!(events[0].data.len(), 10 + second_length);
            }
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

    #[test]
    fn huge_single_read_line_is_not_copied_into_the_remainder() {
        let limit = 1000;
        let mut input = vec![b'x'; 1_000_000];
        input.extend_from_slice(b"\n\ndata: y\n\n");
        let mut framer = Framer::new(limit);
        let result = framer.feed(&input, |_| Ok::<(), ()>(()));
        assert!(matches!(result, Err(FeedError::LineTooLong { .. })));
        // Only the bytes after the over-long line are kept for the resume.
        assert_eq!(framer.buffered_bytes(), b"\ndata: y\n\n".len());
        let mut datas = Vec::new();
        framer
            .feed(b"", |event| {
                datas.push(event.data.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(datas, vec![b"y".to_vec()]);
    }

    // ---- BOM, CR/LF across reads, finish ------------------------------------------------

    fn datas_of(reads: &[&[u8]]) -> Vec<Vec<u8>> {
        events_of(&drive(BIG, reads))
            .into_iter()
            .map(|event| event.data)
            .collect()
    }

    #[test]
    fn bom_split_across_reads() {
        assert_eq!(
            datas_of(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]),
            vec![b"x".to_vec()]
        );
        assert_eq!(
            datas_of(&[b"\xEF\xBB", b"\xBF", b"data: x\n\n"]),
            vec![b"x".to_vec()]
        );
        // The offsets count the stripped BOM.
        let events = events_of(&drive(BIG, &[b"\xEF", b"\xBB\xBFdata: x\n\n"]));
        assert_eq!(events[0].data_offset, 9);
    }

    #[test]
    fn partial_bom_is_ordinary_bytes() {
        // "\xEF" + "data" is an unknown field name, so nothing is dispatched...
        assert!(datas_of(&[b"\xEF", b"data: x\n\n"]).is_empty());
        assert!(datas_of(&[b"\xEF\xBB", b"data: x\n\n"]).is_empty());
        assert!(datas_of(&[b"\xEF\xBBdata: x\n\n"]).is_empty());
        // ...and the held bytes belong to the value when they follow a field.
        let mut framer = Framer::new(BIG);
        framer.feed(b"\xEF\xBB", |_| Ok::<(), ()>(())).unwrap();
        assert_eq!(framer.buffered_bytes(), 2);
        assert!(framer.finish(), "a held BOM prefix is an unterminated line");
        // A BOM only counts at the very start.
        assert!(datas_of(&[b"data: x\n\n", b"\xEF\xBB\xBFdata: y\n\n"]).len() == 1);
    }

    #[test]
    fn held_bom_prefix_then_mismatch_keeps_offsets() {
        let events = events_of(&drive(BIG, &[b"\xEF", b"\xBB", b"\n\ndata: x\n\n"]));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data_offset, 10);
    }

    #[test]
    fn cr_lf_split_across_reads_is_one_terminator() {
        assert_eq!(
            datas_of(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
            vec![b"a\nb".to_vec()]
        );
        // A CR that ended a read, then a read that does not start with LF.
        assert_eq!(
            datas_of(&[b"data: a\r", b"\r", b"data: b\n\n"]),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        // An empty read between CR and LF does not forget the CR.
        assert_eq!(
            datas_of(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]),
            vec![b"a\nb".to_vec()]
        );
    }

    #[test]
    fn finish_reports_unterminated_events() {
        let cases: [(&[u8], bool); 9] = [
            (b"", false),
            (b"data: x\n\n", false),
            (b"data: x\n\n: c\n", false),
            (b"data: x\n\r", false),
            (b"data: x", true),
            (b"data: x\n", true),
            (b"data: x\r", true),
            (b"event: e\nid: 3\n", false),
            (b"id: 3", true),
        ];
        for (stream, expected) in cases {
            let outcomes = drive(BIG, &[stream]);
            let Some(Outcome::Finished { discarded, .. }) = outcomes.last() else {
                panic!("no finish");
            };
            assert_eq!(
                *discarded,
                expected,
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn finish_after_an_unresumed_stop_discards_the_remainder() {
        let mut framer = Framer::new(BIG);
        let result = framer.feed(b"data: a\n\ndata: b\n\n", |_| Err(()));
        assert_eq!(result, Err(FeedError::Sink(())));
        assert!(framer.finish());
        assert_eq!(framer.buffered_bytes(), 0);
    }

    fn data_of(event: &RawEvent<'_>) -> Vec<u8> {
        event.data.to_vec()
    }

    #[test]
    fn decoder_delivers_events_before_an_error_then_reports_it() {
        let mut decoder = Decoder::new(8);
        let first = decoder.feed(b"data: a\n\nxxxxxxxxxxxx\n\ndata: b\n\n", data_of);
        assert_eq!(first, Ok(vec![b"a".to_vec()]));
        let second = decoder.feed(b"data: c\n\n", data_of);
        assert_eq!(
            second,
            Err(LineTooLong {
                line_offset: 9,
                limit: 8,
                event_index: 1
            })
        );
        // The input of the call that reported the error was kept, behind the rest.
        assert_eq!(
            decoder.feed(b"", data_of),
            Ok(vec![b"b".to_vec(), b"c".to_vec()])
        );
        assert_eq!(decoder.finish(data_of), Ok(vec![]));
    }

    #[test]
    fn decoder_reports_at_once_when_nothing_was_completed() {
        let mut decoder = Decoder::new(8);
        let first = decoder.feed(b"xxxxxxxxxxxx\n\ndata: b\n\n", data_of);
        assert!(matches!(first, Err(LineTooLong { line_offset: 0, .. })));
        assert_eq!(decoder.finish(data_of), Ok(vec![b"b".to_vec()]));
    }

    #[test]
    fn decoder_finish_delivers_then_reports_then_ends() {
        let mut decoder = Decoder::new(8);
        let first = decoder.feed(
            b"yyyyyyyyyy\n\ndata: a\n\nzzzzzzzzzz\n\ndata: b\n\ndata: c",
            data_of,
        );
        assert!(matches!(first, Err(LineTooLong { line_offset: 0, .. })));
        assert_eq!(decoder.finish(data_of), Ok(vec![b"a".to_vec()]));
        assert!(matches!(
            decoder.finish(data_of),
            Err(LineTooLong {
                line_offset: 21,
                ..
            })
        ));
        assert_eq!(decoder.finish(data_of), Ok(vec![b"b".to_vec()]));
        assert_eq!(decoder.framer().buffered_bytes(), 0);
    }

    #[test]
    fn retry_overflow_is_ignored() {
        let events = events_of(&drive(
            BIG,
            &[b"retry: 18446744073709551615\ndata: a\n\nretry: 18446744073709551616\ndata: b\n\n"],
        ));
        assert_eq!(events[0].retry, Some(u64::MAX));
        assert_eq!(events[1].retry, Some(u64::MAX));
    }

    #[test]
    fn counters() {
        let mut framer = Framer::new(BIG);
        framer
            .feed(b"data: abc\n\ndata: de", |_| Ok::<(), ()>(()))
            .unwrap();
        assert_eq!(framer.bytes_seen(), 19);
        assert_eq!(framer.buffered_bytes(), 8);
        framer.feed(b"f\n", |_| Ok::<(), ()>(())).unwrap();
        // The data line is complete, so its value is now held as data, not as a line.
        assert_eq!(framer.buffered_bytes(), 3);
        assert_eq!(framer.bytes_seen(), 21);
    }

    // ---- differential test against a plain whole-input model ----------------------------

    /// A deliberately naive reading of the spec over the whole input at once.
    fn model(stream: &[u8]) -> Vec<Outcome> {
        let mut rest = stream;
        let mut offset = 0u64;
        if rest.starts_with(&BOM) {
            rest = &rest[3..];
            offset = 3;
        }
        let mut outcomes = Vec::new();
        let (mut data, mut has_data, mut data_offset) = (Vec::new(), false, 0u64);
        let mut event_type = Vec::new();
        let (mut id_buffer, mut id_string) = (Vec::new(), Vec::new());
        let mut retry = None;
        let mut index = 0;
        let mut discarded = false;
        loop {
            let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
                discarded |= !rest.is_empty();
                break;
            };
            let line = &rest[..end];
            let step = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
                end + 2
            } else {
                end + 1
            };
            if line.is_empty() {
                id_string = id_buffer.clone();
                if has_data {
                    outcomes.push(Outcome::Event(OwnedEvent {
                        event_type: event_type.clone(),
                        data: data.clone(),
                        last_event_id: id_string.clone(),
                        retry,
                        data_offset,
                        index,
                    }));
                    index += 1;
                }
                data.clear();
                has_data = false;
                event_type.clear();
            } else if line[0] != b':' {
                let (name, mut value, mut value_offset) = match line.iter().position(|&b| b == b':')
                {
                    Some(colon) => (&line[..colon], &line[colon + 1..], colon + 1),
                    None => (line, &line[line.len()..], line.len()),
                };
                if value.first() == Some(&b' ') {
                    value = &value[1..];
                    value_offset += 1;
                }
                match name {
                    b"data" => {
                        if has_data {
                            data.push(b'\n');
                        } else {
                            data_offset = offset + value_offset as u64;
                        }
                        has_data = true;
                        data.extend_from_slice(value);
                    }
                    b"event" => event_type = value.to_vec(),
                    b"id" if !value.contains(&0) => id_buffer = value.to_vec(),
                    b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                        if let Ok(ms) = std::str::from_utf8(value).unwrap().parse() {
                            retry = Some(ms);
                        }
                    }
                    _ => {}
                }
            }
            rest = &rest[step..];
            offset += step as u64;
        }
        outcomes.push(Outcome::Finished {
            discarded: discarded || has_data,
            last_event_id: id_string,
            retry,
        });
        outcomes
    }

    /// xorshift64*: deterministic, dependency-free randomness for the generated streams.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random_stream(rng: &mut Rng) -> Vec<u8> {
        const PIECES: [&[u8]; 22] = [
            b"data",
            b"data:",
            b"data: ",
            b"event: ",
            b"id: ",
            b"id",
            b"retry: ",
            b"retry:",
            b":",
            b" ",
            b"\n",
            b"\n",
            b"\r",
            b"\r\n",
            b"x",
            b"{\"a\":1}",
            b"7",
            b"42",
            b"\0",
            b"\xEF\xBB\xBF",
            b"\xEF",
            b"\xE2\x80\xA8",
        ];
        let mut stream = Vec::new();
        for _ in 0..rng.below(60) {
            stream.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        stream
    }

    fn random_reads<'a>(rng: &mut Rng, stream: &'a [u8]) -> Vec<&'a [u8]> {
        let mut reads = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let take = rng.below(rest.len().min(12) + 1);
            let (read, tail) = rest.split_at(take);
            reads.push(read);
            rest = tail;
        }
        reads
    }

    #[test]
    fn random_streams_match_the_model_under_random_reads() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let stream = random_stream(&mut rng);
            let expected = model(&stream);
            let reads = random_reads(&mut rng, &stream);
            assert_eq!(
                drive(BIG, &reads),
                expected,
                "round {round}: {:?} read as {reads:?}",
                String::from_utf8_lossy(&stream)
            );
        }
    }

    #[test]
    fn random_streams_with_a_small_limit_are_split_invariant() {
        // No model for the limit; instead the whole-read outcome, errors included, must not
        // depend on how the stream is cut, and buffering never exceeds the limit.
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for round in 0..20_000 {
            let stream = random_stream(&mut rng);
            let limit = rng.below(12);
            let expected = drive(limit, &[&stream]);
            let reads = random_reads(&mut rng, &stream);
            assert_eq!(
                drive(limit, &reads),
                expected,
                "round {round} limit {limit}: {:?} read as {reads:?}",
                String::from_utf8_lossy(&stream)
            );
            for event in events_of(&expected) {
                assert!(event.data.len() <= limit);
            }
        }
    }

    // ---- benchmark -----------------------------------------------------------------------

    /// `cargo test --release -- --ignored --nocapture framing_throughput`
    #[test]
    #[ignore = "a timing benchmark, not a test: run it by hand in release mode"]
    fn framing_throughput() {
        let mut stream = Vec::new();
        let mut chunk = 0u64;
        while stream.len() < 50_000_000 {
            // A typical chat.completion.chunk of ~380 bytes.
            let line = format!(
                "data: {{\"id\":\"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012\",\"object\":\"chat.completion.chunk\",\"created\":1732650000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" token{chunk} and some more words here\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null,\"obfuscation\":\"x1y2z3\"}}\n\n"
            );
            stream.extend_from_slice(line.as_bytes());
            chunk += 1;
        }
        stream.extend_from_slice(b"data: [DONE]\n\n");
        for read_size in [4096usize, 1024, 65536] {
            let mut best = f64::MAX;
            let mut events = 0u64;
            let mut data_bytes = 0usize;
            for _ in 0..5 {
                let started = std::time::Instant::now();
                let mut framer = Framer::new(64 * 1024 * 1024);
                events = 0;
                data_bytes = 0;
                for read in stream.chunks(read_size) {
                    framer
                        .feed(read, |event| {
                            events += 1;
                            data_bytes += event.data.len();
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                }
                assert!(!framer.finish());
                best = best.min(started.elapsed().as_secs_f64());
            }
            assert_eq!(events, chunk + 1);
            println!(
                "{read_size:>6}-byte reads: {:.0} MB/s, {:.1} M events/s ({} MB, {events} events, {data_bytes} data bytes)",
                stream.len() as f64 / best / 1e6,
                events as f64 / best / 1e6,
                stream.len() / 1_000_000
            );
        }
    }
}
