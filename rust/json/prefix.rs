//! Whether a text fed in fragments is still the start of one JSON document, and whether it is
//! one whole document: what a tool input needs while it streams in and nothing reads its value
//! (the value is read once, from the whole text).
//!
//! [`JsonPrefix`] answers exactly as [`crate::json::partial::PartialJson`] does (strict RFC
//! 8259, the same depth limit), but keeps no text and builds no tree: its whole state is a few
//! words, the open containers one bit each, so a fragment costs no allocation. Structure,
//! string text, one-letter escapes, numbers and literals (nearly every byte of a tool input)
//! step through one table, a load per byte; a value's end, containers opening or closing,
//! `\u` escapes and UTF-8 take a branch of their own.

use std::mem::MaybeUninit;

use crate::json::partial::PLAIN_ASCII;
use crate::json::short_escape;

/// Open containers a [`JsonPrefix`] can track: one bit each.
pub const PREFIX_MAX_DEPTH: usize = 256;

// States that the table steps: where the text stands.
/// A value is expected (after `:` or an array's `,`, or at the start).
const VALUE: u8 = 0;
/// A value or `]` is expected, just after `[`.
const VALUE_FIRST: u8 = 1;
/// A key is expected, after an object's `,`.
const KEY: u8 = 2;
/// A key or `}` is expected, just after `{`.
const KEY_FIRST: u8 = 3;
const COLON: u8 = 4;
/// The top-level value ended: only whitespace may follow.
const AFTER_TOP: u8 = 5;
/// A value in an array ended: `,` or `]`.
const AFTER_ARRAY: u8 = 6;
/// A value in an object ended: `,` or `}`.
const AFTER_OBJECT: u8 = 7;
/// Inside a key, or a string value, after plain text.
const STR_KEY: u8 = 8;
const STR_VALUE: u8 = 9;
/// Just after a backslash in a key, or in a string value.
const ESCAPE_KEY: u8 = 10;
const ESCAPE_VALUE: u8 = 11;
const FAILED: u8 = 12;
// Inside a number, the positions of [`crate::json::number::Num`]'s grammar (`Start` is a
// value's first byte): after `-`, a leading `0`, integer digits, `.`, fraction digits, `e`,
// the exponent's sign, exponent digits.
const NUM_MINUS: u8 = 13;
const NUM_ZERO: u8 = 14;
const NUM_INT: u8 = 15;
const NUM_DOT: u8 = 16;
const NUM_FRAC: u8 = 17;
const NUM_EXP: u8 = 18;
const NUM_EXP_SIGN: u8 = 19;
const NUM_EXP_DIGITS: u8 = 20;
/// Inside `true`, `false` or `null`: the states from here on each expect one byte of
/// [`LITERALS`], in order.
const LITERAL_STATES: u8 = 21;
/// Each literal's first byte, and the bytes after it; the last of them ends the value.
const LITERALS: [(u8, &[u8]); 3] = [(b't', b"rue"), (b'f', b"alse"), (b'n', b"ull")];
/// Reading the hex digits of a `\u` escape (`hex_digits`, `hex_code`, `hex_low`).
const HEX: u8 = LITERAL_STATES + 10;
/// After a high surrogate's escape: its low half's `\` must follow.
const LOW_BACKSLASH: u8 = HEX + 1;
/// After a high surrogate and `\`: the `u` must follow.
const LOW_U: u8 = HEX + 2;
/// Inside a multi-byte UTF-8 character (`utf8_need`, `utf8_lo`, `utf8_hi`).
const UTF8: u8 = HEX + 3;
const STATES: usize = UTF8 as usize + 1;
/// Rows in the table: a power of two above [`STATES`], so a state masked to it indexes the
/// table without a bounds check (the rows past `STATES` fail every byte).
const ROWS: usize = 64;

