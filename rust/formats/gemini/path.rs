//! The `jsonPath` of Gemini's streamed function-call arguments (`partialArgs`): `$` followed by
//! `.key`, `['key']` / `["key"]` and `[index]` steps, and setting a value at such a path.

use crate::json::value::{Map, Value};

/// Array indexes above this are refused as paths: padding an array up to a hostile index
/// would allocate without bound.
pub const MAX_INDEX: usize = 65_535;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The steps of `path`, or None if it is not a path of this grammar.
pub fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    parse_into(path, &mut steps).then_some(steps)
}

/// [`parse`] into `steps`, reusing its vector and its keys' strings (a stream of streamed
/// arguments parses a path per fragment); false, `steps` then unspecified, if `path` is not a
/// path of this grammar.
pub fn parse_into(path: &str, steps: &mut Vec<Step>) -> bool {
    let mut used = 0;
    let parsed = parse_steps(path, 0, &mut |step, _| {
        put(steps, used, step);
        used += 1;
    })
    .is_some();
    steps.truncate(used);
    parsed
}

/// Sets step `at` of `steps` (at most its length) to `step`. Consecutive paths mostly share
/// their first keys: an equal key is left as it is, and a different one reuses its string.
#[inline]
fn put(steps: &mut Vec<Step>, at: usize, step: StepText<'_>) {
    match (steps.get_mut(at), step) {
        (Some(Step::Key(key)), StepText::Key(text)) => {
            if key != text {
                key.clear();
                key.push_str(text);
            }
        }
        (Some(slot), step) => *slot = step.owned(),
        (None, step) => steps.push(step.owned()),
    }
}

/// A path's steps with the text they were parsed from and where each step ends in it. The
/// paths of a call's fragments mostly share their text up to the last step or two
/// (`$.recipe.ingredients[3].amount`, then `...[3].name`, then `...[4].amount`): a step
/// whose text and the byte after it lie in the text both paths share is read from the same
/// bytes, so it is the same step, and only the rest of the new path is read.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Private: the steps change only with their text.
    steps: Vec<Step>,
    /// The text `steps` were parsed from; empty when unknown (a path's text starts with `$`).
    text: String,
    /// Per step: the byte of `text` after it.
    ends: Vec<usize>,
}

impl Parsed {
    /// Steps known without their text (a decoded entry's): the next parse reads all of it.
    pub fn from_steps(steps: Vec<Step>) -> Self {
        Parsed {
            steps,
            text: String::new(),
            ends: Vec::new(),
        }
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The text the steps were parsed from, when known.
    pub fn text(&self) -> Option<&str> {
        (!self.text.is_empty()).then_some(self.text.as_str())
    }

    /// [`parse_into`] of `path`, reading only what follows the steps it shares with the path
    /// parsed last (see [`Parsed`]); false, the steps then unspecified, if `path` is not a
    /// path of this grammar.
    pub fn parse(&mut self, path: &str) -> bool {
        let shared = shared_prefix(self.text.as_bytes(), path.as_bytes());
        // The steps before the byte at `shared`: the byte after each is shared too.
        let kept = self.ends.partition_point(|&end| end < shared);
        let from = match kept.checked_sub(1) {
            Some(last) => self.ends.get(last).copied().unwrap_or_default(),
            None => 0,
        };
        let Parsed { steps, text, ends } = self;
        ends.truncate(kept);
        let mut used = kept;
        let parsed = parse_steps(path, from, &mut |step, end| {
            put(steps, used, step);
            ends.push(end);
            used += 1;
        })
        .is_some();
        steps.truncate(used);
        // The text before `from` is the same; it ends before an ASCII delimiter (or is
        // empty), a character boundary in both.
        match path.get(from..) {
            Some(rest) if parsed && text.is_char_boundary(from) => {
                text.truncate(from);
                text.push_str(rest);
            }
            _ => {
                text.clear();
                ends.clear();
            }
        }
        parsed
    }
}

/// The length of the longest common prefix of `a` and `b`, in bytes, eight at a time.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= len {
        let (Some(x), Some(y)) = (a.get(at..at + 8), b.get(at..at + 8)) else {
            break;
        };
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            break;
        };
        let differ = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if differ != 0 {
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < len && a.get(at) == b.get(at) {
        at += 1;
    }
    at
}

/// A step as [`parse_steps`] finds it, its key borrowed from the path.
enum StepText<'p> {
    Key(&'p str),
    Index(usize),
}

impl StepText<'_> {
    fn owned(self) -> Step {
        match self {
            StepText::Key(key) => Step::Key(key.to_string()),
            StepText::Index(index) => Step::Index(index),
        }
    }
}

