//! Anthropic Messages streams: `message_start` ... `message_stop` folded into the Messages API
//! `message` (docs/formats.md "Anthropic"; the twin is `deltafold/reference/anthropic.py`, whose
//! docstring lists the rules event by event).
//!
//! The oracle is the `anthropic` SDK's `accumulate_event`; where the wire says more than that
//! SDK keeps, the wire wins: `input_json_delta` fills the `input` of every block that has one
//! (`mcp_tool_use` too), `compaction_delta` sets a compaction block's `content` and
//! `encrypted_content`, and every non-null key of a `message_delta` reaches the message. Keys
//! keep the order the server sent them in.
//!
//! Each payload is checked in full before anything is folded, so a refused payload leaves the
//! fold as it was (in skip mode the stream goes on as if it had not come). The one state a
//! refusal changes is the splice mark: once a second message's `message_start` arrived while
//! the first is open, every later event belongs to the intruder and is refused too.

mod fast;
mod json_text;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::driver::{Config, Options};
use crate::error::{DecodeKind, ErrorKind};
use crate::event::{texts_done, Call, Event, TextOf, TextTrail, UsageSnapshot};
use crate::formats::{Fold, Folded, Format, Note};
use crate::json::partial::PartialJson;
use crate::json::prefix::JsonPrefix;
use crate::json::reader::{self, JsonErrorCode};
use crate::json::value::{Map, Value};
use crate::limits::{LimitName, Limits};
use crate::summary::{self, Summary, ToolCall, Usage};

use fast::{append_fragment, append_text, fast_head, fast_string, Added, Appended, LastHead};
use json_text::{py_repr, value_position, write_json, Step};

/// Every event type of an Anthropic Messages stream (`error` aside, which any format sends).
pub const ANTHROPIC_EVENTS: [&str; 7] = [
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
];

/// The `stop_*` keys of a `message_delta`: last non-null, and present once one arrived.
const STOP_KEYS: [&str; 3] = ["stop_reason", "stop_sequence", "stop_details"];

/// Blocks whose calls the client must answer (summary `tool_calls`, tool events); server-side
/// tools (`server_tool_use`, `mcp_tool_use`) are not.
const CLIENT_TOOL: &str = "tool_use";

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A tool input's JSON text as it arrives, with the partial parser that keeps it the start of
/// a JSON document (and gives `parsed_arguments`). Without events that parser only validates
/// (nothing reads a value before the block stops), and the value is parsed once at the stop.
struct ToolInput {
    text: String,
    parser: InputParser,
    /// The `input` as of the block's `content_block_stop`, so `result()` does not parse again;
    /// dropped if a fragment arrives after the stop.
    at_stop: InputAtStop,
    /// The fragments, for event snapshots (event mode only).
    trail: TextTrail,
}

impl ToolInput {
    /// Takes the fragment that `text` holds from `start` on, appended as `how` says (plain
    /// text, printable ASCII other than `"` and `\`, need not be seen by a validator inside a
    /// string; a checked one was seen). Refused when the text would no longer start a JSON
    /// document, or would nest too deep: then the text and the parser go back to what they
    /// were.
    #[inline(always)]
    fn take_fragment(
        &mut self,
        start: usize,
        how: Appended,
        max_depth: usize,
        options: Options,
    ) -> Result<(), Refused> {
        let Some(added) = self.text.as_bytes().get(start..).filter(|a| !a.is_empty()) else {
            return Ok(());
        };
        let taken = match how {
            Appended::Checked => !self.parser.failed(),
            // Plain text inside a string changes nothing the parser keeps: it need not see it.
            Appended::Plain if self.parser.ignores_plain_text() => true,
            Appended::Plain | Appended::Decoded => self.parser.feed(added),
        };
        if !taken {
            return Err(self.refuse(start, max_depth, options));
        }
        if !matches!(self.at_stop, InputAtStop::NotYet) {
            self.at_stop = InputAtStop::NotYet;
        }
        Ok(())
    }
}

impl ToolInput {
    /// The text and the parser back to what they were before the fragment from `start` on.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, start: usize, max_depth: usize, options: Options) -> Refused {
        let too_deep = self.parser.too_deep();
        self.text.truncate(start);
        self.parser = input_parser(max_depth, options);
        self.parser.feed(self.text.as_bytes());
        if too_deep {
            Refused::TooDeep
        } else {
            Refused::NotJson
        }
    }
}

/// What checks a tool input's text as it arrives: the partial parser when events read its value
/// so far, else the lighter prefix check (which keeps no value; see [`parse_input`]).
enum InputParser {
    Partial(PartialJson),
    Prefix(JsonPrefix),
}

impl InputParser {
    /// Takes the next fragment; false once the text can no longer start a JSON document.
    #[inline(always)]
    fn feed(&mut self, fragment: &[u8]) -> bool {
        match self {
            InputParser::Prefix(prefix) => {
                prefix.feed(fragment);
                !prefix.failed()
            }
            InputParser::Partial(parser) => {
                parser.feed(fragment);
                !parser.failed()
            }
        }
    }

    fn failed(&self) -> bool {
        match self {
            InputParser::Prefix(prefix) => prefix.failed(),
            InputParser::Partial(parser) => parser.failed(),
        }
    }

    #[inline(always)]
    fn ignores_plain_text(&self) -> bool {
        match self {
            InputParser::Prefix(prefix) => prefix.ignores_plain_text(),
            InputParser::Partial(parser) => parser.ignores_plain_text(),
        }
    }

    fn too_deep(&self) -> bool {
        match self {
            InputParser::Prefix(prefix) => prefix.too_deep(),
            InputParser::Partial(parser) => parser.too_deep(),
        }
    }

    fn complete(&self) -> bool {
        match self {
            InputParser::Prefix(prefix) => prefix.complete(),
            InputParser::Partial(parser) => parser.complete(),
        }
    }

    /// The partial parser, which keeps the value so far; `None` for the prefix check.
    fn partial(&self) -> Option<&PartialJson> {
        match self {
            InputParser::Partial(parser) => Some(parser),
            InputParser::Prefix(_) => None,
        }
    }
}

/// Why a tool input refused a fragment.
enum Refused {
    TooDeep,
    NotJson,
}

impl Refused {
    fn error(self, data: &[u8], max_depth: usize) -> ErrorKind {
        match self {
            Refused::TooDeep => ErrorKind::Limit {
                limit: LimitName::Depth,
                maximum: max_depth as u64,
            },
            Refused::NotJson => invalid(
                data,
                &[Step::Key("delta"), Step::Key("partial_json")],
                "more of the tool input JSON",
            ),
        }
    }
}

/// A tool input's value, once worked out at the block's stop.
enum InputAtStop {
    NotYet,
    /// The text is one whole JSON value, which the input is (no copy of it is kept).
    Whole,
    /// None: no text came, the input stays as given.
    Parsed(Option<Value>),
}

/// What a key of a map held before a rendered value took its place.
enum Before {
    Absent,
    Was(Value),
}

impl Before {
    fn of(old: Option<Value>) -> Before {
        old.map_or(Before::Absent, Before::Was)
    }
}

/// What [`Fold::take_result`] put in place of a block's own values, for [`Fold::restore`] to
/// undo: what its text key and `input` held before the rendered ones (`None`: nothing was
/// rendered there), and whether the rendered `input` is the input's text moved.
#[derive(Default)]
struct Shown {
    text_key: Option<Before>,
    input: Option<Before>,
    input_text: bool,
}

/// One content block: the object as given, plus what its deltas built.
struct Block {
    map: Map,
    kind: Option<String>,
    /// Which string deltas build `text`: `Text` for a text block, `Thinking` for a thinking
    /// block (its signature deltas too), `None` for any other.
    text_piece: Option<Piece>,
    /// The `text` of a text block or the `thinking` of a thinking block, as the deltas build
    /// it (written back into `map` when rendered).
    text: Option<String>,
    /// Blocks that have an `input`: its JSON text.
    input: Option<Box<ToolInput>>,
    /// Position among the message's `tool_use` blocks.
    tool_position: Option<usize>,
    id: Option<Arc<str>>,
    name: Option<Arc<str>>,
    /// Its `content_block_stop` arrived (tool calls: `.done` emitted).
    done: bool,
}