// Table entries from `ACTIONS` up: what a byte does besides naming the next state.
const ACTIONS: u8 = ROWS as u8;
const OPEN_ARRAY: u8 = ACTIONS;
const OPEN_OBJECT: u8 = ACTIONS + 1;
/// `]` or `}` where the table already knows it closes the innermost container.
const CLOSE: u8 = ACTIONS + 2;
/// A value's last byte (a string's closing quote, a literal's last letter): the value ended.
const END_VALUE: u8 = ACTIONS + 3;
/// A byte that does not continue a complete number: the number ended before it, and the byte
/// is read again after the value.
const END_NUMBER: u8 = ACTIONS + 4;
/// The `u` of a `\u` escape.
const START_HEX: u8 = ACTIONS + 5;
/// A byte from 0x80 in a string: the first of a UTF-8 character, or invalid.
const START_UTF8: u8 = ACTIONS + 6;
/// A byte in a state whose step needs its fields.
const COMPLEX: u8 = ACTIONS + 7;

/// The row of a number state: which bytes continue it, and whether it may end there.
const fn number_step(state: u8, byte: u8) -> u8 {
    let digit = byte.is_ascii_digit();
    let exp = byte == b'e' || byte == b'E';
    let (next, complete) = match state {
        NUM_MINUS => (
            match byte {
                b'0' => NUM_ZERO,
                b'1'..=b'9' => NUM_INT,
                _ => FAILED,
            },
            false,
        ),
        NUM_ZERO => (
            match byte {
                b'.' => NUM_DOT,
                _ if exp => NUM_EXP,
                _ => FAILED,
            },
            true,
        ),
        NUM_INT => (
            match byte {
                _ if digit => NUM_INT,
                b'.' => NUM_DOT,
                _ if exp => NUM_EXP,
                _ => FAILED,
            },
            true,
        ),
        NUM_DOT => (if digit { NUM_FRAC } else { FAILED }, false),
        NUM_FRAC => (
            match byte {
                _ if digit => NUM_FRAC,
                _ if exp => NUM_EXP,
                _ => FAILED,
            },
            true,
        ),
        NUM_EXP => (
            match byte {
                b'+' | b'-' => NUM_EXP_SIGN,
                _ if digit => NUM_EXP_DIGITS,
                _ => FAILED,
            },
            false,
        ),
        NUM_EXP_SIGN => (if digit { NUM_EXP_DIGITS } else { FAILED }, false),
        _ => (if digit { NUM_EXP_DIGITS } else { FAILED }, true),
    };
    if next == FAILED && complete {
        END_NUMBER
    } else {
        next
    }
}

/// The state a literal's first byte leads to, or `None` for another byte.
const fn literal_start(byte: u8) -> Option<u8> {
    let mut state = LITERAL_STATES;
    let mut i = 0;
    while i < LITERALS.len() {
        let (first, rest) = LITERALS[i];
        if byte == first {
            return Some(state);
        }
        state += rest.len() as u8;
        i += 1;
    }
    None
}

/// The row of a literal state: its one expected byte, and what follows it.
const fn literal_step(state: u8, byte: u8) -> u8 {
    let mut at = LITERAL_STATES;
    let mut i = 0;
    while i < LITERALS.len() {
        let rest = LITERALS[i].1;
        let len = rest.len() as u8;
        if state < at + len {
            let read = (state - at) as usize;
            return if byte != rest[read] {
                FAILED
            } else if read + 1 == rest.len() {
                END_VALUE
            } else {
                state + 1
            };
        }
        at += len;
        i += 1;
    }
    FAILED
}

