//! Bedrock `ConverseStream` (over the AWS event-stream framing, [`crate::framing::eventstream`]):
//! the events fold into the `Converse` response (docs/formats.md, "Bedrock `ConverseStream`").
//!
//! - `messageStart`: the role (default "assistant").
//! - `contentBlockStart` / `contentBlockDelta` / `contentBlockStop` by `contentBlockIndex`
//!   (blocks sorted by index): `text` appended; `toolUse` id and name from the start, `input`
//!   text fragments appended and parsed when the message is rendered (`""` alone is `{}`; text
//!   that is not JSON stays a string); `reasoningContent` `text` appended, `signature` last
//!   wins, `redactedContent` appended. Other delta or start keys: last non-null on the block.
//! - `messageStop`: `stopReason`, and its other keys (`additionalModelResponseFields`) last
//!   non-null at the top level; it marks the stream complete (`metadata` may still follow:
//!   in a capture the stream ends at that `metadata`, or before the next other event).
//! - `metadata`: `usage`, `metrics` and its other keys (`trace`, ...) last non-null.
//! - The `p` padding field of every event is dropped; unknown event types are skipped.
//!
//! Events (choice 0): `content.delta` per `text` delta (snapshot: all text of the message so
//! far), `reasoning.delta` per `reasoningContent.text` (field `reasoningContent`), a tool
//! arguments delta per `toolUse.input` fragment (`index`: position among the message's
//! `toolUse` blocks in arrival order; id and name from the start), the call's `.done` at its
//! `contentBlockStop`; `content.done`, `reasoning.done` and any call `.done` not sent yet at
//! `messageStop` or the end; `usage` for each `metadata` that carries one.
//!
//! `contentBlockDelta`, nearly every event of a stream, is matched against the compact shape
//! AWS sends (`plain_delta`), else read key by key (`scan_delta`); both give the same
//! values, applied by one path. The rare events are parsed whole.

use std::borrow::Cow;

use std::sync::Arc;

use crate::driver::{Config, Options};
use crate::error::{DecodeKind, ErrorKind};
use crate::event::{texts_done, Call, Event, TextOf, TextTrail, UsageSnapshot};
use crate::formats::anthropic::Anthropic;
use crate::formats::{Fold, Folded, Format, Note};
use crate::json::partial::PartialJson;
use crate::json::reader::{parse, JsonError, JsonErrorCode, Reader};
use crate::json::value::{Map, Value};
use crate::limits::{LimitName, Limits};
use crate::summary::{self, Summary, ToolCall, Usage};

type R<T> = Result<T, DecodeKind>;

fn syntax(e: JsonError) -> DecodeKind {
    DecodeKind::Syntax(e)
}

fn schema(field: &'static str, expected: &'static str, pos: usize) -> DecodeKind {
    DecodeKind::Schema {
        field,
        expected,
        pos,
    }
}

/// A tool call being streamed.
#[derive(Debug, Default, Clone)]
struct ToolUse {
    /// The `start.toolUse` keys (`toolUseId`, `name`, ...), last non-null.
    start: Map,
    input: String,
}

#[derive(Debug, Default, Clone)]
struct Reasoning {
    text: Option<String>,
    signature: Option<String>,
    redacted: Option<String>,
}

#[derive(Debug, Default)]
struct Block {
    index: u64,
    text: Option<String>,
    tool: Option<ToolUse>,
    reasoning: Option<Reasoning>,
    /// Other start and delta keys, last non-null.
    other: Map,
    /// Position among the message's `toolUse` blocks (and in [`Bedrock::calls`]).
    tool_position: Option<usize>,
}

/// What a tool call's events need (event mode only).
struct CallEvents {
    /// The input fragments, for snapshots.
    trail: TextTrail,
    /// Gives `parsed_arguments` in O(new bytes) per fragment.
    parser: PartialJson,
    id: Option<Arc<str>>,
    name: Option<Arc<str>>,
    done: bool,
}

/// Event state of the message: all text and reasoning in arrival order, and the calls.
#[derive(Default)]
struct Events {
    text: String,
    text_trail: TextTrail,
    reasoning: String,
    reasoning_trail: TextTrail,
    calls: Vec<CallEvents>,
    texts_done: bool,
}

