//! Incremental partial JSON for streamed tool-call arguments.
//!
//! Tool-call arguments arrive as fragments of one JSON document. [`PartialJson`] consumes each
//! fragment once (a resumable tokenizer: work is proportional to the new bytes, never a re-parse
//! of the whole buffer) and [`PartialJson::snapshot`] captures "the value so far" in O(depth)
//! without copying any text: completed children live in persistent lists and strings in
//! append-only buffers, shared between the parser and every snapshot. Only
//! [`PartialSnapshot::to_value`] builds a [`Value`], when the caller actually reads it.
//!
//! The value so far follows jiter's `partial_mode="trailing-strings"` (observed with jiter 0.19):
//! - an unfinished string value is kept as its text so far, minus any escape or UTF-8 sequence
//!   cut in the middle (a high surrogate waiting for its low half counts as cut);
//! - an unfinished literal (`tru`, `nul`) or number that is not yet a complete number (`-`, `1.`,
//!   `1e`, `1e+`) is dropped; a number that is complete so far (`12`, `1.5`, `1e5`) is kept, even
//!   though more digits may follow;
//! - an unfinished key, a key without its colon or value, is dropped;
//! - unfinished arrays and objects are closed;
//! - a dropped top-level value, empty input and whitespace give no value at all.
//!
//! Duplicate keys keep the first key's position and the last complete value.
//!
//! The parser is strict RFC 8259 on everything else: once the text can no longer be the prefix
//! of a valid JSON document it is *failed* and gives no value. This differs from jiter where
//! jiter is lenient: jiter ignores anything after a complete top-level value (`[1]]`, `1 2`) and
//! stops silently at a missing comma (`[1 2`); in partial mode it drops a UTF-8 sequence cut by
//! the closing quote (`"a\xc3"`); it accepts `NaN`/`Infinity` unless told not to. Lone
//! surrogate escapes, other invalid UTF-8 and control characters in strings fail, as in jiter.
//! Nesting deeper than `max_depth` open containers fails too.

use std::any::Any;
use std::fmt;
use std::mem;
use std::sync::{Arc, Mutex, PoisonError};

use crate::json::number::Num;
use crate::json::reader::{is_json_whitespace, plain_run};
use crate::json::short_escape;
use crate::json::value::{Map, Value};
use crate::persistent::{unlink, Cell, Dismantle, List, Reclaim};

/// Incremental parser for one partial JSON document.
pub struct PartialJson {
    /// Open containers allowed at once; one more fails the parser.
    max_depth: usize,
    state: State,
    /// The open containers, outermost first.
    stack: Vec<Open>,
    /// The id the next opened container gets.
    next_id: u64,
    /// Shared with every snapshot; see [`ReaderMemo`].
    memo: ReaderMemo,
    /// The top-level value once it is complete.
    root: Option<Node>,
    /// The text of the string value or number being read, shared with snapshots.
    text: SharedText,
    /// The object key being read; never shared, since snapshots drop unfinished keys.
    key: String,
    /// The start of a multi-byte UTF-8 character cut by the end of a fragment.
    utf8: Utf8Tail,
    failed: bool,
    /// It failed by opening more than `max_depth` containers (not by a syntax error).
    too_deep: bool,
    /// Only tells whether the text is still a prefix of a JSON document: no text is kept and
    /// no tree is built, so snapshots of it have no value (see [`Self::validator`]).
    shape_only: bool,
    /// The pending-key marker of a shape-only parser, allocated once.
    no_key: Option<Arc<str>>,
}

/// The value of a [`PartialJson`] at one moment. Cheap to take, keep and clone.
///
/// Kept as the parser saw it: the open containers (each with its completed children) and the
/// value being read inside the innermost one. Readers that convert snapshots into another
/// representation can then reuse their work on a container's completed children across
/// snapshots (see [`OpenLevel`] and [`ReaderMemo`]); [`Self::to_value`] closes everything.
#[derive(Clone, Default)]
pub struct PartialSnapshot {
    /// The open containers, outermost first.
    open: Vec<Open>,
    /// The value so far inside the innermost open container; with none open, the whole value.
    tail: Option<Node>,
    memo: ReaderMemo,
}

/// A slot for a reader's own state, shared by a parser and all its snapshots (never by a
/// clone of the parser, which gets a fresh one). A reader may keep here whatever lets it reuse
/// work between reads of successive snapshots: within one slot, an [`OpenLevel::id`] names
/// one container, whose first [`OpenLevel::len`] children never change. The core never looks
/// inside.
pub type ReaderMemo = Arc<Mutex<Option<Box<dyn Any + Send>>>>;

/// One open container of a [`PartialSnapshot`].
#[derive(Clone, Copy)]
pub struct OpenLevel<'a>(&'a Open);

/// An open container as the parser holds it.
#[derive(Clone)]
struct Open {
    /// Unique among the containers of one parser (and its snapshots).
    id: u64,
    /// Completed children (array items, or object entries counting repeated keys).
    len: usize,
    frame: Frame,
}

impl PartialJson {
    pub fn new(max_depth: usize) -> Self {
        PartialJson {
            max_depth,
            state: State::Value,
            stack: Vec::new(),
            next_id: 0,
            memo: ReaderMemo::default(),
            root: None,
            text: SharedText::default(),
            key: String::new(),
            utf8: Utf8Tail::default(),
            failed: false,
            too_deep: false,
            shape_only: false,
            no_key: None,
        }
    }

    /// A parser that only checks the prefix rule and the depth limit, at a fraction of the cost:
    /// for callers that need the value only once the text is whole (and then parse it once).
    /// `failed`, `too_deep` and `complete` answer as for [`Self::new`]; snapshots have no value.
    pub fn validator(max_depth: usize) -> Self {
        PartialJson {
            shape_only: true,
            no_key: Some(Arc::from("")),
            ..PartialJson::new(max_depth)
        }
    }

    /// Consume one fragment: amortised O(fragment.len()). After a syntax error (the text can no
    /// longer be a prefix of valid JSON) or nesting deeper than `max_depth`, the parser is failed:
    /// further feeds are ignored and snapshots have no value.
    #[inline(always)]
    pub fn feed(&mut self, fragment: &[u8]) {
        if self.shape_only {
            self.feed_shape(fragment);
            return;
        }
        // Most fragments of a long input continue a string with plain ASCII text (the words
        // of a value), which changes no state: taken here, without a step or the frame of the
        // stepping loop.
        if let (
            false,
            State::Str {
                key,
                escape: Escape::None,
            },
        ) = (self.failed, self.state)
        {
            if self.utf8.is_empty()
                && !fragment.is_empty()
                && fragment
                    .iter()
                    .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
            {
                // SAFETY: every byte of the fragment is below 0x80: ASCII, which is valid UTF-8.
                self.append(key, unsafe { std::str::from_utf8_unchecked(fragment) });
                return;
            }
        }
        self.feed_steps(fragment);
    }

    #[inline(never)]
    fn feed_steps(&mut self, fragment: &[u8]) {
        if self.failed {
            return;
        }
        let mut pos = 0;
        while pos < fragment.len() {
            if let Ok(next) = self.step(fragment, pos) {
                pos = next;
            } else {
                self.fail();
                return;
            }
        }
    }

