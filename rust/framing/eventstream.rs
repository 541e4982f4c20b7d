//! AWS event-stream framing (`application/vnd.amazon.eventstream`): the binary framing of
//! Bedrock `ConverseStream` and `InvokeModelWithResponseStream`, over raw network reads.
//!
//! A message is, all integers big-endian:
//!
//! ```text
//! total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32
//! ```
//!
//! The prelude CRC covers the first 8 bytes, the message CRC every byte before it (prelude CRC
//! included). A header is a 1-byte name length, the name (UTF-8), a 1-byte type and a value:
//! 0 true and 1 false (no bytes), 2 byte, 3 short, 4 int, 5 long, 6 bytes and 7 string (u16
//! length, then the bytes), 8 timestamp (i64 milliseconds), 9 uuid (16 bytes).
//!
//! Checks come in the order that keeps a corrupted byte from ever producing a result: the
//! prelude CRC before the lengths are trusted, the lengths (and the size limit) before
//! anything is buffered or allocated, the message CRC before headers are read. A corrupted
//! byte anywhere in a message is therefore reported at the offset of that message's first byte.
//!
//! After a bad prelude (CRC or impossible lengths) nothing tells where the next message
//! starts, so the framer stops for good: the rest of the input is counted and dropped. Every
//! other error (message CRC, headers, size limit) skips exactly that message and framing
//! resumes after it.
//!
//! Cost model: a message that lies inside one read is checked and dispatched in place; only a
//! message that spans reads is copied, into a buffer reserved once at its announced length.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

/// Prelude: total length, headers length, prelude CRC.
pub const PRELUDE_BYTES: usize = 12;
/// Prelude plus the trailing message CRC: the length of a message with no headers and no payload.
pub const MIN_MESSAGE_BYTES: usize = PRELUDE_BYTES + 4;
/// botocore's maxima (128 KiB of headers, 24 MiB of payload) plus the framing: every message
/// AWS's own SDK accepts fits.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = MIN_MESSAGE_BYTES + (128 << 10) + (24 << 20);

/// Buffers whose capacity grew past this are released after use, so one large message does not
/// pin its memory in an otherwise idle parser.
const KEEP_CAPACITY_BYTES: usize = 64 * 1024;

/// Above this many headers in one message, duplicates are found through a hash set instead of
/// a scan of the names before (128 KiB of 3-byte headers must stay linear).
const LINEAR_DUPLICATE_SCAN: usize = 16;

pub fn crc32(bytes: &[u8]) -> u32 {
    // `crc32fast::hash` and `Hasher::new` detect the CPU's features on every call, which
    // costs about as much as checksumming a 100-byte message: detect once, then clone.
    static FRESH: OnceLock<crc32fast::Hasher> = OnceLock::new();
    let mut hasher = FRESH.get_or_init(crc32fast::Hasher::new).clone();
    hasher.update(bytes);
    hasher.finalize()
}

/// Whether `head` starts with a prelude whose CRC checks: how `format="auto"` recognises
/// the event-stream framing from a stream's first 12 bytes.
pub fn is_prelude(head: &[u8]) -> bool {
    head.len() >= PRELUDE_BYTES && crc32(head.get(..8).unwrap_or_default()) == be_u32(head, 8)
}

/// The big-endian word at `at` (0 past the end). Read as a fixed-size array rather than copied
/// into one: a build whose code units happen not to inline `copy_from_slice` here calls it for
/// every prelude word (a few percent of a Bedrock stream's framing).
fn be_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|slice| <[u8; 4]>::try_from(slice).ok())
        .map_or(0, u32::from_be_bytes)
}

/// One header value, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid(&'a [u8; 16]),
}

impl<'a> HeaderValue<'a> {
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The wire type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: HeaderValue<'a>,
}

/// Why a header block is malformed. Only reachable when the message CRC matched, i.e. when
/// the sender itself encoded a bad block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A name or value runs past the end of the headers block.
    Overrun,
    UnknownType(u8),
    InvalidUtf8,
    Duplicate,
}

/// A header name or string value as text. Names and values are short ASCII in practice
/// (`:event-type`, `contentBlockDelta`), and a byte-wise ASCII check costs a fraction of the
/// general UTF-8 validation, which would otherwise dominate the per-message cost.
#[inline]
fn header_text(bytes: &[u8]) -> Result<&str, HeaderProblem> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|_| HeaderProblem::InvalidUtf8)
}

