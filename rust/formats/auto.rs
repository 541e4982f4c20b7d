//! `format="auto"` and the runtime dispatch over the folds.
//!
//! [`AnyFold`] holds the fold of one format, chosen when the driver hands it the first event
//! (or fixed by `format=`): the format is decided once per stream and never re-decided
//! (docs/formats.md). Dispatch is one `match` per event, never per byte.

use crate::driver::Config;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::json::reader as json;
use crate::json::value::Value;
use crate::summary::Summary;

use super::anthropic::{Anthropic, ANTHROPIC_EVENTS};
use super::bedrock::Bedrock;
use super::chat::Chat;
use super::gemini::Gemini;
use super::responses::Responses;
use super::{Fold, FoldJob, Folded, Format, Note};

/// The fold of whichever format the stream turned out to be.
enum Inner {
    Chat(Box<Chat>),
    Anthropic(Box<Anthropic>),
    Responses(Box<Responses>),
    Gemini(Box<Gemini>),
    Bedrock(Box<Bedrock>),
}

/// A fold for any format: fixed by `format=`, or decided on the first event.
///
/// The configuration is needed only to start the fold, so it is kept (boxed) only until then:
/// every live parser carries this inline, and most are past their first event.
pub struct AnyFold(Stage);

enum Stage {
    Undecided(Box<Config>),
    Decided(Inner),
}

/// Runs `$body` with `$f` bound to the decided fold.
macro_rules! dispatch {
    ($inner:expr, $f:ident => $body:expr) => {
        match $inner {
            Inner::Chat($f) => $body,
            Inner::Anthropic($f) => $body,
            Inner::Responses($f) => $body,
            Inner::Gemini($f) => $body,
            Inner::Bedrock($f) => $body,
        }
    };
}

/// The format named by an `event:` name or a payload `type`, among those implemented.
fn format_of_type(name: &[u8]) -> Option<Format> {
    if name.starts_with(b"response.") {
        return Some(Format::Responses);
    }
    ANTHROPIC_EVENTS
        .iter()
        .any(|e| e.as_bytes() == name)
        .then_some(Format::Anthropic)
}

/// The format of a stream whose first event (with a payload, not `event: error`) has this
/// `event:` name and payload (trimmed): an Anthropic event name or payload `type`; anything
/// else is chat (including formats not implemented: the chat fold names and refuses them). The
/// payload is read once per stream.
pub fn detect(event_type: &[u8], data: &[u8], max_depth: usize) -> Format {
    if let Some(format) = format_of_type(event_type) {
        return format;
    }
    if data.first() != Some(&b'{') {
        return Format::Chat;
    }
    // Parsed once per stream (the first deciding payload only).
    let Ok(Value::Object(payload)) = json::parse(data, max_depth) else {
        return Format::Chat;
    };
    if let Some(format) = payload
        .get("type")
        .and_then(Value::as_str)
        .and_then(|t| format_of_type(t.as_bytes()))
    {
        return format;
    }
    // A top-level `candidates`, `usageMetadata` or `promptFeedback` is Gemini's
    // (docs/formats.md, auto-detection).
    if ["candidates", "usageMetadata", "promptFeedback"]
        .iter()
        .any(|k| payload.contains_key(k))
    {
        return Format::Gemini;
    }
    Format::Chat
}

impl AnyFold {
    fn start(config: &Config, format: Format) -> Inner {
        match format {
            Format::Chat => Inner::Chat(Box::new(Chat::new(config))),
            Format::Anthropic => Inner::Anthropic(Box::new(Anthropic::new(config))),
            Format::Responses => Inner::Responses(Box::new(Responses::new(config))),
            Format::Gemini => Inner::Gemini(Box::new(Gemini::new(config))),
            Format::Bedrock => Inner::Bedrock(Box::new(Bedrock::new(config))),
        }
    }

    /// The fold, deciding the format from this event when it is the first.
    fn decide(&mut self, event_type: &[u8], data: &[u8]) -> &mut Inner {
        if let Stage::Undecided(config) = &self.0 {
            let format = detect(event_type, data, config.limits.max_depth);
            self.0 = Stage::Decided(Self::start(config, format));
        }
        match &mut self.0 {
            Stage::Decided(inner) => inner,
            Stage::Undecided(_) => unreachable!("the format was decided just above"),
        }
    }

