//! A JSON reader over one payload, with byte positions.
//!
//! The chunk scanner drives it key by key, so values it folds into accumulators are never built
//! as a tree, and values it does not need are skipped without allocating. Strings without
//! escapes are borrowed from the payload. Numbers keep their text (see [`Value::Number`]).
//!
//! Accepts exactly RFC 8259 JSON, with the choices orjson makes where the RFC leaves room:
//! duplicate keys are allowed (the caller keeps the last), lone surrogate escapes are rejected,
//! and a number that overflows a double is rejected.

use std::borrow::Cow;
use std::mem;

use crate::json::number::{plain_len, Num};
use crate::json::value::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorCode {
    EofWhileParsing,
    ExpectedValue,
    ExpectedColon,
    ExpectedCommaOrEndOfObject,
    ExpectedCommaOrEndOfArray,
    KeyMustBeAString,
    InvalidNumber,
    NumberOutOfRange,
    InvalidEscape,
    LoneSurrogate,
    ControlCharacterInString,
    InvalidUtf8,
    TrailingCharacters,
    TooDeep,
}

impl JsonErrorCode {
    pub fn message(self) -> &'static str {
        match self {
            JsonErrorCode::EofWhileParsing => "unexpected end of data",
            JsonErrorCode::ExpectedValue => "expected a JSON value",
            JsonErrorCode::ExpectedColon => "expected ':' after an object key",
            JsonErrorCode::ExpectedCommaOrEndOfObject => "expected ',' or '}' in an object",
            JsonErrorCode::ExpectedCommaOrEndOfArray => "expected ',' or ']' in an array",
            JsonErrorCode::KeyMustBeAString => "expected an object key (a string)",
            JsonErrorCode::InvalidNumber => "invalid number",
            JsonErrorCode::NumberOutOfRange => "number out of range (overflows a double)",
            JsonErrorCode::InvalidEscape => "invalid escape in string",
            JsonErrorCode::LoneSurrogate => "lone surrogate in \\u escape",
            JsonErrorCode::ControlCharacterInString => "unescaped control character in string",
            JsonErrorCode::InvalidUtf8 => "invalid UTF-8 in payload",
            JsonErrorCode::TrailingCharacters => "extra data after the JSON value",
            JsonErrorCode::TooDeep => "nesting too deep",
        }
    }
}

/// A syntax error: what went wrong and the byte position in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    pub code: JsonErrorCode,
    pub pos: usize,
}

pub type JsonResult<T> = Result<T, JsonError>;

const PLAIN: u8 = 0;
const HIGH: u8 = 1;
const SPECIAL: u8 = 2;

/// Classes of bytes inside a string: `"`, `\\` and control characters end a plain run;
/// bytes from 0x80 need UTF-8 validation.
static STOP: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if i == b'"' as usize || i == b'\\' as usize || i < 0x20 {
            SPECIAL
        } else if i >= 0x80 {
            HIGH
        } else {
            PLAIN
        };
        i += 1;
    }
    table
};