    /// A validator's feed. A tool input's text spends nearly all its bytes on plain string
    /// characters, one-letter escapes, quotes, commas, colons and whitespace: those are taken
    /// here, each a state change that keeps nothing, without a step's call. Everything else (a
    /// number, a literal, a container opened or closed, a `\u` escape, UTF-8, any error) goes
    /// through [`Self::step`] from the same state, so the verdicts are the full parser's.
    #[inline(never)]
    fn feed_shape(&mut self, fragment: &[u8]) {
        if self.failed {
            return;
        }
        let mut pos = 0;
        while let Some(&byte) = fragment.get(pos) {
            let taken = match self.state {
                State::Str {
                    key,
                    escape: Escape::None,
                } if self.utf8.is_empty() => {
                    // The string's plain bytes and one-letter escapes change nothing: the state
                    // is left as it is until something else comes.
                    let mut at = pos;
                    loop {
                        match fragment.get(at) {
                            Some(&b) if PLAIN_ASCII[usize::from(b)] => at += 1,
                            Some(b'\\') => match fragment.get(at + 1) {
                                Some(&e) if short_escape(e).is_some() => at += 2,
                                _ => break,
                            },
                            _ => break,
                        }
                    }
                    match fragment.get(at) {
                        None => return,
                        Some(b'"') if key => self.end_string(true).map(|()| at + 1),
                        Some(b'"') => self.complete_shape().map(|()| at + 1),
                        // A backslash at the end of the fragment or before `u`, a control byte
                        // or UTF-8: the step reads it from the same state.
                        Some(_) => self.step(fragment, at),
                    }
                }
                State::Colon if byte == b':' => {
                    self.state = State::Value;
                    Ok(pos + 1)
                }
                State::AfterValue if byte == b',' => match self.stack.last().map(|o| &o.frame) {
                    Some(Frame::Array { .. }) => {
                        self.state = State::Value;
                        Ok(pos + 1)
                    }
                    Some(Frame::Object { .. }) => {
                        self.state = State::Key;
                        Ok(pos + 1)
                    }
                    None => Err(Invalid),
                },
                State::Value | State::FirstItem if byte == b'"' => {
                    self.state = State::Str {
                        key: false,
                        escape: Escape::None,
                    };
                    Ok(pos + 1)
                }
                State::FirstKey | State::Key if byte == b'"' => {
                    self.state = State::Str {
                        key: true,
                        escape: Escape::None,
                    };
                    Ok(pos + 1)
                }
                State::Value
                | State::FirstItem
                | State::FirstKey
                | State::Key
                | State::Colon
                | State::AfterValue
                    if is_json_whitespace(byte) =>
                {
                    Ok(pos + 1)
                }
                _ => self.step(fragment, pos),
            };
            let Ok(next) = taken else {
                self.fail();
                return;
            };
            pos = next;
        }
    }