/// Reads the header at `at` of `block`: the header and where the next one starts.
fn read_header(block: &[u8], at: usize) -> Result<(Header<'_>, usize), HeaderProblem> {
    let name_len = usize::from(*block.get(at).ok_or(HeaderProblem::Overrun)?);
    let name_end = at + 1 + name_len;
    let name = block.get(at + 1..name_end).ok_or(HeaderProblem::Overrun)?;
    let name = header_text(name)?;
    let kind = *block.get(name_end).ok_or(HeaderProblem::Overrun)?;
    let at = name_end + 1;
    let fixed = |n: usize| block.get(at..at + n).ok_or(HeaderProblem::Overrun);
    let int = |n: usize| -> Result<i64, HeaderProblem> {
        let bytes = fixed(n)?;
        let mut word = [0u8; 8];
        // Sign-extend: the value is big-endian two's complement of `n` bytes.
        let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            0xFF
        } else {
            0
        };
        word.fill(fill);
        if let Some(tail) = word.get_mut(8 - n..) {
            tail.copy_from_slice(bytes);
        }
        Ok(i64::from_be_bytes(word))
    };
    let sized = || -> Result<(&[u8], usize), HeaderProblem> {
        let len = block.get(at..at + 2).ok_or(HeaderProblem::Overrun)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let value = block
            .get(at + 2..at + 2 + len)
            .ok_or(HeaderProblem::Overrun)?;
        Ok((value, at + 2 + len))
    };
    // The narrowing casts below undo the sign extension of `int` for a value of that width.
    #[allow(clippy::cast_possible_truncation)]
    let (value, next) = match kind {
        0 => (HeaderValue::Bool(true), at),
        1 => (HeaderValue::Bool(false), at),
        2 => (HeaderValue::Byte(int(1)? as i8), at + 1),
        3 => (HeaderValue::Short(int(2)? as i16), at + 2),
        4 => (HeaderValue::Int(int(4)? as i32), at + 4),
        5 => (HeaderValue::Long(int(8)?), at + 8),
        8 => (HeaderValue::Timestamp(int(8)?), at + 8),
        6 => {
            let (bytes, next) = sized()?;
            (HeaderValue::Bytes(bytes), next)
        }
        7 => {
            let (bytes, next) = sized()?;
            let text = header_text(bytes)?;
            (HeaderValue::String(text), next)
        }
        9 => {
            let uuid: &[u8; 16] = fixed(16)?.try_into().map_err(|_| HeaderProblem::Overrun)?;
            (HeaderValue::Uuid(uuid), at + 16)
        }
        other => return Err(HeaderProblem::UnknownType(other)),
    };
    Ok((Header { name, value }, next))
}

/// The string values of the two headers a fold routes by, noted while the block is checked so
/// that no one reads the headers a second time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Routing<'a> {
    pub message_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
}

/// Checks a whole headers block; on error, the offset in the block of the offending header.
fn validate_headers(block: &[u8]) -> Result<Routing<'_>, (usize, HeaderProblem)> {
    let mut routing = Routing::default();
    let mut at = 0;
    // The first names live on the stack: a message's few headers cost no allocation.
    let mut seen: [&str; LINEAR_DUPLICATE_SCAN] = [""; LINEAR_DUPLICATE_SCAN];
    let mut count = 0;
    let mut seen_set: HashSet<&str> = HashSet::new();
    while at < block.len() {
        let (header, next) = read_header(block, at).map_err(|p| (at, p))?;
        let duplicate = if let Some(slot) = seen.get_mut(count) {
            *slot = header.name;
            count += 1;
            seen.get(..count - 1)
                .is_some_and(|before| before.contains(&header.name))
        } else {
            if seen_set.is_empty() {
                seen_set.extend(seen.iter().copied());
            }
            !seen_set.insert(header.name)
        };
        if duplicate {
            return Err((at, HeaderProblem::Duplicate));
        }
        match header.name {
            ":message-type" => routing.message_type = header.value.as_str(),
            ":event-type" => routing.event_type = header.value.as_str(),
            _ => {}
        }
        at = next;
    }
    Ok(routing)
}

/// The headers of a checked message, in wire order.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    block: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        // The block was validated before the message was dispatched, so this never fails; a
        // failure would end the iteration rather than panic.
        let (header, next) = read_header(self.block, self.at).ok()?;
        self.at = next;
        Some(header)
    }
}

/// One message whose CRCs and headers checked, borrowed from the framer or the current read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMessage<'a> {
    pub header_block: &'a [u8],
    pub payload: &'a [u8],
    /// Stream offset of the message's first byte.
    pub offset: u64,
    /// Stream offset of the payload's first byte.
    pub payload_offset: u64,
    /// 0-based count of messages dispatched before this one.
    pub index: u64,
    pub routing: Routing<'a>,
}

impl<'a> RawMessage<'a> {
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            block: self.header_block,
            at: 0,
        }
    }

    /// The value of the header `name`, if the message has one.
    pub fn header(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.headers().find(|h| h.name == name).map(|h| h.value)
    }

    /// The value of the string header `name`.
    pub fn string_header(&self, name: &str) -> Option<&'a str> {
        self.header(name).and_then(|v| v.as_str())
    }
}

/// What is wrong with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The prelude's CRC does not match its first 8 bytes. Fatal.
    PreludeCrc { expected: u32, computed: u32 },
    /// The lengths cannot describe a message: total below 16, or headers longer than the
    /// message leaves room for. Fatal.
    ImpossibleLength { total: u32, headers: u32 },
    /// The message is longer than the limit; it is skipped without being buffered.
    TooLong { total: u32, limit: usize },
    /// The message CRC does not match; the message is skipped.
    MessageCrc { expected: u32, computed: u32 },
    /// The headers block is malformed; the message is skipped.
    Header(HeaderProblem),
    /// The input ended inside a message.
    Truncated,
}