impl Block {
    fn new(map: Map, tool_position: Option<usize>, max_depth: usize, options: Options) -> Self {
        let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
        let text_key = text_key(kind.as_deref());
        let text_piece = match text_key {
            Some("text") => Some(Piece::Text),
            Some(_) => Some(Piece::Thinking),
            None => None,
        };
        let text = text_key
            .and_then(|k| map.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let shared = |key: &str| map.get(key).and_then(Value::as_str).map(Arc::from);
        Block {
            input: map.contains_key("input").then(|| {
                Box::new(ToolInput {
                    text: String::new(),
                    parser: input_parser(max_depth, options),
                    at_stop: InputAtStop::NotYet,
                    trail: TextTrail::default(),
                })
            }),
            id: shared("id"),
            name: shared("name"),
            kind,
            text_piece,
            text,
            map,
            tool_position,
            done: false,
        }
    }

    /// Whether a text, thinking or signature delta applies to this block.
    fn takes(&self, piece: Piece) -> bool {
        let wanted = match piece {
            Piece::Signature => Piece::Thinking,
            other => other,
        };
        self.text_piece == Some(wanted)
    }

    fn kind_name(&self) -> &str {
        self.kind.as_deref().unwrap_or("None")
    }

    /// The `input`: the value of the JSON text (what jiter's `partial_mode=True` gives while it
    /// is incomplete), or as given when no text came.
    fn input_value(&self, max_depth: usize) -> Option<Value> {
        let input = self.input.as_ref()?;
        if let InputAtStop::Parsed(value) = &input.at_stop {
            return value.clone();
        }
        parse_input(input, max_depth)
    }

    /// The tool input as text: the JSON text that arrived, else the given input as JSON.
    fn arguments(&self) -> String {
        match &self.input {
            Some(input) if !input.text.is_empty() => input.text.clone(),
            _ => {
                let mut out = String::new();
                write_json(self.map.get("input").unwrap_or(&Value::Null), &mut out);
                out
            }
        }
    }

    /// [`Block::render`] moving rather than copying: the map, the text, and a whole input's
    /// text go into the value; [`Block::restore`] takes them back.
    fn take_render(&mut self, max_depth: usize) -> (Value, Shown) {
        let mut map = std::mem::take(&mut self.map);
        let mut shown = Shown::default();
        if let Some(key) = text_key(self.kind.as_deref()) {
            if let Some(text) = self.text.take() {
                shown.text_key = Some(Before::of(map.insert(key.into(), Value::String(text))));
            }
        }
        let whole = self.input.as_ref().is_some_and(|input| {
            !matches!(input.at_stop, InputAtStop::Parsed(_)) && input.parser.complete()
        });
        let value = match self.input.as_mut() {
            Some(input) if whole => {
                shown.input_text = true;
                let text = std::mem::take(&mut input.text);
                Some(Value::Raw(text.into_boxed_str()))
            }
            _ => self.input_value(max_depth),
        };
        if let Some(value) = value {
            shown.input = Some(Before::of(map.insert("input".into(), value)));
        }
        (Value::Object(map), shown)
    }

    /// Takes back what [`Block::take_render`] moved into `shown`, leaving the block as it was.
    fn restore(&mut self, shown: Value, undo: Shown) {
        let Value::Object(mut map) = shown else {
            return;
        };
        if let Some(before) = undo.input {
            let rendered = put_back(&mut map, "input", before);
            if let (true, Some(Value::Raw(text)), Some(input)) =
                (undo.input_text, rendered, self.input.as_mut())
            {
                input.text = text.into_string();
            }
        }
        if let (Some(before), Some(key)) = (undo.text_key, text_key(self.kind.as_deref())) {
            if let Some(Value::String(text)) = put_back(&mut map, key, before) {
                self.text = Some(text);
            }
        }
        self.map = map;
    }

    fn render(&self, max_depth: usize) -> Value {
        let mut map = self.map.clone();
        if let (Some(key), Some(text)) = (text_key(self.kind.as_deref()), &self.text) {
            map.insert(key.into(), Value::string(text.as_str()));
        }
        if let Some(input) = self.input_value(max_depth) {
            map.insert("input".into(), input);
        }
        Value::Object(map)
    }
}

/// Gives `key` of `map` back what it held (an absent key goes), and the value it held instead.
fn put_back(map: &mut Map, key: &str, before: Before) -> Option<Value> {
    match before {
        Before::Was(value) => map.insert(key.into(), value),
        Before::Absent => map.shift_remove(key),
    }
}

/// Without `parsed_arguments` events, only whether the text is still a JSON prefix matters
/// until the block stops. The prefix check tracks at most `PREFIX_MAX_DEPTH` levels (more than
/// the Python options allow): a deeper limit takes the partial parser's validator.
fn input_parser(max_depth: usize, options: Options) -> InputParser {
    if options.events && options.partial_arguments {
        return InputParser::Partial(PartialJson::new(max_depth));
    }
    match JsonPrefix::new(max_depth) {
        Some(prefix) => InputParser::Prefix(prefix),
        None => InputParser::Partial(PartialJson::validator(max_depth)),
    }
}

/// The value of a tool input's text: whole, or (cut short) what jiter's `partial_mode=True`
/// gives; None when no text came, so the input stays as given.
fn parse_input(input: &ToolInput, max_depth: usize) -> Option<Value> {
    if input.text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return None;
    }
    if input.parser.complete() {
        // The parser has validated the whole text as one JSON value (depth included): keep
        // the text and let the converter walk it, instead of building a tree that `result()`
        // would copy and the converter walk again.
        return Some(Value::Raw(input.text.as_str().into()));
    }
    if let Some(parser) = input.parser.partial().filter(|p| p.keeps_value()) {
        return parser.value_without_open_string();
    }
    // A validator keeps no value: read the text again with a parser that does (only for an
    // input cut short, which is rare).
    let mut parser = PartialJson::new(max_depth);
    parser.feed(input.text.as_bytes());
    parser.value_without_open_string()
}

/// The key a block's text deltas build: `text` for text blocks, `thinking` for thinking.
fn text_key(kind: Option<&str>) -> Option<&'static str> {
    match kind {
        Some("text") => Some("text"),
        Some("thinking") => Some("thinking"),
        _ => None,
    }
}

/// What a checked payload is, with what its folding needs.
enum Checked {
    Ping,
    Unknown(String),
    MessageStart(Map),
    MessageStop,
    MessageDelta(Map),
    BlockStart(Map),
    BlockDelta(usize, Map),
    BlockStop(usize),
}

/// The string deltas, which the fast path folds too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Piece {
    Text,
    Thinking,
    Signature,
    InputJson,
}

impl Piece {
    fn of(delta_type: &str) -> Option<Piece> {
        Some(match delta_type {
            "text_delta" => Piece::Text,
            "thinking_delta" => Piece::Thinking,
            "signature_delta" => Piece::Signature,
            "input_json_delta" => Piece::InputJson,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Piece::Text => "text_delta",
            Piece::Thinking => "thinking_delta",
            Piece::Signature => "signature_delta",
            Piece::InputJson => "input_json_delta",
        }
    }

    /// The delta's key that holds the string.
    fn field(self) -> &'static str {
        match self {
            Piece::Text => "text",
            Piece::Thinking => "thinking",
            Piece::Signature => "signature",
            Piece::InputJson => "partial_json",
        }
    }
}

/// The Anthropic Messages fold.
pub struct Anthropic {
    options: Options,
    limits: Limits,
    /// `message_start`'s message, updated by `message_delta`s (its content is `blocks`).
    message: Option<Map>,
    message_id: Value,
    blocks: Vec<Block>,
    /// Positions in `blocks` of the `tool_use` blocks.
    tool_blocks: Vec<usize>,
    /// All answer text and all thinking, in order (summary, `.done` events).
    text: String,
    thinking: String,
    text_trail: TextTrail,
    thinking_trail: TextTrail,
    /// Payloads folded in this stream.
    payloads: u64,
    /// A second generation's `message_start` arrived: its events (all later ones) are refused.
    spliced: bool,
    /// `content.done` / `reasoning.done` fired.
    texts_done: bool,
    /// What the last payload's folding ignored, for the driver to record.
    notes: Vec<Note>,
    serial: u64,
    /// Where the fast path decodes a string delta that has escapes (see [`fast_string`]).
    scratch: String,
    last_head: LastHead,
    /// What [`Fold::take_result`] moved out, for [`Fold::restore`]: the message's `content`
    /// before the rendered blocks took its place, and each block's [`Shown`].
    content_before: Option<Before>,
    shown: Vec<Shown>,
}

type Checks<T> = Result<T, ErrorKind>;

/// A payload path as the error message shows it: `.message.content[0]`.
fn describe(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Item(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    if out.is_empty() {
        out.push_str("payload");
    }
    out
}

fn invalid(data: &[u8], path: &[Step<'_>], expected: &str) -> ErrorKind {
    ErrorKind::Decode(DecodeKind::Event {
        what: format!("{} to be {expected}", describe(path)).into(),
        pos: value_position(data, path),
    })
}

/// A JSON integer at least 0 (Python's `type(x) is int and x >= 0`); a huge one saturates.
fn block_index(v: Option<&Value>) -> Option<usize> {
    let Some(Value::Number(text)) = v else {
        return None;
    };
    if text.contains(['.', 'e', 'E']) {
        return None;
    }
    match text.parse::<i128>() {
        Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Ok(_) => None,
        // Longer than i128: only the sign matters.
        Err(_) => (!text.starts_with('-')).then_some(usize::MAX),
    }
}

fn is_object_or_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null | Value::Object(_)))
}