    /// A string value ended in a validator: what [`Self::complete_value`] does with it, without
    /// the node that nothing reads.
    fn complete_shape(&mut self) -> Result<(), Invalid> {
        self.state = State::AfterValue;
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(Node::Null);
            return Ok(());
        };
        if let Frame::Object { key, .. } = &mut open.frame {
            key.take().ok_or(Invalid)?;
        }
        open.len += 1;
        Ok(())
    }

    /// True when feeding printable ASCII other than `"` and `\` would change nothing: a
    /// validator inside a string, with no escape or UTF-8 sequence begun. Its caller may then
    /// leave such text out.
    pub fn ignores_plain_text(&self) -> bool {
        self.shape_only
            && !self.failed
            && self.utf8.is_empty()
            && matches!(
                self.state,
                State::Str {
                    escape: Escape::None,
                    ..
                }
            )
    }

    /// False for a [`Self::validator`], whose snapshots never have a value.
    pub fn keeps_value(&self) -> bool {
        !self.shape_only
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Whether it failed by nesting deeper than `max_depth` rather than by a syntax error.
    pub fn too_deep(&self) -> bool {
        self.too_deep
    }

    /// Whether a whole top-level value has been read.
    pub fn complete(&self) -> bool {
        !self.failed && self.stack.is_empty() && self.root.is_some()
    }

    /// The value so far with an unfinished string value dropped rather than kept, as jiter's
    /// `partial_mode=True` gives it (the anthropic SDK's rule for a tool input cut short).
    pub fn value_without_open_string(&self) -> Option<Value> {
        let mut snapshot = self.snapshot();
        if matches!(self.state, State::Str { key: false, .. }) {
            snapshot.tail = None;
        }
        snapshot.to_value()
    }

    /// The value so far, in O(depth): a copy of the open-container stack that shares every
    /// completed child and string buffer with the parser.
    pub fn snapshot(&self) -> PartialSnapshot {
        if self.failed || self.shape_only {
            return PartialSnapshot::default();
        }
        let open_scalar = match self.state {
            State::Str { key: false, .. } => Some(Node::String(self.text.clone())),
            State::Num(num) if num.is_complete() => Some(Node::Number(self.text.clone())),
            _ => None,
        };
        PartialSnapshot {
            open: self.stack.clone(),
            tail: if self.stack.is_empty() {
                open_scalar.or_else(|| self.root.clone())
            } else {
                open_scalar
            },
            memo: Arc::clone(&self.memo),
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        // A failed parser only answers "no value": release what it held.
        self.stack = Vec::new();
        self.root = None;
        self.text = SharedText::default();
        self.key = String::new();
        self.memo = ReaderMemo::default();
    }

    /// Consume at least one byte from `input[pos..]` (or change state so that the next step
    /// will), returning the position to continue from.
    fn step(&mut self, input: &[u8], pos: usize) -> Result<usize, Invalid> {
        let byte = *input.get(pos).ok_or(Invalid)?;
        match self.state {
            State::Str { key, escape } => self.string(input, pos, key, escape),
            State::Num(num) => self.number(input, pos, num),
            State::Lit { rest, value } => {
                let (&expected, rest) = rest.split_first().ok_or(Invalid)?;
                if byte != expected {
                    return Err(Invalid);
                }
                if rest.is_empty() {
                    self.complete_value(value.node())?;
                } else {
                    self.state = State::Lit { rest, value };
                }
                Ok(pos + 1)
            }
            _ if is_json_whitespace(byte) => Ok(skip_whitespace(input, pos)),
            State::Value => self.value_start(byte, pos, false),
            State::FirstItem => self.value_start(byte, pos, true),
            State::FirstKey | State::Key => match byte {
                b'"' => {
                    self.key.clear();
                    self.state = State::Str {
                        key: true,
                        escape: Escape::None,
                    };
                    Ok(pos + 1)
                }
                b'}' if self.state == State::FirstKey => self.close().map(|()| pos + 1),
                _ => Err(Invalid),
            },
            State::Colon if byte == b':' => {
                self.state = State::Value;
                Ok(pos + 1)
            }
            State::Colon => Err(Invalid),
            State::AfterValue => {
                match (self.stack.last().map(|open| &open.frame), byte) {
                    (Some(Frame::Array { .. }), b',') => self.state = State::Value,
                    (Some(Frame::Object { .. }), b',') => self.state = State::Key,
                    (Some(Frame::Array { .. }), b']') | (Some(Frame::Object { .. }), b'}') => {
                        self.close()?;
                    }
                    _ => return Err(Invalid),
                }
                Ok(pos + 1)
            }
        }
    }

    fn value_start(&mut self, byte: u8, pos: usize, first_item: bool) -> Result<usize, Invalid> {
        let literal = |rest, value| State::Lit { rest, value };
        self.state = match byte {
            b'"' => State::Str {
                key: false,
                escape: Escape::None,
            },
            // The number state reads the first byte itself.
            b'-' | b'0'..=b'9' => {
                self.state = State::Num(Num::Start);
                return Ok(pos);
            }
            b't' => literal(b"rue", Literal::True),
            b'f' => literal(b"alse", Literal::False),
            b'n' => literal(b"ull", Literal::Null),
            b'[' => {
                self.open(Frame::Array {
                    items: List::default(),
                })?;
                State::FirstItem
            }
            b'{' => {
                self.open(Frame::Object {
                    entries: List::default(),
                    key: None,
                })?;
                State::FirstKey
            }
            b']' if first_item => return self.close().map(|()| pos + 1),
            _ => return Err(Invalid),
        };
        Ok(pos + 1)
    }

    fn open(&mut self, frame: Frame) -> Result<(), Invalid> {
        if self.stack.len() >= self.max_depth {
            self.too_deep = true;
            return Err(Invalid);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stack.push(Open { id, len: 0, frame });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Invalid> {
        let node = match self.stack.pop().ok_or(Invalid)?.frame {
            Frame::Array { items } => Node::Array(items),
            Frame::Object { entries, .. } => Node::Object(entries),
        };
        self.complete_value(node)
    }

    fn complete_value(&mut self, node: Node) -> Result<(), Invalid> {
        self.state = State::AfterValue;
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        if self.shape_only {
            if let Frame::Object { key, .. } = &mut open.frame {
                key.take().ok_or(Invalid)?;
            }
            open.len += 1;
            return Ok(());
        }
        match &mut open.frame {
            Frame::Array { items } => items.push(node),
            Frame::Object { entries, key } => {
                let key = key.take().ok_or(Invalid)?;
                entries.push(Entry { key, value: node });
            }
        }
        open.len += 1;
        Ok(())
    }

    fn string(
        &mut self,
        input: &[u8],
        pos: usize,
        key: bool,
        escape: Escape,
    ) -> Result<usize, Invalid> {
        let byte = *input.get(pos).ok_or(Invalid)?;
        if !self.utf8.is_empty() {
            self.utf8.push(byte)?;
            // A copy, so the decoded text does not borrow `self` while it is appended.
            let pending = self.utf8;
            match std::str::from_utf8(pending.bytes()) {
                Ok(text) => {
                    self.append(key, text);
                    self.utf8 = Utf8Tail::default();
                }
                // Still a valid start of a character: wait for the next byte.
                Err(e) if e.error_len().is_none() => {}
                Err(_) => return Err(Invalid),
            }
            return Ok(pos + 1);
        }
        let next_escape = match escape {
            Escape::None => {
                let rest = input.get(pos..).ok_or(Invalid)?;
                let (run, ascii) = plain_run(rest);
                if run > 0 {
                    let (plain, after) = rest.split_at_checked(run).ok_or(Invalid)?;
                    if ascii {
                        // SAFETY: `plain_run` found every byte of the run below 0x80: ASCII,
                        // which is valid UTF-8 (and no character of it is cut).
                        self.append(key, unsafe { std::str::from_utf8_unchecked(plain) });
                    } else {
                        self.plain_text(plain, after.is_empty(), key)?;
                    }
                    return Ok(pos + run);
                }
                match byte {
                    b'"' => {
                        self.end_string(key)?;
                        return Ok(pos + 1);
                    }
                    b'\\' => Escape::Backslash,
                    _ => return Err(Invalid),
                }
            }
            Escape::Backslash => {
                if byte == b'u' {
                    self.state = State::Str {
                        key,
                        escape: Escape::Hex {
                            high: None,
                            digits: 0,
                            code: 0,
                        },
                    };
                    return Ok(pos + 1);
                }
                let unescaped = char::from(short_escape(byte).ok_or(Invalid)?);
                self.append_char(key, unescaped);
                Escape::None
            }
            Escape::Hex { high, digits, code } => {
                let digit = char::from(byte).to_digit(16).ok_or(Invalid)?;
                // At most four hex digits: fits in a u32 before the u16 narrowing.
                let code = (u32::from(code) << 4) | digit;
                let code = u16::try_from(code).map_err(|_| Invalid)?;
                if digits < 3 {
                    Escape::Hex {
                        high,
                        digits: digits + 1,
                        code,
                    }
                } else {
                    match (high, code) {
                        (None, 0xD800..=0xDBFF) => Escape::LowBackslash { high: code },
                        (None, 0xDC00..=0xDFFF) => return Err(Invalid),
                        (None, _) => {
                            let c = char::from_u32(u32::from(code)).ok_or(Invalid)?;
                            self.append_char(key, c);
                            Escape::None
                        }
                        (Some(high), 0xDC00..=0xDFFF) => {
                            let scalar = 0x10000
                                + ((u32::from(high) - 0xD800) << 10)
                                + (u32::from(code) - 0xDC00);
                            let c = char::from_u32(scalar).ok_or(Invalid)?;
                            self.append_char(key, c);
                            Escape::None
                        }
                        (Some(_), _) => return Err(Invalid),
                    }
                }
            }
            Escape::LowBackslash { high } if byte == b'\\' => Escape::LowU { high },
            Escape::LowU { high } if byte == b'u' => Escape::Hex {
                high: Some(high),
                digits: 0,
                code: 0,
            },
            // A high surrogate must be followed by the `\u` of its low half.
            Escape::LowBackslash { .. } | Escape::LowU { .. } => return Err(Invalid),
        };
        self.state = State::Str {
            key,
            escape: next_escape,
        };
        Ok(pos + 1)
    }

    /// Unescaped string bytes (no quote, backslash or control byte). A character cut by the end
    /// of the fragment is kept pending; cut anywhere else it is invalid.
    fn plain_text(
        &mut self,
        plain: &[u8],
        at_fragment_end: bool,
        key: bool,
    ) -> Result<(), Invalid> {
        match std::str::from_utf8(plain) {
            Ok(text) => {
                self.append(key, text);
                Ok(())
            }
            Err(e) => {
                let (valid, tail) = plain.split_at_checked(e.valid_up_to()).ok_or(Invalid)?;
                let valid = std::str::from_utf8(valid).map_err(|_| Invalid)?;
                self.append(key, valid);
                if e.error_len().is_some() || !at_fragment_end {
                    return Err(Invalid);
                }
                for &byte in tail {
                    self.utf8.push(byte)?;
                }
                Ok(())
            }
        }
    }

    fn end_string(&mut self, key: bool) -> Result<(), Invalid> {
        if key {
            match self.stack.last_mut().map(|open| &mut open.frame) {
                Some(Frame::Object { key: pending, .. }) => {
                    *pending = match &self.no_key {
                        Some(marker) => Some(Arc::clone(marker)),
                        None => Some(Arc::from(self.key.as_str())),
                    };
                }
                _ => return Err(Invalid),
            }
            self.state = State::Colon;
            Ok(())
        } else {
            let text = mem::take(&mut self.text);
            self.complete_value(Node::String(text))
        }
    }

    fn append(&mut self, key: bool, text: &str) {
        if self.shape_only {
            return;
        }
        if key {
            self.key.push_str(text);
        } else {
            self.text.append(text);
        }
    }

    fn append_char(&mut self, key: bool, c: char) {
        let mut buf = [0; 4];
        self.append(key, c.encode_utf8(&mut buf));
    }

    fn number(&mut self, input: &[u8], pos: usize, num: Num) -> Result<usize, Invalid> {
        let rest = input.get(pos..).ok_or(Invalid)?;
        let (used, num) = num.scan(rest);
        let (digits, after) = rest.split_at_checked(used).ok_or(Invalid)?;
        if !self.shape_only {
            self.text
                .append(std::str::from_utf8(digits).map_err(|_| Invalid)?);
        }
        self.state = State::Num(num);
        if !after.is_empty() {
            // The number ended before this byte, which the after-value state reads next.
            if !num.is_complete() {
                return Err(Invalid);
            }
            let text = mem::take(&mut self.text);
            self.complete_value(Node::Number(text))?;
        }
        Ok(pos + used)
    }
}

impl fmt::Debug for PartialJson {
    // Summary only: the tree can be deep and large.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialJson")
            .field("depth", &self.stack.len())
            .field("max_depth", &self.max_depth)
            .field("state", &self.state)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Clone for PartialJson {
    /// The clone gets a fresh [`ReaderMemo`]: the two parsers diverge from here, and the same
    /// container id would name different containers in them.
    fn clone(&self) -> Self {
        PartialJson {
            max_depth: self.max_depth,
            state: self.state,
            stack: self.stack.clone(),
            next_id: self.next_id,
            memo: ReaderMemo::default(),
            root: self.root.clone(),
            text: self.text.clone(),
            key: self.key.clone(),
            utf8: self.utf8,
            failed: self.failed,
            too_deep: self.too_deep,
            shape_only: self.shape_only,
            no_key: self.no_key.clone(),
        }
    }
}

impl PartialSnapshot {
    /// True when [`Self::to_value`] will return a value.
    pub fn has_value(&self) -> bool {
        !self.open.is_empty() || self.tail.is_some()
    }

    /// Materialise the value. None if nothing is parseable yet or the parser failed. O(size),
    /// iterative (no recursion proportional to depth).
    pub fn to_value(&self) -> Option<Value> {
        self.closed().as_ref().map(materialise)
    }

    /// The open containers, outermost first. With none open, [`Self::tail_value`] is the whole
    /// value.
    pub fn open_levels(
        &self,
    ) -> impl DoubleEndedIterator<Item = OpenLevel<'_>> + ExactSizeIterator {
        self.open.iter().map(OpenLevel)
    }

    /// The value so far inside the innermost open container (an unfinished string or number):
    /// it belongs after that container's completed children, under its pending key for an
    /// object. With no container open, the whole value. O(its size).
    pub fn tail_value(&self) -> Option<Value> {
        self.tail.as_ref().map(materialise)
    }

    /// Calls `read` with the decoded text of [`Self::tail_value`] when that is a string, without
    /// copying it. Within one [`ReaderMemo`], the string at one place (the innermost open
    /// container's [`OpenLevel::id`] and [`OpenLevel::len`], or the top level) only ever grows
    /// at its end: the parser appends whole characters only, holding back an escape, a high
    /// surrogate waiting for its low half and a UTF-8 sequence until they are complete. `read`
    /// runs under the text buffer's lock and must not feed the parser.
    pub fn with_tail_str<R>(&self, read: impl FnOnce(&str) -> R) -> Option<R> {
        match &self.tail {
            Some(Node::String(text)) => Some(text.with_str(read)),
            _ => None,
        }
    }

    /// The slot shared with the parser and its other snapshots.
    pub fn reader_memo(&self) -> &ReaderMemo {
        &self.memo
    }

    /// The value as one tree: each open container closed into a new node, innermost first.
    fn closed(&self) -> Option<Node> {
        let mut inner = self.tail.clone();
        for open in self.open.iter().rev() {
            let closed = match &open.frame {
                Frame::Array { items } => {
                    let mut items = items.clone();
                    if let Some(item) = inner.take() {
                        items.push(item);
                    }
                    Node::Array(items)
                }
                Frame::Object { entries, key } => {
                    let mut entries = entries.clone();
                    if let (Some(key), Some(value)) = (key, inner.take()) {
                        entries.push(Entry {
                            key: Arc::clone(key),
                            value,
                        });
                    }
                    Node::Object(entries)
                }
            };
            inner = Some(closed);
        }
        inner
    }
}

impl<'a> OpenLevel<'a> {
    /// Names this container among all containers of one [`ReaderMemo`].
    pub fn id(self) -> u64 {
        self.0.id
    }

    /// Completed children so far; for an object, entries counting repeated keys.
    pub fn len(self) -> usize {
        self.0.len
    }

    pub fn is_empty(self) -> bool {
        self.0.len == 0
    }

    pub fn is_object(self) -> bool {
        matches!(self.0.frame, Frame::Object { .. })
    }

    /// The key the value inside this object is being read for; None for arrays, and for an
    /// object with no complete key waiting for its value.
    pub fn pending_key(self) -> Option<&'a str> {
        match &self.0.frame {
            Frame::Object { key, .. } => key.as_deref(),
            Frame::Array { .. } => None,
        }
    }

    /// The completed children from position `start` on, in document order, with their keys
    /// for an object (a repeated key appears again: the later value wins, in the first
    /// position). O(len - start) to find them plus the size of the values built.
    pub fn children_from(self, start: usize) -> Vec<(Option<&'a str>, Value)> {
        let wanted = self.0.len.saturating_sub(start);
        let mut out: Vec<(Option<&'a str>, Value)> = match &self.0.frame {
            Frame::Array { items } => items
                .iter()
                .take(wanted)
                .map(|node| (None, materialise(node)))
                .collect(),
            Frame::Object { entries, .. } => entries
                .iter()
                .take(wanted)
                .map(|entry| (Some(&*entry.key), materialise(&entry.value)))
                .collect(),
        };
        // The lists hold the newest child first.
        out.reverse();
        out
    }
}

impl fmt::Debug for OpenLevel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenLevel")
            .field("id", &self.0.id)
            .field("len", &self.0.len)
            .field("object", &self.is_object())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PartialSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialSnapshot")
            .field("has_value", &self.has_value())
            .finish_non_exhaustive()
    }
}

