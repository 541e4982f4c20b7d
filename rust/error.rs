//! Errors as values: a kind plus positions. Text is built only when displayed.

use std::fmt;

use crate::json::reader::JsonError;
use crate::json::value::Value;
use crate::limits::LimitName;
use crate::sniff::{show, Format};

/// Why an event's payload is not usable (a chunk, an event object: whatever the format folds).
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeKind {
    /// Invalid JSON syntax (the only kind that `on_error="repair"` attempts to fix).
    Syntax(JsonError),
    /// Valid JSON, wrong shape of a format whose payloads are chunks of the result (Chat
    /// Completions, Gemini, Bedrock): `field` must be `expected`.
    Schema {
        field: &'static str,
        expected: &'static str,
        pos: usize,
    },
    /// A typed event (Anthropic, ...) with the wrong shape: `what` is what was expected, with
    /// its path (`.index to be a non-negative integer`); `pos` where that value starts.
    Event { what: Box<str>, pos: usize },
}

impl DecodeKind {
    /// Byte position in the payload.
    pub fn pos(&self) -> usize {
        match self {
            DecodeKind::Syntax(e) => e.pos,
            DecodeKind::Schema { pos, .. } | DecodeKind::Event { pos, .. } => *pos,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    Decode(DecodeKind),
    Limit {
        limit: LimitName,
        maximum: u64,
    },
    /// An in-band error frame; `body` is the error object (or text).
    Api {
        body: Value,
    },
    /// Input ended inside an event, or before the format's end marker (`[DONE]` / a
    /// `finish_reason` on every choice, `message_stop`); `missing` names what did not arrive.
    Incomplete {
        inside_event: bool,
        missing: &'static str,
    },
    /// The input does not start like an event stream. `head` is its first bytes (after a BOM
    /// and blank lines), `head_len` how many bytes of it were kept.
    NotEventStream {
        head: Vec<u8>,
        head_len: usize,
    },
    /// The whole input is a JSON error response (an HTTP error body), not an event stream;
    /// `body` is its `error` object (or the response itself when it is `"object": "error"`).
    ErrorResponse {
        body: Value,
        head: Vec<u8>,
        head_len: usize,
    },
    /// The events are chunks of another format than the Chat Completions stream expected
    /// (only Chat Completions raises it: the other folds reject foreign events by their shape).
    /// Raised in every `on_error` mode: skipping them would leave a silently empty completion.
    UnsupportedFormat {
        format: Format,
    },
    /// The events do not make one stream of their format (an Anthropic event before
    /// `message_start`, a second message spliced into an open one).
    Stream {
        message: Box<str>,
    },
    /// A malformed AWS event-stream message (bad CRC, impossible lengths, bad headers, or a
    /// stream that ends inside a message).
    Frame(crate::framing::eventstream::FrameErrorKind),
}

/// An error with where it happened: the stream byte offset of the event's payload (or of the
/// offending line) and the event's index.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamError {
    pub kind: ErrorKind,
    pub byte_offset: u64,
    pub event_index: Option<u64>,
    /// The payload, kept for decode errors so the caller can show line and column.
    pub payload: Option<Vec<u8>>,
}

/// The family an error belongs to: what a caller catches. The bindings map each family to an
/// exception class; the core names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    ChunkDecode,
    LimitExceeded,
    /// Both an in-band error frame and a whole-input error response.
    Api,
    Incomplete,
    NotEventStream,
    UnsupportedFormat,
    /// A `StreamDecodeError` as such: events that do not make one stream.
    StreamDecode,
}

impl ErrorKind {
    pub fn class(&self) -> ErrorClass {
        match self {
            ErrorKind::Decode(_) => ErrorClass::ChunkDecode,
            ErrorKind::Limit { .. } => ErrorClass::LimitExceeded,
            ErrorKind::Api { .. } | ErrorKind::ErrorResponse { .. } => ErrorClass::Api,
            ErrorKind::Incomplete { .. } => ErrorClass::Incomplete,
            ErrorKind::NotEventStream { .. } => ErrorClass::NotEventStream,
            ErrorKind::UnsupportedFormat { .. } => ErrorClass::UnsupportedFormat,
            // A framing error is a decode error of the stream itself.
            ErrorKind::Stream { .. } | ErrorKind::Frame(_) => ErrorClass::StreamDecode,
        }
    }
}

impl StreamError {
    /// The message without the position suffix.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::Decode(DecodeKind::Syntax(e)) => {
                format!("invalid event JSON: {}", e.code.message())
            }
            ErrorKind::Decode(DecodeKind::Schema {
                field, expected, ..
            }) => format!("invalid chunk: expected {field} to be {expected}"),
            ErrorKind::Decode(DecodeKind::Event { what, .. }) => {
                format!("invalid event: expected {what}")
            }
            ErrorKind::Stream { message } => message.to_string(),
            ErrorKind::Limit { limit, maximum } => {
                format!("limit exceeded: {} is {maximum}", limit.option())
            }
            ErrorKind::Api { body } => api_message(body),
            ErrorKind::Incomplete {
                inside_event: true, ..
            } => "stream ended inside an event".to_string(),
            ErrorKind::Incomplete {
                inside_event: false,
                missing,
            } => format!("stream ended without {missing}"),
            ErrorKind::NotEventStream { head, head_len } => format!(
                "input is not an event stream: it starts with {}",
                show(head, *head_len)
            ),
            ErrorKind::ErrorResponse {
                body,
                head,
                head_len,
            } => format!(
                "input is not an event stream but an error response ({}): it starts with {}",
                body_message(body),
                show(head, *head_len)
            ),
            ErrorKind::UnsupportedFormat { format } => format!(
                "unsupported stream format: this is {}, not an OpenAI Chat Completions stream \
                 (chat.completion.chunk)",
                format.description()
            ),
            ErrorKind::Frame(kind) => kind.message(),
        }
    }
}

/// What an error response says: its `message`, or the body when it is a string.
fn body_message(body: &Value) -> &str {
    match body {
        Value::Object(m) => m
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message"),
        Value::String(s) => s,
        _ => "no message",
    }
}

/// `body["message"]` when present (in an Anthropic `{"type": "error", "error": {...}}` body,
/// the inner error's), else the body itself as text.
pub fn api_message(body: &Value) -> String {
    match body {
        Value::Object(m) => {
            let inner = match (m.get("type"), m.get("error")) {
                (Some(Value::String(t)), Some(Value::Object(e))) if t == "error" => e,
                _ => m,
            };
            match inner.get("message") {
                Some(Value::String(s)) => format!("stream reported an error: {s}"),
                _ => "stream reported an error".to_string(),
            }
        }
        Value::String(s) => format!("stream reported an error: {s}"),
        _ => "stream reported an error".to_string(),
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message(), self.byte_offset)?;
        if let Some(i) = self.event_index {
            write!(f, " (event {i})")?;
        }
        if let (ErrorKind::Decode(d), Some(payload)) = (&self.kind, &self.payload) {
            let (line, col) = line_col(payload, d.pos());
            write!(f, ", line {line} column {col} of the payload")?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamError {}

/// 1-based line and column (in characters) of byte `pos` in `payload`.
pub fn line_col(payload: &[u8], pos: usize) -> (usize, usize) {
    let head = payload.get(..pos).unwrap_or(payload);
    let text = String::from_utf8_lossy(head);
    let line = text.matches('\n').count() + 1;
    let col = match text.rfind('\n') {
        Some(nl) => text[nl + 1..].chars().count() + 1,
        None => text.chars().count() + 1,
    };
    (line, col)
}