/// Hands each step of `path` from byte `from` on to `push`, with the byte after it, in order;
/// None at the first text outside the grammar. `from` is 0 (the whole path, `$` first) or the
/// end of a step of a valid path with the same bytes before it. Read byte by byte: every
/// delimiter is ASCII, so a key's ends are character boundaries. `push` is called from one
/// place, so that it is inlined (one call per step cost more than the step's parse).
fn parse_steps<'p>(
    path: &'p str,
    from: usize,
    push: &mut impl FnMut(StepText<'p>, usize),
) -> Option<()> {
    let bytes = path.as_bytes();
    let mut at = from;
    if at == 0 {
        if bytes.first() != Some(&b'$') {
            return None;
        }
        at = 1;
    }
    while let Some(&first) = bytes.get(at) {
        let step = match (first, bytes.get(at + 1)) {
            (b'.', _) => {
                let start = at + 1;
                let len = key_len(bytes.get(start..)?);
                if len == 0 {
                    return None;
                }
                at = start + len;
                StepText::Key(path.get(start..start + len)?)
            }
            (b'[', Some(&quote)) if quote == b'\'' || quote == b'"' => {
                let start = at + 2;
                let len = bytes.get(start..)?.iter().position(|&b| b == quote)?;
                if bytes.get(start + len + 1) != Some(&b']') {
                    return None;
                }
                at = start + len + 2;
                StepText::Key(path.get(start..start + len)?)
            }
            (b'[', _) => {
                let start = at + 1;
                let digits = (bytes.get(start..)?.iter())
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(bytes.len() - start);
                if digits == 0 || bytes.get(start + digits) != Some(&b']') {
                    return None;
                }
                let mut index: usize = 0;
                for &digit in bytes.get(start..start + digits)? {
                    index = index
                        .checked_mul(10)?
                        .checked_add(usize::from(digit - b'0'))?;
                }
                if index > MAX_INDEX {
                    return None;
                }
                at = start + digits + 1;
                StepText::Index(index)
            }
            _ => return None,
        };
        push(step, at);
    }
    Some(())
}

/// The length of the dotted key `rest` starts with: up to its first `.` or `[`, or all of it.
/// Eight bytes a word at a time: a byte at a time was most of a path's parse.
fn key_len(rest: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = ONES << 7;
    let words = rest.chunks_exact(8);
    let tail = words.remainder();
    for (i, word) in words.enumerate() {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let word = u64::from_le_bytes(word);
        let (dots, opens) = (
            word ^ (ONES * u64::from(b'.')),
            word ^ (ONES * u64::from(b'[')),
        );
        // A byte's high bit set where the byte is zero, and false hits only above a true one
        // (a borrow runs upward from a zero byte): the lowest set bit is the first delimiter.
        let found = (dots.wrapping_sub(ONES) & !dots | opens.wrapping_sub(ONES) & !opens) & HIGHS;
        if found != 0 {
            return i * 8 + (found.trailing_zeros() / 8) as usize;
        }
    }
    let at = rest.len() - tail.len();
    at + (tail.iter())
        .position(|&b| b == b'.' || b == b'[')
        .unwrap_or(tail.len())
}

/// Sets `value` at `steps` under `root`, creating objects and arrays on the way (an array is
/// padded with nulls up to the index; a value of the wrong type on the way is replaced). With
/// `append`, a string value is appended to a string already there. Returns the length of the
/// longest string the value at `steps` holds after it.
pub fn set(root: &mut Value, steps: &[Step], value: Value, append: bool) -> usize {
    let Some(at) = slot(root, steps) else {
        return 0;
    };
    match (at, value) {
        (Value::String(existing), Value::String(more)) if append => {
            existing.push_str(&more);
            existing.len()
        }
        (slot, value) => {
            *slot = value;
            match slot {
                // The usual value: no call.
                Value::String(s) => s.len(),
                other => longest_text(other),
            }
        }
    }
}

/// The length of the longest string in `v` (0 when it has none).
pub fn longest_text(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_text).max().unwrap_or(0),
        Value::Object(map) => map.values().map(longest_text).max().unwrap_or(0),
        _ => 0,
    }
}

/// As [`set`] with `append` for the string `more`, which is copied only when no string is
/// there to take it; the length of the string at `steps` after it.
pub fn append(root: &mut Value, steps: &[Step], more: &str) -> usize {
    match slot(root, steps) {
        Some(Value::String(existing)) => {
            existing.push_str(more);
            existing.len()
        }
        Some(other) => {
            *other = Value::String(more.to_string());
            more.len()
        }
        None => 0,
    }
}

