//! `OpenAI` Chat Completions (`chat.completion.chunk`): the chunk scanner, the template fast path
//! and the accumulators that render the `chat.completion`.

pub mod assemble;
pub mod header;
pub mod scan;
pub mod template;

use crate::driver::{Config, Driver};
use crate::error::{DecodeKind, ErrorKind};
use crate::event::Event;
use crate::formats::{Fold, Folded, Format};
use crate::json::reader::JsonErrorCode;
use crate::json::value::Value;
use crate::limits::LimitName;
use crate::sniff::{foreign_chunk, foreign_event, foreign_payload};
use crate::summary::{self, Summary};

use assemble::{Appended, Assembler};
use template::Template;

/// A Chat Completions stream, fed read by read.
pub type ChatStream = Driver<Chat>;

/// Templates kept at once: enough for the usual n of parallel choices.
const MAX_TEMPLATES: usize = 4;

/// The Chat Completions fold: chunks into the assembler, through a template when a chunk
/// repeats a recent chunk's shape.
pub struct Chat {
    /// Also holds the options and limits (one copy per parser).
    assembler: Assembler,
    /// Header bytes of the last chunk applied (see `scan::decode_after`). A boxed slice: it
    /// changes rarely, and is 8 bytes less than a `Vec` in every live parser.
    header: Box<[u8]>,
    /// Shapes of recent chunks decoded in full (see `template`), newest first; only without
    /// events. Several, because with n > 1 choices take turns.
    templates: Vec<Template>,
    /// Chunks folded in by a template rather than decoded in full.
    template_chunks: u64,
}

impl ChatStream {
    /// (chunks applied, of which through a template): how often the fast path was taken.
    pub fn chunk_counts(&self) -> (u64, u64) {
        (self.fold().assembler.chunks(), self.fold().template_chunks)
    }
}

impl Fold for Chat {
    fn new(config: &Config) -> Self {
        Chat {
            assembler: Assembler::new(config.options, config.limits),
            header: Box::default(),
            templates: Vec::new(),
            template_chunks: 0,
        }
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Chat)
    }

    fn ends_stream(&self, data: &[u8]) -> bool {
        data == b"[DONE]"
    }

    fn end_marker(&self) -> &'static str {
        "[DONE]"
    }

    fn missing_end(&self) -> &'static str {
        "[DONE] or a finish_reason on every choice"
    }

    fn fold(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        // Until a chunk is folded, every chunk is looked at for a foreign format; a fold with
        // no chunk has no template either, so that happens where the chunk is decoded.
        let sniff = self.assembler.chunks() == 0;
        if sniff {
            if let Some(format) = foreign_event(event_type) {
                return Err(ErrorKind::UnsupportedFormat { format });
            }
        }
        for i in 0..self.templates.len() {
            let Some(t) = self.templates.get(i) else {
                break;
            };
            let read = |out: &mut String| t.read_into(data, out);
            match self.assembler.append_read(t.slot, t.has_entries(), read) {
                Appended::Yes => {
                    self.template_chunks += 1;
                    return Ok(Folded::Continue);
                }
                Appended::NoMatch if t.takes_other_calls() => match self.fold_other_call(i, data) {
                    Some(Appended::Yes) => return Ok(Folded::Continue),
                    Some(Appended::Refused) => break,
                    Some(Appended::NoMatch) | None => {}
                },
                Appended::NoMatch => {}
                Appended::Refused => break,
            }
        }
        self.apply(data, true, sniff, events)
            .map(|()| Folded::Continue)
    }

    fn fold_repaired(
        &mut self,
        _event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        self.apply(data, false, false, events)
            .map(|()| Folded::Continue)
    }

    fn next_stream(&mut self) {
        self.assembler = self.assembler.renewed();
        self.header = Box::default();
        self.templates.clear();
    }

    fn folded(&self) -> u64 {
        self.assembler.chunks()
    }

    fn complete(&self) -> bool {
        self.assembler.all_finished()
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        self.assembler.finish_events(events);
    }

    fn result(&self) -> Value {
        self.assembler.completion()
    }

    fn take_result(&mut self) -> Value {
        self.assembler.take_completion()
    }

    fn restore(&mut self, result: Value) {
        self.assembler.restore(result);
    }

    fn version(&self) -> (u64, u64) {
        self.assembler.version()
    }

    fn summary(&self) -> Summary {
        summary::of_chat(&self.assembler.completion())
    }
}

