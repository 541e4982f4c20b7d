//! The completion's header values (`id`, `model`, `created`, `system_fingerprint`,
//! `service_tier`) and their merge rules, held in one buffer.
//!
//! Every live parser keeps these five short strings from its first chunk on. As five separate
//! values they cost five heap blocks and 184 bytes inline; here they are one block, each value
//! after its length, and one byte of state each (issue 13: 10,000 parsers after one read in
//! 20 MB).

use crate::formats::chat::scan::{Chunk, Field};
use crate::json::value::Value;

/// One of the header values, in the order their texts are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Id,
    Model,
    /// The integer's JSON text.
    Created,
    SystemFingerprint,
    ServiceTier,
}

const KEYS: usize = 5;

/// What a header value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Never carried (or, for the first-non-empty values, only carried as null).
    #[default]
    Absent,
    /// Carried as null and never as a string (the last-non-null values).
    Null,
    /// A text; for a first-non-empty value, an empty one that a later non-empty one replaces.
    Set,
    /// A first-non-empty value's non-empty text: final.
    Settled,
}

/// The five header values of a completion.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The text of each value that has one, in [`Key`] order, each after its length in
    /// decimal and a colon (`2:ab0:3:xyz`): text throughout, so read back without decoding,
    /// with no length limit and no room spent on offsets.
    texts: Box<str>,
    states: [State; KEYS],
}

/// The text at the start of `rest` (after its length), and what follows it.
fn take_text(rest: &str) -> Option<(&str, &str)> {
    let bytes = rest.as_bytes();
    let mut len = 0usize;
    let mut at = 0;
    loop {
        match *bytes.get(at)? {
            b':' if at > 0 => break,
            d @ b'0'..=b'9' => len = len.checked_mul(10)?.checked_add(usize::from(d - b'0'))?,
            _ => return None,
        }
        at += 1;
    }
    let after = rest.get(at + 1..)?;
    Some((after.get(..len)?, after.get(len..)?))
}

/// Appends the length prefix of a text of `len` bytes.
fn push_len(out: &mut String, mut len: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while let Some(d) = start.checked_sub(1).and_then(|i| digits.get_mut(i)) {
        *d = b'0' + (len % 10) as u8;
        start -= 1;
        len /= 10;
        if len == 0 {
            break;
        }
    }
    out.extend(
        digits
            .get(start..)
            .unwrap_or_default()
            .iter()
            .map(|&d| char::from(d)),
    );
    out.push(':');
}

/// The bytes of a length prefix with its colon.
fn prefix_size(len: usize) -> usize {
    len.checked_ilog10().unwrap_or(0) as usize + 2
}

/// A value's new text and state, when a chunk changes it.
type Change<'c> = Option<(&'c str, State)>;

/// The five values as the completion shows them: `id`, `created` and `model` are null until
/// carried; `service_tier` and `system_fingerprint` have no key until carried, even as null.
pub struct Rendered {
    pub id: Value,
    pub created: Value,
    pub model: Value,
    pub service_tier: Option<Value>,
    pub system_fingerprint: Option<Value>,
}

impl Header {
    fn state(&self, key: Key) -> State {
        self.states.get(key as usize).copied().unwrap_or_default()
    }

    /// The stored text of each value that has one, in one walk of the buffer.
    fn texts(&self) -> [Option<&str>; KEYS] {
        let mut out = [None; KEYS];
        let mut rest: &str = &self.texts;
        for (slot, state) in out.iter_mut().zip(self.states) {
            if !matches!(state, State::Set | State::Settled) {
                continue;
            }
            let Some((text, after)) = take_text(rest) else {
                break;
            };
            *slot = Some(text);
            rest = after;
        }
        out
    }

    /// The text of `key`, when it has one.
    pub fn text(&self, key: Key) -> Option<&str> {
        self.texts().get(key as usize).copied().flatten()
    }