/// `TABLE[state][byte]`: the next state, or an action.
static TABLE: [[u8; 256]; ROWS] = {
    let mut table = [[FAILED; 256]; ROWS];
    let mut state = 0;
    while state < STATES {
        let row = &mut table[state];
        let s = state as u8;
        let mut b = 0;
        while b < 256 {
            let byte = b as u8;
            let white = matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
            let plain = byte >= 0x20 && byte < 0x80 && byte != b'"' && byte != b'\\';
            row[b] = match s {
                VALUE | VALUE_FIRST => match byte {
                    _ if white => s,
                    b'"' => STR_VALUE,
                    b'[' => OPEN_ARRAY,
                    b'{' => OPEN_OBJECT,
                    b']' if s == VALUE_FIRST => CLOSE,
                    b'-' => NUM_MINUS,
                    b'0' => NUM_ZERO,
                    b'1'..=b'9' => NUM_INT,
                    _ => match literal_start(byte) {
                        Some(next) => next,
                        None => FAILED,
                    },
                },
                KEY | KEY_FIRST => match byte {
                    _ if white => s,
                    b'"' => STR_KEY,
                    b'}' if s == KEY_FIRST => CLOSE,
                    _ => FAILED,
                },
                COLON => match byte {
                    _ if white => s,
                    b':' => VALUE,
                    _ => FAILED,
                },
                AFTER_TOP => {
                    if white {
                        s
                    } else {
                        FAILED
                    }
                }
                AFTER_ARRAY => match byte {
                    _ if white => s,
                    b',' => VALUE,
                    b']' => CLOSE,
                    _ => FAILED,
                },
                AFTER_OBJECT => match byte {
                    _ if white => s,
                    b',' => KEY,
                    b'}' => CLOSE,
                    _ => FAILED,
                },
                STR_KEY | STR_VALUE => match byte {
                    _ if plain => s,
                    b'"' if s == STR_KEY => COLON,
                    b'"' => END_VALUE,
                    b'\\' if s == STR_KEY => ESCAPE_KEY,
                    b'\\' => ESCAPE_VALUE,
                    0x80..=0xFF => START_UTF8,
                    _ => FAILED,
                },
                ESCAPE_KEY | ESCAPE_VALUE => match byte {
                    b'u' => START_HEX,
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        if s == ESCAPE_KEY {
                            STR_KEY
                        } else {
                            STR_VALUE
                        }
                    }
                    _ => FAILED,
                },
                FAILED => FAILED,
                NUM_MINUS..=NUM_EXP_DIGITS => number_step(s, byte),
                _ if s >= LITERAL_STATES && s < HEX => literal_step(s, byte),
                _ => COMPLEX,
            };
            b += 1;
        }
        state += 1;
    }
    table
};

/// The table's entry for `state` and `byte`.
#[inline(always)]
fn entry(state: u8, byte: u8) -> u8 {
    // Masked to the table's rows, so no bounds check: every state is below `STATES`.
    TABLE[usize::from(state) & (ROWS - 1)][usize::from(byte)]
}

/// The state of a JSON text fed in fragments; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct JsonPrefix {
    state: u8,
    /// The state after a value that ends in the innermost open container (`AFTER_TOP` with
    /// none open).
    after: u8,
    /// The string a `\u` escape or a UTF-8 character is in is a key.
    key: bool,
    /// Hex digits of a `\u` escape read (0 to 3), worth `hex_code`; `hex_low` when the escape
    /// must be the low half of a surrogate pair.
    hex_digits: u8,
    hex_code: u16,
    hex_low: bool,
    /// More bytes of a UTF-8 character to come, the next within `utf8_lo..=utf8_hi`.
    utf8_need: u8,
    utf8_lo: u8,
    utf8_hi: u8,
    too_deep: bool,
    /// Open containers.
    depth: usize,
    /// At most this many open at once (at most [`PREFIX_MAX_DEPTH`]).
    max_depth: usize,
    /// Bit `i` set when the container at depth `i` is an object.
    objects: [u64; PREFIX_MAX_DEPTH / 64],
}