/// String bytes a validator skips without a step: printable ASCII but the quote and the
/// backslash; every other byte (control, non-ASCII) ends a plain run. Shared with the
/// prefix validator and the Anthropic fast path.
pub(crate) static PLAIN_ASCII: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// Marks input that can no longer be a prefix of valid JSON (or is nested too deep).
#[derive(Debug)]
struct Invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A value must come: at the start, after `:`, after `,` in an array.
    Value,
    /// After `[`: a value or `]`.
    FirstItem,
    /// After `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object.
    Key,
    Colon,
    /// After a complete value: `,` or the enclosing closer; only whitespace at the top level.
    AfterValue,
    Str {
        key: bool,
        escape: Escape,
    },
    Num(Num),
    Lit {
        rest: &'static [u8],
        value: Literal,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    /// Inside `\uXXXX`; `high` is the high surrogate this escape must complete.
    Hex {
        high: Option<u16>,
        digits: u8,
        code: u16,
    },
    LowBackslash {
        high: u16,
    },
    LowU {
        high: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Literal {
    True,
    False,
    Null,
}

impl Literal {
    fn node(self) -> Node {
        match self {
            Literal::True => Node::Bool(true),
            Literal::False => Node::Bool(false),
            Literal::Null => Node::Null,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Utf8Tail {
    bytes: [u8; 4],
    len: u8,
}

impl Utf8Tail {
    fn is_empty(self) -> bool {
        self.len == 0
    }

    fn push(&mut self, byte: u8) -> Result<(), Invalid> {
        let slot = self.bytes.get_mut(usize::from(self.len)).ok_or(Invalid)?;
        *slot = byte;
        self.len += 1;
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

#[derive(Clone)]
enum Frame {
    Array {
        items: List<Node>,
    },
    Object {
        entries: List<Entry>,
        /// The completed key waiting for its value.
        key: Option<Arc<str>>,
    },
}

/// A value in persistent form. Cloning is O(1).
#[derive(Clone)]
enum Node {
    Null,
    Bool(bool),
    Number(SharedText),
    String(SharedText),
    Array(List<Node>),
    Object(List<Entry>),
}

#[derive(Clone)]
struct Entry {
    key: Arc<str>,
    value: Node,
}

/// The text of a string or number: a prefix of an append-only buffer that the parser shares
/// with every snapshot taken while the value was being read. A snapshot keeps its length, so
/// taking one is O(1) and reading it is one copy of its prefix, however many fragments the
/// text arrived in (a list of pieces cost a walk over every fragment on each read: quadratic
/// for a reader of every event's `parsed_arguments`).
#[derive(Clone, Default)]
struct SharedText {
    buf: Option<Arc<Mutex<String>>>,
    len: usize,
}

impl SharedText {
    /// Appends to the shared buffer. Bytes past `len` in it can only come from a clone of the
    /// parser that appended first: then this text continues in a buffer of its own.
    fn append(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let len = self.len;
        let buf = self.buf.get_or_insert_with(Arc::default);
        let mut shared = buf.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.len() == len {
            shared.push_str(text);
        } else {
            let mut own = String::with_capacity(len + text.len());
            own.push_str(shared.get(..len).unwrap_or_default());
            own.push_str(text);
            drop(shared);
            *buf = Arc::new(Mutex::new(own));
        }
        self.len = len + text.len();
    }

    fn with_str<R>(&self, read: impl FnOnce(&str) -> R) -> R {
        match &self.buf {
            Some(buf) => {
                let shared = buf.lock().unwrap_or_else(PoisonError::into_inner);
                read(shared.get(..self.len).unwrap_or_default())
            }
            None => read(""),
        }
    }

    fn concat(&self) -> String {
        match &self.buf {
            Some(buf) => {
                let shared = buf.lock().unwrap_or_else(PoisonError::into_inner);
                shared.get(..self.len).unwrap_or_default().to_owned()
            }
            None => String::new(),
        }
    }
}

/// A freed cell of either list type of the tree: nodes own lists of entries and entries own
/// nodes, so dismantling one kind queues cells of the other.
enum Doomed {
    Nodes(Cell<Node>),
    Entries(Cell<Entry>),
}

impl Dismantle for Doomed {
    fn dismantle(self, work: &mut Vec<Self>) -> Option<Self> {
        match self {
            Doomed::Nodes(cell) => unlink(cell, work),
            Doomed::Entries(cell) => unlink(cell, work),
        }
    }
}

impl Reclaim for Node {
    type Doomed = Doomed;

    fn doom(cell: Cell<Self>) -> Doomed {
        Doomed::Nodes(cell)
    }

    fn release(&mut self, work: &mut Vec<Doomed>) {
        match self {
            Node::Null | Node::Bool(_) | Node::Number(_) | Node::String(_) => {}
            Node::Array(items) => items.release(work),
            Node::Object(entries) => entries.release(work),
        }
    }
}

impl Reclaim for Entry {
    type Doomed = Doomed;

    fn doom(cell: Cell<Self>) -> Doomed {
        Doomed::Entries(cell)
    }

    fn release(&mut self, work: &mut Vec<Doomed>) {
        self.value.release(work);
    }
}

/// A container being materialised: its children still to do (newest first, so `pop` yields
/// them in document order) and the values done so far.
enum Build<'a> {
    Array {
        todo: Vec<&'a Node>,
        done: Vec<Value>,
    },
    Object {
        todo: Vec<&'a Entry>,
        done: Map,
        key: Option<&'a str>,
    },
}

impl<'a> Build<'a> {
    fn next_child(&mut self) -> Option<&'a Node> {
        match self {
            Build::Array { todo, .. } => todo.pop(),
            Build::Object { todo, key, .. } => {
                let entry = todo.pop()?;
                *key = Some(&entry.key);
                Some(&entry.value)
            }
        }
    }

    fn accept(&mut self, value: Value) {
        match self {
            Build::Array { done, .. } => done.push(value),
            Build::Object { done, key, .. } => {
                if let Some(key) = key.take() {
                    // A repeated key keeps its first position and takes the later value.
                    done.insert(key.to_owned(), value);
                }
            }
        }
    }

    fn finish(self) -> Value {
        match self {
            Build::Array { done, .. } => Value::Array(done),
            Build::Object { done, .. } => Value::Object(done),
        }
    }
}

fn materialise(root: &Node) -> Value {
    let mut open: Vec<Build<'_>> = Vec::new();
    let mut next = Some(root);
    let mut finished: Option<Value> = None;
    loop {
        if let Some(node) = next.take() {
            finished = match node {
                Node::Null => Some(Value::Null),
                Node::Bool(b) => Some(Value::Bool(*b)),
                Node::Number(text) => Some(Value::Number(text.concat().into_boxed_str())),
                Node::String(text) => Some(Value::String(text.concat())),
                Node::Array(items) => {
                    let todo: Vec<&Node> = items.iter().collect();
                    let done = Vec::with_capacity(todo.len());
                    open.push(Build::Array { todo, done });
                    None
                }
                Node::Object(entries) => {
                    let todo: Vec<&Entry> = entries.iter().collect();
                    let done = Map::with_capacity(todo.len());
                    open.push(Build::Object {
                        todo,
                        done,
                        key: None,
                    });
                    None
                }
            };
        }
        let Some(top) = open.last_mut() else {
            return finished.unwrap_or_default();
        };
        if let Some(value) = finished.take() {
            top.accept(value);
        }
        match top.next_child() {
            Some(child) => next = Some(child),
            None => finished = open.pop().map(Build::finish),
        }
    }
}

fn skip_whitespace(input: &[u8], pos: usize) -> usize {
    let rest = input.get(pos..).unwrap_or_default();
    pos + rest
        .iter()
        .position(|&b| !is_json_whitespace(b))
        .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::time::Instant;

    /// Compact JSON with keys in order; numbers as their source text; only `"`, `\` and
    /// control characters escaped, so expected values read like the input.
    fn render(value: &Value) -> String {
        let mut out = String::new();
        render_into(value, &mut out);
        out
    }

    fn render_into(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(text) | Value::Raw(text) => out.push_str(text),
            Value::String(s) => render_str(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render_into(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render_str(k, out);
                    out.push(':');
                    render_into(v, out);
                }
                out.push('}');
            }
        }
    }

    fn render_str(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn one_shot(input: &[u8]) -> PartialJson {
        let mut parser = PartialJson::new(128);
        parser.feed(input);
        parser
    }

    fn parsed(input: &[u8]) -> Option<String> {
        one_shot(input).snapshot().to_value().as_ref().map(render)
    }

    fn check_table(table: &[(&[u8], Option<&str>)]) {
        for &(input, expected) in table {
            let got = parsed(input);
            assert_eq!(
                got.as_deref(),
                expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
            // Byte by byte must agree with one shot on every row.
            let mut parser = PartialJson::new(128);
            for byte in input {
                parser.feed(std::slice::from_ref(byte));
            }
            let split = parser.snapshot().to_value().as_ref().map(render);
            assert_eq!(split.as_deref(), expected, "bytewise {input:?}");
        }
    }

    // Every expected value below is what jiter 0.19 returned for the same bytes with
    // `from_json(input, partial_mode="trailing-strings", allow_inf_nan=False)`, rendered as
    // JSON (jiter's 100000.0 for `1e5` is shown as the source text we keep); None where jiter
    // raised. Rows where this parser deliberately differs are in `stricter_than_jiter`.

    #[test]
    fn empty_and_whitespace_have_no_value() {
        check_table(&[
            (b"", None),
            (b" ", None),
            (b"  \n", None),
            (b"\t\r\n ", None),
        ]);
    }

    #[test]
    fn numbers_complete_so_far_are_kept_and_unfinished_ones_dropped() {
        check_table(&[
            (b"[1, 2", Some("[1,2]")),
            (b"{\"a\": 12", Some("{\"a\":12}")),
            (b"[1, 2,", Some("[1,2]")),
            (b"[1, 2 ", Some("[1,2]")),
            (b"{\"a\": 12 ", Some("{\"a\":12}")),
            (b"{\"a\": 12,", Some("{\"a\":12}")),
            (b"12", Some("12")),
            (b"12 ", Some("12")),
            (b"-0", Some("-0")),
            (b"1.5", Some("1.5")),
            (b"-", None),
            (b"1.", None),
            (b"[-", Some("[]")),
            (b"[1.", Some("[]")),
            (b"[1e", Some("[]")),
            (b"[1E+", Some("[]")),
            (b"{\"a\": -", Some("{}")),
            (b"{\"a\": 1.", Some("{}")),
            (b"{\"a\": 1e", Some("{}")),
            (b"{\"a\": 1e+", Some("{}")),
            (b"[1e5", Some("[1e5]")),
            (b"[1e-5", Some("[1e-5]")),
            (b"[1.5", Some("[1.5]")),
            (b"[1.5e3", Some("[1.5e3]")),
            (b"[-0.0e-0", Some("[-0.0e-0]")),
            (b"[0", Some("[0]")),
            (b"{\"x\": 5.", Some("{}")),
            (b"{\"x\": 5.1", Some("{\"x\":5.1}")),
            (
                b"[123456789012345678901234567890",
                Some("[123456789012345678901234567890]"),
            ),
            (b"[1, 2, 3]", Some("[1,2,3]")),
            (b"[1 , 2 ", Some("[1,2]")),
        ]);
    }

    #[test]
    fn unfinished_literals_are_dropped() {
        check_table(&[
            (b"[tru", Some("[]")),
            (b"tru", None),
            (b"nul", None),
            (b"n", None),
            (b"[true", Some("[true]")),
            (b"[true ", Some("[true]")),
            (b"true", Some("true")),
            (b"null", Some("null")),
            (b"[nul", Some("[]")),
            (b"{\"a\": tru", Some("{}")),
            (b"{\"a\": true", Some("{\"a\":true}")),
            (b"[1, tr", Some("[1]")),
            (b"[1, t", Some("[1]")),
            (b"[1, f", Some("[1]")),
            (b"[1, n", Some("[1]")),
            (b"[true, fals", Some("[true]")),
            (b"[false", Some("[false]")),
            (b"[true,", Some("[true]")),
            (b"{\"a\":null", Some("{\"a\":null}")),
            (b"{\"a\":nul", Some("{}")),
            (b"{\"a\":n", Some("{}")),
        ]);
    }

    #[test]
    fn unfinished_keys_and_keys_without_values_are_dropped() {
        check_table(&[
            (b"{", Some("{}")),
            (b"{  ", Some("{}")),
            (b"{\"", Some("{}")),
            (b"{\"a", Some("{}")),
            (b"{\"a\"", Some("{}")),
            (b"{\"a\"  ", Some("{}")),
            (b"{\"a\":", Some("{}")),
            (b"{\"a\"  :  ", Some("{}")),
            (b"\t{\"a\"", Some("{}")),
            (b"{\"ab\\", Some("{}")),
            (b"{\"\\u00", Some("{}")),
            (b"{\"caf\xc3", Some("{}")),
            (b"{\"\":", Some("{}")),
            (b"{\"\":1", Some("{\"\":1}")),
            (b"{\"a\\u0000\":1", Some("{\"a\\u0000\":1}")),
            (b"{\"a\": \"x", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\"", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\",", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\", \"b", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\", \"b\"", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\", \"b\":", Some("{\"a\":\"x\"}")),
            (b"{\"a\": \"x\", \"b\": ", Some("{\"a\":\"x\"}")),
            (b"{\"a\":\"b\",\"c", Some("{\"a\":\"b\"}")),
            (b"{\"a\":\"b\"  ", Some("{\"a\":\"b\"}")),
        ]);
    }

    #[test]
    fn unfinished_containers_are_closed() {
        check_table(&[
            (b"[", Some("[]")),
            (b"[  ", Some("[]")),
            (b" [1", Some("[1]")),
            (b"[[", Some("[[]]")),
            (b"[{", Some("[{}]")),
            (b"[{\"a", Some("[{}]")),
            (b"[\"a\",", Some("[\"a\"]")),
            (b"[\"a\"", Some("[\"a\"]")),
            (b"[\"a\"  ", Some("[\"a\"]")),
            (b"{\"a\": [", Some("{\"a\":[]}")),
            (b"{\"a\": {", Some("{\"a\":{}}")),
            (b"{\"a\": {\"b", Some("{\"a\":{}}")),
            (b"{\"a\": {\"b\"", Some("{\"a\":{}}")),
            (b"{\"a\": {\"b\":", Some("{\"a\":{}}")),
            (b"[{\"a\":[{\"b\":[", Some("[{\"a\":[{\"b\":[]}]}]")),
            (
                b"{\"a\": [1, {\"b\": \"c",
                Some("{\"a\":[1,{\"b\":\"c\"}]}"),
            ),
            (b"[]", Some("[]")),
            (b"[] ", Some("[]")),
            (b"[1]   ", Some("[1]")),
            (b"{}", Some("{}")),
        ]);
    }

    #[test]
    fn unfinished_strings_keep_their_text_without_cut_sequences() {
        check_table(&[
            (b"\"abc", Some("\"abc\"")),
            (b"\"", Some("\"\"")),
            (b"\"ab\\", Some("\"ab\"")),
            (b"\"ab\\u00", Some("\"ab\"")),
            (b"\"\\u", Some("\"\"")),
            (b"\"\\u0", Some("\"\"")),
            (b"\"\\u00e", Some("\"\"")),
            (b"\"ab\\u00e9", Some("\"ab\u{e9}\"")),
            (b"\"ab\\ud83d", Some("\"ab\"")),
            (b"\"ab\\ud83d\\", Some("\"ab\"")),
            (b"\"ab\\ud83d\\u", Some("\"ab\"")),
            (b"\"ab\\ud83d\\ude0", Some("\"ab\"")),
            (b"\"\\uD83D\\uDE0", Some("\"\"")),
            (b"\"ab\\ud83d\\ude00", Some("\"ab\u{1f600}\"")),
            (b"\"\\uD83D\\uDE00\"", Some("\"\u{1f600}\"")),
            (b"\"x\\ud83d\\ude00y", Some("\"x\u{1f600}y\"")),
            (b"[\"ab\\ud83d", Some("[\"ab\"]")),
            (b"\"caf\xc3", Some("\"caf\"")),
            (b"\"\xc3", Some("\"\"")),
            (b"\"caf\xc3\xa9", Some("\"caf\u{e9}\"")),
            (b"[\"caf\xc3", Some("[\"caf\"]")),
            (b"\"\\u0000", Some("\"\\u0000\"")),
            (b"\"\x7f", Some("\"\u{7f}\"")),
            (
                b"\"a\\/b\\b\\f\\n\\r\\t\\\"\\\\",
                Some("\"a/b\\u0008\\u000c\\u000a\\u000d\\u0009\\\"\\\\\""),
            ),
        ]);
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_complete_value() {
        check_table(&[
            (b"{\"a\":1,\"b\":2,\"a\":3}", Some("{\"a\":3,\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\":\"x", Some("{\"a\":\"x\",\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\":", Some("{\"a\":1,\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\"", Some("{\"a\":1,\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\":tr", Some("{\"a\":1,\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\":[", Some("{\"a\":[],\"b\":2}")),
            (b"{\"a\":1,\"b\":2,\"a\":{\"c", Some("{\"a\":{},\"b\":2}")),
        ]);
    }

    #[test]
    fn invalid_input_fails() {
        // jiter raised on every one of these.
        let table: &[(&[u8], Option<&str>)] = &[
            (b"[1,]", None),
            (b"{\"a\":1,}", None),
            (b"\"\\x", None),
            (b"\"\\ud800\"", None),
            (b"\"\\ud800x", None),
            (b"\"\\udc00", None),
            (b"\"\\ud83d\\n", None),
            (b"\"\\ud83d\\u0041", None),
            (b"\"\\ud83d\\ud83d", None),
            (b"[01", None),
            (b"[-x", None),
            (b"[1.e", None),
            (b"\"\t", None),
            (b"\"a\nb", None),
            (b"\"\xff", None),
            (b"\"\xed\xa0\x80\"", None),
            (b"\"\xed\xa0", None),
            (b"\"\xc3(", None),
            (b"\"\xf4\x90", None),
            (b"\"\xe0\x80", None),
            (b"\"\xc0", None),
            (b"\xef\xbb\xbf[1]", None),
            (b"[Infinity", None),
            (b"[NaN", None),
        ];
        check_table(table);
        for (input, _) in table {
            assert!(one_shot(input).failed(), "{input:?}");
        }
    }

    #[test]
    fn stricter_than_jiter() {
        // jiter returns the value before the stray bytes (shown in comments); none of these
        // can be the start of a JSON document, so the parser fails.
        check_table(&[
            (b"[1 2", None),             // jiter: [1]
            (b"[1 2]", None),            // jiter: [1]
            (b"1 2", None),              // jiter: 1
            (b"[]x", None),              // jiter: []
            (b"[1]]", None),             // jiter: [1]
            (b"{\"a\":1}}", None),       // jiter: {"a": 1}
            (b"{\"a\":1 \"b\":2", None), // jiter: {"a": 1}
            // A UTF-8 sequence cut by the closing quote: jiter drops it in partial mode only
            // (its non-partial mode rejects the same bytes).
            (b"[\"a\xc3\"]", None),  // jiter: ["a"]
            (b"\"\xe2\x80\"", None), // jiter: ""
        ]);
    }

    #[test]
    fn failed_parser_ignores_later_input() {
        let mut parser = one_shot(b"[1,]");
        assert!(parser.failed());
        parser.feed(b"[2]");
        assert!(parser.failed());
        assert!(parser.snapshot().to_value().is_none());
        assert!(!parser.snapshot().has_value());
    }

    #[test]
    fn depth_limit_counts_open_containers() {
        let mut at_limit = PartialJson::new(3);
        at_limit.feed(b"[[{\"a\":1}]]");
        assert!(!at_limit.failed());
        assert_eq!(
            at_limit
                .snapshot()
                .to_value()
                .as_ref()
                .map(render)
                .as_deref(),
            Some("[[{\"a\":1}]]")
        );
        let mut over = PartialJson::new(3);
        over.feed(b"[[{\"a\":[");
        assert!(over.failed());
        let mut scalar_only = PartialJson::new(0);
        scalar_only.feed(b"\"text\"");
        assert_eq!(
            scalar_only.snapshot().to_value(),
            Some(Value::String("text".into()))
        );
        scalar_only = PartialJson::new(0);
        scalar_only.feed(b"[");
        assert!(scalar_only.failed());
    }

    #[test]
    fn nesting_deeper_than_the_limit_fails_without_overflow() {
        let deep = "[".repeat(100_000);
        let mut parser = PartialJson::new(4096);
        parser.feed(deep.as_bytes());
        assert!(parser.failed());
        assert!(parser.snapshot().to_value().is_none());
    }

    #[test]
    fn very_deep_trees_snapshot_materialise_and_drop_without_recursion() {
        // A limit far above any real one proves nothing in here recurses per level: snapshot,
        // to_value and the drops of parser, snapshot and value all see 100k levels.
        let depth = 100_000;
        let mut parser = PartialJson::new(depth);
        let mut doc = "[{\"k\":".repeat(depth / 2);
        doc.push_str("\"leaf");
        parser.feed(doc.as_bytes());
        assert!(!parser.failed());
        let snapshot = parser.snapshot();
        let value = snapshot.to_value();
        // Walk down iteratively to check the shape without recursing.
        let mut node = value.as_ref();
        let mut levels = 0;
        while let Some(v) = node {
            node = match v {
                Value::Array(items) => items.first(),
                Value::Object(map) => map.get("k"),
                Value::String(s) => {
                    assert_eq!(s, "leaf");
                    None
                }
                other => panic!("unexpected {other:?}"),
            };
            levels += 1;
        }
        assert_eq!(levels, depth + 1);
        // `Value`'s own drop is recursive; take it apart level by level.
        let mut pending: Vec<Value> = value.into_iter().collect();
        while let Some(v) = pending.pop() {
            match v {
                Value::Array(items) => pending.extend(items),
                Value::Object(map) => pending.extend(map.into_values()),
                _ => {}
            }
        }
        drop(snapshot);
        parser.feed(b"\"");
        parser.feed("}]".repeat(depth / 2).as_bytes());
        assert!(!parser.failed());
        assert!(parser.snapshot().has_value());
        drop(parser);
    }

    /// xorshift64*: deterministic test randomness without a dependency.
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

    fn split_feed(input: &[u8], cuts: &[usize]) -> PartialJson {
        let mut parser = PartialJson::new(128);
        let mut start = 0;
        for &cut in cuts {
            parser.feed(&input[start..cut]);
            start = cut;
        }
        parser.feed(&input[start..]);
        parser
    }

    fn outcome(parser: &PartialJson) -> (bool, Option<Value>) {
        (parser.failed(), parser.snapshot().to_value())
    }

    const SPLIT_DOCS: &[&[u8]] = &[
        b"{\"location\": \"Paris, France\", \"unit\": \"celsius\", \"days\": [1, 2.5, -3e+2]}",
        b"[true, false, null, {\"a\": {\"b\": [\"\\u00e9\\ud83d\\ude00\\n\"]}}, 0, -0.0E-1]",
        b"  {\"caf\xc3\xa9\": \"\xe2\x82\xac \xf0\x9f\x98\x80 \\\"q\\\" \\\\ \\/\", \"\": []}  ",
        b"\"top \\ud83d\\ude00 level\"",
        b"123.456e789",
        b"{\"a\":1,\"a\":{\"b\":null},\"a\":[]}",
        b"[1, 2,, 3]",
        b"{\"a\" 1}",
        b"\"\\ud83d\\u0041\"",
    ];

    /// What a validator must answer like the full parser: (failed, too deep, complete).
    fn verdict(parser: &PartialJson) -> (bool, bool, bool) {
        (parser.failed(), parser.too_deep(), parser.complete())
    }

    #[test]
    fn the_validator_judges_every_prefix_as_the_full_parser_does() {
        let mut docs: Vec<&[u8]> = SPLIT_DOCS.to_vec();
        docs.extend_from_slice(&[
            b"[1,]",
            b"{\"a\":1,}",
            b"\"\\ud800x",
            b"[01",
            b"\"\xc3(",
            b"[1 2",
            b"{}}",
            b"[[[[[1]]]]]",
            b"{\"k\": {\"k\": {\"k\": {\"k\": 1}}}}",
            // What the validator's own loop takes (and the near misses it must hand on).
            b" { \"a\\\"b\" :\t\"x\\\\y\\/\" ,\r\n\"c\": [ \"\" , \"d\" ] } ",
            b"{\"a\":\"b\",\"a\":\"c\"}",
            b"[\"ab\xc3\xa9cd\", \"\\u00e9x\", \"\\q\"]",
            b"\"a\" , \"b\"",
            b"\"a\":1",
            b"{\"a\",1}",
            b"{\"a\"::1}",
            b"[\"a\":1]",
            b"{\"a\":\"b\" \"c\"}",
            b"[,1]",
            b"{,}",
            b"\"tab\there\"",
        ]);
        for doc in docs {
            for cut in 0..=doc.len() {
                let (head, tail) = doc.split_at(cut);
                for depth in [3, 128] {
                    let mut full = PartialJson::new(depth);
                    let mut shape = PartialJson::validator(depth);
                    full.feed(head);
                    shape.feed(head);
                    assert_eq!(
                        verdict(&shape),
                        verdict(&full),
                        "{doc:?} cut {cut} depth {depth}"
                    );
                    full.feed(tail);
                    shape.feed(tail);
                    assert_eq!(
                        verdict(&shape),
                        verdict(&full),
                        "{doc:?} whole depth {depth}"
                    );
                    assert!(!shape.snapshot().has_value());
                }
            }
        }
    }

    /// Fed in fragments of one to five bytes, as tool inputs arrive, the validator still
    /// judges every prefix as the full parser does.
    #[test]
    fn the_validator_judges_small_fragments_as_the_full_parser_does() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let docs: [&[u8]; 4] = [
            b"{\"title\":\"a \\\"quoted\\\" word\",\"sql\":[\"body\",\"x\\ny\"],\"n\":12,\"ok\":true}",
            b"{ \"k\" : [ 1 , \"v\" , { \"\" : null } ] , \"caf\xc3\xa9\" : \"\xe2\x82\xac\" }",
            b"{\"a\":\"b\"}}",
            b"{\"a\":\"b\\",
        ];
        for doc in docs {
            for _ in 0..50 {
                let mut full = PartialJson::new(128);
                let mut shape = PartialJson::validator(128);
                let mut start = 0;
                while start < doc.len() {
                    let end = (start + 1 + rng.below(5)).min(doc.len());
                    full.feed(&doc[start..end]);
                    shape.feed(&doc[start..end]);
                    assert_eq!(verdict(&shape), verdict(&full), "{doc:?} to {end}");
                    start = end;
                }
            }
        }
    }

    #[test]
    fn every_two_way_and_three_way_split_gives_the_one_shot_result() {
        for doc in SPLIT_DOCS {
            let whole = outcome(&one_shot(doc));
            for i in 0..=doc.len() {
                assert_eq!(outcome(&split_feed(doc, &[i])), whole, "{doc:?} at {i}");
                for j in i..=doc.len() {
                    assert_eq!(outcome(&split_feed(doc, &[i, j])), whole, "{doc:?} {i} {j}");
                }
            }
        }
    }

    #[test]
    fn snapshot_after_each_prefix_equals_a_fresh_parse_of_that_prefix() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for doc in SPLIT_DOCS {
            for _ in 0..20 {
                let mut parser = PartialJson::new(128);
                let mut start = 0;
                let mut kept = Vec::new();
                while start < doc.len() {
                    let end = (start + 1 + rng.below(4)).min(doc.len());
                    parser.feed(&doc[start..end]);
                    start = end;
                    let fresh = one_shot(&doc[..end]);
                    assert_eq!(outcome(&parser), outcome(&fresh), "{doc:?} prefix {end}");
                    // Old snapshots must not change when the parser moves on.
                    kept.push((parser.snapshot(), fresh.snapshot().to_value()));
                }
                for (snapshot, expected) in &kept {
                    assert_eq!(&snapshot.to_value(), expected);
                }
            }
        }
    }

    #[test]
    fn snapshots_are_persistent_while_strings_grow_in_place() {
        let mut parser = PartialJson::new(8);
        parser.feed(b"{\"a\": [\"x");
        let first = parser.snapshot();
        parser.feed(b"y");
        let second = parser.snapshot();
        parser.feed(b"z\"");
        drop(second);
        parser.feed(b", 1");
        let render_of = |s: &PartialSnapshot| s.to_value().as_ref().map(render);
        assert_eq!(render_of(&first).as_deref(), Some("{\"a\":[\"x\"]}"));
        assert_eq!(
            render_of(&parser.snapshot()).as_deref(),
            Some("{\"a\":[\"xyz\",1]}")
        );
        let cloned = parser.clone();
        parser.feed(b"0]}");
        assert_eq!(
            render_of(&cloned.snapshot()).as_deref(),
            Some("{\"a\":[\"xyz\",1]}")
        );
        assert_eq!(
            render_of(&parser.snapshot()).as_deref(),
            Some("{\"a\":[\"xyz\",10]}")
        );
    }

    type TailText = (Option<(u64, usize)>, Option<String>);

    /// The tail string's text and place (innermost open container's id and count) after each
    /// byte of `doc`.
    fn tail_texts(doc: &[u8]) -> Vec<TailText> {
        let mut parser = PartialJson::new(8);
        let mut seen = Vec::new();
        for byte in doc {
            parser.feed(std::slice::from_ref(byte));
            assert!(!parser.failed(), "{}", String::from_utf8_lossy(doc));
            let snap = parser.snapshot();
            let place = snap.open_levels().last().map(|l| (l.id(), l.len()));
            seen.push((place, snap.with_tail_str(str::to_owned)));
        }
        seen
    }

    #[test]
    fn a_tail_string_only_grows_at_its_end_one_byte_at_a_time() {
        // Escapes (short, \u, a surrogate pair), 2-, 3- and 4-byte UTF-8, each cut at every
        // byte: the text at one place is always a prefix of its text one byte later, and equals
        // the materialised tail value.
        let strings = "\"a\\n\\u00e9\\ud83d\\ude00 \u{e9}\u{20ac}\u{1f600}\\\"z\"";
        for doc in [
            strings.to_owned(),
            format!("[1, {strings}, {strings}]"),
            format!("{{\"k\": {strings}, \"k\": [{strings}]}}"),
        ] {
            let seen = tail_texts(doc.as_bytes());
            for pair in seen.windows(2) {
                if let [(place, Some(before)), (later, Some(after))] = pair {
                    if place == later {
                        assert!(
                            after.starts_with(before.as_str()),
                            "{before:?} -> {after:?}"
                        );
                    }
                }
            }
            let texts: Vec<&str> = seen.iter().filter_map(|(_, t)| t.as_deref()).collect();
            assert!(texts.contains(&"a\n\u{e9}\u{1f600} \u{e9}\u{20ac}\u{1f600}\"z"));
            // The cut sequences are held back: no text ends in a lone backslash escape or a
            // surrogate's first half.
            assert!(!texts
                .iter()
                .any(|t| t.ends_with('\\') || t.contains('\u{fffd}')));
        }
        let mut parser = PartialJson::new(8);
        parser.feed(b"[\"ab\\u00");
        let snap = parser.snapshot();
        assert_eq!(snap.with_tail_str(str::to_owned).as_deref(), Some("ab"));
        parser.feed(b"e9\\ud83d");
        let snap = parser.snapshot();
        assert_eq!(
            snap.with_tail_str(str::to_owned).as_deref(),
            Some("ab\u{e9}")
        );
        parser.feed(b"\\ude00\xf0\x9f");
        let snap = parser.snapshot();
        assert_eq!(
            snap.with_tail_str(str::to_owned).as_deref(),
            Some("ab\u{e9}\u{1f600}")
        );
        parser.feed(b"\x98\x80\"");
        assert_eq!(parser.snapshot().with_tail_str(str::to_owned), None);
        parser.feed(b", 12");
        assert_eq!(parser.snapshot().with_tail_str(str::to_owned), None);
    }

    #[test]
    fn a_cloned_parser_writing_the_same_string_does_not_disturb_the_original() {
        let mut parser = PartialJson::new(8);
        parser.feed(b"[\"ab");
        let early = parser.snapshot();
        let mut twin = parser.clone();
        twin.feed(b"XY");
        parser.feed(b"cd");
        twin.feed(b"Z");
        let text = |p: &PartialJson| p.snapshot().to_value().as_ref().map(render);
        assert_eq!(text(&parser).as_deref(), Some("[\"abcd\"]"));
        assert_eq!(text(&twin).as_deref(), Some("[\"abXYZ\"]"));
        assert_eq!(
            early.to_value().as_ref().map(render).as_deref(),
            Some("[\"ab\"]")
        );
    }

    #[test]
    fn open_levels_give_ids_counts_keys_and_new_children() {
        let mut parser = PartialJson::new(8);
        parser.feed(b"{\"a\": [1, {\"b\": 2}, [3], \"x");
        let snap = parser.snapshot();
        let levels: Vec<OpenLevel<'_>> = snap.open_levels().collect();
        assert_eq!(levels.len(), 2);
        let (outer, inner) = (levels[0], levels[1]);
        assert!(outer.is_object() && !inner.is_object());
        assert_ne!(outer.id(), inner.id());
        assert_eq!((outer.len(), outer.pending_key()), (0, Some("a")));
        assert_eq!((inner.len(), inner.pending_key()), (3, None));
        let rendered = |children: Vec<(Option<&str>, Value)>| -> Vec<String> {
            children.iter().map(|(_, v)| render(v)).collect()
        };
        assert_eq!(rendered(inner.children_from(0)), ["1", "{\"b\":2}", "[3]"]);
        assert_eq!(rendered(inner.children_from(2)), ["[3]"]);
        assert!(inner.children_from(3).is_empty() && inner.children_from(9).is_empty());
        assert_eq!(snap.tail_value(), Some(Value::String("x".into())));

        // The same container keeps its id and grows; a new one at the same depth gets a new id.
        parser.feed(b"\"], \"c\": {\"d\": 1, \"d\": [");
        let later = parser.snapshot();
        let ids: Vec<u64> = later.open_levels().map(OpenLevel::id).collect();
        assert_eq!(ids.first(), Some(&outer.id()));
        assert!(!ids.contains(&inner.id()) && ids.len() == 3);
        let entries: Vec<(Option<&str>, String)> = later
            .open_levels()
            .nth(1)
            .map(|level| level.children_from(0))
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| (*k, render(v)))
            .collect();
        assert_eq!(entries, [(Some("d"), "1".to_owned())]);
        assert_eq!(later.tail_value(), None);
        assert!(Arc::ptr_eq(snap.reader_memo(), later.reader_memo()));
        // A clone diverges from here: its ids would collide with the original's new ones.
        let twin = parser.clone();
        assert!(!Arc::ptr_eq(
            twin.snapshot().reader_memo(),
            later.reader_memo()
        ));
    }

    #[test]
    fn types_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<PartialJson>();
        assert_send_sync::<PartialSnapshot>();
    }

    fn big_arguments() -> Vec<u8> {
        let mut doc = String::from("{\"path\": \"/tmp/x\", \"content\": \"");
        let mut i = 0u32;
        while doc.len() < 200_000 {
            let _ = write!(
                doc,
                "line {i} caf\u{e9} \\n\\\"q\\\" \\u00e9\\ud83d\\ude00 "
            );
            i += 1;
        }
        doc.push_str("\", \"numbers\": [");
        for n in 0..2000 {
            let _ = write!(doc, "{n}.5e-3, ");
        }
        doc.push_str("0], \"flag\": true}");
        doc.into_bytes()
    }

    fn fragments(doc: &[u8], seed: u64) -> Vec<&[u8]> {
        let mut rng = Rng(seed);
        let mut out = Vec::new();
        let mut start = 0;
        while start < doc.len() {
            let end = (start + 1 + rng.below(8)).min(doc.len());
            out.push(&doc[start..end]);
            start = end;
        }
        out
    }

    #[test]
    fn big_argument_in_tiny_fragments_with_a_snapshot_after_each() {
        let doc = big_arguments();
        let pieces = fragments(&doc, 7);

        let started = Instant::now();
        let mut plain = PartialJson::new(128);
        for piece in &pieces {
            plain.feed(piece);
        }
        let feed_only = started.elapsed();

        let started = Instant::now();
        let mut watched = PartialJson::new(128);
        let mut has_value = 0usize;
        for piece in &pieces {
            watched.feed(piece);
            has_value += usize::from(watched.snapshot().has_value());
        }
        let with_snapshots = started.elapsed();

        // Snapshots kept alive: each holds a prefix of the same growing buffer.
        let started = Instant::now();
        let mut hoarded = PartialJson::new(128);
        let mut kept = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            hoarded.feed(piece);
            kept.push(hoarded.snapshot());
        }
        let keeping_snapshots = started.elapsed();

        let started = Instant::now();
        let value = watched.snapshot().to_value();
        let materialise = started.elapsed();
        let started = Instant::now();
        drop(kept);
        let drop_kept = started.elapsed();

        println!(
            "{} bytes in {} fragments: feed only {feed_only:?}, feed+snapshot {with_snapshots:?}, \
             feed+snapshot kept {keeping_snapshots:?} (drop {drop_kept:?}), to_value {materialise:?}",
            doc.len(),
            pieces.len()
        );
        assert!(!watched.failed());
        assert_eq!(has_value, pieces.len());
        assert_eq!(outcome(&watched), outcome(&one_shot(&doc)));
        assert_eq!(outcome(&hoarded), outcome(&plain));
        let Some(Value::Object(map)) = value else {
            panic!("expected an object")
        };
        let content = map.get("content").and_then(Value::as_str).unwrap_or("");
        assert!(content.starts_with("line 0 caf\u{e9} \n\"q\" \u{e9}\u{1f600} line 1"));
        assert_eq!(map.get("flag"), Some(&Value::Bool(true)));
        match map.get("numbers") {
            Some(Value::Array(numbers)) => {
                assert_eq!(numbers.len(), 2001);
                assert_eq!(numbers.get(1999), Some(&Value::Number("1999.5e-3".into())));
            }
            other => panic!("numbers: {other:?}"),
        }
    }

    #[test]
    fn long_text_pieces_drop_without_overflow() {
        // 300k one-byte pieces, each pinned by a snapshot while it was the newest.
        let mut parser = PartialJson::new(4);
        parser.feed(b"\"");
        let mut snapshots = Vec::new();
        for _ in 0..300_000 {
            parser.feed(b"a");
            snapshots.push(parser.snapshot());
        }
        drop(snapshots);
        let last = parser.snapshot();
        drop(parser);
        assert_eq!(
            last.to_value()
                .as_ref()
                .and_then(Value::as_str)
                .map(str::len),
            Some(300_000)
        );
    }
}