/// The values of one `contentBlockDelta`, read before anything is applied.
#[derive(Default)]
struct Delta<'a> {
    index: u64,
    text: Option<Cow<'a, str>>,
    input: Option<Cow<'a, str>>,
    reasoning_text: Option<Cow<'a, str>>,
    signature: Option<Cow<'a, str>>,
    redacted: Option<Cow<'a, str>>,
    other: Vec<(Cow<'a, str>, Value)>,
    /// Whether a `toolUse` / `reasoningContent` object came (even without fields).
    tool: bool,
    reasoning: bool,
}

/// A reader that keeps the first schema problem and goes on, so a later syntax error wins.
struct Scan<'a> {
    r: Reader<'a>,
    violation: Option<DecodeKind>,
}

impl<'a> Scan<'a> {
    fn violate(&mut self, field: &'static str, expected: &'static str) -> R<()> {
        let pos = self.r.pos();
        if self.violation.is_none() {
            self.violation = Some(schema(field, expected, pos));
        }
        self.r.skip_value().map_err(syntax)
    }

    fn string(&mut self, field: &'static str) -> R<Option<Cow<'a, str>>> {
        if self.r.take_null().map_err(syntax)? {
            return Ok(None);
        }
        match self.r.take_string().map_err(syntax)? {
            Some(s) => Ok(Some(s)),
            None => self.violate(field, "a string").map(|()| None),
        }
    }

    /// An object's keys, calling `each` with the reader at each value; false (and a
    /// violation) when the value is not an object, None for null.
    fn object(
        &mut self,
        field: &'static str,
        mut each: impl FnMut(&mut Self, Cow<'a, str>) -> R<()>,
    ) -> R<bool> {
        if self.r.take_null().map_err(syntax)? {
            return Ok(false);
        }
        if !self.r.begin_object().map_err(syntax)? {
            self.violate(field, "an object")?;
            return Ok(false);
        }
        let mut first = true;
        while let Some(key) = self.r.next_key(&mut first).map_err(syntax)? {
            each(self, key)?;
        }
        Ok(true)
    }

    fn index(&mut self) -> R<u64> {
        self.r.peek();
        let pos = self.r.pos();
        if self.r.take_null().map_err(syntax)? {
            return Ok(0);
        }
        let Some(text) = self.r.take_number().map_err(syntax)? else {
            return self
                .violate("contentBlockIndex", "a non-negative integer")
                .map(|()| 0);
        };
        if let Ok(n) = text.parse::<u64>() {
            return Ok(n);
        }
        if self.violation.is_none() {
            self.violation = Some(schema("contentBlockIndex", "a non-negative integer", pos));
        }
        Ok(0)
    }

    fn delta(&mut self) -> R<Delta<'a>> {
        let mut d = Delta::default();
        let is_object = self.object("payload", |s, key| {
            match key.as_ref() {
                "contentBlockIndex" => d.index = s.index()?,
                "delta" => {
                    s.object("delta", |s, key| {
                        match key.as_ref() {
                            "text" => d.text = s.string("delta.text")?,
                            "toolUse" => {
                                d.tool |= s.object("delta.toolUse", |s, key| {
                                    if key == "input" {
                                        d.input = s.string("delta.toolUse.input")?;
                                        Ok(())
                                    } else {
                                        s.r.skip_value().map_err(syntax)
                                    }
                                })?;
                            }
                            "reasoningContent" => {
                                d.reasoning |= s.object("delta.reasoningContent", |s, key| {
                                    match key.as_ref() {
                                        "text" => {
                                            d.reasoning_text =
                                                s.string("delta.reasoningContent.text")?;
                                        }
                                        "signature" => {
                                            d.signature =
                                                s.string("delta.reasoningContent.signature")?;
                                        }
                                        "redactedContent" => {
                                            d.redacted =
                                                s.string("delta.reasoningContent.redactedContent")?;
                                        }
                                        _ => s.r.skip_value().map_err(syntax)?,
                                    }
                                    Ok(())
                                })?;
                            }
                            _ => {
                                let value = s.r.read_value().map_err(syntax)?;
                                d.other.push((key, value));
                            }
                        }
                        Ok(())
                    })?;
                }
                _ => s.r.skip_value().map_err(syntax)?,
            }
            Ok(())
        })?;
        if !is_object && self.violation.is_none() {
            self.violation = Some(schema("payload", "an object", 0));
        }
        Ok(d)
    }
}

/// A `contentBlockDelta` payload read key by key: any shape, any error.
fn scan_delta(data: &[u8], max_depth: usize) -> Result<Delta<'_>, ErrorKind> {
    let mut s = Scan {
        r: Reader::new(data, max_depth),
        violation: None,
    };
    let d = s.delta().map_err(|e| limit_error(e, max_depth))?;
    s.r.end().map_err(|e| limit_error(syntax(e), max_depth))?;
    match s.violation {
        Some(v) => Err(ErrorKind::Decode(v)),
        None => Ok(d),
    }
}

