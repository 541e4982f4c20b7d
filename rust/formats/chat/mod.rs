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
        for t in &self.templates {
            let read = |out: &mut String| t.read_into(data, out);
            match self.assembler.append_read(t.slot, t.has_entries(), read) {
                Appended::Yes => {
                    self.template_chunks += 1;
                    return Ok(Folded::Continue);
                }
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