/// JSON whitespace (RFC 8259): the one predicate the reader, partial JSON and repair share.
#[inline]
pub fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    /// `buf` is the text of a `str`, so its strings need no UTF-8 check.
    utf8: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], max_depth: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            max_depth,
            utf8: false,
        }
    }

    /// A reader of text already known to be UTF-8 (a kept [`Value::Raw`], which the reader
    /// validated once): its strings are not checked again. Everything else is.
    pub fn over_text(text: &'a str, max_depth: usize) -> Self {
        Reader {
            utf8: true,
            ..Reader::new(text.as_bytes(), max_depth)
        }
    }

    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn depth(&self) -> usize {
        self.depth
    }

    #[inline]
    fn err<T>(&self, code: JsonErrorCode) -> JsonResult<T> {
        Err(JsonError {
            code,
            pos: self.pos,
        })
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            if is_json_whitespace(b) {
                self.pos += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    #[inline]
    fn peek_or_eof(&mut self) -> JsonResult<u8> {
        match self.peek() {
            Some(b) => Ok(b),
            None => self.err(JsonErrorCode::EofWhileParsing),
        }
    }

    /// Continues inside the top-level object at `pos`, after a key and its colon: the bytes
    /// before `pos` are a prefix the caller already validated in an identical payload.
    pub fn resume_in_object(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
        self.depth = 1;
    }

    /// Moves to `pos` inside `depth` open containers (for reading a value at a known place
    /// in a payload shaped like one read before).
    pub fn resume_at_depth(&mut self, pos: usize, depth: usize) {
        self.pos = pos.min(self.buf.len());
        self.depth = depth;
    }

    /// Moves to `pos`, keeping the depth (for reading single tokens at known places).
    pub fn resume_at(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// After the top-level value: only whitespace may follow.
    pub fn end(&mut self) -> JsonResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err(JsonErrorCode::TrailingCharacters),
        }
    }

    fn enter(&mut self) -> JsonResult<()> {
        if self.depth >= self.max_depth {
            return self.err(JsonErrorCode::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes `{` if the next value is an object. Returns false (consuming nothing) otherwise.
    pub fn begin_object(&mut self) -> JsonResult<bool> {
        if self.peek_or_eof()? == b'{' {
            self.enter()?;
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes `[` if the next value is an array. Returns false (consuming nothing) otherwise.
    pub fn begin_array(&mut self) -> JsonResult<bool> {
        if self.peek_or_eof()? == b'[' {
            self.enter()?;
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Next key of an object opened by [`Self::begin_object`], or `None` after consuming the `}`.
    /// `first` tracks whether a comma is due; start it at true.
    pub fn next_key(&mut self, first: &mut bool) -> JsonResult<Option<Cow<'a, str>>> {
        if !self.key_start(first)? {
            return Ok(None);
        }
        let key = match self.take_short_string() {
            Some(text) => Cow::Borrowed(text),
            None => self.read_string_raw()?,
        };
        self.colon()?;
        Ok(Some(key))
    }

    /// The string at `pos` (which is a `"`) when it is short plain ASCII (see
    /// [`short_ascii_string`]), consumed; `None`, consuming nothing, for any other. Keys are
    /// such strings nearly always, values much less often: only keys are read this way
    /// first (for a long value the test costs more than it saves).
    #[inline(always)]
    fn take_short_string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let rest = self.buf.get(start..)?;
        let i = short_ascii_string(rest)?;
        let text = rest.get(..i)?;
        self.pos = start + i + 1;
        // SAFETY: `short_ascii_string` admits only ASCII bytes to the text, and ASCII is
        // valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(text) })
    }

    /// Steps to the opening quote of the next key (past a comma when one is due): true there,
    /// false after consuming the `}`. The key itself is the caller's to read.
    #[inline]
    fn key_start(&mut self, first: &mut bool) -> JsonResult<bool> {
        let b = self.peek_or_eof()?;
        if b == b'}' {
            self.pos += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if !*first {
            if b != b',' {
                return self.err(JsonErrorCode::ExpectedCommaOrEndOfObject);
            }
            self.pos += 1;
            if self.peek_or_eof()? != b'"' {
                return self.err(JsonErrorCode::KeyMustBeAString);
            }
        } else if b != b'"' {
            return self.err(JsonErrorCode::KeyMustBeAString);
        }
        *first = false;
        Ok(true)
    }

    /// Consumes the next member of an object opened by [`Self::begin_object`] (past the comma
    /// when one is due) when its bytes, from the key's opening quote to the value's last byte,
    /// are `member` and a delimiter follows them; consumes nothing otherwise. For a member
    /// that usually repeats one already validated: `member` must have been validated as a
    /// member of an object at this depth under the same limits, so that equal bytes are valid
    /// here too (the delimiter keeps a number from matching the start of a longer one).
    pub fn skip_member_if(&mut self, first: &mut bool, member: &[u8]) -> bool {
        let before = self.pos;
        let Some(b) = self.peek() else {
            self.pos = before;
            return false;
        };
        let mut at = self.pos;
        if !*first {
            if b != b',' {
                self.pos = before;
                return false;
            }
            at += 1;
            while self.buf.get(at).is_some_and(|&c| is_json_whitespace(c)) {
                at += 1;
            }
        }
        let end = at + member.len();
        let equal = !member.is_empty()
            && self.buf.get(at..end) == Some(member)
            && matches!(
                self.buf.get(end),
                Some(b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            );
        if equal {
            self.pos = end;
            *first = false;
        } else {
            self.pos = before;
        }
        equal
    }

    /// Consumes the `:` after a key.
    #[inline]
    fn colon(&mut self) -> JsonResult<()> {
        if self.peek_or_eof()? != b':' {
            return self.err(JsonErrorCode::ExpectedColon);
        }
        self.pos += 1;
        Ok(())
    }

    /// True if another element follows in an array opened by [`Self::begin_array`]; false after
    /// consuming the `]`.
    pub fn next_element(&mut self, first: &mut bool) -> JsonResult<bool> {
        let b = self.peek_or_eof()?;
        if b == b']' {
            self.pos += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if !*first {
            if b != b',' {
                return self.err(JsonErrorCode::ExpectedCommaOrEndOfArray);
            }
            self.pos += 1;
        }
        *first = false;
        Ok(true)
    }

    /// Consumes `null` if it is next.
    pub fn take_null(&mut self) -> JsonResult<bool> {
        if self.peek_or_eof()? == b'n' {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> JsonResult<()> {
        let end = self.pos + word.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s == word => {
                self.pos = end;
                Ok(())
            }
            _ => {
                // Point at the first byte that differs, as other parsers do.
                let mut p = self.pos;
                for &w in word {
                    match self.buf.get(p) {
                        Some(&b) if b == w => p += 1,
                        Some(_) => {
                            return Err(JsonError {
                                code: JsonErrorCode::ExpectedValue,
                                pos: self.pos,
                            })
                        }
                        None => {
                            return Err(JsonError {
                                code: JsonErrorCode::EofWhileParsing,
                                pos: p,
                            })
                        }
                    }
                }
                self.err(JsonErrorCode::ExpectedValue)
            }
        }
    }

    /// Reads a string value if one is next; `None` (consuming nothing) otherwise.
    #[inline]
    pub fn take_string(&mut self) -> JsonResult<Option<Cow<'a, str>>> {
        if self.peek_or_eof()? == b'"' {
            self.read_string_raw().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a string value if one is next, with the checks and errors of
    /// [`Self::take_string`], and says whether its text is `expected`, without building it
    /// (for a value that usually repeats a text already held).
    pub fn take_string_matching(&mut self, expected: &str) -> JsonResult<Option<bool>> {
        if self.peek_or_eof()? != b'"' {
            return Ok(None);
        }
        let start = self.pos + 1;
        let end = start + expected.len();
        // The literal is the text's own bytes and the text needs no escape: the literal is
        // valid (the text is UTF-8 without quotes, backslashes or control bytes) and is the text.
        if self.buf.get(start..end) == Some(expected.as_bytes())
            && self.buf.get(end) == Some(&b'"')
            && string_stop(expected.as_bytes()) == expected.len()
        {
            self.pos = end + 1;
            return Ok(Some(true));
        }
        match self.scan_string()? {
            Ok(text) => Ok(Some(text == expected)),
            Err((start, first_escape)) => {
                let mut rest = Matching {
                    rest: expected.as_bytes(),
                    equal: true,
                };
                self.decode_escaped(start, first_escape, &mut rest)?;
                Ok(Some(rest.equal && rest.rest.is_empty()))
            }
        }
    }

    /// Consumes `true` or `false` if one is next.
    pub fn take_bool(&mut self) -> JsonResult<Option<bool>> {
        match self.peek_or_eof()? {
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            _ => Ok(None),
        }
    }

    /// Validates and skips any value, returning its text (what [`Value::Raw`] holds).
    pub fn raw_value(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        self.skip_value()?;
        let bytes = self.buf.get(start..self.pos).unwrap_or_default();
        // SAFETY: `skip_value` accepted these bytes as one JSON value: every string in it was
        // checked as UTF-8 (`read_string_raw`), and the grammar admits only ASCII outside
        // strings, so the whole span is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    /// Reads a number if one is next, returning its text.
    pub fn take_number(&mut self) -> JsonResult<Option<&'a str>> {
        match self.peek_or_eof()? {
            b'-' | b'0'..=b'9' => self.read_number().map(Some),
            _ => Ok(None),
        }
    }

    /// Reads the string at `pos` (which is a `"`).
    fn read_string_raw(&mut self) -> JsonResult<Cow<'a, str>> {
        let start = self.pos + 1;
        let rest = self.buf.get(start..).unwrap_or_default();
        let (i, ascii) = plain_run(rest);
        match rest.get(i) {
            Some(b'"') => {
                let text = self.run_text(start, &rest[..i], ascii)?;
                self.pos = start + i + 1;
                Ok(Cow::Borrowed(text))
            }
            Some(b'\\') => {
                self.run_text(start, &rest[..i], ascii)?;
                self.read_escaped(start, i)
            }
            _ => self.run_stopped(start, rest, i, ascii),
        }
    }

    /// Scans the string at `pos` (which is a `"`) as [`Self::read_string_raw`] does: an
    /// escape-free string is validated, consumed and returned; at the first escape,
    /// `Err((start, offset))` gives where the string's text starts and the escape's offset
    /// from there, the text before it validated and `pos` unchanged, for
    /// [`Self::decode_escaped`] to go on from.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn scan_string(&mut self) -> JsonResult<Result<&'a str, (usize, usize)>> {
        let start = self.pos + 1;
        let rest = self.buf.get(start..).unwrap_or_default();
        let (i, ascii) = plain_run(rest);
        match rest.get(i) {
            Some(b'"') => {
                let text = self.run_text(start, &rest[..i], ascii)?;
                self.pos = start + i + 1;
                Ok(Ok(text))
            }
            Some(b'\\') => {
                self.run_text(start, &rest[..i], ascii)?;
                Ok(Err((start, i)))
            }
            _ => self.run_stopped(start, rest, i, ascii),
        }
    }

    /// The text of a plain run found by [`plain_run`] at `start`; `ascii` skips the UTF-8
    /// check. An invalid byte sequence is an error at its first byte.
    #[inline(always)]
    fn run_text(&mut self, start: usize, span: &'a [u8], ascii: bool) -> JsonResult<&'a str> {
        if ascii || self.utf8 {
            // SAFETY: either every byte of the span is below 0x80, and ASCII is valid UTF-8;
            // or `buf` is a `str`'s bytes (`over_text`) and the span starts after a quote or
            // an escape and ends before a quote, a backslash, a control byte or the end: it
            // is cut at ASCII bytes or at the end, so on character boundaries of valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(span) });
        }
        match std::str::from_utf8(span) {
            Ok(t) => Ok(t),
            Err(e) => {
                self.pos = start + e.valid_up_to();
                self.err(JsonErrorCode::InvalidUtf8)
            }
        }
    }

    /// The error for a plain run at `start` stopped by neither `"` nor `\\` at `i`: a control
    /// character (after the run's own UTF-8 check), or the end of the input.
    #[cold]
    fn run_stopped<T>(
        &mut self,
        start: usize,
        rest: &'a [u8],
        i: usize,
        ascii: bool,
    ) -> JsonResult<T> {
        if i < rest.len() {
            self.run_text(start, &rest[..i], ascii)?;
            self.pos = start + i;
            self.err(JsonErrorCode::ControlCharacterInString)
        } else {
            self.pos = self.buf.len();
            self.err(JsonErrorCode::EofWhileParsing)
        }
    }

    /// Slow path: the string has escapes. `first_special` is the offset of the first `\`.
    /// The string is decoded into a buffer of its own, which becomes the returned `String`: one
    /// allocation per escaped string (escaped keys included).
    fn read_escaped(&mut self, start: usize, first_special: usize) -> JsonResult<Cow<'a, str>> {
        let mut out = Vec::new();
        self.decode_escaped(start, first_special, &mut out)?;
        // SAFETY: `out` is a concatenation of runs that `run_text` accepted as UTF-8 (each
        // cut at ASCII bytes) and of decoded escapes: ASCII bytes, or a `char` encoded by
        // `char::encode_utf8`. A concatenation of valid UTF-8 strings is valid UTF-8.
        Ok(Cow::Owned(unsafe { String::from_utf8_unchecked(out) }))
    }

    /// Validates the rest of a string with escapes (see [`Self::read_escaped`]), writing its
    /// decoded text to `out`; leaves `pos` after the closing quote. The text before the first
    /// escape was validated by the caller.
    fn decode_escaped<O: Unescaped>(
        &mut self,
        start: usize,
        first_special: usize,
        out: &mut O,
    ) -> JsonResult<()> {
        let buf = self.buf;
        let mut p = start;
        let mut special = start + first_special;
        loop {
            out.extend(buf.get(p..special).unwrap_or_default());
            match buf.get(special) {
                Some(b'"') => {
                    self.pos = special + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos = special;
                    p = self.unescape(special + 1, out)?;
                }
                _ => {
                    let rest = buf.get(p..).unwrap_or_default();
                    return self.run_stopped(p, rest, special - p, true);
                }
            }
            // One pass finds the next stop and validates the text before it, as for the
            // text before the first escape.
            let rest = buf.get(p..).unwrap_or_default();
            let (i, ascii) = plain_run(rest);
            self.run_text(p, rest.get(..i).unwrap_or_default(), ascii)?;
            special = p + i;
        }
    }

    /// Decodes the escape whose letter is at `p`; returns the position after it.
    fn unescape<O: Unescaped>(&mut self, p: usize, out: &mut O) -> JsonResult<usize> {
        let Some(&c) = self.buf.get(p) else {
            self.pos = self.buf.len();
            return self.err(JsonErrorCode::EofWhileParsing);
        };
        if c == b'u' {
            return self.unescape_unicode(p + 1, out);
        }
        let Some(simple) = super::short_escape(c) else {
            self.pos = p;
            return self.err(JsonErrorCode::InvalidEscape);
        };
        out.push(simple);
        Ok(p + 1)
    }

    fn hex4(&mut self, p: usize) -> JsonResult<u16> {
        let Some(digits) = self.buf.get(p..p + 4) else {
            self.pos = self.buf.len();
            return self.err(JsonErrorCode::EofWhileParsing);
        };
        let mut n: u16 = 0;
        for (i, &d) in digits.iter().enumerate() {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => {
                    self.pos = p + i;
                    return self.err(JsonErrorCode::InvalidEscape);
                }
            };
            n = (n << 4) | u16::from(v);
        }
        Ok(n)
    }

    fn unescape_unicode<O: Unescaped>(&mut self, p: usize, out: &mut O) -> JsonResult<usize> {
        let hi = self.hex4(p)?;
        let (code, next) = if (0xD800..0xDC00).contains(&hi) {
            // A high surrogate must be followed by an escaped low surrogate.
            if self.buf.get(p + 4..p + 6) != Some(b"\\u") {
                self.pos = p + 4;
                return self.err(JsonErrorCode::LoneSurrogate);
            }
            let lo = self.hex4(p + 6)?;
            if !(0xDC00..0xE000).contains(&lo) {
                self.pos = p + 6;
                return self.err(JsonErrorCode::LoneSurrogate);
            }
            let code = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
            (code, p + 10)
        } else if (0xDC00..0xE000).contains(&hi) {
            self.pos = p;
            return self.err(JsonErrorCode::LoneSurrogate);
        } else {
            (u32::from(hi), p + 4)
        };
        if let Some(ch) = char::from_u32(code) {
            let mut tmp = [0u8; 4];
            out.extend(ch.encode_utf8(&mut tmp).as_bytes());
            Ok(next)
        } else {
            self.pos = p;
            self.err(JsonErrorCode::InvalidEscape)
        }
    }

    /// Reads a number per the JSON grammar; returns its text.
    fn read_number(&mut self) -> JsonResult<&'a str> {
        let buf = self.buf;
        let start = self.pos;
        if let Some(n) = plain_len(buf.get(start..).unwrap_or_default()) {
            let bytes = buf.get(start..start + n).unwrap_or_default();
            self.pos = start + n;
            // SAFETY: `plain_len` takes only ASCII digits, `-` and `.`.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        let (used, num) = Num::Start.scan(buf.get(start..).unwrap_or_default());
        let p = start + used;
        if !num.is_complete() {
            self.pos = p;
            return self.err(if p >= buf.len() {
                JsonErrorCode::EofWhileParsing
            } else {
                JsonErrorCode::InvalidNumber
            });
        }
        let bytes = buf.get(start..p).unwrap_or_default();
        // SAFETY: the number grammar (`Num`) admits only ASCII digits, signs, `.`, `e` and `E`.
        let text = unsafe { std::str::from_utf8_unchecked(bytes) };
        if number_overflows(text, num) {
            self.pos = start;
            return self.err(JsonErrorCode::NumberOutOfRange);
        }
        self.pos = p;
        Ok(text)
    }

    /// Reads any value into an owned tree. Iterative: the containers being filled live on a
    /// heap stack, so nesting costs no call-stack frames (see `limits::DEPTH_CEILING`).
    pub fn read_value(&mut self) -> JsonResult<Value> {
        let mut open: Vec<Filling> = Vec::new();
        loop {
            let mut value = match self.peek_or_eof()? {
                b'{' => {
                    self.enter()?;
                    self.pos += 1;
                    match self.next_key(&mut true)? {
                        Some(key) => {
                            open.push(Filling::Object(Map::new(), key.into_owned()));
                            continue;
                        }
                        None => Value::Object(Map::new()),
                    }
                }
                b'[' => {
                    self.enter()?;
                    self.pos += 1;
                    if self.next_element(&mut true)? {
                        open.push(Filling::Array(Vec::new()));
                        continue;
                    }
                    Value::Array(Vec::new())
                }
                b'"' => Value::String(self.read_string_raw()?.into_owned()),
                b't' => self.literal(b"true").map(|()| Value::Bool(true))?,
                b'f' => self.literal(b"false").map(|()| Value::Bool(false))?,
                b'n' => self.literal(b"null").map(|()| Value::Null)?,
                b'-' | b'0'..=b'9' => Value::Number(self.read_number()?.into()),
                _ => return self.err(JsonErrorCode::ExpectedValue),
            };
            // A value is complete: hand it to its container, closing every container that
            // ends here, until one expects another value (or the top level is done).
            loop {
                match open.last_mut() {
                    None => return Ok(value),
                    Some(Filling::Array(items)) => {
                        items.push(value);
                        if self.next_element(&mut false)? {
                            break;
                        }
                        value = Value::Array(mem::take(items));
                    }
                    Some(Filling::Object(map, key)) => {
                        // Duplicate keys: the last one wins, as in Python's json and orjson.
                        map.insert(mem::take(key), value);
                        if let Some(next) = self.next_key(&mut false)? {
                            *key = next.into_owned();
                            break;
                        }
                        value = Value::Object(mem::take(map));
                    }
                }
                open.pop();
            }
        }
    }

    /// Validates and skips any value without building it. Iterative, like [`Self::read_value`].
    pub fn skip_value(&mut self) -> JsonResult<()> {
        // The open containers, innermost last: true for an object.
        let mut open = OpenStack::default();
        loop {
            match self.peek_or_eof()? {
                b'{' => {
                    self.enter()?;
                    self.pos += 1;
                    if self.skip_key(&mut true)? {
                        open.push(true);
                        continue;
                    }
                }
                b'[' => {
                    self.enter()?;
                    self.pos += 1;
                    if let Some(n) = small_int_array(self.buf.get(self.pos..).unwrap_or_default()) {
                        self.pos += n;
                        self.depth -= 1;
                    } else if self.next_element(&mut true)? {
                        open.push(false);
                        continue;
                    }
                }
                b'"' => self.skip_string()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => {
                    self.read_number()?;
                }
                _ => return self.err(JsonErrorCode::ExpectedValue),
            }
            loop {
                let Some(is_object) = open.last() else {
                    return Ok(());
                };
                let another = if is_object {
                    self.skip_key(&mut false)?
                } else {
                    self.next_element(&mut false)?
                };
                if another {
                    break;
                }
                open.pop();
            }
        }
    }

    /// Like [`next_key`] but validates the key without building it.
    fn skip_key(&mut self, first: &mut bool) -> JsonResult<bool> {
        if !self.key_start(first)? {
            return Ok(false);
        }
        if self.take_short_string().is_none() {
            self.skip_string()?;
        }
        self.colon()?;
        Ok(true)
    }

    /// Validates the string at `pos` (escapes included) without keeping it: as
    /// [`Self::read_string_raw`], but a string with escapes is not decoded into a copy.
    fn skip_string(&mut self) -> JsonResult<()> {
        match self.scan_string()? {
            Ok(_) => Ok(()),
            Err((start, first_escape)) => self.decode_escaped(start, first_escape, &mut Discard),
        }
    }
}

impl Reader<'_> {
    /// Validates and skips a string value if one is next, as [`Self::take_string`] checks it
    /// but without building it: true then; false (consuming nothing) for any other value.
    pub fn skip_string_value(&mut self) -> JsonResult<bool> {
        if self.peek_or_eof()? != b'"' {
            return Ok(false);
        }
        self.skip_string()?;
        Ok(true)
    }
}

impl Reader<'_> {
    /// Reads a string value if one is next, with the checks and errors of
    /// [`Self::take_string`], appending its text to `out` instead of returning it: a string
    /// with escapes is decoded straight into `out`, with no buffer of its own. False
    /// (consuming nothing) for any other value. On an error `out` is as it was.
    pub fn take_string_into(&mut self, out: &mut String) -> JsonResult<bool> {
        if self.peek_or_eof()? != b'"' {
            return Ok(false);
        }
        match self.scan_string()? {
            Ok(text) => out.push_str(text),
            Err((start, first_escape)) => {
                let before = out.len();
                // SAFETY: `decode_escaped` writes only runs that `run_text` accepted as UTF-8
                // (each cut at ASCII bytes) and whole `char`s it encoded, so the bytes stay
                // valid UTF-8 after every write; on an error they are cut back to `before`,
                // the length of the valid text they had.
                let bytes = unsafe { out.as_mut_vec() };
                if let Err(e) = self.decode_escaped(start, first_escape, bytes) {
                    bytes.truncate(before);
                    return Err(e);
                }
            }
        }
        Ok(true)
    }
}

/// The length through `]` of a non-empty array of small non-negative integers written
/// without whitespace, with `rest` just after its `[` (see `small_int_array`): what
/// [`Reader::skip_value`] accepts there without reading the integers one by one. `None` for
/// anything else, which may still be a valid array.
#[inline]
pub fn small_int_array_len(rest: &[u8]) -> Option<usize> {
    small_int_array(rest)
}

/// Where [`Reader::decode_escaped`] puts a string's decoded bytes.
trait Unescaped {
    fn extend(&mut self, bytes: &[u8]);
    fn push(&mut self, byte: u8);
}

impl Unescaped for Vec<u8> {
    #[inline]
    fn extend(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
}

/// Validation only: the decoded bytes are dropped.
struct Discard;

impl Unescaped for Discard {
    #[inline]
    fn extend(&mut self, _bytes: &[u8]) {}
    #[inline]
    fn push(&mut self, _byte: u8) {}
}

/// Comparison only: the decoded bytes are matched against the rest of a text.
struct Matching<'e> {
    rest: &'e [u8],
    equal: bool,
}

impl Unescaped for Matching<'_> {
    #[inline]
    fn extend(&mut self, bytes: &[u8]) {
        // Indexing, not `strip_prefix`: a use of that generic here takes it out of line in
        // the SSE framer, whose hot loop relies on its inlined copy.
        let n = bytes.len();
        match (self.rest.get(..n), self.rest.get(n..)) {
            (Some(head), Some(rest)) if self.equal && head == bytes => self.rest = rest,
            _ => self.equal = false,
        }
    }
    #[inline]
    fn push(&mut self, byte: u8) {
        self.extend(&[byte]);
    }
}

/// Kinds of the containers [`Reader::skip_value`] is inside, innermost last (true for an
/// object): the first 64 as bits, so the entries of a logprobs list are skipped without a heap
/// allocation each; deeper ones (up to the depth limit) in a vector.
#[derive(Default)]
struct OpenStack {
    bits: u64,
    len: usize,
    deeper: Vec<bool>,
}

impl OpenStack {
    #[inline]
    fn push(&mut self, is_object: bool) {
        if self.len < 64 {
            self.bits = (self.bits & !(1 << self.len)) | (u64::from(is_object) << self.len);
        } else {
            self.deeper.push(is_object);
        }
        self.len += 1;
    }

    #[inline]
    fn last(&self) -> Option<bool> {
        match self.len {
            0 => None,
            n if n <= 64 => Some(self.bits >> (n - 1) & 1 == 1),
            _ => self.deeper.last().copied(),
        }
    }

    #[inline]
    fn pop(&mut self) {
        if self.len > 64 {
            self.deeper.pop();
        }
        self.len = self.len.saturating_sub(1);
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The length of the text of a string that starts at `rest` (after its opening quote) when
/// its closing quote is within the first sixteen bytes and every byte before it is plain
/// ASCII (no `\\`, no control byte): keys and short values, most strings of a payload, read
/// in a word or two without the setup of [`plain_run`]. `None` for anything else (an escape,
/// a non-ASCII byte, a longer string, the end of the input), which [`plain_run`] reads.
#[inline(always)]
fn short_ascii_string(rest: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < 16 {
        // A fixed-size conversion, which is one load (a copy into an array can be a call).
        let word: [u8; 8] = rest.get(i..i + 8)?.try_into().ok()?;
        let x = u64::from_le_bytes(word);
        let quote = x ^ (LOW_BITS * u64::from(b'"'));
        let backslash = x ^ (LOW_BITS * u64::from(b'\\'));
        // As in `plain_words`, with the non-ASCII bytes as stops too: the lowest set top bit
        // is the first byte that is not plain ASCII (bytes before it borrow nothing).
        let stop = (quote.wrapping_sub(LOW_BITS) & !quote
            | backslash.wrapping_sub(LOW_BITS) & !backslash
            | x.wrapping_sub(LOW_BITS * 0x20) & !x
            | x)
            & HIGH_BITS;
        if stop != 0 {
            let n = i + stop.trailing_zeros() as usize / 8;
            return (rest.get(n) == Some(&b'"')).then_some(n);
        }
        i += 8;
    }
    None
}

/// The length of the run of plain bytes (no `"`, `\\` or control byte) at the start of
/// `rest`, and whether it is all ASCII. Eight bytes at a time, then byte by byte: strings in
/// chunks (keys, ids, tokens) are short, and for them a call into a SIMD search costs more
/// than it saves.
#[inline(always)]
pub fn plain_run(rest: &[u8]) -> (usize, bool) {
    let (mut i, mut ascii) = plain_prefix(rest);
    while let Some(&b) = rest.get(i) {
        match STOP[usize::from(b)] {
            PLAIN => i += 1,
            HIGH => {
                ascii = false;
                i += 1;
            }
            _ => break,
        }
    }
    (i, ascii)
}

/// Two bit masks of sixteen bytes, bit `i` for byte `i`: the bytes that stop a plain run of
/// string text (`"`, `\\`, a control byte), and the bytes with the top bit set (not ASCII).
/// One SSE2 pass (in every `x86_64`) serves every string scan that goes a block at a time.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn string_stops16(block: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every
    // machine the crate runs on; the load reads the sixteen bytes of `block` (unaligned
    // loads are allowed) and nothing else.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        // A byte is a control byte when it is at most 0x1F, i.e. min(byte, 0x1F) == byte.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x);
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x22));
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x5C));
        let stop = _mm_or_si128(_mm_or_si128(quote, backslash), control);
        let mask = |v| u32::from_ne_bytes(_mm_movemask_epi8(v).to_ne_bytes());
        (mask(stop), mask(x))
    }
}