impl Chat {
    /// Folds in a payload that the template at `i` (of a tool-call fragment) did not read,
    /// when it is the same fragment for another call (see `Template::other_call_start`); the
    /// template then becomes that call's. Out of line: it runs when a stream moves on to
    /// another call, not for every chunk.
    #[inline(never)]
    fn fold_other_call(&mut self, i: usize, data: &[u8]) -> Option<Appended> {
        let t = self.templates.get(i)?;
        let start = t.other_call_start(data)?;
        let read = |out: &mut String| t.read_from(data, start, out);
        let appended = self
            .assembler
            .append_read(t.slot_at(start), t.has_entries(), read);
        if appended == Appended::Yes {
            self.template_chunks += 1;
            if let Some(moved) = t.for_other_call(data, start) {
                self.keep_template(i, moved);
            }
        }
        Some(appended)
    }

    /// Puts `moved`, the template of another call's fragment that the template at `i` read,
    /// in that template's place: the call's next fragments match it as they are, and the
    /// list keeps one template per slot.
    fn keep_template(&mut self, i: usize, moved: Template) {
        if let Some(t) = self.templates.get_mut(i) {
            *t = moved;
        }
        let slot = self.templates.get(i).map(|t| t.slot);
        let mut at = 0;
        self.templates.retain(|t| {
            at += 1;
            at - 1 == i || Some(t.slot) != slot
        });
    }