impl JsonPrefix {
    /// `None` when `max_depth` is more than [`PREFIX_MAX_DEPTH`].
    pub fn new(max_depth: usize) -> Option<Self> {
        (max_depth <= PREFIX_MAX_DEPTH).then_some(JsonPrefix {
            state: VALUE,
            after: AFTER_TOP,
            key: false,
            hex_digits: 0,
            hex_code: 0,
            hex_low: false,
            utf8_need: 0,
            utf8_lo: 0,
            utf8_hi: 0,
            too_deep: false,
            depth: 0,
            max_depth,
            objects: [0; PREFIX_MAX_DEPTH / 64],
        })
    }

    /// Takes the next fragment. Once the text can no longer start a JSON document (or nests
    /// deeper than the limit) it is failed and later fragments change nothing.
    #[inline]
    pub fn feed(&mut self, fragment: &[u8]) {
        let mut state = self.state;
        for &byte in fragment {
            state = self.step(state, byte);
        }
        self.state = state;
    }

    /// Takes the next fragment as a JSON string's body writes it, printable ASCII and
    /// one-letter escapes, and writes the text it stands for to the start of `out`: how many
    /// bytes that is (at most one per byte of `body`). `None`, with nothing taken, at any other
    /// byte (a `\u` escape, a quote, a control byte, UTF-8), a backslash that ends `body`, or
    /// an `out` shorter than `body`. One pass over the bytes instead of a decode and a feed.
    #[inline(never)]
    pub fn feed_escaped(&mut self, body: &[u8], out: &mut [MaybeUninit<u8>]) -> Option<usize> {
        let out = out.get_mut(..body.len())?;
        let before = *self;
        let mut state = self.state;
        let mut at = 0;
        let mut written = 0;
        while let Some(&raw) = body.get(at) {
            let byte = if PLAIN_ASCII[usize::from(raw)] {
                at += 1;
                raw
            } else if let Some(byte) = (raw == b'\\')
                .then(|| body.get(at + 1).and_then(|&e| short_escape(e)))
                .flatten()
            {
                at += 2;
                byte
            } else {
                *self = before;
                return None;
            };
            // `written` < `at` <= `body.len()` = `out.len()`: the slot exists.
            if let Some(slot) = out.get_mut(written) {
                slot.write(byte);
            }
            written += 1;
            state = self.step(state, byte);
        }
        self.state = state;
        Some(written)
    }

    /// The state after `byte`.
    #[inline(always)]
    fn step(&mut self, state: u8, byte: u8) -> u8 {
        let next = entry(state, byte);
        if next < ACTIONS {
            return next;
        }
        match next {
            END_VALUE => self.after,
            END_NUMBER => {
                // The byte is read again after the number.
                let after = self.after;
                match entry(after, byte) {
                    next if next < ACTIONS => next,
                    action => self.act(action, after, byte),
                }
            }
            _ => self.act(next, state, byte),
        }
    }

    /// What an action byte other than a value's end does: the next state.
    #[inline(never)]
    fn act(&mut self, action: u8, state: u8, byte: u8) -> u8 {
        match action {
            OPEN_ARRAY => self.open(false),
            OPEN_OBJECT => self.open(true),
            CLOSE => self.close(),
            START_HEX => {
                self.key = state == ESCAPE_KEY;
                self.hex_digits = 0;
                self.hex_code = 0;
                self.hex_low = false;
                HEX
            }
            START_UTF8 => {
                self.key = state == STR_KEY;
                self.utf8_lead(byte)
            }
            _ => self.complex(state, byte),
        }
    }

    /// A byte in a state whose step needs its fields.
    fn complex(&mut self, state: u8, byte: u8) -> u8 {
        let string = if self.key { STR_KEY } else { STR_VALUE };
        match state {
            HEX => self.hex_digit(byte, string),
            LOW_BACKSLASH if byte == b'\\' => LOW_U,
            LOW_U if byte == b'u' => {
                self.hex_digits = 0;
                self.hex_code = 0;
                self.hex_low = true;
                HEX
            }
            UTF8 if (self.utf8_lo..=self.utf8_hi).contains(&byte) => {
                self.utf8_need -= 1;
                self.utf8_lo = 0x80;
                self.utf8_hi = 0xBF;
                if self.utf8_need == 0 {
                    string
                } else {
                    UTF8
                }
            }
            _ => FAILED,
        }
    }