/// A framing error with the stream offset it was found at: the message's first byte, or for a
/// header problem the header's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub kind: FrameErrorKind,
    pub byte_offset: u64,
    /// The index the message would have had (messages dispatched before it).
    pub message_index: u64,
}

impl FrameError {
    /// Whether framing stopped for good: the rest of the input is dropped.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            FrameErrorKind::PreludeCrc { .. } | FrameErrorKind::ImpossibleLength { .. }
        )
    }

    /// The message without position (the same text in the pure-Python twin).
    pub fn message(&self) -> String {
        self.kind.message()
    }
}

impl FrameErrorKind {
    /// What is wrong, without position (the same text in the pure-Python twin).
    pub fn message(self) -> String {
        match self {
            FrameErrorKind::PreludeCrc { expected, computed } => format!(
                "event-stream prelude CRC mismatch: the message says {expected:#010x}, its bytes \
                 give {computed:#010x}"
            ),
            FrameErrorKind::ImpossibleLength { total, headers } => format!(
                "event-stream message has impossible lengths: total {total}, headers {headers}"
            ),
            FrameErrorKind::TooLong { total, limit } => {
                format!("event-stream message of {total} bytes is longer than max_message_bytes ({limit})")
            }
            FrameErrorKind::MessageCrc { expected, computed } => format!(
                "event-stream message CRC mismatch: the message says {expected:#010x}, its bytes \
                 give {computed:#010x}"
            ),
            FrameErrorKind::Header(problem) => match problem {
                HeaderProblem::Overrun => {
                    "event-stream header runs past the end of the headers".to_string()
                }
                HeaderProblem::UnknownType(t) => {
                    format!("event-stream header has unknown type {t}")
                }
                HeaderProblem::InvalidUtf8 => {
                    "event-stream header name or string value is not UTF-8".to_string()
                }
                HeaderProblem::Duplicate => "event-stream header repeated".to_string(),
            },
            FrameErrorKind::Truncated => "stream ended inside an event-stream message".to_string(),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} (event {})",
            self.message(),
            self.byte_offset,
            self.message_index
        )
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedError<E> {
    /// The sink refused a message; framing stopped right after it.
    Sink(E),
    /// A malformed message; framing stopped right after it (or for good, if fatal).
    Frame(FrameError),
}

/// Why framing of one input slice stopped before its end.
enum Stop<E> {
    Sink(E),
    Frame(FrameError),
}

/// The checked prelude: the message's total length.
fn check_prelude(prelude: &[u8], limit: usize) -> Result<usize, FrameErrorKind> {
    let expected = be_u32(prelude, 8);
    let computed = crc32(prelude.get(..8).unwrap_or_default());
    if expected != computed {
        return Err(FrameErrorKind::PreludeCrc { expected, computed });
    }
    let total = be_u32(prelude, 0);
    let headers = be_u32(prelude, 4);
    if (total as usize) < MIN_MESSAGE_BYTES || headers as usize > total as usize - MIN_MESSAGE_BYTES
    {
        return Err(FrameErrorKind::ImpossibleLength { total, headers });
    }
    if total as usize > limit {
        return Err(FrameErrorKind::TooLong { total, limit });
    }
    Ok(total as usize)
}

/// The last valid headers block, by value: the messages of a stream mostly repeat the block
/// of the one before (the same three headers), and checking is a function of the bytes alone,
/// so an identical block is valid with its routing values at the same places.
#[derive(Debug, Default)]
struct LastHeaders {
    block: Vec<u8>,
    message_type: Option<(usize, usize)>,
    event_type: Option<(usize, usize)>,
}

/// Blocks up to this size are remembered (a stream's blocks are about a hundred bytes).
const LAST_HEADERS_BYTES: usize = 512;

impl LastHeaders {
    fn routing<'b>(&self, block: &'b [u8]) -> Option<Routing<'b>> {
        if block.is_empty() || block != self.block.as_slice() {
            return None;
        }
        let text = |span: Option<(usize, usize)>| -> Option<Option<&'b str>> {
            match span {
                None => Some(None),
                Some((from, to)) => {
                    let bytes = block.get(from..to)?;
                    // SAFETY: `block` equals byte for byte the remembered block, in which
                    // `validate_headers` found valid UTF-8 at this span.
                    Some(Some(unsafe { std::str::from_utf8_unchecked(bytes) }))
                }
            }
        };
        Some(Routing {
            message_type: text(self.message_type)?,
            event_type: text(self.event_type)?,
        })
    }

    fn remember(&mut self, block: &[u8], routing: Routing<'_>) {
        self.block.clear();
        if block.len() > LAST_HEADERS_BYTES {
            return;
        }
        // Where a value borrowed from `block` sits in it.
        let span = |value: Option<&str>| {
            value.map(|v| {
                let from = (v.as_ptr() as usize).wrapping_sub(block.as_ptr() as usize);
                (from, from + v.len())
            })
        };
        self.message_type = span(routing.message_type);
        self.event_type = span(routing.event_type);
        self.block.extend_from_slice(block);
    }
}