    /// Folds in one chunk's values: `id`, `model` and `created` keep their first non-empty
    /// value (failing that, the first one); `system_fingerprint` and `service_tier` their last
    /// non-null one, a null showing only while there was none. The buffer is written anew
    /// only when a text changes, once for the whole chunk: mostly once per stream.
    pub fn apply(&mut self, chunk: &Chunk<'_>) {
        // Most chunks after the first skip a header they repeat (`scan::decode_after`).
        let absent = [
            chunk.id.is_absent(),
            chunk.model.is_absent(),
            chunk.created.is_absent(),
            chunk.system_fingerprint.is_absent(),
            chunk.service_tier.is_absent(),
        ];
        if absent.iter().all(|a| *a) {
            return;
        }
        let mut changes: [Change<'_>; KEYS] = [None; KEYS];
        let first: [(Key, Option<&str>); 3] = [
            (Key::Id, chunk.id.set().map(AsRef::as_ref)),
            (Key::Model, chunk.model.set().map(AsRef::as_ref)),
            (Key::Created, chunk.created.set().copied()),
        ];
        for (key, value) in first {
            let Some(value) = value else { continue };
            let change = match self.state(key) {
                State::Settled => None,
                _ if !is_empty(key, value) => Some((value, State::Settled)),
                State::Absent | State::Null => Some((value, State::Set)),
                State::Set => None,
            };
            if let Some(slot) = changes.get_mut(key as usize) {
                *slot = change;
            }
        }
        let last = [
            (Key::SystemFingerprint, &chunk.system_fingerprint),
            (Key::ServiceTier, &chunk.service_tier),
        ];
        for (key, field) in last {
            if let (Field::Null, Some(s @ State::Absent)) =
                (field, self.states.get_mut(key as usize))
            {
                *s = State::Null;
            }
        }
        let texts = self.texts();
        for (key, field) in last {
            let (Field::Set(value), Some(slot)) = (field, changes.get_mut(key as usize)) else {
                continue;
            };
            if texts.get(key as usize).copied().flatten() != Some(value.as_ref()) {
                *slot = Some((value, State::Set));
            }
        }
        if changes.iter().any(Option::is_some) {
            self.rewrite(&changes);
        }
    }

    /// Writes the buffer anew with `changes` applied.
    fn rewrite(&mut self, changes: &[Change<'_>; KEYS]) {
        let old = self.texts();
        let mut texts: [Option<&str>; KEYS] = [None; KEYS];
        for ((text, old), change) in texts.iter_mut().zip(old).zip(changes) {
            *text = change.map(|(t, _)| t).or(old);
        }
        let size = texts
            .iter()
            .flatten()
            .map(|t| prefix_size(t.len()) + t.len())
            .sum();
        let mut out = String::with_capacity(size);
        for text in texts.iter().flatten() {
            push_len(&mut out, text.len());
            out.push_str(text);
        }
        self.texts = out.into_boxed_str();
        for (state, change) in self.states.iter_mut().zip(changes) {
            if let Some((_, new)) = change {
                *state = *new;
            }
        }
    }

    /// The five values as rendered.
    pub fn render(&self) -> Rendered {
        let texts = self.texts();
        let text = |key: Key| texts.get(key as usize).copied().flatten();
        let first = |key: Key| match (text(key), key) {
            (None, _) => Value::Null,
            (Some(t), Key::Created) => Value::Number(t.into()),
            (Some(t), _) => Value::string(t),
        };
        let last = |key: Key| match self.state(key) {
            State::Absent => None,
            State::Null => Some(Value::Null),
            State::Set | State::Settled => Some(text(key).map_or(Value::Null, Value::string)),
        };
        Rendered {
            id: first(Key::Id),
            created: first(Key::Created),
            model: first(Key::Model),
            service_tier: last(Key::ServiceTier),
            system_fingerprint: last(Key::SystemFingerprint),
        }
    }
}

/// Whether a first-non-empty value is one a later value replaces: an empty string, or a zero
/// `created`.
fn is_empty(key: Key, value: &str) -> bool {
    match key {
        Key::Created => Value::Number(value.into()).is_zero_number(),
        _ => value.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_back_whatever_they_hold() {
        for text in [
            "",
            "1",
            ":",
            "12:ab",
            "x".repeat(1000).as_str(),
            "\u{e9}\u{1f600}",
        ] {
            let stored = format!("{}:{text}0:", text.len());
            assert_eq!(take_text(&stored), Some((text, "0:")), "{text}");
        }
        assert_eq!(take_text("3:ab"), None);
        assert_eq!(take_text("1:\u{e9}"), None);
        assert_eq!(take_text("x:"), None);
        assert_eq!(take_text(":"), None);
    }

    fn fold(payloads: &[&str]) -> Header {
        let mut h = Header::default();
        for p in payloads {
            match crate::formats::chat::scan::decode(p.as_bytes(), 128) {
                Ok(chunk) => h.apply(&chunk),
                Err(e) => panic!("{p}: {e:?}"),
            }
        }
        h
    }

    fn rendered(h: &Header) -> [Option<Value>; 5] {
        let r = h.render();
        [
            Some(r.id),
            Some(r.created),
            Some(r.model),
            r.service_tier,
            r.system_fingerprint,
        ]
    }

    fn s(text: &str) -> Option<Value> {
        Value::string(text).into()
    }

    /// Each value keeps its own text whichever others are set, replaced, nulled or absent,
    /// and a chunk that changes several rewrites them together.
    #[test]
    fn values_are_independent() {
        let long = "x".repeat(300);
        let h = fold(&[
            r#"{"service_tier":null,"model":"m\u00e9","id":""}"#,
            r#"{"system_fingerprint":"fp1","created":0}"#,
            &format!(r#"{{"id":"{long}","system_fingerprint":"fp2","created":-0}}"#),
            r#"{"system_fingerprint":null,"id":"later","model":"later","created":17}"#,
            r#"{"created":18,"service_tier":null}"#,
        ]);
        assert_eq!(h.text(Key::Id), Some(long.as_str()));
        assert_eq!(
            rendered(&h),
            [
                s(&long),
                Some(Value::Number("17".into())),
                s("m\u{e9}"),
                Some(Value::Null),
                s("fp2"),
            ]
        );
        let empty = fold(&[r#"{"id":"","created":0,"model":null,"system_fingerprint":null}"#]);
        assert_eq!(
            rendered(&empty),
            [
                s(""),
                Some(Value::Number("0".into())),
                Some(Value::Null),
                None,
                Some(Value::Null),
            ]
        );
        let none = fold(&[r#"{"choices":[]}"#]);
        assert_eq!(
            rendered(&none),
            [
                Some(Value::Null),
                Some(Value::Null),
                Some(Value::Null),
                None,
                None
            ]
        );
    }

    /// The prefix sizes the buffer is allocated for are the ones written.
    #[test]
    fn prefix_sizes_are_exact() {
        for len in [0, 1, 9, 10, 99, 100, 16_384, usize::MAX] {
            let mut out = String::new();
            push_len(&mut out, len);
            assert_eq!(out, format!("{len}:"));
            assert_eq!(out.len(), prefix_size(len), "{len}");
        }
    }
}