    /// A string byte from 0x80: the first byte of a UTF-8 character (the ranges of the
    /// Unicode standard's table 3-7, which Rust's UTF-8 check follows), or invalid.
    fn utf8_lead(&mut self, byte: u8) -> u8 {
        let (need, lo, hi) = match byte {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return FAILED,
        };
        self.utf8_need = need;
        self.utf8_lo = lo;
        self.utf8_hi = hi;
        UTF8
    }

    /// The next hex digit of a `\u` escape; after the fourth, the string goes on (`string`)
    /// or waits for a high surrogate's low half.
    fn hex_digit(&mut self, byte: u8, string: u8) -> u8 {
        let Some(digit) = char::from(byte).to_digit(16) else {
            return FAILED;
        };
        // At most four digits: the value fits in 16 bits.
        let code = (self.hex_code << 4) | u16::try_from(digit).unwrap_or_default();
        if self.hex_digits < 3 {
            self.hex_digits += 1;
            self.hex_code = code;
            return HEX;
        }
        match (self.hex_low, code) {
            (false, 0xD800..=0xDBFF) => LOW_BACKSLASH,
            (false, 0xDC00..=0xDFFF) | (true, 0..=0xDBFF | 0xE000..) => FAILED,
            (false, _) | (true, 0xDC00..=0xDFFF) => string,
        }
    }

    fn is_object(&self, level: usize) -> bool {
        self.objects
            .get(level / 64)
            .is_some_and(|word| word >> (level % 64) & 1 == 1)
    }