fn take_object(map: &mut Map, key: &str) -> Option<Map> {
    match map.get_mut(key).map(std::mem::take) {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

impl Anthropic {
    fn stream_error(message: String) -> ErrorKind {
        ErrorKind::Stream {
            message: message.into(),
        }
    }

    /// Everything that is wrong with a payload, before any of it is folded.
    fn check(&mut self, value: Value, data: &[u8]) -> Checks<Checked> {
        let Value::Object(mut event) = value else {
            return Err(invalid(data, &[], "a JSON object"));
        };
        let kind = match event.get("type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(invalid(data, &[Step::Key("type")], "a string")),
        };
        if kind == "error" {
            return Err(ErrorKind::Api {
                body: Value::Object(event),
            });
        }
        if kind == "ping" {
            return Ok(Checked::Ping);
        }
        if !ANTHROPIC_EVENTS.contains(&kind.as_str()) {
            return Ok(Checked::Unknown(kind));
        }
        if self.spliced {
            return Err(Self::stream_error(format!(
                "{kind} of a spliced second message dropped"
            )));
        }
        if kind == "message_start" {
            return self.check_message_start(event, data);
        }
        if self.message.is_none() {
            return Err(Self::stream_error(format!("{kind} before message_start")));
        }
        match kind.as_str() {
            "message_stop" => return Ok(Checked::MessageStop),
            "message_delta" => {
                for key in ["delta", "usage"] {
                    if !is_object_or_null(event.get(key)) {
                        return Err(invalid(data, &[Step::Key(key)], "an object or null"));
                    }
                }
                return Ok(Checked::MessageDelta(event));
            }
            _ => {}
        }
        let Some(index) = block_index(event.get("index")) else {
            return Err(invalid(
                data,
                &[Step::Key("index")],
                "a non-negative integer",
            ));
        };
        if kind == "content_block_start" {
            let block = match take_object(&mut event, "content_block") {
                Some(b) if matches!(b.get("type"), Some(Value::String(_))) => b,
                _ => {
                    return Err(invalid(
                        data,
                        &[Step::Key("content_block")],
                        "an object with a string type",
                    ))
                }
            };
            if index != self.blocks.len() {
                let expected = format!("the next block index ({})", self.blocks.len());
                return Err(invalid(data, &[Step::Key("index")], &expected));
            }
            let is_tool = block.get("type").and_then(Value::as_str) == Some(CLIENT_TOOL);
            if is_tool && self.tool_blocks.len() >= self.limits.max_tool_calls {
                return Err(ErrorKind::Limit {
                    limit: LimitName::ToolCalls,
                    maximum: self.limits.max_tool_calls as u64,
                });
            }
            return Ok(Checked::BlockStart(block));
        }
        if index >= self.blocks.len() {
            let expected = format!("the index of a started block (below {})", self.blocks.len());
            return Err(invalid(data, &[Step::Key("index")], &expected));
        }
        if kind == "content_block_stop" {
            return Ok(Checked::BlockStop(index));
        }
        let delta = match take_object(&mut event, "delta") {
            Some(d) if matches!(d.get("type"), Some(Value::String(_))) => d,
            _ => {
                return Err(invalid(
                    data,
                    &[Step::Key("delta")],
                    "an object with a string type",
                ))
            }
        };
        let delta_type = delta
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let field = match delta_type {
            "text_delta" => Some("text"),
            "thinking_delta" => Some("thinking"),
            "signature_delta" => Some("signature"),
            "input_json_delta" => Some("partial_json"),
            _ => None,
        };
        if let Some(field) = field {
            if !matches!(delta.get(field), Some(Value::String(_))) {
                return Err(invalid(
                    data,
                    &[Step::Key("delta"), Step::Key(field)],
                    "a string",
                ));
            }
        }
        if delta_type == "citations_delta"
            && !matches!(delta.get("citation"), Some(Value::Object(_)))
        {
            return Err(invalid(
                data,
                &[Step::Key("delta"), Step::Key("citation")],
                "an object",
            ));
        }
        Ok(Checked::BlockDelta(index, delta))
    }

    fn check_message_start(&mut self, mut event: Map, data: &[u8]) -> Checks<Checked> {
        let message_path = [Step::Key("message")];
        let Some(message) = take_object(&mut event, "message") else {
            return Err(invalid(data, &message_path, "an object"));
        };
        match message.get("content") {
            None | Some(Value::Null) => {}
            Some(Value::Array(blocks)) => {
                if let Some(i) = blocks.iter().position(|b| !matches!(b, Value::Object(_))) {
                    let path = [Step::Key("message"), Step::Key("content"), Step::Item(i)];
                    return Err(invalid(data, &path, "an object"));
                }
            }
            Some(_) => {
                let path = [Step::Key("message"), Step::Key("content")];
                return Err(invalid(data, &path, "an array or null"));
            }
        }
        if !is_object_or_null(message.get("usage")) {
            let path = [Step::Key("message"), Step::Key("usage")];
            return Err(invalid(data, &path, "an object or null"));
        }
        if self.message.is_some() {
            let id = message.get("id").unwrap_or(&Value::Null);
            if *id != self.message_id {
                self.spliced = true;
                return Err(Self::stream_error(format!(
                    "message_start of another message ({}) while message {} is open: two \
                     generations spliced",
                    py_repr(id),
                    py_repr(&self.message_id)
                )));
            }
        }
        Ok(Checked::MessageStart(message))
    }

    fn start(&mut self, mut message: Map, events: &mut Vec<Event>) {
        self.message_id = message.get("id").cloned().unwrap_or_default();
        if let Some(Value::Array(blocks)) = message.get_mut("content") {
            for block in std::mem::take(blocks) {
                if let Value::Object(block) = block {
                    self.start_block(block);
                }
            }
        }
        if self.options.events {
            if let Some(Value::Object(usage)) = message.get("usage") {
                events.push(Event::Usage(UsageSnapshot::whole(usage.clone())));
            }
        }
        self.message = Some(message);
    }

    fn start_block(&mut self, map: Map) {
        let is_tool = map.get("type").and_then(Value::as_str) == Some(CLIENT_TOOL);
        let tool_position = is_tool.then_some(self.tool_blocks.len());
        let block = Block::new(map, tool_position, self.limits.max_depth, self.options);
        if let Some(text) = block.text.as_deref().filter(|t| !t.is_empty()) {
            match block.kind.as_deref() {
                Some("text") => push_text(&mut self.text, &mut self.text_trail, text, self.options),
                _ => push_text(
                    &mut self.thinking,
                    &mut self.thinking_trail,
                    text,
                    self.options,
                ),
            }
        }
        if is_tool {
            self.tool_blocks.push(self.blocks.len());
        }
        self.blocks.push(block);
    }

    /// A delta on block `index` (checked to exist). A JSON fragment that cannot continue the
    /// tool input is refused, the input left as it was.
    fn delta(
        &mut self,
        index: usize,
        mut delta: Map,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Checks<()> {
        let delta_type = delta
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(piece) = Piece::of(&delta_type) {
            let added = match delta.get_mut(piece.field()).map(std::mem::take) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            return self.delta_piece(index, piece, &added, data, events);
        }
        let Some(block) = self.blocks.get_mut(index) else {
            return Ok(());
        };
        match delta_type.as_str() {
            "citations_delta" => {
                if block.kind.as_deref() != Some("text") {
                    let message = format!("{delta_type} on a {} block ignored", block.kind_name());
                    self.notes.push(ignored(message));
                    return Ok(());
                }
                let citation = delta
                    .get_mut("citation")
                    .map(std::mem::take)
                    .unwrap_or_default();
                match block.map.get_mut("citations") {
                    Some(Value::Array(list)) if !list.is_empty() => list.push(citation),
                    _ => {
                        block
                            .map
                            .insert("citations".into(), Value::Array(vec![citation]));
                    }
                }
            }
            "compaction_delta" => {
                if block.kind.as_deref() != Some("compaction") {
                    let message = format!("{delta_type} on a {} block ignored", block.kind_name());
                    self.notes.push(ignored(message));
                    return Ok(());
                }
                for key in ["content", "encrypted_content"] {
                    let v = delta.get_mut(key).map(std::mem::take).unwrap_or_default();
                    block.map.insert(key.into(), v);
                }
            }
            other => {
                self.notes.push(ignored(format!(
                    "unknown delta type {} ignored",
                    py_repr_str(other)
                )));
            }
        }
        Ok(())
    }

    /// A string delta on block `index`: text, thinking, a signature or a tool input fragment.
    /// Both the full decode and the fast path ([`fast_head`]) fold through here.
    fn delta_piece(
        &mut self,
        index: usize,
        piece: Piece,
        added: &str,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Checks<()> {
        let options = self.options;
        let max_depth = self.limits.max_depth;
        let Some(block) = self.blocks.get_mut(index) else {
            return Ok(());
        };
        if piece != Piece::InputJson && !block.takes(piece) {
            let message = format!("{} on a {} block ignored", piece.name(), block.kind_name());
            self.notes.push(ignored(message));
            return Ok(());
        }
        match piece {
            Piece::Text | Piece::Thinking => {
                block.text.get_or_insert_with(String::new).push_str(added);
                if added.is_empty() {
                    return Ok(());
                }
                let (all, trail, of) = if piece == Piece::Text {
                    (&mut self.text, &mut self.text_trail, TextOf::Content)
                } else {
                    (
                        &mut self.thinking,
                        &mut self.thinking_trail,
                        TextOf::Reasoning(THINKING_FIELD),
                    )
                };
                push_text(all, trail, added, options);
                if options.events {
                    events.push(Event::TextDelta {
                        of,
                        choice_index: 0,
                        trail: trail.clone(),
                    });
                }
            }
            Piece::Signature => {
                block.map.insert("signature".into(), Value::string(added));
            }
            Piece::InputJson => {
                let tool_position = block.tool_position;
                let Some(input) = block.input.as_mut() else {
                    let message =
                        format!("{} on a {} block ignored", piece.name(), block.kind_name());
                    self.notes.push(ignored(message));
                    return Ok(());
                };
                let start = input.text.len();
                input.text.push_str(added);
                input
                    .take_fragment(start, Appended::Decoded, max_depth, options)
                    .map_err(|refused| refused.error(data, max_depth))?;
                if let (true, Some(position)) = (options.events, tool_position) {
                    input.trail.push(added.into());
                    events.push(Event::ArgumentsDelta {
                        call: Call::tool(0, position, block.id.clone(), block.name.clone()),
                        trail: input.trail.clone(),
                        parsed: options.partial_arguments.then(|| {
                            let parser = input.parser.partial();
                            parser.map(PartialJson::snapshot).unwrap_or_default()
                        }),
                    });
                }
            }
        }
        Ok(())
    }

    /// Folds a `content_block_delta` payload laid out byte for byte as the API sends it (see
    /// [`fast_head`]) without building its tree: `Ok(false)` when it is not one, or when
    /// folding it would be refused by a check before the delta is applied (the full path
    /// reports those). A plain flag rather than the fold's own result, so the usual outcome
    /// moves no error-sized value through the layers.
    fn fold_fast(&mut self, data: &[u8], events: &mut Vec<Event>) -> Checks<bool> {
        if self.spliced || self.message.is_none() {
            return Ok(false);
        }
        let max_depth = self.limits.max_depth;
        let head = if let Some(head) = self.last_head.matches(data) {
            head
        } else {
            let Some(head) = fast_head(data, max_depth) else {
                return Ok(false);
            };
            self.last_head.remember(data, head);
            head
        };
        let (index, piece, quote) = head;
        let Some(block) = self.blocks.get_mut(index) else {
            return Ok(false);
        };
        // Without events, a tool input fragment (nearly every payload of a long input) is
        // decoded straight onto the input's text, and a text or thinking delta onto its block's;
        // what they leave is the general way's.
        if !self.options.events {
            match piece {
                Piece::InputJson => {
                    if let Some(input) = block.input.as_mut() {
                        let start = input.text.len();
                        let check = match &mut input.parser {
                            InputParser::Prefix(prefix) => Some(prefix),
                            InputParser::Partial(_) => None,
                        };
                        if let Some(how) = append_fragment(data, quote, &mut input.text, check) {
                            input
                                .take_fragment(start, how, max_depth, self.options)
                                .map_err(|refused| refused.error(data, max_depth))?;
                            self.payloads += 1;
                            return Ok(true);
                        }
                    }
                }
                Piece::Text | Piece::Thinking if block.takes(piece) => {
                    let text = block.text.get_or_insert_with(String::new);
                    let start = text.len();
                    if append_text(data, quote, text).is_some() {
                        let all = if piece == Piece::Text {
                            &mut self.text
                        } else {
                            &mut self.thinking
                        };
                        all.push_str(text.get(start..).unwrap_or_default());
                        self.payloads += 1;
                        return Ok(true);
                    }
                }
                _ => {}
            }
        }
        self.fold_fast_string(index, piece, quote, data, events)
    }

    /// The rest of [`Self::fold_fast`]: any string delta, its text decoded on its own first.
    #[inline(never)]
    fn fold_fast_string(
        &mut self,
        index: usize,
        piece: Piece,
        quote: usize,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Checks<bool> {
        let max_depth = self.limits.max_depth;
        let mut scratch = std::mem::take(&mut self.scratch);
        let folded = match fast_string(data, quote, max_depth, &mut scratch) {
            Some(added) => {
                let added = match &added {
                    Added::Text(text) => text,
                    Added::InScratch => scratch.as_str(),
                };
                self.delta_piece(index, piece, added, data, events)
                    .map(|()| true)
            }
            None => Ok(false),
        };
        self.scratch = scratch;
        if let Ok(true) = folded {
            self.payloads += 1;
        }
        folded
    }

    fn message_delta(&mut self, mut event: Map, events: &mut Vec<Event>) {
        let Some(message) = self.message.as_mut() else {
            return;
        };
        let delta = take_object(&mut event, "delta").unwrap_or_default();
        for key in STOP_KEYS {
            let found = delta.get(key);
            if found.is_some_and(|v| !v.is_null()) || !message.contains_key(key) {
                message.insert(key.into(), found.cloned().unwrap_or_default());
            }
        }
        for (key, found) in delta.iter() {
            if !STOP_KEYS.contains(&key.as_str()) && !found.is_null() {
                message.insert(key.clone(), found.clone());
            }
        }
        let new_usage = take_object(&mut event, "usage");
        for (key, found) in event.iter() {
            if !matches!(key.as_str(), "type" | "delta" | "usage") && !found.is_null() {
                message.insert(key.clone(), found.clone());
            }
        }
        if let Some(new_usage) = &new_usage {
            if !matches!(message.get("usage"), Some(Value::Object(_))) {
                message.insert("usage".into(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(current)) = message.get_mut("usage") {
                for (key, found) in new_usage.iter() {
                    if !found.is_null() || key == "output_tokens" {
                        current.insert(key.clone(), found.clone());
                    }
                }
            }
        }
        if self.options.events {
            let stopped = message.get("stop_reason").is_some_and(|v| !v.is_null());
            let usage = match (&new_usage, message.get("usage")) {
                (Some(_), Some(Value::Object(u))) => Some(u.clone()),
                _ => None,
            };
            if stopped {
                self.done_events(events);
            }
            if let Some(usage) = usage {
                events.push(Event::Usage(UsageSnapshot::whole(usage)));
            }
        }
    }

    fn block_stop(&mut self, index: usize, events: &mut Vec<Event>) {
        let options = self.options;
        let max_depth = self.limits.max_depth;
        if let Some(block) = self.blocks.get_mut(index) {
            if let Some(input) = block.input.as_mut() {
                // A whole value is the text itself: no copy of it is kept.
                input.at_stop = if input.parser.complete() {
                    InputAtStop::Whole
                } else {
                    InputAtStop::Parsed(parse_input(input, max_depth))
                };
            }
            if !block.done {
                block.done = true;
                if let (true, Some(position)) = (options.events, block.tool_position) {
                    events.push(call_done_event(block, position, options, max_depth));
                }
            }
        }
    }

    /// `content.done` (if the message has a text block) and `reasoning.done` (a thinking
    /// block), each once; the `.done` of every tool call not stopped yet.
    fn done_events(&mut self, events: &mut Vec<Event>) {
        if !std::mem::replace(&mut self.texts_done, true) {
            let has = |kind| self.blocks.iter().any(|b| b.kind.as_deref() == Some(kind));
            texts_done(
                events,
                has("text").then_some(&self.text),
                has("thinking").then_some((THINKING_FIELD, &self.thinking)),
            );
        }
        for &pos in &self.tool_blocks {
            if let Some(block) = self.blocks.get_mut(pos) {
                if let (false, Some(position)) = (block.done, block.tool_position) {
                    events.push(call_done_event(
                        block,
                        position,
                        self.options,
                        self.limits.max_depth,
                    ));
                }
            }
        }
    }

    /// A payload the fast path does not take: decoded in full, checked, then folded. Out of
    /// line, so the fast path's frame stays small.
    #[inline(never)]
    fn fold_full(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<Folded, ErrorKind> {
        let max_depth = self.limits.max_depth;
        let value = reader::parse(data, max_depth).map_err(|e| match e.code {
            JsonErrorCode::TooDeep => ErrorKind::Limit {
                limit: LimitName::Depth,
                maximum: max_depth as u64,
            },
            _ => ErrorKind::Decode(DecodeKind::Syntax(e)),
        })?;
        self.fold_value(value, data, events)
    }

    fn fold_value(
        &mut self,
        value: Value,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        match self.check(value, data)? {
            Checked::Ping => return Ok(Folded::Continue),
            Checked::Unknown(kind) => {
                self.notes.push(ignored(format!(
                    "unknown event type {} ignored",
                    py_repr_str(&kind)
                )));
                return Ok(Folded::Continue);
            }
            Checked::MessageStart(message) => {
                if self.message.is_none() {
                    self.start(message, events);
                }
            }
            Checked::BlockStart(block) => self.start_block(block),
            Checked::BlockDelta(index, delta) => self.delta(index, delta, data, events)?,
            Checked::BlockStop(index) => self.block_stop(index, events),
            Checked::MessageDelta(event) => self.message_delta(event, events),
            Checked::MessageStop => {
                self.payloads += 1;
                return Ok(Folded::End);
            }
        }
        self.payloads += 1;
        Ok(Folded::Continue)
    }
}

/// An unknown event or delta type, or a delta its block cannot take: folded as nothing,
/// recorded in every mode.
fn ignored(message: String) -> Note {
    Note {
        kind: "UnknownEvent",
        skipped: false,
        message,
    }
}

fn py_repr_str(s: &str) -> String {
    py_repr(&Value::string(s))
}

fn push_text(all: &mut String, trail: &mut TextTrail, piece: &str, options: Options) {
    all.push_str(piece);
    if options.events {
        trail.push(piece.into());
    }
}

/// The `field` of reasoning events: the block type the text comes in.
const THINKING_FIELD: &str = "thinking";

fn call_done_event(
    block: &mut Block,
    position: usize,
    options: Options,
    max_depth: usize,
) -> Event {
    block.done = true;
    let call = Call::tool(0, position, block.id.clone(), block.name.clone());
    let parse_depth = options.partial_arguments.then_some(max_depth);
    Event::arguments_done(call, block.arguments(), parse_depth)
}

impl Fold for Anthropic {
    fn new(config: &Config) -> Self {
        Anthropic {
            options: config.options,
            limits: config.limits,
            message: None,
            message_id: Value::Null,
            blocks: Vec::new(),
            tool_blocks: Vec::new(),
            text: String::new(),
            thinking: String::new(),
            text_trail: TextTrail::default(),
            thinking_trail: TextTrail::default(),
            payloads: 0,
            spliced: false,
            texts_done: false,
            notes: Vec::new(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            scratch: String::new(),
            last_head: LastHead::default(),
            content_before: None,
            shown: Vec::new(),
        }
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Anthropic)
    }

    #[inline]
    fn take_notes(&mut self, notes: &mut Vec<Note>) {
        // Called after every payload, and nearly every payload notes nothing: inline, so the
        // format dispatch makes that check without a call.
        if !self.notes.is_empty() {
            notes.append(&mut self.notes);
        }
    }

    fn ends_stream(&self, _data: &[u8]) -> bool {
        false
    }

    fn end_marker(&self) -> &'static str {
        "message_stop"
    }

    fn missing_end(&self) -> &'static str {
        "message_stop"
    }

    fn fold(
        &mut self,
        _event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        if self.fold_fast(data, events)? {
            return Ok(Folded::Continue);
        }
        self.fold_full(data, events)
    }

    fn fold_repaired(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.fold(event_type, data, events)
    }

    fn next_stream(&mut self) {
        *self = Anthropic::new(&Config {
            options: self.options,
            limits: self.limits,
            ..Config::default()
        });
    }

    fn folded(&self) -> u64 {
        if self.message.is_some() {
            self.payloads.max(1)
        } else {
            0
        }
    }

    fn complete(&self) -> bool {
        false
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        self.done_events(events);
    }

    fn result(&self) -> Value {
        let Some(message) = &self.message else {
            return Value::Object(Map::new());
        };
        let mut out = message.clone();
        let max_depth = self.limits.max_depth;
        let content = self.blocks.iter().map(|b| b.render(max_depth)).collect();
        out.insert("content".into(), Value::Array(content));
        Value::Object(out)
    }

    /// As [`Fold::result`], moving the message, the blocks' maps and texts and whole tool
    /// inputs' texts into the result ([`Fold::restore`] moves them back).
    fn take_result(&mut self) -> Value {
        let Some(message) = self.message.as_mut() else {
            return Value::Object(Map::new());
        };
        let mut out = std::mem::take(message);
        let max_depth = self.limits.max_depth;
        let mut content = Vec::with_capacity(self.blocks.len());
        self.shown.clear();
        for block in &mut self.blocks {
            let (value, shown) = block.take_render(max_depth);
            content.push(value);
            self.shown.push(shown);
        }
        let before = out.insert("content".into(), Value::Array(content));
        self.content_before = Some(Before::of(before));
        Value::Object(out)
    }

    fn restore(&mut self, result: Value) {
        let (Some(message), Value::Object(mut out), Some(before)) =
            (self.message.as_mut(), result, self.content_before.take())
        else {
            return;
        };
        if let Some(Value::Array(content)) = put_back(&mut out, "content", before) {
            let undo = std::mem::take(&mut self.shown);
            for ((block, shown), undo) in self.blocks.iter_mut().zip(content).zip(undo) {
                block.restore(shown, undo);
            }
        }
        *message = out;
    }

    fn version(&self) -> (u64, u64) {
        (self.serial, self.payloads)
    }

    fn summary(&self) -> Summary {
        let message = self.message.as_ref();
        let get = |key: &str| message.and_then(|m| m.get(key));
        let usage = get("usage");
        let input = summary::count(summary::field(usage, "input_tokens"));
        let cached = summary::count(summary::field(usage, "cache_read_input_tokens"));
        let written = summary::count(summary::field(usage, "cache_creation_input_tokens"));
        let input = input.map(|n| {
            n.saturating_add(cached.unwrap_or(0))
                .saturating_add(written.unwrap_or(0))
        });
        let output = summary::count(summary::field(usage, "output_tokens"));
        let tool_calls: Vec<ToolCall> = self
            .tool_blocks
            .iter()
            .filter_map(|&pos| self.blocks.get(pos))
            .map(|b| ToolCall {
                id: b.id.as_deref().map(str::to_owned),
                name: b.name.as_deref().map(str::to_owned),
                arguments: b.arguments(),
            })
            .collect();
        let stop_reason = get("stop_reason").cloned().unwrap_or_default();
        Summary {
            format: Some(Format::Anthropic),
            id: summary::text(get("id")),
            model: summary::text(get("model")),
            finish_reason: summary::finish_reason(stop_reason.as_str(), !tool_calls.is_empty()),
            stop_reason,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: summary::sum(input, output),
                cached_input_tokens: cached,
                cache_write_tokens: written,
                reasoning_tokens: None,
            },
            text: self.text.clone(),
            reasoning: self.thinking.clone(),
            tool_calls,
            ..Summary::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::fast::simple_string;
    use crate::driver::{Config, OnError, Options};
    use crate::error::ErrorClass;
    use crate::event::{Event, EventKind};
    use crate::formats::auto::AnyStream;
    use crate::formats::Format;
    use crate::json::reader::parse;
    use crate::json::value::Value;
    use crate::summary::Status;

    const STREAM: &[u8] = b"event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"c\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":2,\"output_tokens\":1}}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": [1, \\\"x\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"y\\\"]}\"}}\n\n\
data: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n\
data: {\"type\":\"message_stop\"}\n\n";

    fn expected() -> Value {
        parse(
            br#"{"id":"m1","type":"message","role":"assistant","content":[
                {"type":"thinking","thinking":"hm","signature":"s"},
                {"type":"text","text":"Hi"},
                {"type":"tool_use","id":"t","name":"f","input":{"a":[1,"xy"]}}],
              "model":"c","stop_reason":"tool_use","stop_sequence":null,"stop_details":null,
              "usage":{"input_tokens":5,"cache_read_input_tokens":2,"output_tokens":9}}"#,
            128,
        )
        .unwrap_or_default()
    }

    /// A finished tool input is kept as its JSON text ([`Value::Raw`]): compare as a tree.
    fn as_tree(v: &Value) -> Value {
        parse(&crate::json::writer::to_vec(v), 128).unwrap_or_default()
    }

    /// A depth limit past what the prefix check tracks (only the core without Python allows
    /// one) keeps the partial parser's validator: 260 nested arrays fit under a limit of 300,
    /// not under 200, and text after the whole value is refused under both.
    #[test]
    fn a_depth_limit_past_the_prefix_check_is_kept() {
        let (open, close) = ("[".repeat(260), "]".repeat(260));
        let fragments = [
            r#"{\"a\": ["#,
            "1]",
            r#", \"d\": "#,
            &open,
            &close,
            "}",
            "]",
        ];
        let mut data = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
            .to_vec();
        for fragment in fragments {
            data.extend_from_slice(format!("data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{fragment}\"}}}}\n\n").as_bytes());
        }
        data.extend_from_slice(b"data: {\"type\":\"message_stop\"}\n\n");
        let run = |max_depth: usize| {
            let mut config = config(OnError::Skip, None);
            config.options.events = false;
            config.limits.max_depth = max_depth;
            let mut s = AnyStream::new(config);
            assert!(s.feed(&data).is_ok());
            let problems: Vec<String> = s.problems().iter().map(|p| p.message.clone()).collect();
            (problems, s.summary().tool_calls[0].arguments.clone())
        };
        let (problems, arguments) = run(300);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(arguments, format!(r#"{{"a": [1], "d": {open}{close}}}"#));
        let (problems, arguments) = run(200);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(arguments, r#"{"a": [1], "d": "#);
    }

    #[test]
    fn a_finished_tool_input_is_kept_as_its_text() {
        let mut s = AnyStream::new(config(OnError::Raise, None));
        assert!(s.feed(STREAM).is_ok());
        let result = s.finish().ok().flatten().unwrap_or_default();
        let Value::Object(message) = result else {
            panic!("not a message: {result:?}");
        };
        let input = match message.get("content") {
            Some(Value::Array(blocks)) => match blocks.get(2) {
                Some(Value::Object(block)) => block.get("input"),
                _ => None,
            },
            _ => None,
        };
        assert_eq!(input, Some(&Value::Raw(r#"{"a": [1, "xy"]}"#.into())));
    }

    fn config(on_error: OnError, format: Option<Format>) -> Config {
        Config {
            on_error,
            format,
            options: Options {
                events: true,
                partial_arguments: true,
            },
            ..Config::default()
        }
    }

    #[test]
    fn folds_a_stream_split_anywhere_and_detects_it() {
        for split in 0..STREAM.len() {
            let mut s = AnyStream::new(config(OnError::Raise, None));
            let (a, b) = STREAM.split_at(split);
            assert!(s.feed(a).is_ok());
            assert!(s.feed(b).is_ok());
            let result = s.finish().ok().flatten().map(|v| as_tree(&v));
            assert_eq!(result, Some(expected()), "split at {split}");
            assert_eq!(s.format(), Some(Format::Anthropic));
        }
    }

    #[test]
    fn summary_and_events() {
        let mut s = AnyStream::new(config(OnError::Raise, Some(Format::Anthropic)));
        assert!(s.feed(STREAM).is_ok());
        assert!(s.finish().is_ok());
        let summary = s.summary();
        assert_eq!(summary.status, Status::Complete);
        assert_eq!(summary.finish_reason, Some("tool_calls"));
        assert_eq!(
            (summary.text.as_str(), summary.reasoning.as_str()),
            ("Hi", "hm")
        );
        assert_eq!(summary.usage.input_tokens, Some(7));
        assert_eq!(summary.usage.total_tokens, Some(16));
        assert_eq!(summary.tool_calls.len(), 1);
        assert_eq!(summary.tool_calls[0].arguments, r#"{"a": [1, "xy"]}"#);
        let kinds: Vec<EventKind> = s.take_events().iter().map(Event::kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Usage,
                EventKind::ReasoningDelta,
                EventKind::ContentDelta,
                EventKind::ToolArgumentsDelta,
                EventKind::ToolArgumentsDelta,
                EventKind::ToolArgumentsDone,
                EventKind::ContentDone,
                EventKind::ReasoningDone,
                EventKind::Usage,
                EventKind::Done,
            ]
        );
    }

    #[test]
    fn a_truncated_stream_is_incomplete_and_keeps_what_arrived() {
        let cut = STREAM.len() - 60;
        let mut s = AnyStream::new(config(OnError::Skip, None));
        assert!(s.feed(&STREAM[..cut]).is_ok());
        assert!(s.finish().is_ok());
        let summary = s.summary();
        assert_eq!(summary.status, Status::Incomplete);
        assert_eq!(summary.usage.output_tokens, Some(1));
    }

    #[test]
    fn a_second_message_id_while_open_is_a_splice() {
        let start = |id: &str| {
            format!(
                "data: {{\"type\":\"message_start\",\"message\":{{\"id\":\"{id}\",\"content\":[]}}}}\n\n"
            )
        };
        let data = [start("a"), start("a"), start("b")].concat();
        let mut s = AnyStream::new(config(OnError::Raise, None));
        let err = s.feed(data.as_bytes()).err();
        assert_eq!(err.map(|e| e.kind.class()), Some(ErrorClass::StreamDecode));
        // Skip mode: the intruder and every later event are dropped, a problem each.
        let mut s = AnyStream::new(config(OnError::Skip, None));
        let tail = "data: {\"type\":\"message_stop\"}\n\n";
        assert!(s.feed(format!("{data}{tail}").as_bytes()).is_ok());
        assert_eq!(s.problems().len(), 2);
        assert!(!s.done());
    }

    #[test]
    fn an_error_payload_is_an_api_error_and_fails_the_summary() {
        let data = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"a\"}}\n\n\
data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n";
        let mut s = AnyStream::new(config(OnError::Raise, None));
        let err = s.feed(data).err();
        assert_eq!(
            err.map(|e| e.message()).as_deref(),
            Some("stream reported an error: busy")
        );
        assert_eq!(s.summary().status, Status::Failed);
    }

    /// A payload the fast path takes folds exactly as the same payload with a trailing space,
    /// which only the full decode takes: same result, events, problems and raised error.
    /// Everything a stream's fold shows: what feeding and finishing gave, the payloads folded
    /// (what tells a cached snapshot that it is stale), problems, events and the summary; the
    /// fast-path tests require it equal with and without the fast path.
    /// With `events` off, a tool input's parser is a validator and the fast path decodes its
    /// fragments onto the input's text; with events on, both go the general way.
    fn outcome(data: &[u8], on_error: OnError, events: bool) -> impl PartialEq + std::fmt::Debug {
        let mut config = config(on_error, None);
        config.options.events = events;
        let mut s = AnyStream::new(config);
        let fed = s.feed(data).map_err(|e| (e.kind.class(), e.message()));
        let folded = s.snapshot_version().1;
        let result = s.finish().map_err(|e| (e.kind.class(), e.message()));
        let problems = format!("{:?}", s.problems());
        let events: Vec<String> = s.take_events().iter().map(|e| format!("{e:?}")).collect();
        let summary = format!("{:?}", s.summary());
        (fed, folded, result, problems, events, summary)
    }

    fn modes() -> [(OnError, bool); 4] {
        [
            (OnError::Raise, true),
            (OnError::Skip, true),
            (OnError::Raise, false),
            (OnError::Skip, false),
        ]
    }

    #[test]
    fn the_fast_path_folds_as_the_full_decode() {
        let head = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"a\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n";
        let tail = b"data: {\"type\":\"message_stop\"}\n\n";
        let delta = |index: &str, kind: &str, field: &str, text: &str| {
            format!(
                "{{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"{kind}\",\"{field}\":\"{text}\"}}}}"
            )
        };
        let cases = [
            delta("1", "text_delta", "text", "hi \\u00e9\\n\\\"q\\\""),
            delta("1", "text_delta", "text", ""),
            delta("0", "text_delta", "text", "wrong block"),
            delta("0", "thinking_delta", "thinking", "hm"),
            delta("1", "thinking_delta", "thinking", "wrong block"),
            delta("0", "signature_delta", "signature", "sig"),
            delta("1", "signature_delta", "signature", "wrong block"),
            delta("2", "input_json_delta", "partial_json", "{\\\"a\\\": [1"),
            delta("2", "input_json_delta", "partial_json", "]"),
            delta("1", "input_json_delta", "partial_json", "{"),
            delta("3", "text_delta", "text", "no such block"),
            delta("01", "text_delta", "text", "leading zero"),
            delta("99999999999999999999999", "text_delta", "text", "huge"),
            delta("1", "text_delta", "text", "bad escape \\x"),
            delta("1", "text_delta", "text", "\\ud800 lone surrogate"),
            delta("1.0", "text_delta", "text", "float index"),
            delta("1", "citations_delta", "citation", "not an object"),
            delta("1", "text_delta", "text", "\\t\\/\\b\\f\\r\\\\ \u{7f}~"),
            delta("1", "text_delta", "text", "caf\u{e9} \\n"),
            delta("1", "text_delta", "text", "raw \u{1} control"),
            delta(
                "2",
                "input_json_delta",
                "partial_json",
                "\\\"k\\\": \\\"v\\\\n\\\"",
            ),
            delta("2", "input_json_delta", "partial_json", "\\\""),
            // Tool input fragments: structure (which the validator must see even though it is
            // plain ASCII), cut inside the input's own escape, UTF-8 or a \u escape (left to
            // the reader), whitespace, refused, too deep, empty, unterminated.
            delta("2", "input_json_delta", "partial_json", "{"),
            delta("2", "input_json_delta", "partial_json", r#"{\"k\":\"a\\"#),
            delta("2", "input_json_delta", "partial_json", r#"{\"k\":\"café"#),
            delta("2", "input_json_delta", "partial_json", r#"{\"k\":\"\u00e9"#),
            delta("2", "input_json_delta", "partial_json", r#"{\"k\" : 12 , "#),
            delta("2", "input_json_delta", "partial_json", "plain words"),
            delta("2", "input_json_delta", "partial_json", "}"),
            delta("2", "input_json_delta", "partial_json", r"\n"),
            delta("2", "input_json_delta", "partial_json", r"\x"),
            delta("2", "input_json_delta", "partial_json", &"[".repeat(200)),
            delta("2", "input_json_delta", "partial_json", ""),
            delta("2", "input_json_delta", "partial_json", r"ends in a backslash\"),
            delta("2", "input_json_delta", "partial_json", r#"{\t\"k\""#),
            delta("2", "input_json_delta", "partial_json", r#"{\"k\":\"v\"}"#),
            delta("2", "text_delta", "text", "{"),
            delta("1", "input_json_delta", "partial_json", r#"{\"k\""#),
            // The body between the header and the final `"}}`: an unescaped quote in it, an
            // escaped backslash before the closing quote, escapes past the first sixteen bytes,
            // a long plain body, the closing quote missing or doubled.
            delta("2", "input_json_delta", "partial_json", r#"[\"a"b\"]"#),
            delta("2", "input_json_delta", "partial_json", r#"[\"a\\"#),
            delta("2", "input_json_delta", "partial_json", r#"[\"0123456789abcdef\n\"x\""#),
            delta("2", "input_json_delta", "partial_json", &format!("[\\\"{}", "plain ".repeat(9))),
            "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[}}".into(),
            "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[\"\"}}".into(),
            "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[\"}}}".into(),
            "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[\"}".into(),
            // Not a string where the text belongs: the quote the fast path must see is missing.
            "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":x\"}}".into(),
        ];
        for payload in &cases {
            let run = |payload: &str, on_error: OnError, events: bool| {
                let data = [
                    head.as_slice(),
                    b"data: ",
                    payload.as_bytes(),
                    b"\n\n",
                    tail.as_slice(),
                ]
                .concat();
                outcome(&data, on_error, events)
            };
            for (on_error, events) in modes() {
                let fast = run(payload, on_error, events);
                let full = run(&format!("{payload} "), on_error, events);
                assert_eq!(fast, full, "{payload} {on_error:?} events {events}");
            }
        }
    }

    /// Streams whose deltas repeat a header fold as with every payload given a trailing space
    /// (which only the full decode takes): a remembered header must not vouch for a payload
    /// that only starts like it (another index, kind or key, a missing quote, whitespace, a
    /// duplicate key, another string).
    #[test]
    fn a_repeated_header_folds_as_the_full_decode() {
        let head = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n";
        let text = |index: &str, rest: &str| {
            format!("{{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":{rest}}}}}")
        };
        let json = |rest: &str| {
            format!("{{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{rest}}}}}")
        };
        let streams: Vec<Vec<String>> = vec![
            vec![text("1", "\"a\""), text("1", "\"b\""), text("1", "\"c\\n\"")],
            // Another index, whose bytes start like the remembered one's.
            vec![text("1", "\"a\""), text("10", "\"b\""), text("1", "\"c\"")],
            vec![text("1", "\"a\""), text("0", "\"b\""), text("1", "\"c\"")],
            // The string's opening quote missing, or another value there.
            vec![text("1", "\"a\""), text("1", "x\""), text("1", "\"c\"")],
            vec![text("1", "\"a\""), text("1", "1"), text("1", "\"c\"")],
            vec![text("1", "\"a\""), text("1", " \"b\""), text("1", "\"c\"")],
            // A duplicate key, an escaped key, a second string.
            vec![text("1", "\"a\""), text("1", "\"b\",\"text\":\"d\""), text("1", "\"c\"")],
            vec![
                text("1", "\"a\""),
                "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"te\\u0078t\":\"b\"}}".into(),
                text("1", "\"c\""),
            ],
            // Non-ASCII and escaped text after a remembered header.
            vec![text("1", "\"a\""), text("1", "\"caf\u{e9}\""), text("1", "\"\\u00e9\\\"\"")],
            // Another kind on the same block, tool input around it.
            vec![
                json("\"{\\\"a\\\": [1\""),
                text("2", "\"x\""),
                json("\"]}\""),
                json("\"]\""),
                text("1", "\"y\""),
            ],
            vec![json("\"{\""), json("\"}\""), json("\"\"")],
            // Tool input fragments on a remembered header: a plain fragment is left out of the
            // validator only inside a string (after one, or before a value, it must be seen and
            // here refused); fragments cut inside the input's escape, a \u escape between
            // plain ones, whitespace alone, a duplicate or escaped key, a space before the
            // string.
            vec![json(r#""{\"a\":""#), json(r#""x""#), json(r#""1}""#)],
            vec![json(r#""{\"a\":\"b""#), json(r#""c d""#), json(r#""\\""#), json(r#""n\"}""#)],
            vec![json(r#""{\"a\":\"b\"""#), json(r#""xyz""#), json(r#""}""#)],
            vec![json(r#""{\"a\":\"b""#), json(r#""\u00e9""#), json(r#""c\"}""#)],
            vec![json(r#""[\"a\",""#), json(r#""  ""#), json(r#""\"b\"]""#)],
            vec![json(r#""{""#), json(r#""\"k\"","partial_json":"[""#), json(r#""\"k\":1}""#)],
            vec![
                json(r#""[""#),
                "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial\\u005fjson\":\"1\"}}".into(),
                json(r#""2]""#),
            ],
            vec![json(r#""[""#), json(r#" "1""#), json(r#""]""#)],
            vec![json(r#""[\"""#), json(&format!("\"{}\"", "long plain text ".repeat(9))), json(r#""\"]""#)],
            // Numbers and literals cut between fragments, ended by the next fragment's
            // structure, and near-misses (a leading zero, a dot or exponent with no digit, a
            // literal misspelt across the cut).
            vec![json(r#""[tru""#), json(r#""e, -1""#), json(r#""2.5e""#), json(r#""+3, nul""#), json(r#""l, fals""#), json(r#""e]""#)],
            vec![json(r#""[12""#), json(r#""]""#), json(r#""""#)],
            vec![json(r#""[01""#), json(r#""]""#)],
            vec![json(r#""{\"a\":1.""#), json(r#""}""#), json(r#""5}""#)],
            vec![json(r#""[1e""#), json(r#""]""#), json(r#""-2]""#)],
            vec![json(r#""[nu""#), json(r#""ll""#), json(r#""x]""#), json(r#""]""#)],
            // Text and thinking with UTF-8, escapes and both, on a remembered header; a text
            // delta on a thinking block and back.
            vec![text("1", "\"\u{1f600} \u{20ac}\""), text("1", "\"caf\u{e9}\\n\""), text("1", "\"\\\"\u{e9}\\\"\"")],
            vec![
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"h\u{e9}\"}}".into(),
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"m\\t\"}}".into(),
                text("0", "\"wrong block\""),
                text("1", "\"ok\""),
            ],
        ];
        for payloads in &streams {
            let run = |spaced: bool, on_error: OnError, events: bool| {
                let mut data = head.to_vec();
                for payload in payloads {
                    // A CRLF line end takes the space's byte, so every payload keeps its offset.
                    let after = if spaced { " \n" } else { "\r\n" };
                    data.extend_from_slice(format!("data: {payload}{after}\n").as_bytes());
                }
                data.extend_from_slice(b"data: {\"type\":\"message_stop\"}\n\n");
                outcome(&data, on_error, events)
            };
            for (on_error, events) in modes() {
                assert_eq!(
                    run(false, on_error, events),
                    run(true, on_error, events),
                    "{payloads:?} {on_error:?} events {events}"
                );
            }
        }
    }

    /// `take_result` gives what `result` gives, and `restore` leaves the fold as it was: the
    /// same result and summary, and folding on gives what a fold never taken from gives. Blocks
    /// with and without their text key, a tool input whole, cut short, blank or never sent,
    /// keys added to a block after its start, a message with `content` absent or null, and a
    /// take before any message.
    #[test]
    fn take_result_and_restore_leave_the_fold_as_it_was() {
        use super::Anthropic;
        use crate::formats::Fold;
        let start = |content: &str| {
            format!("{{\"type\":\"message_start\",\"message\":{{\"id\":\"m\",{content}\"usage\":{{\"output_tokens\":1}}}}}}")
        };
        let block = |i: usize, b: &str| {
            format!("{{\"type\":\"content_block_start\",\"index\":{i},\"content_block\":{b}}}")
        };
        let delta = |i: usize, d: &str| {
            format!("{{\"type\":\"content_block_delta\",\"index\":{i},\"delta\":{d}}}")
        };
        let stop = |i: usize| format!("{{\"type\":\"content_block_stop\",\"index\":{i}}}");
        let blocks = vec![
            block(0, r#"{"type":"text","text":"a"}"#),
            block(1, r#"{"type":"text"}"#),
            block(2, r#"{"type":"thinking","thinking":""}"#),
            block(
                3,
                r#"{"type":"tool_use","id":"t","name":"f","input":{"given":1}}"#,
            ),
            block(4, r#"{"type":"tool_use","id":"u","name":"g","input":{}}"#),
            block(5, r#"{"type":"tool_use","id":"v","name":"h","input":{}}"#),
            block(6, r#"{"type":"tool_use","id":"w","name":"k","input":{}}"#),
            delta(0, r#"{"type":"text_delta","text":"b\u00e9"}"#),
            delta(1, r#"{"type":"text_delta","text":"c"}"#),
            delta(1, r#"{"type":"citations_delta","citation":{"x":1}}"#),
            delta(2, r#"{"type":"thinking_delta","thinking":"hm"}"#),
            delta(2, r#"{"type":"signature_delta","signature":"s"}"#),
            delta(
                4,
                r#"{"type":"input_json_delta","partial_json":"{\"a\": [1, "}"#,
            ),
            delta(4, r#"{"type":"input_json_delta","partial_json":"2]}"}"#),
            stop(4),
            delta(
                5,
                r#"{"type":"input_json_delta","partial_json":"{\"b\": \"cut"}"#,
            ),
            delta(6, r#"{"type":"input_json_delta","partial_json":"  "}"#),
            stop(5),
        ];
        let more = vec![
            delta(0, r#"{"type":"text_delta","text":" more"}"#),
            delta(5, r#"{"type":"input_json_delta","partial_json":" short\"}"}"#),
            delta(6, r#"{"type":"input_json_delta","partial_json":"[true]"}"#),
            delta(1, r#"{"type":"citations_delta","citation":{"y":2}}"#),
            stop(6),
            "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}".into(),
        ];
        for content in [
            "\"content\":[],",
            "",
            "\"content\":null,",
            "\"content\":[{\"type\":\"text\",\"text\":\"pre\"}],",
        ] {
            for cut in 0..=blocks.len() {
                let stream: Vec<String> = [start(content)]
                    .into_iter()
                    .chain(blocks[..cut].iter().cloned())
                    .collect();
                let fold_all = |payloads: &[String], g: &mut Anthropic| {
                    for p in payloads {
                        let _ = g.fold(b"", p.as_bytes(), &mut Vec::new());
                    }
                };
                let mut g = Anthropic::new(&Config::default());
                let mut never = Anthropic::new(&Config::default());
                fold_all(&stream, &mut g);
                fold_all(&stream, &mut never);
                let expected = format!("{:?}", g.result());
                let summary = format!("{:?}", g.summary());
                let taken = g.take_result();
                assert_eq!(format!("{taken:?}"), expected, "{stream:?}");
                g.restore(taken);
                assert_eq!(format!("{:?}", g.result()), expected, "{stream:?}");
                assert_eq!(format!("{:?}", g.summary()), summary, "{stream:?}");
                // Taken and restored twice (as a parser's later call puts texts back), then
                // folded on.
                let again = g.take_result();
                g.restore(again);
                fold_all(&more, &mut g);
                fold_all(&more, &mut never);
                assert_eq!(
                    format!("{:?}", g.result()),
                    format!("{:?}", never.result()),
                    "{stream:?}"
                );
                assert_eq!(
                    format!("{:?}", g.summary()),
                    format!("{:?}", never.summary())
                );
                let taken = g.take_result();
                assert_eq!(
                    format!("{taken:?}"),
                    format!("{:?}", never.result()),
                    "{stream:?}"
                );
            }
        }
        let mut empty = Anthropic::new(&Config::default());
        let taken = empty.take_result();
        assert_eq!(format!("{taken:?}"), format!("{:?}", empty.result()));
        empty.restore(taken);
        assert_eq!(
            format!("{:?}", empty.result()),
            format!("{:?}", Value::Object(super::Map::default()))
        );
    }

    /// A text or thinking delta whose string holds any bytes folds as with a trailing space
    /// (the full decode): valid UTF-8 of every length, with escapes around it or between its
    /// bytes, and invalid UTF-8 (a lone lead byte, a stray continuation, a surrogate, an
    /// overlong form, a cut character), which the reader refuses.
    #[test]
    fn a_text_delta_with_any_bytes_folds_as_the_full_decode() {
        let head = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\"}}\n\n";
        let bodies: [&[u8]; 12] = [
            b"caf\xc3\xa9",
            b"\xf0\x9f\x98\x80\\n\xe2\x82\xac",
            b"0123456789abcdef\xc3\xa9 past a block",
            b"\xc3(",
            b"\xff",
            b"\xa9 stray",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\xc3\\n\xa9",
            b"\xe2\x82",
            b"\x7f\\u00e9",
            b"tab\there",
        ];
        for body in bodies {
            for (index, kind, field) in [
                ("1", "text_delta", "text"),
                ("0", "thinking_delta", "thinking"),
            ] {
                let payload = [
                    format!("{{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"{kind}\",\"{field}\":\"").as_bytes(),
                    body,
                    b"\"}}",
                ]
                .concat();
                let run = |spaced: bool, on_error: OnError, events: bool| {
                    let after: &[u8] = if spaced { b" \n\n" } else { b"\r\n\n" };
                    let data = [
                        head.as_slice(),
                        b"data: ",
                        &payload,
                        after,
                        b"data: {\"type\":\"message_stop\"}\n\n",
                    ]
                    .concat();
                    outcome(&data, on_error, events)
                };
                for (on_error, events) in modes() {
                    assert_eq!(
                        run(false, on_error, events),
                        run(true, on_error, events),
                        "{body:?} {kind} {on_error:?} events {events}"
                    );
                }
            }
        }
    }

    /// A tool input fragment that cannot continue the JSON text is refused (skip mode: folded
    /// as if it had not come), and the input goes on from the text before it; with events on
    /// or off, on the fast path or not.
    #[test]
    fn a_refused_fragment_leaves_the_input_as_it_was() {
        let head = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n";
        let fragments = [
            r#"{\"a\":"#,
            "x",
            "}",
            "[",
            r#"\"b\\"#,
            r#"\"\","#,
            "1",
            "]}",
        ];
        for spaced in [false, true] {
            for events in [false, true] {
                let mut data = head.to_vec();
                for fragment in fragments {
                    let after = if spaced { " " } else { "" };
                    data.extend_from_slice(format!("data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{fragment}\"}}}}{after}\n\n").as_bytes());
                }
                data.extend_from_slice(b"data: {\"type\":\"message_stop\"}\n\n");
                let mut config = config(OnError::Skip, None);
                config.options.events = events;
                let mut s = AnyStream::new(config);
                assert!(s.feed(&data).is_ok());
                let result = s.finish().ok().flatten().map(|v| as_tree(&v));
                let problems: Vec<Option<u64>> =
                    s.problems().iter().map(|p| p.event_index).collect();
                assert_eq!(
                    problems,
                    [Some(3), Some(4)],
                    "spaced {spaced} events {events}"
                );
                assert_eq!(
                    s.summary().tool_calls[0].arguments,
                    r#"{"a":["b\"",1]}"#,
                    "spaced {spaced} events {events}"
                );
                let want = parse(
                    br#"{"id":"m1","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":["b\"",1]}}]}"#,
                    8,
                )
                .ok();
                assert_eq!(result, want, "spaced {spaced} events {events}");
            }
        }
    }

    /// A payload folded with a note (a delta its block cannot take) has it recorded at its own
    /// event, once; the payloads around it, which note nothing, add no problem.
    #[test]
    fn a_note_is_recorded_at_its_event() {
        let data = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"content\":[]}}\n\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"a\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"c\"}}\n\n\
data: {\"type\":\"message_stop\"}\n\n";
        let mut s = AnyStream::new(config(OnError::Raise, None));
        assert!(s.feed(data).is_ok());
        let noted: Vec<(Option<u64>, &str)> = s
            .problems()
            .iter()
            .map(|p| (p.event_index, p.message.as_str()))
            .collect();
        assert_eq!(noted, [(Some(3), "text_delta on a thinking block ignored")]);
    }

    /// On every string it takes, the fast path's decoder gives the reader's text and stops
    /// where the reader stops; what it refuses includes everything the reader refuses.
    #[test]
    fn simple_strings_read_as_the_reader_reads_them() {
        let pieces: [&[u8]; 17] = [
            b"a",
            b" ",
            b"~\x7f",
            b"\\\"",
            b"\\\\",
            b"\\/",
            b"\\b",
            b"\\f",
            b"\\n",
            b"\\r",
            b"\\t",
            b"\\u0041",
            b"\\x",
            b"\x01",
            "\u{e9}".as_bytes(),
            b"\"",
            b"\\",
        ];
        let mut taken = 0;
        let mut scratch = String::new();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let body = [a, b, c, b"\"}"].concat();
                    let quoted = [b"\"".as_slice(), &body].concat();
                    let mut reader = crate::json::reader::Reader::new(&quoted, 8);
                    let want = reader.take_string().map(|t| t.map(Cow::into_owned));
                    let Some((text, end)) = simple_string(&quoted, 1, &mut scratch) else {
                        continue;
                    };
                    taken += 1;
                    let text = text.map_or_else(|| scratch.clone(), str::to_owned);
                    assert_eq!(want, Ok(Some(text)), "{:?}", String::from_utf8_lossy(&body));
                    assert_eq!(reader.pos(), end, "{:?}", String::from_utf8_lossy(&body));
                }
            }
        }
        assert!(taken > 1000, "{taken}");
    }
}
