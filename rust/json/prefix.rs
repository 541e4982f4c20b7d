//! Whether a text fed in fragments is still the start of one JSON document, and whether it is
//! one whole document: what a tool input needs while it streams in and nothing reads its value
//! (the value is read once, from the whole text).
//!
//! [`JsonPrefix`] answers exactly as [`crate::json::partial::PartialJson`] does (strict RFC
//! 8259, the same depth limit), but keeps no text and builds no tree: its whole state is a few
//! words, the open containers one bit each, so a byte costs a state change and a fragment no
//! allocation.

use crate::json::number::Num;
use crate::json::short_escape;

/// Open containers a [`JsonPrefix`] can track: one bit each.
pub const PREFIX_MAX_DEPTH: usize = 256;

/// Where the text stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A value is expected; `first` just after `[`, where `]` may close instead.
    Value {
        first: bool,
    },
    /// A key's opening quote is expected; `first` just after `{`, where `}` may close instead.
    Key {
        first: bool,
    },
    Colon,
    /// A value ended: in a container `,` or its closer; at the top level only whitespace.
    After,
    /// Inside a string (`key`: an object key), after plain text.
    Str {
        key: bool,
    },
    /// Just after a backslash.
    Escape {
        key: bool,
    },
    /// `digits` (0 to 3) hex digits of a `\u` escape read, worth `code`; `low` when the escape
    /// must be the low half of a surrogate pair.
    Hex {
        key: bool,
        digits: u8,
        code: u16,
        low: bool,
    },
    /// After a high surrogate: the `\` of its low half must follow.
    LowBackslash {
        key: bool,
    },
    /// After a high surrogate and `\`: the `u` must follow.
    LowU {
        key: bool,
    },
    /// Inside a multi-byte UTF-8 character: `need` more bytes, the next within `lo..=hi`.
    Utf8 {
        key: bool,
        need: u8,
        lo: u8,
        hi: u8,
    },
    Num(Num),
    /// Inside `true`, `false` or `null`: which one (its index in [`LITERALS`]) and how many of
    /// its bytes have come.
    Lit {
        word: u8,
        read: u8,
    },
    Failed,
}

/// The state of a JSON text fed in fragments; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct JsonPrefix {
    state: State,
    /// Open containers.
    depth: usize,
    /// At most this many open at once (at most [`PREFIX_MAX_DEPTH`]).
    max_depth: usize,
    /// Bit `i` set when the container at depth `i` is an object.
    objects: [u64; PREFIX_MAX_DEPTH / 64],
    too_deep: bool,
}

