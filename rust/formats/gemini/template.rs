//! The fast path for repeated Gemini events.
//!
//! Every Gemini event is a whole `GenerateContentResponse`, and consecutive events of a stream
//! are byte for byte the same apart from the text of their one part and the numbers of
//! `usageMetadata`. After an event with one candidate and one non-empty text part was decoded
//! and applied in full, [`Template::learn`] keeps its bytes with those values cut out as holes:
//! the text string, and every number inside a top-level value (not `candidates`). A later
//! payload with the same bytes around a valid string and valid numbers is then folded by
//! appending that text and re-merging the top-level values that hold numbers, with the same
//! result and events as decoding it in full: everything else in it is what the fold already
//! merged (last non-null values, re-merged unchanged) and the text part merges into the last
//! part, a text part of the same `thought` flag.
//!
//! Only a byte-exact match is taken: anything else, including an invalid string or number, goes
//! through the full decoder, which reports errors with their positions.

use std::borrow::Cow;

use crate::json::number::Num;
use crate::json::reader::Reader;

/// More numbers than this in the top-level values: no template (matching them would cost as
/// much as validating the payload).
const MAX_HOLES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Text,
    Number,
}

/// What a full decode saw of a payload, for learning its template.
#[derive(Debug, Default)]
pub struct Shape<'a> {
    /// How many `text` keys the payload had, in any part.
    pub text_keys: usize,
    /// The last `text` value's span (its quotes included).
    pub text_span: (usize, usize),
    /// Top-level keys other than `candidates` and `error`, with their values' spans.
    pub values: Vec<(Cow<'a, str>, usize, usize)>,
}

#[derive(Debug)]
pub struct Template {
    /// The learned payload; the holes' bytes in it are not compared.
    bytes: Vec<u8>,
    /// Spans of `bytes` whose values may differ, in order, not overlapping.
    holes: Vec<(usize, usize, Hole)>,
    /// Top-level values that contain number holes: key and span in `bytes`.
    values: Vec<(String, usize, usize)>,
    /// Position in the fold's candidates of the one candidate the event names.
    pub candidate: usize,
    /// The `thought` flag of its text part.
    pub thought: bool,
    /// Per hole: its length in the payload being matched (scratch, kept to spare allocation).
    lengths: Vec<usize>,
}

/// A matched payload: the text and the new spans of the top-level values with numbers.
pub struct Matched<'a, 't> {
    pub text: Cow<'a, str>,
    template: &'t Template,
    payload: &'a [u8],
}

impl<'a> Matched<'a, '_> {
    /// Each top-level value that holds numbers: its key and its text in the payload.
    pub fn values(&self) -> impl Iterator<Item = Option<(&str, &'a str)>> + '_ {
        let t = self.template;
        t.values.iter().map(move |(key, start, end)| {
            let (start, end) = (t.moved(*start), t.moved(*end));
            let text = std::str::from_utf8(self.payload.get(start..end)?).ok()?;
            Some((key.as_str(), text))
        })
    }
}

/// The spans of the numbers in a validated JSON text, offset by `at`.
fn numbers(text: &[u8], at: usize, out: &mut Vec<(usize, usize, Hole)>) {
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => {
                // A validated string: its end is the next quote not escaped.
                i += 1;
                while let Some(&c) = text.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let (used, _) = Num::Start.scan(text.get(i..).unwrap_or_default());
                let used = used.max(1);
                out.push((at + i, at + i + used, Hole::Number));
                i += used;
            }
            _ => i += 1,
        }
    }
}

impl Template {
    /// The template of a payload applied in full whose one candidate (at `candidate` in the
    /// fold) had one non-empty text part of flag `thought`, no signature and no
    /// `finishReason`; `shape` is what the decode saw.
    pub fn learn(
        payload: &[u8],
        shape: &Shape<'_>,
        candidate: usize,
        thought: bool,
    ) -> Option<Self> {
        if shape.text_keys != 1 {
            return None;
        }
        let mut holes = vec![(shape.text_span.0, shape.text_span.1, Hole::Text)];
        let mut values = Vec::new();
        for (i, (key, start, end)) in shape.values.iter().enumerate() {
            // A key sent twice is merged twice, in order: not worth a template.
            if shape.values[..i].iter().any(|(k, _, _)| k == key) {
                return None;
            }
            let before = holes.len();
            numbers(payload.get(*start..*end)?, *start, &mut holes);
            if holes.len() > before {
                values.push((key.to_string(), *start, *end));
            }
        }
        if holes.len() > MAX_HOLES {
            return None;
        }
        holes.sort_unstable_by_key(|h| h.0);
        if holes.windows(2).any(|w| w[0].1 > w[1].0) {
            return None;
        }
        Some(Template {
            bytes: payload.to_vec(),
            lengths: vec![0; holes.len()],
            holes,
            values,
            candidate,
            thought,
        })
    }