/// The length of the run at the start of `rest` that holds no `"`, `\` or control byte, taken
/// sixteen bytes at a time (SSE2, in every `x86_64`) while sixteen remain, then eight, and
/// whether the run is ASCII. The caller finishes the scan byte by byte from there.
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_prefix(rest: &[u8]) -> (usize, bool) {
    let mut i = 0;
    let mut high = 0u32;
    // Texts of done events and closing snapshots are kilobytes long: a block of sixteen
    // costs about what a word of eight costs.
    for block in rest.chunks_exact(16) {
        let Ok(block) = <&[u8; 16]>::try_from(block) else {
            break;
        };
        let (stop, top) = string_stops16(block);
        if stop != 0 {
            let plain = stop.trailing_zeros();
            high |= top & ((1u32 << plain) - 1);
            return (i + plain as usize, high == 0);
        }
        high |= top;
        i += 16;
    }
    let (n, ascii) = plain_words(rest.get(i..).unwrap_or_default());
    (i + n, ascii && high == 0)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn plain_prefix(rest: &[u8]) -> (usize, bool) {
    plain_words(rest)
}

/// [`plain_prefix`] eight bytes at a time.
#[inline]
fn plain_words(rest: &[u8]) -> (usize, bool) {
    let mut i = 0;
    let mut high = 0u64;
    while let Some(word) = rest.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        // A byte's top bit in `stop` is set where it is a quote, a backslash or below 0x20.
        // Borrows can set a false bit, but only above a byte that truly matched, so the
        // lowest set bit is exact.
        let quote = x ^ (LOW_BITS * u64::from(b'"'));
        let backslash = x ^ (LOW_BITS * u64::from(b'\\'));
        let stop = (quote.wrapping_sub(LOW_BITS) & !quote
            | backslash.wrapping_sub(LOW_BITS) & !backslash
            | x.wrapping_sub(LOW_BITS * 0x20) & !x)
            & HIGH_BITS;
        if stop != 0 {
            let plain = stop.trailing_zeros() as usize / 8;
            // The top bits of the bytes before the stop.
            high |= x & HIGH_BITS & ((1u64 << (plain * 8)) - 1);
            return (i + plain, high == 0);
        }
        high |= x & HIGH_BITS;
        i += 8;
    }
    (i, high == 0)
}