/// A checked message's header block, payload and routing headers.
type Parts<'a> = (&'a [u8], &'a [u8], Routing<'a>);

/// Checks a whole message (its prelude already checked): the message CRC, then the headers.
/// On a header problem, also the offset of the header in the message.
fn check_message<'m>(
    message: &'m [u8],
    last: &mut LastHeaders,
) -> Result<Parts<'m>, (usize, FrameErrorKind)> {
    let total = message.len();
    let expected = be_u32(message, total - 4);
    let computed = crc32(message.get(..total - 4).unwrap_or_default());
    if expected != computed {
        return Err((0, FrameErrorKind::MessageCrc { expected, computed }));
    }
    let headers_end = PRELUDE_BYTES + be_u32(message, 4) as usize;
    let block = message.get(PRELUDE_BYTES..headers_end).unwrap_or_default();
    let routing = if let Some(routing) = last.routing(block) {
        routing
    } else {
        let routing = validate_headers(block)
            .map_err(|(at, problem)| (PRELUDE_BYTES + at, FrameErrorKind::Header(problem)))?;
        last.remember(block, routing);
        routing
    };
    let payload = message.get(headers_end..total - 4).unwrap_or_default();
    Ok((block, payload, routing))
}

/// Incremental event-stream framer.
pub struct Framer {
    max_message_bytes: usize,
    /// The start of a message whose end has not arrived yet, from its first byte.
    held: Vec<u8>,
    /// Bytes still to drop of a message that is skipped without being buffered.
    skipping: u64,
    /// A fatal error was met: every later byte is dropped.
    broken: bool,
    /// Input not yet framed because framing stopped early, from `pending_start` on.
    pending: Vec<u8>,
    pending_start: usize,
    /// Stream offset of the next byte to frame (bytes in `held` are before it).
    consumed: u64,
    bytes_seen: u64,
    dispatched: u64,
    last_headers: LastHeaders,
}

impl Framer {
    /// `max_message_bytes` bounds one whole message (prelude and CRC included); exactly at the
    /// limit is allowed.
    pub fn new(max_message_bytes: usize) -> Framer {
        Framer {
            max_message_bytes,
            held: Vec::new(),
            skipping: 0,
            broken: false,
            pending: Vec::new(),
            pending_start: 0,
            consumed: 0,
            bytes_seen: 0,
            dispatched: 0,
            last_headers: LastHeaders::default(),
        }
    }