    /// Where byte `at` of the learned payload (outside every hole) is in the matched one.
    fn moved(&self, at: usize) -> usize {
        let mut to = at;
        for ((start, end, _), &len) in self.holes.iter().zip(&self.lengths) {
            if *end > at {
                break;
            }
            to = (to + len).saturating_sub(end - start);
        }
        to
    }

    /// The payload's text and values, if it has this template's bytes around valid values.
    pub fn read<'a, 't>(&'t mut self, payload: &'a [u8]) -> Option<Matched<'a, 't>> {
        let mut text = None;
        let mut pos = 0;
        let mut last = 0;
        for (i, (start, end, hole)) in self.holes.iter().enumerate() {
            let literal = self.bytes.get(last..*start)?;
            if payload.get(pos..pos + literal.len())? != literal {
                return None;
            }
            pos += literal.len();
            let len = match hole {
                Hole::Text => {
                    if payload.get(pos) != Some(&b'"') {
                        return None;
                    }
                    // Depth is irrelevant here: only a string is read.
                    let mut r = Reader::new(payload, 1);
                    r.resume_at(pos);
                    text = Some(r.take_string().ok()??);
                    r.pos() - pos
                }
                Hole::Number => {
                    let (used, state) = Num::Start.scan(payload.get(pos..)?);
                    if used == 0 || !state.is_complete() {
                        return None;
                    }
                    used
                }
            };
            if let Some(slot) = self.lengths.get_mut(i) {
                *slot = len;
            }
            pos += len;
            last = *end;
        }
        if payload.get(pos..)? != self.bytes.get(last..)? {
            return None;
        }
        Some(Matched {
            text: text?,
            template: self,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#;

    fn template() -> Template {
        let text = A.windows(4).position(|w| w == b"\"He\"").unwrap_or(0);
        let usage = A
            .windows(16)
            .position(|w| w == b"\"usageMetadata\":")
            .unwrap_or(0)
            + 16;
        let model = A
            .windows(15)
            .position(|w| w == b"\"modelVersion\":")
            .unwrap_or(0)
            + 15;
        let shape = Shape {
            text_keys: 1,
            text_span: (text, text + 4),
            values: vec![
                ("usageMetadata".into(), usage, model - 16),
                ("modelVersion".into(), model, A.len() - 1),
            ],
        };
        let t = Template::learn(A, &shape, 0, false);
        t.unwrap_or_else(|| panic!("no template"))
    }

    #[test]
    fn numbers_outside_strings_are_holes() {
        let t = template();
        let holes: Vec<&[u8]> = t.holes.iter().map(|h| &A[h.0..h.1]).collect();
        assert_eq!(holes, [&b"\"He\""[..], b"9", b"-1.5e3"]);
        assert_eq!(t.values.len(), 1, "modelVersion holds no number");
    }

    #[test]
    fn same_bytes_around_new_values_match() {
        let mut t = template();
        let b = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"llo \"q\" \u00e9"}]},"index":0}],"usageMetadata":{"promptTokenCount":1234,"details":[{"m":"TEXT","n":0}],"s":"x1"},"modelVersion":"m-2"}"#;
        let m = t.read(b).unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.text, "llo \"q\" \u{e9}");
        let values: Vec<_> = m.values().collect();
        assert_eq!(
            values,
            [Some((
                "usageMetadata",
                r#"{"promptTokenCount":1234,"details":[{"m":"TEXT","n":0}],"s":"x1"}"#
            ))]
        );
    }

    #[test]
    fn anything_else_is_not_matched() {
        let mut t = template();
        let cases: [&[u8]; 7] = [
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":1}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"a\q"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":5}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":09,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":"9","details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"}"#,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"details":[{"m":"TEXT","n":-1.5e3}],"s":"x1"},"modelVersion":"m-2"} x"#,
        ];
        for c in cases {
            assert!(t.read(c).is_none(), "{}", String::from_utf8_lossy(c));
        }
        let ctrl = b"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"a\x01\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"details\":[{\"m\":\"TEXT\",\"n\":-1.5e3}],\"s\":\"x1\"},\"modelVersion\":\"m-2\"}";
        assert!(t.read(ctrl).is_none());
    }
}