/// Which field a plain `contentBlockDelta` carries.
#[derive(Clone, Copy)]
enum PlainField {
    Text,
    ToolInput,
    ReasoningText,
}

/// The `delta` openings of the plain payloads, what they carry, and the braces that close them.
const PLAIN_FIELDS: [(&[u8], PlainField, &[u8]); 3] = [
    (b"text\":", PlainField::Text, b"}"),
    (b"toolUse\":{\"input\":", PlainField::ToolInput, b"}}"),
    (
        b"reasoningContent\":{\"text\":",
        PlainField::ReasoningText,
        b"}}",
    ),
];

/// The exact compact shape AWS sends for nearly every `contentBlockDelta`:
/// `{"contentBlockIndex":N,"delta":{"text":"..."},"p":"..."}` (or `toolUse.input`,
/// `reasoningContent.text`; `p` optional). None for anything else (other keys or order,
/// whitespace, a string that does not read, a shallow depth limit): [`scan_delta`] then reads
/// it and gives the result or error, so this only skips the key-by-key walk where the walk
/// would give the same `Delta`.
fn plain_delta(data: &[u8], max_depth: usize) -> Option<Delta<'_>> {
    // `reasoningContent.text` sits at depth 3: a smaller limit is the general path's error.
    if max_depth < 3 {
        return None;
    }
    let rest = after(data, b"{\"contentBlockIndex\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // A leading zero is a JSON syntax error; more than 19 digits may not fit a u64.
    if digits == 0 || digits > 19 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    // At most 19 digits: the sum cannot overflow.
    let index = rest
        .get(..digits)?
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let rest = after(rest.get(digits..)?, b",\"delta\":{\"")?;
    // The first letter tells the fields apart: one comparison, not a search of the table.
    let candidates = match rest.first() {
        Some(b't') => PLAIN_FIELDS.get(..2)?,
        Some(b'r') => PLAIN_FIELDS.get(2..)?,
        _ => return None,
    };
    let (rest, field, close) = candidates
        .iter()
        .find_map(|&(open, field, close)| Some((after(rest, open)?, field, close)))?;
    let mut r = Reader::new(data, max_depth);
    let (value, rest) = plain_string(&mut r, data, rest)?;
    let rest = after(rest, close)?;
    let rest = match after(rest, b",\"p\":") {
        Some(padding) if is_plain_padding(padding) => b"}".as_slice(),
        Some(padding) => plain_string(&mut r, data, padding)?.1,
        None => rest,
    };
    if rest != b"}" {
        return None;
    }
    let mut d = Delta {
        index,
        ..Delta::default()
    };
    match field {
        PlainField::Text => d.text = Some(value),
        PlainField::ToolInput => {
            d.tool = true;
            d.input = Some(value);
        }
        PlainField::ReasoningText => {
            d.reasoning = true;
            d.reasoning_text = Some(value);
        }
    }
    Some(d)
}

/// `data` after `prefix`, if it starts with it: `<[u8]>::strip_prefix`, inlined. The plain
/// path calls it five times per event, and where the generic was left out of line (as codegen
/// partitioning decides, build by build) the calls cost as much as the comparisons.
#[inline(always)]
fn after<'d>(data: &'d [u8], prefix: &[u8]) -> Option<&'d [u8]> {
    match data.split_at_checked(prefix.len()) {
        Some((head, rest)) if head == prefix => Some(rest),
        _ => None,
    }
}