    /// Frames one read; `sink` gets every message the read completes, in order. If the sink
    /// returns Err, or a message is malformed, framing stops right after that message and the
    /// rest of `input` is kept inside the framer, so the next `feed` (even with b"") resumes
    /// exactly there.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&RawMessage<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        self.bytes_seen += input.len() as u64;
        if !self.pending.is_empty() {
            let mut pending = std::mem::take(&mut self.pending);
            let start = std::mem::take(&mut self.pending_start).min(pending.len());
            let held = pending.get(start..).unwrap_or_default();
            if let Err((stopped_at, stop)) = self.run(held, &mut sink) {
                // Advance an offset rather than shift the rest down on every stop; compact
                // once the framed part is the larger half, so resuming stays linear.
                let mut start = start.saturating_add(stopped_at).min(pending.len());
                if start.saturating_mul(2) >= pending.len() {
                    pending.drain(..start);
                    start = 0;
                }
                pending.extend_from_slice(input);
                self.pending = pending;
                self.pending_start = start;
                return Err(Self::to_feed_error(stop));
            }
            pending.clear();
            if pending.capacity() > KEEP_CAPACITY_BYTES {
                pending = Vec::new();
            }
            self.pending = pending;
        }
        if let Err((stopped_at, stop)) = self.run(input, &mut sink) {
            self.pending
                .extend_from_slice(input.get(stopped_at..).unwrap_or_default());
            return Err(Self::to_feed_error(stop));
        }
        Ok(())
    }

    /// Keeps `input` unframed, after the input already held (for a call that reports an error
    /// kept from the previous call instead of framing).
    pub fn hold(&mut self, input: &[u8]) {
        self.bytes_seen += input.len() as u64;
        self.pending.extend_from_slice(input);
    }

    /// End of input. Returns the `Truncated` error when the input ended inside a message (a
    /// partial message held, or one being skipped, or input kept after a stop and never
    /// resumed). A framer stopped by a fatal error reports nothing more. Counters stay
    /// readable.
    pub fn finish(&mut self) -> Option<FrameError> {
        let inside = !self.held.is_empty() || self.skipping > 0 || !self.pending.is_empty();
        let error = (inside && !self.broken).then(|| FrameError {
            kind: FrameErrorKind::Truncated,
            byte_offset: self.consumed - self.held.len() as u64,
            message_index: self.dispatched,
        });
        self.held = Vec::new();
        self.skipping = 0;
        self.pending = Vec::new();
        self.pending_start = 0;
        self.consumed = self.bytes_seen;
        error
    }

    /// Whether input was held after a stop and not framed yet (`feed(b"")` frames it).
    pub fn has_held_input(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether a fatal error stopped the framer for good.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    pub fn messages(&self) -> u64 {
        self.dispatched
    }

    pub fn buffered_bytes(&self) -> usize {
        self.held.len() + self.pending.len().saturating_sub(self.pending_start)
    }

    fn to_feed_error<E>(stop: Stop<E>) -> FeedError<E> {
        match stop {
            Stop::Sink(e) => FeedError::Sink(e),
            Stop::Frame(e) => FeedError::Frame(e),
        }
    }

    fn error(&mut self, kind: FrameErrorKind, byte_offset: u64) -> FrameError {
        let error = FrameError {
            kind,
            byte_offset,
            message_index: self.dispatched,
        };
        if error.is_fatal() {
            self.broken = true;
        }
        error
    }

    /// Frames `input`, which starts at stream offset `self.consumed`. On a stop returns the
    /// index in `input` where framing must resume.
    fn run<E, F>(&mut self, input: &[u8], sink: &mut F) -> Result<(), (usize, Stop<E>)>
    where
        F: FnMut(&RawMessage<'_>) -> Result<(), E>,
    {
        let base = self.consumed;
        if self.broken {
            self.consumed = base + input.len() as u64;
            return Ok(());
        }
        let mut pos = 0usize;
        if self.skipping > 0 {
            let n = usize::try_from(self.skipping)
                .unwrap_or(usize::MAX)
                .min(input.len());
            self.skipping -= n as u64;
            pos = n;
        }
        if !self.held.is_empty() {
            pos = match self.complete_held(input, pos, base, sink) {
                Ok(Some(next)) => next,
                Ok(None) => {
                    self.consumed = base + input.len() as u64;
                    return Ok(());
                }
                Err((next, stop)) => {
                    self.consumed = base + next as u64;
                    return Err((next, stop));
                }
            };
        }
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            let start = base + pos as u64;
            if rest.len() < PRELUDE_BYTES {
                self.held.extend_from_slice(rest);
                self.consumed = base + input.len() as u64;
                return Ok(());
            }
            let total = match check_prelude(rest, self.max_message_bytes) {
                Ok(total) => total,
                Err(kind) => {
                    let (next, error) = self.prelude_error(kind, rest.len(), start);
                    let next = pos + next;
                    self.consumed = base + next as u64;
                    return Err((next, Stop::Frame(error)));
                }
            };
            let Some(message) = rest.get(..total) else {
                // Reserved once at the announced length, which the limit has bounded.
                self.held.reserve_exact(total);
                self.held.extend_from_slice(rest);
                self.consumed = base + input.len() as u64;
                return Ok(());
            };
            let next = pos + total;
            self.consumed = base + next as u64;
            if let Err(stop) = self.dispatch(message, start, sink) {
                return Err((next, stop));
            }
            pos = next;
        }
    }

    /// A bad prelude at stream offset `start`, with `available` bytes of the message in hand:
    /// the error, and how many of those bytes framing moves past.
    fn prelude_error(
        &mut self,
        kind: FrameErrorKind,
        available: usize,
        start: u64,
    ) -> (usize, FrameError) {
        let error = self.error(kind, start);
        match kind {
            FrameErrorKind::TooLong { total, .. } => {
                let total = total as usize;
                let taken = total.min(available);
                self.skipping = (total - taken) as u64;
                (taken, error)
            }
            // Fatal: everything in hand is dropped.
            _ => (available, error),
        }
    }

    /// Adds this read's bytes to the held start of a message. Returns where in `input` framing
    /// continues once the message is complete, or None when the read ended before that.
    fn complete_held<E, F>(
        &mut self,
        input: &[u8],
        mut pos: usize,
        base: u64,
        sink: &mut F,
    ) -> Result<Option<usize>, (usize, Stop<E>)>
    where
        F: FnMut(&RawMessage<'_>) -> Result<(), E>,
    {
        let start = base - self.held.len() as u64;
        if self.held.len() < PRELUDE_BYTES {
            let want = (PRELUDE_BYTES - self.held.len()).min(input.len() - pos);
            self.held
                .extend_from_slice(input.get(pos..pos + want).unwrap_or_default());
            pos += want;
            if self.held.len() < PRELUDE_BYTES {
                return Ok(None);
            }
        }
        let total = match check_prelude(&self.held, self.max_message_bytes) {
            Ok(total) => total,
            Err(kind) => {
                let held = std::mem::take(&mut self.held);
                let (taken, error) = self.prelude_error(kind, held.len(), start);
                // For a message that is too long, the rest of it (beyond the held prelude) is
                // skipped from this read on.
                let skip_now = usize::try_from(self.skipping)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - pos);
                self.skipping -= skip_now as u64;
                let next = if error.is_fatal() {
                    input.len()
                } else {
                    debug_assert_eq!(taken, held.len());
                    pos + skip_now
                };
                return Err((next, Stop::Frame(error)));
            }
        };
        let want = (total - self.held.len()).min(input.len() - pos);
        if self.held.capacity() < total {
            self.held.reserve_exact(total - self.held.len());
        }
        self.held
            .extend_from_slice(input.get(pos..pos + want).unwrap_or_default());
        pos += want;
        if self.held.len() < total {
            return Ok(None);
        }
        let message = std::mem::take(&mut self.held);
        let outcome = self.dispatch(&message, start, sink);
        self.held = message;
        self.held.clear();
        if self.held.capacity() > KEEP_CAPACITY_BYTES {
            self.held = Vec::new();
        }
        match outcome {
            Ok(()) => Ok(Some(pos)),
            Err(stop) => Err((pos, stop)),
        }
    }

    /// Checks a whole message at stream offset `start` and hands it to the sink.
    fn dispatch<E, F>(&mut self, message: &[u8], start: u64, sink: &mut F) -> Result<(), Stop<E>>
    where
        F: FnMut(&RawMessage<'_>) -> Result<(), E>,
    {
        match check_message(message, &mut self.last_headers) {
            Ok((header_block, payload, routing)) => {
                let raw = RawMessage {
                    header_block,
                    payload,
                    offset: start,
                    payload_offset: start + (message.len() - 4 - payload.len()) as u64,
                    index: self.dispatched,
                    routing,
                };
                self.dispatched += 1;
                sink(&raw).map_err(Stop::Sink)
            }
            Err((at, kind)) => Err(Stop::Frame(self.error(kind, start + at as u64))),
        }
    }
}

/// The framer with the delivery rule of docs/design.md "Errors and limits" (see
/// [`super::delivery`]): messages completed before an error first, the error on the next call.
pub type Decoder = super::delivery::Delivery<Framer>;

/// Encodes one message (for tests, benches and renderers).
pub fn encode(headers: &[Header<'_>], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for header in headers {
        let name = header.name.as_bytes();
        block.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        block.extend_from_slice(name.get(..255).unwrap_or(name));
        block.push(header.value.type_byte());
        match header.value {
            HeaderValue::Bool(_) => {}
            HeaderValue::Byte(v) => block.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Short(v) => block.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int(v) => block.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Long(v) | HeaderValue::Timestamp(v) => {
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                block.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
                block.extend_from_slice(v.get(..65535).unwrap_or(v));
            }
            HeaderValue::String(v) => {
                let v = v.as_bytes();
                block.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
                block.extend_from_slice(v.get(..65535).unwrap_or(v));
            }
            HeaderValue::Uuid(v) => block.extend_from_slice(v),
        }
    }
    let total = MIN_MESSAGE_BYTES + block.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An `event` message as Bedrock sends them: `:event-type`, `:content-type`, `:message-type`.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            Header {
                name: ":event-type",
                value: HeaderValue::String(event_type),
            },
            Header {
                name: ":content-type",
                value: HeaderValue::String("application/json"),
            },
            Header {
                name: ":message-type",
                value: HeaderValue::String("event"),
            },
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Message {
            headers: Vec<(String, String)>,
            payload: Vec<u8>,
            offset: u64,
        },
        Error(FrameError),
    }

    fn all_types() -> Vec<u8> {
        let uuid = [7u8; 16];
        encode(
            &[
                Header {
                    name: "t",
                    value: HeaderValue::Bool(true),
                },
                Header {
                    name: "f",
                    value: HeaderValue::Bool(false),
                },
                Header {
                    name: "b",
                    value: HeaderValue::Byte(-2),
                },
                Header {
                    name: "s",
                    value: HeaderValue::Short(-300),
                },
                Header {
                    name: "i",
                    value: HeaderValue::Int(-70000),
                },
                Header {
                    name: "l",
                    value: HeaderValue::Long(-5_000_000_000),
                },
                Header {
                    name: "by",
                    value: HeaderValue::Bytes(b"\x00\xff"),
                },
                Header {
                    name: "st",
                    value: HeaderValue::String("h\u{e9}"),
                },
                Header {
                    name: "ts",
                    value: HeaderValue::Timestamp(1_700_000_000_000),
                },
                Header {
                    name: "u",
                    value: HeaderValue::Uuid(&uuid),
                },
            ],
            b"{\"x\":1}",
        )
    }

    fn run(reads: &[&[u8]], limit: usize) -> Vec<Seen> {
        let mut framer = Framer::new(limit);
        let mut seen = Vec::new();
        for read in reads {
            let mut next: &[u8] = read;
            loop {
                let result = framer.feed(next, |m| {
                    seen.push(Seen::Message {
                        headers: m
                            .headers()
                            .map(|h| (h.name.to_string(), format!("{:?}", h.value)))
                            .collect(),
                        payload: m.payload.to_vec(),
                        offset: m.offset,
                    });
                    Ok::<(), ()>(())
                });
                match result {
                    Ok(()) => break,
                    Err(FeedError::Frame(e)) => seen.push(Seen::Error(e)),
                    Err(FeedError::Sink(())) => unreachable!(),
                }
                next = b"";
            }
        }
        if let Some(e) = framer.finish() {
            seen.push(Seen::Error(e));
        }
        seen
    }

    /// The routing noted during the check is what a lookup over the headers finds: string
    /// values only, absent otherwise, in any header order and past the stack-held names.
    #[test]
    fn the_cached_hasher_gives_a_fresh_hashers_crc() {
        // Every length from empty to several SIMD blocks, every byte value, twice: the clone
        // of the cached hasher must not carry state from one message to the next.
        let bytes: Vec<u8> = (0..600u32).map(|i| (i * 131 + 7) as u8).collect();
        for _ in 0..2 {
            for end in 0..bytes.len() {
                assert_eq!(
                    crc32(&bytes[..end]),
                    crc32fast::hash(&bytes[..end]),
                    "{end}"
                );
            }
        }
        // The check value of CRC-32/ISO-HDLC, the CRC the event-stream framing uses.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn routing_matches_a_header_lookup() {
        let many: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let mut cases: Vec<Vec<Header<'_>>> = vec![
            vec![],
            vec![
                Header {
                    name: ":event-type",
                    value: HeaderValue::String("contentBlockDelta"),
                },
                Header {
                    name: ":content-type",
                    value: HeaderValue::String("application/json"),
                },
                Header {
                    name: ":message-type",
                    value: HeaderValue::String("event"),
                },
            ],
            vec![
                Header {
                    name: ":message-type",
                    value: HeaderValue::Bytes(b"event"),
                },
                Header {
                    name: ":event-type",
                    value: HeaderValue::String("caf\u{e9}"),
                },
            ],
        ];
        let mut long: Vec<Header<'_>> = many
            .iter()
            .map(|name| Header {
                name,
                value: HeaderValue::Int(1),
            })
            .collect();
        long.push(Header {
            name: ":message-type",
            value: HeaderValue::String("exception"),
        });
        cases.push(long);
        // One framer for all: each block comes twice (the second time it is the last block
        // seen), then the next case's block replaces it.
        let mut framer = Framer::new(DEFAULT_MAX_MESSAGE_BYTES);
        for headers in &cases {
            let mut message = encode(headers, b"{}");
            message.extend_from_slice(&message.clone());
            let mut routed = Vec::new();
            framer
                .feed(&message, |m| {
                    let owned = |v: Option<&str>| v.map(str::to_string);
                    routed.push([
                        owned(m.routing.message_type),
                        owned(m.routing.event_type),
                        owned(m.string_header(":message-type")),
                        owned(m.string_header(":event-type")),
                    ]);
                    Ok::<(), ()>(())
                })
                .unwrap();
            let lookup = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.name == name)
                    .and_then(|h| h.value.as_str())
                    .map(str::to_string)
            };
            let expected = [lookup(":message-type"), lookup(":event-type")];
            assert_eq!(routed.len(), 2);
            for r in &routed {
                assert_eq!(r[..2], expected);
                assert_eq!(r[2..], expected);
            }
        }
    }

    /// A block that differs from the last valid one is checked in full.
    #[test]
    fn a_bad_block_after_a_good_one_is_reported() {
        let good = Header {
            name: ":event-type",
            value: HeaderValue::String("a"),
        };
        let mut stream = encode(&[good], b"{}");
        stream.extend(encode(&[good], b"{}"));
        stream.extend(encode(&[good, good], b"{}"));
        stream.extend(encode(&[good], b"{}"));
        let seen = run(&[&stream], DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(matches!(seen[1], Seen::Message { .. }));
        let Seen::Error(error) = seen[2] else {
            panic!("{seen:?}")
        };
        assert_eq!(error.kind, FrameErrorKind::Header(HeaderProblem::Duplicate));
        assert!(matches!(seen[3], Seen::Message { .. }));
    }

    #[test]
    fn every_header_type_decodes() {
        let message = all_types();
        let seen = run(&[&message], DEFAULT_MAX_MESSAGE_BYTES);
        let Seen::Message {
            headers, payload, ..
        } = &seen[0]
        else {
            panic!("{seen:?}")
        };
        let values: Vec<&str> = headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "Bool(true)",
                "Bool(false)",
                "Byte(-2)",
                "Short(-300)",
                "Int(-70000)",
                "Long(-5000000000)",
                "Bytes([0, 255])",
                "String(\"h\u{e9}\")",
                "Timestamp(1700000000000)",
                "Uuid([7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7])",
            ]
        );
        assert_eq!(payload, b"{\"x\":1}");
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn every_split_gives_the_same_messages() {
        let mut stream = all_types();
        stream.extend(encode_event("messageStart", b"{\"role\":\"assistant\"}"));
        stream.extend(encode(&[], b""));
        let whole = run(&[&stream], DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(whole.len(), 3);
        for size in 1..=64 {
            let reads: Vec<&[u8]> = stream.chunks(size).collect();
            assert_eq!(
                run(&reads, DEFAULT_MAX_MESSAGE_BYTES),
                whole,
                "read size {size}"
            );
        }
    }

    #[test]
    fn a_corrupted_byte_is_reported_at_its_message() {
        let first = encode_event("a", b"{}");
        let second = all_types();
        let mut stream = first.clone();
        stream.extend_from_slice(&second);
        for at in 0..second.len() {
            for size in [1, 5, stream.len()] {
                let mut bad = stream.clone();
                bad[first.len() + at] ^= 0x41;
                let reads: Vec<&[u8]> = bad.chunks(size).collect();
                let seen = run(&reads, DEFAULT_MAX_MESSAGE_BYTES);
                assert!(matches!(seen[0], Seen::Message { .. }));
                let Seen::Error(error) = seen[1] else {
                    panic!("byte {at}: {seen:?}")
                };
                assert_eq!(error.byte_offset, first.len() as u64, "byte {at}");
                assert!(
                    seen.iter().skip(1).all(|s| matches!(s, Seen::Error(_))),
                    "byte {at}: a corrupted message produced a result: {seen:?}"
                );
            }
        }
    }

    #[test]
    fn the_limit_is_checked_before_buffering_and_the_message_skipped() {
        let big = encode_event("big", &[b'x'; 100]);
        let small = encode_event("small", b"{}");
        let mut stream = big.clone();
        stream.extend_from_slice(&small);
        for limit in [big.len() - 1, big.len()] {
            for size in [1, 7, stream.len()] {
                let reads: Vec<&[u8]> = stream.chunks(size).collect();
                let seen = run(&reads, limit);
                if limit == big.len() {
                    assert_eq!(seen.len(), 2);
                } else {
                    assert_eq!(
                        seen[0],
                        Seen::Error(FrameError {
                            kind: FrameErrorKind::TooLong {
                                total: big.len() as u32,
                                limit
                            },
                            byte_offset: 0,
                            message_index: 0
                        })
                    );
                    assert!(
                        matches!(&seen[1], Seen::Message { offset, .. } if *offset == big.len() as u64)
                    );
                }
            }
        }
        let mut framer = Framer::new(1000);
        // A prelude announcing 4 GiB: refused from the prelude alone, nothing reserved.
        let mut prelude = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let result = framer.feed(&prelude, |_| Ok::<(), ()>(()));
        assert!(matches!(
            result,
            Err(FeedError::Frame(FrameError {
                kind: FrameErrorKind::TooLong { .. },
                ..
            }))
        ));
        assert!(framer.held.capacity() < 100);
    }

    #[test]
    fn impossible_lengths_and_truncation_are_errors() {
        let mut prelude = vec![0, 0, 0, 15, 0, 0, 0, 0];
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let seen = run(&[&prelude], DEFAULT_MAX_MESSAGE_BYTES);
        assert!(matches!(
            seen[..],
            [Seen::Error(FrameError {
                kind: FrameErrorKind::ImpossibleLength {
                    total: 15,
                    headers: 0
                },
                byte_offset: 0,
                ..
            })]
        ));
        let message = encode_event("a", b"{}");
        let mut stream = message.clone();
        stream.extend_from_slice(&message[..message.len() - 1]);
        let seen = run(&[&stream], DEFAULT_MAX_MESSAGE_BYTES);
        assert!(matches!(
            seen[1],
            Seen::Error(FrameError {
                kind: FrameErrorKind::Truncated,
                byte_offset,
                message_index: 1
            }) if byte_offset == message.len() as u64
        ));
    }

    #[test]
    fn malformed_headers_are_reported_at_the_header() {
        // A valid CRC over a bad headers block: an unknown type 10 in the second header.
        let mut block = vec![1, b'a', 0];
        block.extend_from_slice(&[1, b'b', 10]);
        let total = MIN_MESSAGE_BYTES + block.len();
        let mut message = Vec::new();
        message.extend_from_slice(&(total as u32).to_be_bytes());
        message.extend_from_slice(&(block.len() as u32).to_be_bytes());
        let crc = crc32(&message);
        message.extend_from_slice(&crc.to_be_bytes());
        message.extend_from_slice(&block);
        let crc = crc32(&message);
        message.extend_from_slice(&crc.to_be_bytes());
        let seen = run(&[&message], DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(
            seen,
            [Seen::Error(FrameError {
                kind: FrameErrorKind::Header(HeaderProblem::UnknownType(10)),
                byte_offset: 15,
                message_index: 0
            })]
        );
    }

    #[test]
    fn decoder_delivers_messages_before_the_error() {
        let good = encode_event("a", b"{}");
        let mut bad = encode_event("b", b"{}");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut stream = good.clone();
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&good);
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_BYTES);
        let first = decoder.feed(&stream, |m| m.offset);
        assert_eq!(first, Ok(vec![0]));
        let second = decoder.feed(b"", |m| m.offset);
        assert!(matches!(
            second,
            Err(FrameError {
                kind: FrameErrorKind::MessageCrc { .. },
                ..
            })
        ));
        let third = decoder.feed(b"", |m| m.offset);
        assert_eq!(third, Ok(vec![(good.len() + bad.len()) as u64]));
        assert_eq!(decoder.finish(|m| m.offset), Ok(vec![]));
    }
}