    fn inner(&self) -> Option<&Inner> {
        match &self.0 {
            Stage::Decided(inner) => Some(inner),
            Stage::Undecided(_) => None,
        }
    }

    fn inner_mut(&mut self) -> Option<&mut Inner> {
        match &mut self.0 {
            Stage::Decided(inner) => Some(inner),
            Stage::Undecided(_) => None,
        }
    }
}

impl Fold for AnyFold {
    fn new(config: &Config) -> Self {
        AnyFold(match config.format {
            Some(format) => Stage::Decided(Self::start(config, format)),
            None => Stage::Undecided(Box::new(*config)),
        })
    }

    fn format(&self) -> Option<Format> {
        self.inner().and_then(|i| dispatch!(i, f => f.format()))
    }

    fn see(&mut self, event_type: &[u8], data: &[u8]) {
        self.decide(event_type, data);
    }

    fn ends_stream(&self, data: &[u8]) -> bool {
        match &self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.ends_stream(data)),
            // Undecided, `[DONE]` is chat's marker (anything else is chat).
            Stage::Undecided(_) => data == b"[DONE]",
        }
    }

    fn end_marker(&self) -> &'static str {
        match &self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.end_marker()),
            Stage::Undecided(_) => "[DONE]",
        }
    }

    fn missing_end(&self) -> &'static str {
        match &self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.missing_end()),
            Stage::Undecided(_) => "[DONE] or a finish_reason on every choice",
        }
    }

    fn fold(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        dispatch!(self.decide(event_type, data), f => f.fold(event_type, data, events))
    }

    fn fold_repaired(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind> {
        dispatch!(self.decide(event_type, data), f => f.fold_repaired(event_type, data, events))
    }

    fn next_stream(&mut self) {
        if let Some(i) = self.inner_mut() {
            dispatch!(i, f => f.next_stream());
        }
    }

    fn folded(&self) -> u64 {
        self.inner().map_or(0, |i| dispatch!(i, f => f.folded()))
    }

    fn complete(&self) -> bool {
        self.inner()
            .is_some_and(|i| dispatch!(i, f => f.complete()))
    }

    fn finish_events(&mut self, events: &mut Vec<Event>) {
        if let Some(i) = self.inner_mut() {
            dispatch!(i, f => f.finish_events(events));
        }
    }

    fn result(&self) -> Value {
        match &self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.result()),
            // An input that ends undecided is chat: its empty completion.
            Stage::Undecided(config) => Chat::new(config).result(),
        }
    }

    fn version(&self) -> (u64, u64) {
        // No assembler has this serial: an undecided stream shares no cached result.
        self.inner()
            .map_or((u64::MAX, 0), |i| dispatch!(i, f => f.version()))
    }

    fn take_notes(&mut self, notes: &mut Vec<Note>) {
        if let Some(i) = self.inner_mut() {
            dispatch!(i, f => f.take_notes(notes));
        }
    }

    /// Undecided, the job runs on this fold, which decides on the event the job hands it.
    #[inline]
    fn with_fold<J: FoldJob>(&mut self, job: J) -> J::Output {
        match &mut self.0 {
            Stage::Decided(i) => dispatch!(i, f => job.run(&mut **f)),
            Stage::Undecided(_) => job.run(self),
        }
    }

    #[inline]
    fn undecided(&self) -> bool {
        matches!(self.0, Stage::Undecided(_))
    }

    fn decide_format(&mut self, format: Format) {
        if let Stage::Undecided(config) = &self.0 {
            self.0 = Stage::Decided(Self::start(config, format));
        }
    }

    fn take_result(&mut self) -> Value {
        match &mut self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.take_result()),
            Stage::Undecided(_) => self.result(),
        }
    }

    fn restore(&mut self, result: Value) {
        if let Some(i) = self.inner_mut() {
            dispatch!(i, f => f.restore(result));
        }
    }

    fn build_result<B: super::build::Build>(
        &self,
        build: &mut B,
    ) -> Option<Result<B::Out, B::Error>> {
        self.inner()
            .and_then(|i| dispatch!(i, f => f.build_result(build)))
    }

    fn summary(&self) -> Summary {
        match &self.0 {
            Stage::Decided(i) => dispatch!(i, f => f.summary()),
            Stage::Undecided(config) => Summary {
                format: None,
                ..Chat::new(config).summary()
            },
        }
    }
}

/// A stream of any format, fed read by read: what the bindings run.
pub type AnyStream = crate::driver::Driver<AnyFold>;