/// Whether `rest` is `"..."}` with only printable ASCII other than `"` and `\` inside: then it
/// is a valid JSON string that closes the payload, and the padding's value, which the fold
/// drops, need not be read as a string (AWS pads with letters).
// Bitwise on purpose: lazy operators would branch per byte (see the fold below).
#[allow(clippy::needless_bitwise_bool)]
fn is_plain_padding(rest: &[u8]) -> bool {
    let [b'"', inside @ .., b'"', b'}'] = rest else {
        return false;
    };
    // A fold without early exit, so the compiler checks many bytes per step.
    !inside.iter().fold(false, |bad, &b| {
        bad | !(0x20..0x7F).contains(&b) | (b == b'"') | (b == b'\\')
    })
}

/// The JSON string at the start of `rest` (a tail of `data`), and what follows it.
fn plain_string<'a>(
    r: &mut Reader<'a>,
    data: &'a [u8],
    rest: &'a [u8],
) -> Option<(Cow<'a, str>, &'a [u8])> {
    if rest.first() != Some(&b'"') {
        return None;
    }
    r.resume_at(data.len() - rest.len());
    let value = r.take_string().ok()??;
    Some((value, data.get(r.pos()..)?))
}

fn limit_error(e: DecodeKind, max_depth: usize) -> ErrorKind {
    match e {
        DecodeKind::Syntax(JsonError {
            code: JsonErrorCode::TooDeep,
            ..
        }) => ErrorKind::Limit {
            limit: LimitName::Depth,
            maximum: max_depth as u64,
        },
        other => ErrorKind::Decode(other),
    }
}

/// The Bedrock `ConverseStream` fold.
pub struct Bedrock {
    config: Config,
    limits: Limits,
    folded: u64,
    /// `InvokeModelWithResponseStream`: decided by a first event of type `chunk`; each chunk
    /// carries, base64-encoded, one event of the model's native stream (Anthropic's), folded
    /// by that format's fold.
    invoke: Option<Box<Anthropic>>,
    role: Option<Value>,
    /// Sorted by index.
    blocks: Vec<Block>,
    stop_reason: Option<Value>,
    usage: Option<Value>,
    metrics: Option<Value>,
    /// Other keys of `messageStop` and `metadata`, last non-null.
    other: Map,
    stopped: bool,
    events: Events,
}

impl Bedrock {
    /// Where the block of `index` is, added (empty) when new: one search either way.
    fn block_at(&mut self, index: u64) -> Result<usize, ErrorKind> {
        if index > self.limits.max_choice_index {
            return Err(ErrorKind::Limit {
                limit: LimitName::ChoiceIndex,
                maximum: self.limits.max_choice_index,
            });
        }
        Ok(
            match self.blocks.binary_search_by_key(&index, |b| b.index) {
                Ok(at) => at,
                Err(at) => {
                    self.blocks.insert(
                        at,
                        Block {
                            index,
                            ..Block::default()
                        },
                    );
                    at
                }
            },
        )
    }

    /// Makes the block at `at` a tool call (once), at the next position.
    fn tool_at(&mut self, at: usize) {
        let Some(block) = self.blocks.get_mut(at) else {
            return;
        };
        block.tool.get_or_insert_with(ToolUse::default);
        if block.tool_position.is_none() && self.config.options.events {
            block.tool_position = Some(self.events.calls.len());
            self.events.calls.push(CallEvents {
                trail: TextTrail::default(),
                parser: PartialJson::new(self.limits.max_depth),
                id: None,
                name: None,
                done: false,
            });
        }
    }