    /// Opens a container at the next depth, or fails past the limit.
    fn open(&mut self, object: bool) -> u8 {
        if self.depth >= self.max_depth {
            self.too_deep = true;
            return FAILED;
        }
        let Some(word) = self.objects.get_mut(self.depth / 64) else {
            return FAILED;
        };
        let bit = 1u64 << (self.depth % 64);
        if object {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        self.depth += 1;
        if object {
            self.after = AFTER_OBJECT;
            KEY_FIRST
        } else {
            self.after = AFTER_ARRAY;
            VALUE_FIRST
        }
    }

    /// Closes the innermost container (the table let only its own closer through): the value
    /// it was ended in the one around it.
    fn close(&mut self) -> u8 {
        let Some(top) = self.depth.checked_sub(1) else {
            return FAILED;
        };
        self.depth = top;
        self.after = match top.checked_sub(1) {
            None => AFTER_TOP,
            Some(outer) if self.is_object(outer) => AFTER_OBJECT,
            Some(_) => AFTER_ARRAY,
        };
        self.after
    }

    pub fn failed(&self) -> bool {
        self.state == FAILED
    }

    /// Whether it failed by nesting deeper than the limit rather than by a syntax error.
    pub fn too_deep(&self) -> bool {
        self.too_deep
    }

    /// Whether the text is one whole JSON value (whitespace after it allowed).
    pub fn complete(&self) -> bool {
        self.state == AFTER_TOP
    }

    /// True inside a string with no escape or UTF-8 character begun: feeding printable ASCII
    /// other than `"` and `\` would change nothing, so a caller may leave such text out.
    #[inline]
    pub fn ignores_plain_text(&self) -> bool {
        matches!(self.state, STR_KEY | STR_VALUE)
    }
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;

    use super::JsonPrefix;
    use crate::json::partial::PartialJson;

    /// What the two must agree on: (failed, too deep, complete).
    fn verdict(prefix: &JsonPrefix) -> (bool, bool, bool) {
        (prefix.failed(), prefix.too_deep(), prefix.complete())
    }

    fn full_verdict(parser: &PartialJson) -> (bool, bool, bool) {
        (parser.failed(), parser.too_deep(), parser.complete())
    }

    fn prefix(depth: usize) -> JsonPrefix {
        JsonPrefix::new(depth).unwrap_or_else(|| panic!("depth {depth}"))
    }

    /// Feeds `doc` cut at `cuts` to both and compares their verdicts after every fragment.
    fn agree(doc: &[u8], cuts: &[usize], depth: usize) {
        let mut full = PartialJson::new(depth);
        let mut fast = prefix(depth);
        let mut start = 0;
        for &end in cuts.iter().chain([doc.len()].iter()) {
            let end = end.clamp(start, doc.len());
            full.feed(&doc[start..end]);
            fast.feed(&doc[start..end]);
            assert_eq!(
                verdict(&fast),
                full_verdict(&full),
                "{:?} to {end} depth {depth}",
                String::from_utf8_lossy(doc)
            );
            start = end;
        }
    }

    const DOCS: &[&[u8]] = &[
        b"{\"location\": \"Paris, France\", \"unit\": \"celsius\", \"days\": [1, 2.5, -3e+2]}",
        b"[true, false, null, {\"a\": {\"b\": [\"\\u00e9\\ud83d\\ude00\\n\"]}}, 0, -0.0E-1]",
        b"  {\"caf\xc3\xa9\": \"\xe2\x82\xac \xf0\x9f\x98\x80 \\\"q\\\" \\\\ \\/\", \"\": []}  ",
        b"\"top \\ud83d\\ude00 level\"",
        b"123.456e789",
        b"123 ",
        b"-",
        b"01",
        b"1.e5",
        b"{\"a\":1,\"a\":{\"b\":null},\"a\":[]}",
        b"[1, 2,, 3]",
        b"{\"a\" 1}",
        b"\"\\ud83d\\u0041\"",
        b"\"\\udc00\"",
        b"\"\\uD83D\\uDE00\\u00E9\\uFFFF\"",
        b"\"\\ud83d\\ud83d\"",
        b"\"\\ud83dx\"",
        b"\"\\ud83d\\x\"",
        b"\"\\u12g4\"",
        b"[1,]",
        b"{\"a\":1,}",
        b"[01",
        b"\"\xc3(",
        b"\"\xe0\x80\x80\"",
        b"\"\xed\xa0\x80\"",
        b"\"\xed\x9f\xbf\"",
        b"\"\xf0\x8f\xbf\xbf\"",
        b"\"\xf4\x90\x80\x80\"",
        b"\"\xf4\x8f\xbf\xbf\"",
        b"\"\xc1\xbf\"",
        b"\"\xf5\x80\x80\x80\"",
        b"\"\x80\"",
        b"\"\xc3\"",
        b"\"\x7f\"",
        b"[1 2",
        b"{}}",
        b"[]]",
        b"{]",
        b"[}",
        b"[[[[[1]]]]]",
        b"[[[[[]]]]]",
        b"{\"k\": {\"k\": {\"k\": {\"k\": 1}}}}",
        b" { \"a\\\"b\" :\t\"x\\\\y\\/\" ,\r\n\"c\": [ \"\" , \"d\" ] } ",
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
        b"[tru]",
        b"[truex]",
        b"nul",
        b"null x",
        b"falsey",
        b"[-0, 0e0, 1E+2, -1.5e-3, 7]",
        b"[1.5.2]",
        b"[1e]",
        b"{\"a\":1e5}",
        b"[\"\\b\\f\\n\\r\\t\\\"\\\\\\/\"]",
        b"{\"\\u0041\": 1}",
        b"\x01",
        b"",
        b"   ",
    ];

    /// Cut anywhere once and at every depth limit that matters, the prefix judges as the full
    /// parser does after each piece.
    #[test]
    fn judges_every_cut_as_the_full_parser_does() {
        for doc in DOCS {
            for cut in 0..=doc.len() {
                for depth in [0, 1, 3, 128] {
                    agree(doc, &[cut], depth);
                }
            }
        }
    }

    /// Fed byte by byte and in every three-way split.
    #[test]
    fn judges_every_split_as_the_full_parser_does() {
        for doc in DOCS {
            let bytes: Vec<usize> = (1..doc.len()).collect();
            agree(doc, &bytes, 128);
            for i in 0..=doc.len() {
                for j in i..=doc.len() {
                    agree(doc, &[i, j], 4);
                }
            }
        }
    }

    /// Every text of up to four bytes over an alphabet of JSON's structure, escapes and UTF-8
    /// pieces, whole and byte by byte.
    #[test]
    fn judges_every_short_text_as_the_full_parser_does() {
        let alphabet: &[u8] = b"{}[],:\" \\u0e1-.tnx\xc3\xa9\xed\x01";
        let mut doc = Vec::new();
        let mut checked = 0;
        for len in 0..=4u32 {
            for n in 0..alphabet.len().pow(len) {
                doc.clear();
                let mut rest = n;
                for _ in 0..len {
                    doc.push(alphabet[rest % alphabet.len()]);
                    rest /= alphabet.len();
                }
                agree(&doc, &[], 2);
                agree(&doc, &[1, 2, 3], 2);
                checked += 1;
            }
        }
        assert!(checked > 200_000, "{checked}");
    }

    /// `doc` as a JSON string's body writes it: the quote, the backslash and the controls
    /// that have one as one-letter escapes, other controls as `\u` escapes, the rest as is;
    /// with where each written character starts.
    fn escaped(doc: &[u8]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for &b in doc {
            starts.push(out.len());
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\r' => out.extend_from_slice(b"\\r"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        starts.push(out.len());
        (out, starts)
    }

    /// Whether a string's body has UTF-8 or a `\u` escape (of the body, not an escaped
    /// backslash followed by `u`).
    fn outer_unicode(body: &[u8]) -> bool {
        let mut at = 0;
        while let Some(&b) = body.get(at) {
            if b >= 0x80 || (b == b'\\' && body.get(at + 1) == Some(&b'u')) {
                return true;
            }
            at += if b == b'\\' { 2 } else { 1 };
        }
        false
    }

    /// Feeds `doc` written as a JSON string's body, cut at `cuts` (character indexes), with
    /// `feed_escaped`: a fragment of plain ASCII and one-letter escapes is taken, decoded to
    /// the fragment of `doc`, and judged as `feed` judges that text; any other (UTF-8, a `\u`
    /// escape) is refused with the state unchanged, and then fed decoded as the general path
    /// does.
    fn agree_escaped(doc: &[u8], cuts: &[usize], depth: usize) {
        let (raw, starts) = escaped(doc);
        let mut fast = prefix(depth);
        let mut plain = prefix(depth);
        let mut start = 0;
        for &end in cuts.iter().chain([doc.len()].iter()) {
            let end = end.clamp(start, doc.len());
            let body = &raw[starts[start]..starts[end]];
            let text = &doc[start..end];
            let mut out = vec![MaybeUninit::new(b'#'); body.len() + 1];
            let before = format!("{fast:?}");
            let general = outer_unicode(body);
            if let Some(n) = fast.feed_escaped(body, &mut out) {
                assert!(!general, "took {body:?}");
                // SAFETY: `out` was initialised when made.
                let decoded: Vec<u8> = out[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                assert_eq!(decoded, text, "{body:?}");
            } else {
                assert!(general, "refused {body:?}");
                assert_eq!(format!("{fast:?}"), before, "{body:?}");
                fast.feed(text);
            }
            plain.feed(text);
            assert_eq!(
                format!("{fast:?}"),
                format!("{plain:?}"),
                "{:?} to {end} depth {depth}",
                String::from_utf8_lossy(doc)
            );
            start = end;
        }
    }

    /// Every document written as a string's body, cut once anywhere (escapes of the inner
    /// text, `\"` and `\\`, split between fragments; the text broken off at every character),
    /// byte by byte, and in every three-way split, at depth limits that matter.
    #[test]
    fn an_escaped_fragment_is_judged_as_its_text() {
        let docs = DOCS.iter().copied().chain([
            b"{\"a\\\\\": \"\\\\\\\"\", \"b\": [\"\\\\u00e9\"]}".as_slice(),
            b"{\"k\": \"line\nbreak\ttab\x08\x0c\r\"}",
            b"[[[[\"deep\"]]]]",
            b"{\"x\": tru\x01e}",
        ]);
        for doc in docs {
            for cut in 0..=doc.len() {
                for depth in [0, 1, 3, 128] {
                    agree_escaped(doc, &[cut], depth);
                }
            }
            let chars: Vec<usize> = (1..doc.len()).collect();
            agree_escaped(doc, &chars, 128);
            for i in (0..=doc.len()).step_by(3) {
                for j in i..=doc.len() {
                    agree_escaped(doc, &[i, j], 4);
                }
            }
        }
    }

    /// Whatever `feed_escaped` refuses leaves the state as it was, wherever in the fragment
    /// the refused byte sits (after structure it would have taken): a `\u` escape, an
    /// unescaped quote, a control byte, UTF-8, a backslash ending the fragment, an escape
    /// letter JSON lacks; and an `out` shorter than the fragment.
    #[test]
    fn a_refused_escaped_fragment_changes_nothing() {
        let bad: [&[u8]; 7] = [
            b"\\u0041",
            b"\"",
            b"\x01",
            "\u{e9}".as_bytes(),
            b"\\",
            b"\\x",
            b"\x7f\x80",
        ];
        for lead in [b"".as_slice(), b"{\\\"a\\\":[1", b"[tru", b"\\\"ab"] {
            for bad in bad {
                for tail in [b"".as_slice(), b"]"] {
                    let body = [lead, bad, tail].concat();
                    for start in [b"".as_slice(), b"[\"", b"{"] {
                        let mut check = prefix(8);
                        check.feed(start);
                        let before = format!("{check:?}");
                        let mut out = vec![MaybeUninit::new(0); body.len()];
                        assert_eq!(check.feed_escaped(&body, &mut out), None, "{body:?}");
                        assert_eq!(format!("{check:?}"), before, "{body:?}");
                    }
                }
            }
        }
        let mut check = prefix(8);
        let mut short = vec![MaybeUninit::new(0); 2];
        assert_eq!(check.feed_escaped(b"[1,2", &mut short), None);
        assert_eq!(format!("{check:?}"), format!("{:?}", prefix(8)));
    }

    /// Nesting to the limit is accepted and one more level is too deep, at every depth the
    /// bits cover (across their word boundaries).
    #[test]
    fn depth_limit_counts_open_containers() {
        for depth in [1, 2, 63, 64, 65, 127, 128, 129, 200, 255, 256] {
            for open in [b'[', b'{'] {
                let (level, close): (&[u8], &[u8]) = if open == b'[' {
                    (b"[", b"]")
                } else {
                    (b"{\"k\":", b"}")
                };
                let inside = [level.repeat(depth), b"1".to_vec(), close.repeat(depth)].concat();
                agree(&inside, &[depth * level.len()], depth);
                let mut fast = prefix(depth);
                fast.feed(&inside);
                assert!(fast.complete(), "depth {depth}");
                let deeper = [level.repeat(depth + 1), b"1".to_vec()].concat();
                agree(&deeper, &[], depth);
                let mut fast = prefix(depth);
                fast.feed(&deeper);
                assert!(fast.failed() && fast.too_deep(), "depth {depth}");
            }
        }
        assert!(JsonPrefix::new(257).is_none());
    }
}