    /// Decodes a payload and folds it in; nothing changes on error. With `reuse_header`, a
    /// header identical to the last chunk's is skipped rather than read again. With `sniff`,
    /// a payload of a foreign format is refused as one, whether the chat decoder read it or not.
    // Out of line: the template loop in `fold` runs for every chunk, and this for few.
    #[inline(never)]
    fn apply(
        &mut self,
        data: &[u8],
        reuse_header: bool,
        sniff: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), ErrorKind> {
        let max_depth = self.assembler.max_depth();
        let known: &[u8] = match self.templates.first().and_then(Template::header) {
            _ if !reuse_header => &[],
            Some(h) => h,
            None => &self.header,
        };
        let decoded = match scan::decode_after(data, max_depth, known) {
            Ok(decoded) => decoded,
            Err(e) => {
                if let Some(format) = sniff.then(|| foreign_payload(data, max_depth)).flatten() {
                    return Err(ErrorKind::UnsupportedFormat { format });
                }
                return Err(match e {
                    DecodeKind::Syntax(e) if e.code == JsonErrorCode::TooDeep => ErrorKind::Limit {
                        limit: LimitName::Depth,
                        maximum: max_depth as u64,
                    },
                    other => ErrorKind::Decode(other),
                });
            }
        };
        if let Some(format) = sniff.then(|| foreign_chunk(data, &decoded.chunk)).flatten() {
            return Err(ErrorKind::UnsupportedFormat { format });
        }
        let header_len = decoded.header_len;
        let chunk = decoded.chunk;
        if let Some(body) = chunk.error {
            return Err(ErrorKind::Api { body: *body });
        }
        // Learned before the chunk is consumed; kept only if it applies. A chunk applied in
        // full drops every template it could have changed, so no template outlives a change
        // that re-applying it would undo.
        let learned = if reuse_header && !self.assembler.options().events {
            Template::learn(data, &chunk, header_len, max_depth)
        } else {
            None
        };
        self.assembler
            .apply(chunk, events)
            .map_err(|v| ErrorKind::Limit {
                limit: v.limit,
                maximum: v.maximum,
            })?;
        let header = header_len.and_then(|n| data.get(..n));
        self.templates.retain(|t| t.survives(header));
        if let Some(t) = learned {
            self.templates.retain(|old| old.slot != t.slot);
            // Grown one at a time: most streams need one template, not room for four.
            self.templates.reserve_exact(1);
            self.templates.insert(0, t);
            self.templates.truncate(MAX_TEMPLATES);
        }
        // The newest template starts with this same header when it survived or was just
        // learned; only keep a copy of its own when no template holds it (idle parsers are
        // meant to be small).
        let covered =
            header.is_some() && self.templates.first().and_then(Template::header) == header;
        match header {
            Some(h) if reuse_header && !covered => {
                if h != &*self.header {
                    self.header = h.into();
                }
            }
            _ => self.header = Box::default(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Options;

    /// The completion of `data` fed in reads of `read` bytes, and the (chunks, via template)
    /// counts; with events on, no template is used.
    fn fold(data: &[u8], read: usize, events: bool) -> (Option<Value>, (u64, u64)) {
        let config = Config {
            options: Options {
                events,
                partial_arguments: false,
            },
            ..Config::default()
        };
        let mut s = ChatStream::new(config);
        for piece in data.chunks(read) {
            if s.feed(piece).is_err() {
                return (None, s.chunk_counts());
            }
        }
        (s.finish().ok().flatten(), s.chunk_counts())
    }

    fn stream(fragments: &[&str]) -> Vec<u8> {
        let mut data = Vec::new();
        for f in fragments {
            data.extend_from_slice(
                format!(
                    "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{f}]}},\"finish_reason\":null}}],\"obfuscation\":\"ab\"}}\n\n"
                )
                .as_bytes(),
            );
        }
        data.extend_from_slice(b"data: [DONE]\n\n");
        data
    }

    /// Fragments of calls taking turns in any order (not the previous index plus one), an
    /// index no call has yet, a fragment that names its call again, a non-canonical index:
    /// the template path (which reads another call's fragment with the template of the last
    /// call's) gives the completion that decoding every chunk gives.
    #[test]
    fn fragments_of_other_calls_fold_as_decoded_in_full() {
        let call = |i: u32, id: &str| {
            format!(
                r#"{{"index":{i},"id":"{id}","type":"function","function":{{"name":"f{i}","arguments":""}}}}"#
            )
        };
        let frag =
            |i: &str, text: &str| format!(r#"{{"index":{i},"function":{{"arguments":"{text}"}}}}"#);
        let cases: Vec<(Vec<String>, u64)> = vec![
            (
                vec![
                    call(0, "a"),
                    call(2, "b"),
                    call(10, "c"),
                    frag("0", "{\\\"x"),
                    frag("2", "[1,"),
                    frag("2", "2]"),
                    frag("10", "\\u00e9\u{e9}"),
                    frag("0", "\\\":1}"),
                    frag("10", "z"),
                    frag("2", ""),
                ],
                // Every fragment after the first, which teaches the template.
                6,
            ),
            (
                vec![
                    call(0, "a"),
                    frag("0", "p"),
                    // No call 3 yet: decoded in full, it opens one (without an id).
                    frag("3", "q"),
                    frag("3", "r"),
                    frag("0", "s"),
                    // A fragment naming its call again is not the template's shape.
                    format!(r#"{{"index":3,"id":"again","function":{{"arguments":"t"}}}}"#),
                    frag("0", "u"),
                    // `-0` is call 0 for the decoder, but not the template's text.
                    frag("-0", "v"),
                    // Its template (of `-0`) is the newest for call 0: decoded in full.
                    frag("0", "w"),
                    // Without an index: the current call's, decoded in full.
                    r#"{"function":{"arguments":"x"}}"#.to_string(),
                ],
                // r (call 3's own template), s (call 3's template, another index), u.
                3,
            ),
        ];
        for (fragments, via_template) in cases {
            let refs: Vec<&str> = fragments.iter().map(String::as_str).collect();
            let data = stream(&refs);
            let (full, _) = fold(&data, 4096, true);
            assert!(full.is_some(), "{}", String::from_utf8_lossy(&data));
            for read in [1, 7, 4096] {
                let (fast, counts) = fold(&data, read, false);
                assert_eq!(
                    fast,
                    full,
                    "read {read}: {}",
                    String::from_utf8_lossy(&data)
                );
                assert_eq!(counts.1, via_template, "read {read}");
            }
        }
    }
}