    fn apply_delta(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), ErrorKind> {
        let max_depth = self.limits.max_depth;
        let d = match plain_delta(data, max_depth) {
            Some(d) => d,
            None => scan_delta(data, max_depth)?,
        };
        let at = self.block_at(d.index)?;
        if d.tool {
            self.tool_at(at);
        }
        let options = self.config.options;
        let ev = &mut self.events;
        let Some(block) = self.blocks.get_mut(at) else {
            return Ok(());
        };
        if let Some(text) = d.text {
            block.text.get_or_insert_with(String::new).push_str(&text);
            if options.events && !text.is_empty() {
                ev.text.push_str(&text);
                ev.text_trail.push(text.as_ref().into());
                events.push(Event::TextDelta {
                    of: TextOf::Content,
                    choice_index: 0,
                    trail: ev.text_trail.clone(),
                });
            }
        }
        if d.tool {
            let tool = block.tool.get_or_insert_with(ToolUse::default);
            if let Some(input) = d.input {
                tool.input.push_str(&input);
                if let Some(p) = block.tool_position {
                    if let Some(call) = ev.calls.get_mut(p) {
                        events.push(call_delta_event(call, p, &input, options));
                    }
                }
            }
        }
        if d.reasoning {
            let r = block.reasoning.get_or_insert_with(Reasoning::default);
            if let Some(t) = d.reasoning_text {
                r.text.get_or_insert_with(String::new).push_str(&t);
                if options.events && !t.is_empty() {
                    ev.reasoning.push_str(&t);
                    ev.reasoning_trail.push(t.as_ref().into());
                    events.push(Event::TextDelta {
                        of: TextOf::Reasoning(REASONING_FIELD),
                        choice_index: 0,
                        trail: ev.reasoning_trail.clone(),
                    });
                }
            }
            if let Some(sig) = d.signature {
                r.signature = Some(sig.into_owned());
            }
            if let Some(red) = d.redacted {
                r.redacted.get_or_insert_with(String::new).push_str(&red);
            }
        }
        for (key, value) in d.other {
            merge(&mut block.other, key.into_owned(), value);
        }
        Ok(())
    }