/// Printable ASCII other than `"` and `\`: a string's bytes that change nothing.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// The literals, without the first byte that starts them.
const LITERALS: [&[u8]; 3] = [b"rue", b"alse", b"ull"];

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl JsonPrefix {
    /// `None` when `max_depth` is more than [`PREFIX_MAX_DEPTH`].
    pub fn new(max_depth: usize) -> Option<Self> {
        (max_depth <= PREFIX_MAX_DEPTH).then_some(JsonPrefix {
            state: State::Value { first: false },
            depth: 0,
            max_depth,
            objects: [0; PREFIX_MAX_DEPTH / 64],
            too_deep: false,
        })
    }

    /// Takes the next fragment. Once the text can no longer start a JSON document (or nests
    /// deeper than the limit) it is failed and later fragments change nothing.
    #[inline]
    pub fn feed(&mut self, fragment: &[u8]) {
        let mut state = self.state;
        let mut at = 0;
        while let Some(&byte) = fragment.get(at) {
            // Most bytes of a tool input are a string's plain text: no state change.
            if let State::Str { key } = state {
                if PLAIN[usize::from(byte)] {
                    at += 1;
                    continue;
                }
                state = match byte {
                    b'"' if key => State::Colon,
                    b'"' => State::After,
                    b'\\' => State::Escape { key },
                    _ => utf8_lead(key, byte),
                };
                at += 1;
                continue;
            }
            match self.step(state, byte) {
                // The byte ended a number and is read again after it.
                Step::Again(next) => state = next,
                Step::Took(next) => {
                    state = next;
                    at += 1;
                }
            }
            if matches!(state, State::Failed) {
                break;
            }
        }
        self.state = state;
    }

    /// The state after `byte` in any state but plain string text.
    #[inline]
    fn step(&mut self, state: State, byte: u8) -> Step {
        let next = match state {
            State::Str { .. } | State::Failed => state,
            State::Value { first } => match byte {
                b'"' => State::Str { key: false },
                b'{' => return Step::Took(self.open(true)),
                b'[' => return Step::Took(self.open(false)),
                b']' if first => self.close(false),
                b't' => State::Lit { word: 0, read: 0 },
                b'f' => State::Lit { word: 1, read: 0 },
                b'n' => State::Lit { word: 2, read: 0 },
                _ if is_whitespace(byte) => state,
                _ => match Num::Start.next(byte) {
                    Some(num) => State::Num(num),
                    None => State::Failed,
                },
            },
            State::Key { first } => match byte {
                b'"' => State::Str { key: true },
                b'}' if first => self.close(true),
                _ if is_whitespace(byte) => state,
                _ => State::Failed,
            },
            State::Colon => match byte {
                b':' => State::Value { first: false },
                _ if is_whitespace(byte) => state,
                _ => State::Failed,
            },
            State::After => {
                if is_whitespace(byte) {
                    return Step::Took(state);
                }
                let Some(top) = self.depth.checked_sub(1) else {
                    return Step::Took(State::Failed);
                };
                let object = self.is_object(top);
                match (byte, object) {
                    (b',', false) => State::Value { first: false },
                    (b',', true) => State::Key { first: false },
                    (b']', false) | (b'}', true) => self.close(object),
                    _ => State::Failed,
                }
            }
            State::Num(num) => match num.next(byte) {
                Some(num) => State::Num(num),
                None if num.is_complete() => return Step::Again(State::After),
                None => State::Failed,
            },
            State::Lit { word, read } => {
                let rest = LITERALS
                    .get(usize::from(word))
                    .and_then(|literal| literal.get(usize::from(read)..))
                    .unwrap_or_default();
                match rest {
                    [expected] if byte == *expected => State::After,
                    [expected, ..] if byte == *expected => State::Lit {
                        word,
                        read: read + 1,
                    },
                    _ => State::Failed,
                }
            }
            State::Escape { key } => match byte {
                b'u' => State::Hex {
                    key,
                    digits: 0,
                    code: 0,
                    low: false,
                },
                _ if short_escape(byte).is_some() => State::Str { key },
                _ => State::Failed,
            },
            State::Hex {
                key,
                digits,
                code,
                low,
            } => hex_digit(key, digits, code, low, byte),
            State::LowBackslash { key } => match byte {
                b'\\' => State::LowU { key },
                _ => State::Failed,
            },
            State::LowU { key } => match byte {
                b'u' => State::Hex {
                    key,
                    digits: 0,
                    code: 0,
                    low: true,
                },
                _ => State::Failed,
            },
            State::Utf8 { key, need, lo, hi } => {
                if !(lo..=hi).contains(&byte) {
                    State::Failed
                } else if need == 1 {
                    State::Str { key }
                } else {
                    State::Utf8 {
                        key,
                        need: need - 1,
                        lo: 0x80,
                        hi: 0xBF,
                    }
                }
            }
        };
        Step::Took(next)
    }

    fn is_object(&self, level: usize) -> bool {
        self.objects
            .get(level / 64)
            .is_some_and(|word| word >> (level % 64) & 1 == 1)
    }

    /// Opens a container at the next depth, or fails past the limit.
    fn open(&mut self, object: bool) -> State {
        if self.depth >= self.max_depth {
            self.too_deep = true;
            return State::Failed;
        }
        let Some(word) = self.objects.get_mut(self.depth / 64) else {
            return State::Failed;
        };
        let bit = 1u64 << (self.depth % 64);
        if object {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        self.depth += 1;
        if object {
            State::Key { first: true }
        } else {
            State::Value { first: true }
        }
    }

    /// Closes the innermost container (`object` says which kind the closer is for).
    fn close(&mut self, object: bool) -> State {
        match self.depth.checked_sub(1) {
            Some(top) if self.is_object(top) == object => {
                self.depth = top;
                State::After
            }
            _ => State::Failed,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Whether it failed by nesting deeper than the limit rather than by a syntax error.
    pub fn too_deep(&self) -> bool {
        self.too_deep
    }

    /// Whether the text is one whole JSON value (whitespace after it allowed).
    pub fn complete(&self) -> bool {
        matches!(self.state, State::After) && self.depth == 0
    }

    /// True inside a string with no escape or UTF-8 character begun: feeding printable ASCII
    /// other than `"` and `\` would change nothing, so a caller may leave such text out.
    #[inline]
    pub fn ignores_plain_text(&self) -> bool {
        matches!(self.state, State::Str { .. })
    }
}

/// What one byte did.
enum Step {
    /// Consumed it, leading to this state.
    Took(State),
    /// Led to this state without consuming it: it is read again from there.
    Again(State),
}

/// A string byte that is not plain ASCII, a quote or a backslash: a control byte (refused)
/// or the first byte of a UTF-8 character (the ranges of the Unicode standard's table 3-7,
/// which Rust's UTF-8 check follows).
#[cold]
fn utf8_lead(key: bool, byte: u8) -> State {
    let (need, lo, hi) = match byte {
        0xC2..=0xDF => (1, 0x80, 0xBF),
        0xE0 => (2, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
        0xED => (2, 0x80, 0x9F),
        0xF0 => (3, 0x90, 0xBF),
        0xF1..=0xF3 => (3, 0x80, 0xBF),
        0xF4 => (3, 0x80, 0x8F),
        _ => return State::Failed,
    };
    State::Utf8 { key, need, lo, hi }
}

fn hex_digit(key: bool, digits: u8, code: u16, low: bool, byte: u8) -> State {
    let Some(digit) = char::from(byte).to_digit(16) else {
        return State::Failed;
    };
    // At most four digits: the value fits in 16 bits.
    let code = (code << 4) | u16::try_from(digit).unwrap_or_default();
    if digits < 3 {
        return State::Hex {
            key,
            digits: digits + 1,
            code,
            low,
        };
    }
    match (low, code) {
        (false, 0xD800..=0xDBFF) => State::LowBackslash { key },
        (false, 0xDC00..=0xDFFF) | (true, 0..=0xDBFF | 0xE000..) => State::Failed,
        (false, _) | (true, 0xDC00..=0xDFFF) => State::Str { key },
    }
}

#[cfg(test)]
mod tests {
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