/// [`Map::index_of`] for the small objects of streamed arguments, whose keys are mostly
/// short: compared inline rather than by a call per key.
fn key_at(map: &Map, key: &str) -> Option<usize> {
    const SMALL: usize = 8;
    if map.len() > SMALL {
        return map.index_of(key);
    }
    map.keys()
        .position(|k| same_text(k.as_bytes(), key.as_bytes()))
}

/// `a == b`, up to 16 bytes by two loads each (overlapping when shorter than two words), so
/// that a short key costs no call; longer ones by the slice comparison.
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        0 => true,
        1..=3 => a.first() == b.first() && a.last() == b.last() && a.get(1) == b.get(1),
        4..=7 => ends::<4>(a) == ends::<4>(b),
        8..=16 => ends::<8>(a) == ends::<8>(b),
        _ => a == b,
    }
}

/// The first and the last `N` bytes of `s` (overlapping when `s` is shorter than `2N`), or
/// None when it is shorter than `N`.
fn ends<const N: usize>(s: &[u8]) -> Option<([u8; N], [u8; N])> {
    let first = s.get(..N)?.try_into().ok()?;
    let last = s.get(s.len().checked_sub(N)?..)?.try_into().ok()?;
    Some((first, last))
}

/// The value at `steps` under `root`, made as [`set`] describes.
fn slot<'v>(root: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    let mut at = root;
    for step in steps {
        at = match step {
            Step::Key(key) => {
                if !matches!(at, Value::Object(_)) {
                    *at = Value::Object(Map::new());
                }
                let Value::Object(map) = at else {
                    return None;
                };
                let i =
                    key_at(map, key).unwrap_or_else(|| map.push_absent(key.clone(), Value::Null));
                map.entry_at_mut(i)?.1
            }
            Step::Index(index) => {
                if !matches!(at, Value::Array(_)) {
                    *at = Value::Array(Vec::new());
                }
                let Value::Array(items) = at else {
                    return None;
                };
                // Streamed arguments mostly add the next index: one push, not a resize.
                if items.len() == *index {
                    items.push(Value::Null);
                } else if items.len() < *index {
                    items.resize_with(index + 1, || Value::Null);
                }
                items.get_mut(*index)?
            }
        };
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse("$.recipe.ingredients[0].amount"),
            Some(vec![
                Step::Key("recipe".into()),
                Step::Key("ingredients".into()),
                Step::Index(0),
                Step::Key("amount".into())
            ])
        );
        assert_eq!(parse("$"), Some(vec![]));
        assert_eq!(
            parse("$['a.b'][2]"),
            Some(vec![Step::Key("a.b".into()), Step::Index(2)])
        );
        for bad in ["", "a", "$.", "$[x]", "$[1", "$..a", "$[99999999]", "$['a"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let more = [
            ("$[007]", Some(vec![Step::Index(7)])),
            ("$[65535]", Some(vec![Step::Index(MAX_INDEX)])),
            (
                r#"$["a'b"].c"#,
                Some(vec![Step::Key("a'b".into()), Step::Key("c".into())]),
            ),
            (
                "$.\u{e9}t\u{e9}[1]",
                Some(vec![Step::Key("\u{e9}t\u{e9}".into()), Step::Index(1)]),
            ),
            ("$['']", Some(vec![Step::Key(String::new())])),
            ("$[]", None),
            ("$[", None),
            ("$[65536]", None),
            ("$[99999999999999999999999999]", None),
            ("$[+1]", None),
            ("$[ 1]", None),
            ("$[1]x", None),
            ("$['a']x", None),
            ("$['a'", None),
            ("$['a\"]", None),
            ("$.a[1", None),
            ("$a", None),
            ("$.a.", None),
        ];
        for (path, steps) in more {
            assert_eq!(parse(path), steps, "{path}");
        }
    }

    /// Parsing into a used vector gives the steps a fresh parse gives, whatever was there:
    /// longer or shorter, keys where indexes were and the reverse.
    #[test]
    fn parsing_into_a_used_vector_is_parsing() {
        let paths = [
            "$.recipe.ingredients[0].amount",
            "$.recipe.ingredients[0].name",
            "$",
            "$[3].a",
            "$.a[3]['b.c']",
            "$.recipe.ingredients[12].amount",
            "$.a",
            "$.b",
        ];
        let mut steps = Vec::new();
        for before in paths {
            for path in paths {
                assert!(parse_into(before, &mut steps));
                assert!(parse_into(path, &mut steps));
                assert_eq!(Some(steps.clone()), parse(path), "{before} then {path}");
            }
        }
        assert!(!parse_into("$.a.", &mut steps));
    }

    /// A path parsed from the steps it shares with the one parsed before gives the steps a
    /// fresh parse gives, whatever came before: paths that share text up to, into and past a
    /// step's end (a key that is another's start, `[1]` and `[10]`), indexes growing and going
    /// back, quoted keys holding delimiters, keys sharing a character's first bytes, the
    /// root, and bad paths (the text after them is not trusted).
    #[test]
    fn parsing_from_shared_steps_is_parsing() {
        let paths = [
            "$.recipe.ingredients[3].amount",
            "$.recipe.ingredients[3].name",
            "$.recipe.ingredients[4].amount",
            "$.recipe.ingredients[10].amount",
            "$.recipe.ingredients[1].name",
            "$.recipe.ingredients[1]",
            "$.recipe.ingredients",
            "$.recipe.ingredientsX",
            "$.recipe.ingredients.x",
            "$.ab",
            "$.abc",
            "$.ab.c",
            "$.ab[0]",
            "$['a.b'].c",
            "$['a.b'].d",
            "$['a.c']",
            "$[\"a.b\"].c",
            "$['a[0]'][0]",
            "$.\u{e9}.x",
            "$.\u{ea}.x",
            "$.\u{e9}",
            "$",
            "$[0][1][2]",
            "$[0][1][3]",
            "$.recipe.ingredients[3]x",
            "$.recipe..a",
            "$.recipe.ingredients[99999].a",
            "$.ab.",
            "",
        ];
        let mut parsed = Parsed::default();
        for before in paths {
            for path in paths {
                for p in [before, path] {
                    let fresh = parse(p);
                    assert_eq!(parsed.parse(p), fresh.is_some(), "{before} then {p}");
                    if let Some(steps) = fresh {
                        assert_eq!(parsed.steps(), steps.as_slice(), "{before} then {p}");
                        assert_eq!(parsed.text(), Some(p));
                    } else {
                        assert_eq!(parsed.text(), None);
                    }
                }
            }
        }
        let known = Parsed::from_steps(vec![Step::Key("a".into())]);
        assert_eq!(known.text(), None);
    }

    #[test]
    fn shared_prefix_is_where_the_bytes_first_differ() {
        let base: Vec<u8> = (0..40u8).collect();
        for len in 0..40 {
            let a = &base[..len];
            assert_eq!(shared_prefix(a, a), len);
            assert_eq!(shared_prefix(a, &base), len);
            assert_eq!(shared_prefix(&base, a), len);
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x80;
                assert_eq!(shared_prefix(a, &b), at, "{len} {at}");
                assert_eq!(shared_prefix(&b, &base), at, "{len} {at}");
            }
        }
    }

    /// The inline comparison is `==` for every length up to past two words, with the
    /// slices differing at any one byte, or equal.
    #[test]
    fn same_text_is_equality() {
        let base: Vec<u8> = (1..=40u8).collect();
        for len in 0..=20 {
            let a = &base[..len];
            assert!(same_text(a, a));
            assert!(!same_text(a, &base[..=len]));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x40;
                assert!(!same_text(a, &b), "{len} {at}");
            }
        }
    }

    /// The word-at-a-time key scan stops where a byte-at-a-time one does: at each place of a
    /// `.` or `[` (one or two of them) in keys of 0-24 bytes, among bytes that differ from a
    /// delimiter in the high bit only (0xae, 0xdb), bytes one off (`-`, `/`, `Z`, `\\`) and
    /// non-ASCII text.
    #[test]
    fn key_len_is_the_first_delimiter() {
        let naive = |rest: &[u8]| {
            (rest.iter())
                .position(|&b| b == b'.' || b == b'[')
                .unwrap_or(rest.len())
        };
        let fillers: [&[u8]; 4] = [
            b"abcdefgh",
            b"\xae\xdb-/Z\\\x00\xff",
            "é中\u{1f600}".as_bytes(),
            b"\x2f\x2d\x5a\x5c",
        ];
        for filler in fillers {
            for len in 0..=24 {
                let base: Vec<u8> = filler.iter().copied().cycle().take(len).collect();
                assert_eq!(key_len(&base), naive(&base));
                for first in 0..len {
                    for delimiter in [b'.', b'['] {
                        let mut one = base.clone();
                        one[first] = delimiter;
                        assert_eq!(key_len(&one), first, "{one:?}");
                        for second in first + 1..len {
                            let mut two = one.clone();
                            two[second] = b'.' ^ b'[' ^ delimiter;
                            assert_eq!(key_len(&two), first, "{two:?}");
                        }
                    }
                }
            }
        }
    }
}