    /// The rare events, parsed whole.
    fn apply_other(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind> {
        let max_depth = self.limits.max_depth;
        let value = parse(data, max_depth).map_err(|e| limit_error(syntax(e), max_depth))?;
        let Value::Object(payload) = value else {
            return Err(ErrorKind::Decode(schema("payload", "an object", 0)));
        };
        match event_type {
            b"messageStart" => {
                if let Some(role) = payload.get("role").filter(|r| !r.is_null()) {
                    self.role = Some(role.clone());
                }
            }
            b"contentBlockStart" => {
                let index = block_index(data, &payload)?;
                let start = match payload.get("start") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(m)) => Some(m),
                    Some(_) => {
                        return Err(ErrorKind::Decode(schema(
                            "start",
                            "an object",
                            position(data, &["start"]),
                        )))
                    }
                };
                if let Some(Value::Object(_) | Value::Null) | None =
                    start.and_then(|m| m.get("toolUse"))
                {
                } else {
                    return Err(ErrorKind::Decode(schema(
                        "start.toolUse",
                        "an object",
                        position(data, &["start", "toolUse"]),
                    )));
                }
                let at = self.block_at(index)?;
                if let Some(Value::Object(_)) = start.and_then(|m| m.get("toolUse")) {
                    self.tool_at(at);
                }
                let Some(block) = self.blocks.get_mut(at) else {
                    return Ok(());
                };
                for (key, value) in start.into_iter().flatten() {
                    match (key.as_str(), value) {
                        ("toolUse", Value::Object(tool)) => {
                            let t = block.tool.get_or_insert_with(ToolUse::default);
                            for (k, v) in tool {
                                merge(&mut t.start, k.clone(), v.clone());
                            }
                            let shared =
                                |key: &str| t.start.get(key).and_then(Value::as_str).map(Arc::from);
                            if let Some(call) = block
                                .tool_position
                                .and_then(|p| self.events.calls.get_mut(p))
                            {
                                call.id = shared("toolUseId");
                                call.name = shared("name");
                            }
                        }
                        ("toolUse", _) => {}
                        _ => merge(&mut block.other, key.clone(), value.clone()),
                    }
                }
            }
            b"contentBlockStop" => {
                let index = block_index(data, &payload)?;
                let at = self.block_at(index)?;
                let position = self.blocks.get(at).and_then(|b| b.tool_position);
                let options = self.config.options;
                let blocks = &self.blocks;
                let max_depth = self.limits.max_depth;
                if let Some(p) = position {
                    if let Some(call) = self.events.calls.get_mut(p).filter(|c| !c.done) {
                        events.push(call_done_event(call, p, blocks, options, max_depth));
                    }
                }
            }
            b"messageStop" => {
                self.stopped = true;
                for (key, value) in payload {
                    match key.as_str() {
                        "p" => {}
                        "stopReason" => keep(&mut self.stop_reason, value),
                        _ => merge(&mut self.other, key, value),
                    }
                }
                self.done_events(events);
            }
            b"metadata" => {
                for (key, value) in payload {
                    match key.as_str() {
                        "p" => {}
                        "usage" => {
                            if let (true, Value::Object(usage)) =
                                (self.config.options.events, &value)
                            {
                                events.push(Event::Usage(UsageSnapshot::whole(usage.clone())));
                            }
                            keep(&mut self.usage, value);
                        }
                        "metrics" => keep(&mut self.metrics, value),
                        _ => merge(&mut self.other, key, value),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `content.done` (if a block has text) and `reasoning.done` (reasoning), each once; the
    /// `.done` of every call whose `contentBlockStop` has not come.
    fn done_events(&mut self, events: &mut Vec<Event>) {
        let options = self.config.options;
        if !options.events {
            return;
        }
        let ev = &mut self.events;
        if !std::mem::replace(&mut ev.texts_done, true) {
            let blocks = &self.blocks;
            texts_done(
                events,
                blocks.iter().any(|b| b.text.is_some()).then_some(&ev.text),
                blocks
                    .iter()
                    .any(|b| b.reasoning.is_some())
                    .then_some((REASONING_FIELD, &ev.reasoning)),
            );
        }
        for (position, call) in ev.calls.iter_mut().enumerate() {
            if !call.done {
                events.push(call_done_event(
                    call,
                    position,
                    &self.blocks,
                    options,
                    self.limits.max_depth,
                ));
            }
        }
    }

    pub fn message_stopped(&self) -> bool {
        self.stopped
    }
}

/// The `field` of reasoning events: the delta key the text comes in.
const REASONING_FIELD: &str = "reasoningContent";

fn call_delta_event(
    call: &mut CallEvents,
    position: usize,
    added: &str,
    options: Options,
) -> Event {
    call.parser.feed(added.as_bytes());
    call.trail.push(added.into());
    Event::ArgumentsDelta {
        call: Call::tool(0, position, call.id.clone(), call.name.clone()),
        trail: call.trail.clone(),
        parsed: options.partial_arguments.then(|| call.parser.snapshot()),
    }
}

/// A call's `.done`: its input text as streamed.
fn call_done_event(
    call: &mut CallEvents,
    position: usize,
    blocks: &[Block],
    options: Options,
    max_depth: usize,
) -> Event {
    call.done = true;
    let arguments = blocks
        .iter()
        .find(|b| b.tool_position == Some(position))
        .and_then(|b| b.tool.as_ref())
        .map(|t| t.input.clone())
        .unwrap_or_default();
    let call = Call::tool(0, position, call.id.clone(), call.name.clone());
    Event::arguments_done(
        call,
        arguments,
        options.partial_arguments.then_some(max_depth),
    )
}

/// `contentBlockIndex` of a parsed payload (absent or null: 0).
fn block_index(data: &[u8], payload: &Map) -> Result<u64, ErrorKind> {
    match payload.get("contentBlockIndex") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(text)) if text.parse::<u64>().is_ok() => {
            Ok(text.parse::<u64>().unwrap_or(0))
        }
        Some(_) => Err(ErrorKind::Decode(schema(
            "contentBlockIndex",
            "a non-negative integer",
            position(data, &["contentBlockIndex"]),
        ))),
    }
}

/// Where the value at `path` (object keys from the top) starts in a valid payload; with
/// duplicate keys the last one counts. Only on the error path of the rare events.
fn position(data: &[u8], path: &[&str]) -> usize {
    let mut r = Reader::new(data, usize::MAX);
    let mut found = 0;
    for key in path {
        r.peek();
        let Ok(true) = r.begin_object() else {
            return found;
        };
        let mut first = true;
        let mut at = None;
        while let Ok(Some(k)) = r.next_key(&mut first) {
            r.peek();
            if k == *key {
                at = Some(r.pos());
            }
            if r.skip_value().is_err() {
                return found;
            }
        }
        let Some(at) = at else {
            return found;
        };
        found = at;
        r.resume_at(at);
    }
    found
}

fn keep(slot: &mut Option<Value>, value: Value) {
    if !value.is_null() || slot.is_none() {
        *slot = Some(value);
    }
}

/// Last non-null; a key first sent as null appears, null.
fn merge(into: &mut Map, key: String, value: Value) {
    if value.is_null() {
        into.insert_if_absent(&key, || Value::Null);
    } else {
        into.insert(key, value);
    }
}

/// A tool's `input` as the non-streaming response gives it: the parsed JSON, `{}` for no
/// text, or the text itself when it is not JSON (nothing is dropped).
fn parse_input(text: &str, max_depth: usize) -> Value {
    if text.is_empty() {
        return Value::Object(Map::new());
    }
    parse(text.as_bytes(), max_depth).unwrap_or_else(|_| Value::String(text.to_string()))
}

impl Block {
    fn render(&self, max_depth: usize) -> Value {
        let mut out = Map::new();
        if let Some(text) = &self.text {
            out.insert("text".into(), Value::String(text.clone()));
        }
        if let Some(tool) = &self.tool {
            let mut t = tool.start.clone();
            t.insert("input".into(), parse_input(&tool.input, max_depth));
            out.insert("toolUse".into(), Value::Object(t));
        }
        if let Some(r) = &self.reasoning {
            let mut content = Map::new();
            if r.text.is_some() || r.signature.is_some() {
                let mut rt = Map::new();
                rt.insert(
                    "text".into(),
                    Value::String(r.text.clone().unwrap_or_default()),
                );
                if let Some(sig) = &r.signature {
                    rt.insert("signature".into(), Value::String(sig.clone()));
                }
                content.insert("reasoningText".into(), Value::Object(rt));
            }
            if let Some(red) = &r.redacted {
                content.insert("redactedContent".into(), Value::String(red.clone()));
            }
            out.insert("reasoningContent".into(), Value::Object(content));
        }
        for (k, v) in &self.other {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }
}

/// The decoded `bytes` of an `InvokeModelWithResponseStream` `chunk` payload.
fn chunk_bytes(data: &[u8], max_depth: usize) -> Result<Vec<u8>, ErrorKind> {
    let value = parse(data, max_depth).map_err(|e| limit_error(syntax(e), max_depth))?;
    let Value::Object(payload) = value else {
        return Err(ErrorKind::Decode(schema("payload", "an object", 0)));
    };
    payload
        .get("bytes")
        .and_then(Value::as_str)
        .and_then(base64_decode)
        .ok_or_else(|| {
            ErrorKind::Decode(schema(
                "bytes",
                "a base64 string",
                position(data, &["bytes"]),
            ))
        })
}

/// Standard base64 with padding, strictly (what Python's `b64decode(..., validate=True)`
/// accepts): the alphabet only, a length divisible by 4, `=` only as the last one or two.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.chunks_exact(4);
    let last = quads.len().saturating_sub(1);
    for (i, quad) in quads.enumerate() {
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i != last) {
            return None;
        }
        let mut word = 0u32;
        for &b in &quad[..4 - pad] {
            word = (word << 6) | sextet(b)?;
        }
        word <<= 6 * pad as u32;
        let [_, a, b, c] = word.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    Some(out)
}

impl Fold for Bedrock {
    fn new(config: &Config) -> Self {
        Bedrock {
            config: *config,
            limits: config.limits,
            folded: 0,
            invoke: None,
            role: None,
            blocks: Vec::new(),
            stop_reason: None,
            usage: None,
            metrics: None,
            other: Map::new(),
            stopped: false,
            events: Events::default(),
        }
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Bedrock)
    }

    fn ends_stream(&self, _data: &[u8]) -> bool {
        false
    }

    fn end_marker(&self) -> &'static str {
        match &self.invoke {
            Some(inner) => inner.end_marker(),
            None => "messageStop",
        }
    }