/// The offset in `rest` of the first `"`, `\\` or control byte (its length if none): where a
/// string that starts at `rest` stops being plain text.
#[inline]
pub fn string_stop(rest: &[u8]) -> usize {
    let (mut i, _) = plain_prefix(rest);
    while let Some(&b) = rest.get(i) {
        if STOP[usize::from(b)] == SPECIAL {
            break;
        }
        i += 1;
    }
    i
}

/// The length through `]` of a non-empty array of small non-negative integers written without
/// whitespace (`1,22,0]`: the `bytes` of a logprobs entry), with `rest` just after its `[`;
/// `None` for anything else, which the caller then reads value by value from the same place.
/// Integers of up to 18 digits cannot overflow, and each must end at `,` or `]`, so `01` or
/// `1.5` are left to the general path.
#[inline]
fn small_int_array(rest: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let n = match rest.get(i) {
            Some(b'0') => 1,
            Some(b'1'..=b'9') => {
                let run = rest.get(i..).unwrap_or_default();
                run.iter().take_while(|b| b.is_ascii_digit()).count()
            }
            _ => return None,
        };
        if n > 18 {
            return None;
        }
        i += n;
        match rest.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// The offset in `rest` of the first `"` or byte up to 0x20 (its length if none): in validated
/// JSON text outside strings, where a string or whitespace starts.
#[inline]
pub fn quote_or_space(rest: &[u8]) -> usize {
    let mut i = 0;
    while let Some(word) = rest.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        let quote = x ^ (LOW_BITS * u64::from(b'"'));
        // As in `plain_prefix`: the lowest set top bit is exact.
        let stop = (quote.wrapping_sub(LOW_BITS) & !quote | x.wrapping_sub(LOW_BITS * 0x21) & !x)
            & HIGH_BITS;
        if stop != 0 {
            return i + stop.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while let Some(&b) = rest.get(i) {
        if b == b'"' || b <= 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// A container [`Reader::read_value`] is filling: an object holds the key whose value comes next.
enum Filling {
    Array(Vec<Value>),
    Object(Map, String),
}

/// orjson's rule: a number whose value overflows a double is an error. Integers within 64
/// bits are exact; larger ones become doubles, so they overflow from about 1.8e308 as well.
fn number_overflows(text: &str, end: Num) -> bool {
    // Without an exponent, a number of at most 308 characters has at most 308 integer digits:
    // below f64::MAX whatever they are. Nearly every number takes this exit.
    if text.len() <= 308 && end != Num::ExpDigits {
        return false;
    }
    let digits = text.trim_start_matches('-');
    if !end.is_float() {
        // Fewer than 309 digits cannot reach f64::MAX (about 1.8e308).
        return digits.len() > 308 && text.parse::<f64>().map_or(true, f64::is_infinite);
    }
    let int_part = digits.split(['.', 'e', 'E']).next().unwrap_or_default();
    if !text.contains(['e', 'E']) && int_part.len() <= 308 {
        return false;
    }
    text.parse::<f64>().map_or(true, f64::is_infinite)
}

/// Parses a whole payload into a tree (the general path, used for repair checks and tests).
pub fn parse(buf: &[u8], max_depth: usize) -> JsonResult<Value> {
    let mut r = Reader::new(buf, max_depth);
    let v = r.read_value()?;
    r.end()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Value {
        match parse(s.as_bytes(), 128) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn code(s: &[u8]) -> (JsonErrorCode, usize) {
        match parse(s, 128) {
            Ok(v) => panic!("{:?} parsed as {v:?}", String::from_utf8_lossy(s)),
            Err(e) => (e.code, e.pos),
        }
    }

    #[test]
    fn agrees_with_serde_json_on_valid_documents() {
        let docs = [
            r#"{"a":[1,2.5,-0,1e3,true,false,null,"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00"]}"#,
            r"  [ ]  ",
            r"{}",
            r#""plain""#,
            r#"{"k":{"k":{"k":[{"k":"v"}]}}}"#,
            "\"caf\u{e9} \u{1f600} \u{2028}\"",
        ];
        for d in docs {
            let ours = ok(d);
            let theirs: serde_json::Value =
                serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(to_serde(&ours), theirs, "{d}");
        }
    }

    fn to_serde(v: &Value) -> serde_json::Value {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(t) | Value::Raw(t) => {
                serde_json::from_str(t).unwrap_or(serde_json::Value::Null)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
            Value::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect())
            }
        }
    }

    #[test]
    fn rejects_invalid_documents_with_positions() {
        assert_eq!(code(b"{\"a\":1,}"), (JsonErrorCode::KeyMustBeAString, 7));
        assert_eq!(code(b"[1,]"), (JsonErrorCode::ExpectedValue, 3));
        assert_eq!(code(b"{\"a\" 1}"), (JsonErrorCode::ExpectedColon, 5));
        assert_eq!(
            code(b"{\"a\":1 \"b\":2}"),
            (JsonErrorCode::ExpectedCommaOrEndOfObject, 7)
        );
        assert_eq!(
            code(b"[1 2]"),
            (JsonErrorCode::ExpectedCommaOrEndOfArray, 3)
        );
        assert_eq!(code(b"01"), (JsonErrorCode::TrailingCharacters, 1));
        assert_eq!(code(b"1."), (JsonErrorCode::EofWhileParsing, 2));
        assert_eq!(code(b"-x"), (JsonErrorCode::InvalidNumber, 1));
        assert_eq!(code(b"\"\\ud800\""), (JsonErrorCode::LoneSurrogate, 7));
        assert_eq!(code(b"\"\\udc00\""), (JsonErrorCode::LoneSurrogate, 3));
        assert_eq!(code(b"\"\\q\""), (JsonErrorCode::InvalidEscape, 2));
        assert_eq!(
            code(b"\"a\x01\""),
            (JsonErrorCode::ControlCharacterInString, 2)
        );
        assert_eq!(code(b"\"a\xff\""), (JsonErrorCode::InvalidUtf8, 2));
        assert_eq!(code(b"1e400"), (JsonErrorCode::NumberOutOfRange, 0));
        let huge_int = "9".repeat(400);
        assert_eq!(
            code(huge_int.as_bytes()),
            (JsonErrorCode::NumberOutOfRange, 0)
        );
        assert!(parse("9".repeat(300).as_bytes(), 128).is_ok());
        assert!(parse(b"-1e308", 128).is_ok());
        assert_eq!(code(b"NaN"), (JsonErrorCode::ExpectedValue, 0));
        assert_eq!(code(b"nul"), (JsonErrorCode::EofWhileParsing, 3));
        assert_eq!(code(b"{\"a\":\"x"), (JsonErrorCode::EofWhileParsing, 7));
        assert_eq!(code(b""), (JsonErrorCode::EofWhileParsing, 0));
    }

    #[test]
    fn depth_is_bounded_without_recursion_blowup() {
        let deep = "[".repeat(100_000);
        let err = parse(deep.as_bytes(), 128).err();
        assert_eq!(err.map(|e| e.code), Some(JsonErrorCode::TooDeep));
        let at_limit = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(parse(at_limit.as_bytes(), 128).is_ok());
        let over = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert_eq!(
            parse(over.as_bytes(), 128).err().map(|e| e.code),
            Some(JsonErrorCode::TooDeep)
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let v = ok(r#"{"a":1,"b":2,"a":3}"#);
        let Value::Object(m) = v else {
            panic!("not an object")
        };
        assert_eq!(m.get("a"), Some(&Value::Number("3".into())));
        assert_eq!(m.len(), 2);
    }

    /// The eight-byte scan stops where a byte-by-byte scan stops, with the same ASCII answer:
    /// every byte value at every offset of 8- to 24-byte strings, behind plain and non-ASCII
    /// bytes (borrows between neighbouring bytes are where such tricks go wrong).
    #[test]
    fn eight_byte_scan_stops_where_a_byte_scan_stops() {
        fn by_bytes(rest: &[u8]) -> (usize, bool) {
            let i = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            (i, rest[..i].is_ascii())
        }
        // Up to two sixteen-byte blocks, then a word and single bytes.
        for len in 8..42 {
            for at in 0..len {
                for fill in [b'a', 0x01, 0x21, 0x5b, 0x80, 0xa2, 0xdc, 0xff] {
                    for b in 0..=255u8 {
                        let mut s = vec![fill; len];
                        s[at] = b;
                        let (n, ascii) = plain_prefix(&s);
                        let (want_n, want_ascii) = by_bytes(&s);
                        // The fast scan may stop early only where fewer than 8 bytes remain.
                        assert!(n <= want_n && (n == want_n || s.len() - n < 8), "{s:?}");
                        assert_eq!(ascii, s[..n].is_ascii(), "{s:?}");
                        if n == want_n {
                            assert_eq!(ascii, want_ascii, "{s:?}");
                        }
                        assert_eq!(string_stop(&s), want_n, "{s:?}");
                        let outside = s.iter().position(|&b| b == b'"' || b <= 0x20);
                        assert_eq!(quote_or_space(&s), outside.unwrap_or(len), "{s:?}");
                    }
                }
            }
        }
    }

    /// The short-string read (of keys) takes a string exactly when its closing quote is
    /// within sixteen bytes behind plain ASCII, and gives the length a byte scan gives: every
    /// byte value at every offset, behind plain, borrowing and non-ASCII bytes, for strings
    /// and inputs of every length around the word boundaries; what it reads is what the
    /// general read gives.
    #[test]
    fn short_strings_read_as_a_byte_scan_reads_them() {
        let by_bytes = |rest: &[u8]| -> Option<usize> {
            let n = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))?;
            (rest[n] == b'"' && n < 16 && rest.len() >= (n / 8 + 1) * 8).then_some(n)
        };
        let mut taken = 0;
        for len in 0..26 {
            for at in 0..len {
                for before in [b'a', b' ', 0x01, b'"', 0xc3] {
                    for b in 0..=255u8 {
                        let mut s = vec![b'x'; len];
                        if at > 0 {
                            s[at - 1] = before;
                        }
                        s[at] = b;
                        s.push(b'"');
                        let fast = short_ascii_string(&s);
                        assert_eq!(fast, by_bytes(&s), "{s:?}");
                        taken += usize::from(fast.is_some());
                        let mut quoted = vec![b'"'];
                        quoted.extend_from_slice(&s);
                        let mut r = Reader::new(&quoted, 4);
                        if let Some(text) = r.take_short_string() {
                            assert_eq!(Some((text.len(), r.pos())), fast.map(|n| (n, n + 2)));
                            r.resume_at(0);
                        }
                        let read = r.read_string_raw().map(|t| (t.into_owned(), r.pos()));
                        let mut general = Reader::new(&quoted, 4);
                        let general_read = general.scan_string().map(|t| {
                            let t = t.map(String::from).map_err(|_| ());
                            (t, general.pos())
                        });
                        match (&read, &general_read) {
                            (Ok((text, end)), Ok((Ok(g), g_end))) => {
                                assert_eq!((text, end), (g, g_end), "{s:?}");
                            }
                            // Escapes: decoded by the read only (both the general path).
                            (_, Ok((Err(()), _))) => {}
                            (Err(e), Err(g)) => assert_eq!(e, g, "{s:?}"),
                            other => panic!("{s:?}: {other:?}"),
                        }
                        if let Some(n) = fast {
                            let short = Reader::new(&quoted, 4)
                                .take_short_string()
                                .map(String::from);
                            assert_eq!(read.as_ref().ok().map(|(t, _)| t.clone()), short);
                            assert_eq!(read.as_ref().map(|(t, _)| t.len()).ok(), Some(n));
                        }
                    }
                }
            }
        }
        assert!(taken > 10_000, "{taken}");
    }

    /// Reading a string into a buffer reads what `take_string` reads (same text appended,
    /// same end, same errors), and leaves the buffer as it was on an error.
    #[test]
    fn reading_a_string_into_a_buffer_agrees_with_reading_it() {
        let literals: [&[u8]; 12] = [
            b"\"abc\",",
            b"\"\"}",
            b"\"caf\xc3\xa9 \xe2\x82\xac\"]",
            b"\"a\\nb\\\"c\\u00e9\\ud83d\\ude00\",",
            b"\"\\u0041BC\\\\\"",
            b"\"tab\tin\"",
            b"\"bad \xff\"",
            b"\"ok\\n then bad \xff\"",
            b"\"bad \\q\"",
            b"\"\\ud83d\"",
            b"\"cut \\n",
            b"12",
        ];
        for literal in literals {
            let mut r = Reader::new(literal, 8);
            let read = r.take_string().map(|t| t.map(Cow::into_owned));
            let end = r.pos();
            let mut into = Reader::new(literal, 8);
            let mut out = String::from("before|");
            let taken = into.take_string_into(&mut out);
            match read {
                Ok(Some(text)) => {
                    assert_eq!(taken, Ok(true), "{literal:?}");
                    assert_eq!(out, format!("before|{text}"), "{literal:?}");
                    assert_eq!(into.pos(), end, "{literal:?}");
                }
                Ok(None) => {
                    assert_eq!(taken, Ok(false), "{literal:?}");
                    assert_eq!((out.as_str(), into.pos()), ("before|", 0), "{literal:?}");
                }
                Err(e) => {
                    assert_eq!(taken, Err(e), "{literal:?}");
                    assert_eq!(out, "before|", "{literal:?}");
                }
            }
        }
    }

    /// Skipping keeps the kind of each open container past the 64 held as bits.
    #[test]
    fn skip_value_tracks_deep_mixed_nesting() {
        for depth in [63, 64, 65, 70, 127] {
            let mut doc = String::new();
            for d in 0..depth {
                doc.push_str(if d % 3 == 0 { "{\"k\":" } else { "[" });
            }
            doc.push('1');
            for d in (0..depth).rev() {
                doc.push_str(if d % 3 == 0 { ",\"z\":2}" } else { ",2]" });
            }
            let mut r = Reader::new(doc.as_bytes(), 128);
            assert_eq!(r.skip_value(), Ok(()), "{depth}");
            assert_eq!(r.pos(), doc.len());
            assert!(parse(doc.as_bytes(), 128).is_ok());
            // A closer of the wrong kind at the innermost level is still caught.
            let bad = doc.replacen("1,", "1}", 1);
            let mut r = Reader::new(bad.as_bytes(), 128);
            assert_eq!(
                r.skip_value().err(),
                parse(bad.as_bytes(), 128).err(),
                "{depth}"
            );
        }
    }

    /// Integer arrays, the shortcut's shape and every near miss of it, skip as they parse:
    /// the same error and position, or the same end.
    #[test]
    fn integer_arrays_skip_as_they_parse() {
        let nineteen = format!("[{}]", "9".repeat(19));
        let eighteen = format!("[1,{}]", "9".repeat(18));
        for d in [
            "[1,2,3]",
            "[0]",
            "[0,10,255]",
            "[01]",
            "[1 ,2]",
            "[1, 2]",
            "[1,]",
            "[1.5,2]",
            "[1e3]",
            "[-1,2]",
            "[1,2",
            "[1,2,",
            "[1,-]",
            "[1,2]]",
            "[1,x]",
            "[1}",
            "[,1]",
            &nineteen,
            &eighteen,
        ] {
            let mut r = Reader::new(d.as_bytes(), 128);
            let skipped = r.skip_value().and_then(|()| r.end()).map(|()| r.pos());
            let parsed = parse(d.as_bytes(), 128).map(|_| d.len());
            assert_eq!(skipped, parsed, "{d}");
        }
        // The depth limit still counts an integer array.
        let mut r = Reader::new(b"[[1,2]]", 1);
        assert_eq!(
            r.skip_value().err().map(|e| e.code),
            Some(JsonErrorCode::TooDeep)
        );
    }

    /// Skipping a string with escapes validates it without decoding it: the same errors at
    /// the same positions as reading it, and the same end when it is valid.
    /// Matching a string against a text reads it as `take_string` does (same errors, same
    /// end) and is true exactly when the text read is the text given: plain, non-ASCII and
    /// escaped literals, against their own text, a changed character, a prefix, an extension.
    #[test]
    fn matching_a_string_agrees_with_reading_it() {
        let literals: [&[u8]; 14] = [
            b"\"abc\"",
            b"\"\"",
            b"\"caf\xc3\xa9 \xe2\x82\xac\"",
            b"\"a\\nb\\\"c\\u00e9\\ud83d\\ude00\"",
            b"\"\\u0041BC\"",
            b"\"tab\tin\"",
            b"\"bad \xff\"",
            b"\"bad \\q\"",
            b"\"\\ud83d\"",
            b"\"cut",
            b"\"cut \\n",
            b"\"\xe2\x82\"",
            b"5",
            b"",
        ];
        let mut matched = 0;
        for literal in literals {
            let mut r = Reader::new(literal, 8);
            let read = r.take_string().map(|t| t.map(Cow::into_owned));
            let read_end = r.pos();
            let text = read.clone().ok().flatten().unwrap_or_default();
            let mut changed = text.clone();
            changed.pop();
            changed.push('\u{e8}');
            let longer = format!("{text}x");
            let shorter: String = text.chars().skip(1).collect();
            // The literal's own bytes between its quotes: the text itself when it has no escape.
            let escaped_form = String::from_utf8_lossy(literal)
                .trim_matches('"')
                .to_string();
            for expected in [&text, &changed, &longer, &shorter, &escaped_form] {
                let mut m = Reader::new(literal, 8);
                let got = m.take_string_matching(expected);
                match &read {
                    Ok(t) => {
                        assert_eq!(got, Ok(t.as_ref().map(|t| t == expected)), "{literal:?}");
                        assert_eq!(m.pos(), read_end, "{literal:?}");
                        matched += usize::from(got == Ok(Some(true)));
                    }
                    Err(e) => assert_eq!(got.as_ref().err(), Some(e), "{literal:?}"),
                }
            }
        }
        // The five valid strings match their own text; the three without escapes also their
        // literal form; the empty one also its one-shorter self. Nothing else matches.
        assert_eq!(matched, 9);
    }

    #[test]
    fn skipping_an_escaped_string_checks_it_as_reading_it_does() {
        let bodies: [&[u8]; 20] = [
            b"\\nabcdefghijklmnopqrstuvwxyz\\tABCDEFGHIJKLMNOPQRSTUVWXYZ",
            b"\\n\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\\\"",
            b"\\nabcdefghijklmnopqrstuvwxyz\x01abc",
            b"\\nabcdefghijklmnopqrstuvwxyz\xffabc\x01",
            b"a\\nb",
            b"\\\"",
            b"\\u00e9x\\/\\b\\f\\r\\t\\\\",
            b"\\ud83d\\ude00",
            b"\\ud83d",
            b"\\ude00",
            b"\\ud83dx",
            b"\\u12g4",
            b"\\q",
            b"\\",
            b"\xc3\xa9\\n\xff",
            b"\xff\\n",
            b"\\n\x01",
            b"\\n\xe2\x82",
            b"\\u00",
            b"x\\n\xe2\x82\xac\\t",
        ];
        for body in bodies {
            for closed in [true, false] {
                let mut d = b"[\"".to_vec();
                d.extend_from_slice(body);
                if closed {
                    d.extend_from_slice(b"\",1]");
                }
                let mut skipping = Reader::new(&d, 128);
                let skipped = skipping.skip_value().map(|()| skipping.pos());
                let mut reading = Reader::new(&d, 128);
                let value = reading.read_value();
                // serde_json decides validity and the decoded text independently.
                let oracle = serde_json::from_slice::<serde_json::Value>(&d).ok();
                match (&value, &oracle) {
                    (Ok(Value::Array(v)), Some(serde_json::Value::Array(o))) => {
                        assert_eq!(
                            v.first().and_then(Value::as_str),
                            o.first().and_then(serde_json::Value::as_str),
                            "{}",
                            String::from_utf8_lossy(&d)
                        );
                    }
                    (Err(_), None) => {}
                    _ => panic!("{}: {value:?} {oracle:?}", String::from_utf8_lossy(&d)),
                }
                let read = value.map(|_| reading.pos());
                assert_eq!(skipped, read, "{}", String::from_utf8_lossy(&d));
            }
        }
    }

    #[test]
    fn text_read_without_utf8_checks_reads_as_bytes_do() {
        for d in [
            r#"{"a":"caf\u00e9 \n d\u00e9j\u00e0","b":["\u2603\ud83d\ude00x"]}"#,
            "{\"k\":\"\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\\n\u{1f600}\\t\u{2603}\"}",
            "[\"plain ascii that runs past sixteen bytes\",\"\u{e9}\"]",
        ] {
            let mut text = Reader::over_text(d, 128);
            let mut bytes = Reader::new(d.as_bytes(), 128);
            let want = serde_json::from_str::<serde_json::Value>(d).ok().map(|v| v.to_string());
            let got = text.read_value();
            assert_eq!(got, bytes.read_value(), "{d}");
            assert_eq!(text.pos(), d.len(), "{d}");
            assert!(want.is_some(), "{d}");
        }
    }

    #[test]
    fn skip_value_validates_like_read_value() {
        for d in [
            &b"{\"a\":[1,{\"b\":\"\\ud800\"}]}"[..],
            b"[1,,2]",
            b"{\"a\":tru}",
            b"[\"\\u12\"]",
        ] {
            let mut r = Reader::new(d, 128);
            let skipped = r.skip_value().err();
            assert_eq!(
                skipped,
                parse(d, 128).err(),
                "{}",
                String::from_utf8_lossy(d)
            );
        }
    }
}