    fn missing_end(&self) -> &'static str {
        match &self.invoke {
            Some(inner) => inner.missing_end(),
            None => "messageStop",
        }
    }

    fn take_notes(&mut self, notes: &mut Vec<Note>) {
        if let Some(inner) = self.invoke.as_mut() {
            inner.take_notes(notes);
        }
    }

    fn fold(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        if self.folded == 0 && self.invoke.is_none() && event_type == b"chunk" {
            self.invoke = Some(Box::new(Anthropic::new(&self.config)));
        }
        if let Some(inner) = &mut self.invoke {
            if event_type != b"chunk" {
                self.folded += 1;
                return Ok(Folded::Continue);
            }
            let bytes = chunk_bytes(data, self.limits.max_depth)?;
            let folded = inner.fold(b"", &bytes, events)?;
            self.folded += 1;
            // A single stream's `metadata` after the end is folded (as nothing) here too.
            return Ok(match folded {
                Folded::End if !self.config.capture => Folded::EndBefore(b"metadata"),
                other => other,
            });
        }
        if event_type == b"contentBlockDelta" {
            self.apply_delta(data, events)?;
        } else {
            self.apply_other(event_type, data, events)?;
        }
        self.folded += 1;
        // The content ends at `messageStop`; AWS sends the `metadata` after it, and it belongs
        // to the stream. In a capture the stream ends at that `metadata`, or the driver ends
        // it before any other event (the next stream's `messageStart`), or at end of input.
        Ok(match event_type {
            b"messageStop" => Folded::EndBefore(b"metadata"),
            b"metadata" if self.stopped && self.config.capture => Folded::End,
            _ => Folded::Continue,
        })
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
        *self = Bedrock::new(&self.config);
    }

    fn folded(&self) -> u64 {
        self.folded
    }

    /// After `messageStop`: a capture's last stream needs no `metadata` to be complete.
    fn complete(&self) -> bool {
        self.stopped
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        if let Some(inner) = &mut self.invoke {
            inner.finish_events(events);
        } else {
            self.done_events(events);
        }
    }

    fn result(&self) -> Value {
        if let Some(inner) = &self.invoke {
            return inner.result();
        }
        let depth = self.limits.max_depth;
        let mut message = Map::new();
        message.insert(
            "role".into(),
            self.role
                .clone()
                .unwrap_or_else(|| Value::string("assistant")),
        );
        message.insert(
            "content".into(),
            Value::Array(self.blocks.iter().map(|b| b.render(depth)).collect()),
        );
        let mut output = Map::new();
        output.insert("message".into(), Value::Object(message));
        let mut out = Map::new();
        out.insert("output".into(), Value::Object(output));
        out.insert(
            "stopReason".into(),
            self.stop_reason.clone().unwrap_or_default(),
        );
        out.insert("usage".into(), self.usage.clone().unwrap_or_default());
        out.insert("metrics".into(), self.metrics.clone().unwrap_or_default());
        for (k, v) in &self.other {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }

    fn version(&self) -> (u64, u64) {
        match &self.invoke {
            Some(inner) => inner.version(),
            None => (self.folded, 0),
        }
    }

    /// Text and reasoning of every block, tool calls (arguments: the input text as streamed),
    /// `stopReason`, and the usage (Bedrock's names map one to one; no id or model).
    fn summary(&self) -> Summary {
        if let Some(inner) = &self.invoke {
            return Summary {
                format: Some(Format::Bedrock),
                ..inner.summary()
            };
        }
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        for block in &self.blocks {
            if let Some(t) = &block.text {
                text.push_str(t);
            }
            if let Some(t) = block.reasoning.as_ref().and_then(|r| r.text.as_ref()) {
                reasoning.push_str(t);
            }
            if let Some(tool) = &block.tool {
                tool_calls.push(ToolCall {
                    id: summary::text(tool.start.get("toolUseId")),
                    name: summary::text(tool.start.get("name")),
                    arguments: tool.input.clone(),
                });
            }
        }
        let usage = self.usage.as_ref();
        let count = |key| summary::count(summary::field(usage, key));
        let (input, output) = (count("inputTokens"), count("outputTokens"));
        let stop_reason = self.stop_reason.clone().unwrap_or_default();
        Summary {
            format: Some(Format::Bedrock),
            finish_reason: summary::finish_reason(stop_reason.as_str(), !tool_calls.is_empty()),
            stop_reason,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: count("totalTokens").or_else(|| summary::sum(input, output)),
                cached_input_tokens: count("cacheReadInputTokens"),
                cache_write_tokens: count("cacheWriteInputTokens"),
                reasoning_tokens: None,
            },
            text,
            reasoning,
            tool_calls,
            ..Summary::default()
        }
    }
}

#[cfg(test)]
mod tests;
