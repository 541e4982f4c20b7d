//! The wire formats: one folder per format, each folding decoded events into that format's
//! result. The driver ([`crate::driver::Driver`]) runs any of them; adding a format means
//! adding its folder, implementing [`Fold`], naming it in [`Format`] and dispatching to it in
//! [`auto`].

use crate::driver::Config;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::json::value::Value;
use crate::summary::Summary;
use build::Build;

pub mod anthropic;
pub mod auto;
pub mod bedrock;
pub mod build;
pub mod chat;
pub mod gemini;
pub mod responses;

/// A wire format deltafold folds (`format=` names it). `format="auto"` is `None` where an
/// `Option<Format>` is taken: decided from the first event (see [`auto`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Chat,
    Anthropic,
    Responses,
    Gemini,
    Bedrock,
}

impl Format {
    /// Every implemented format, in the order error messages list them. A name is added here
    /// only once its fold is complete: an accepted name is never a stub.
    pub const ALL: [Format; 5] = [
        Format::Chat,
        Format::Anthropic,
        Format::Responses,
        Format::Gemini,
        Format::Bedrock,
    ];

    /// The `format=` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Chat => "chat",
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
            Format::Gemini => "gemini",
            Format::Bedrock => "bedrock",
        }
    }

    /// The format a `format=` name selects: `Some(None)` for `"auto"`, `None` for a name that
    /// is not (yet) implemented.
    pub fn parse(name: &str) -> Option<Option<Format>> {
        if name == "auto" {
            return Some(None);
        }
        Format::ALL.into_iter().find(|f| f.name() == name).map(Some)
    }

    /// The accepted `format=` values as an error message lists them: `'auto', 'chat' or
    /// 'anthropic'`.
    pub fn accepted_names() -> String {
        let mut names: Vec<String> = std::iter::once("auto")
            .chain(Format::ALL.iter().map(|f| f.name()))
            .map(|n| format!("'{n}'"))
            .collect();
        let last = names.pop().unwrap_or_default();
        if names.is_empty() {
            last
        } else {
            format!("{} or {last}", names.join(", "))
        }
    }
}

/// What folding a payload did to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    /// Folded in; the stream goes on.
    Continue,
    /// The payload was the stream's end marker carried as data (Anthropic `message_stop`): the
    /// driver ends the stream as it does on `[DONE]` (in a capture, the next stream starts).
    End,
    /// The payload ended the stream's content, but events of this type may still follow and
    /// belong to it (Bedrock's `metadata` after `messageStop`). A single stream is done and
    /// still folds them; a capture's stream stays open for them, and an event of any other
    /// type ends it and begins the next stream.
    EndBefore(&'static [u8]),
}

/// Something a fold noticed that is no error in any `on_error` mode (an unknown event type it
/// skipped, a gap in the stream's sequence numbers): the driver records it as a problem of this
/// kind (the name the problem list shows) after the payload was folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub kind: &'static str,
    /// Skipped (the payload changed nothing) rather than ignored (it was folded).
    pub skipped: bool,
    pub message: String,
}

/// Work that runs on a fold of any format, monomorphised for it (see [`Fold::with_fold`]): a
/// closure cannot be generic over the fold's type, so the work is this trait's method.
pub trait FoldJob {
    type Output;
    fn run<G: Fold>(self, fold: &mut G) -> Self::Output;
}

/// What a format does with the events the driver hands it. The driver owns the policy: what
/// to raise, skip, repair or record; a fold only folds, and leaves its state unchanged when it
/// returns an error (except where a format's rules say otherwise, e.g. a spliced stream).
///
/// An in-band API error carried as data (a chat `{"error": ...}` chunk, an Anthropic
/// `{"type": "error"}` payload without an `event:` line) is returned as [`ErrorKind::Api`];
/// the driver raises or records it and the summary says `failed`. An `event: error` frame is
/// handled by the driver before any fold sees it.
pub trait Fold {
    fn new(config: &Config) -> Self;

    /// The format this fold folds; `None` while a dispatching fold has not decided yet.
    fn format(&self) -> Option<Format>;

    /// Sees every event that carries a payload (not `event: error`) before anything else looks
    /// at it: a dispatching fold decides its format on the first.
    fn see(&mut self, _event_type: &[u8], _data: &[u8]) {}

    /// Whether this payload (without surrounding whitespace) ends the stream as a text marker,
    /// like `[DONE]`; checked before the payload is folded.
    fn ends_stream(&self, data: &[u8]) -> bool;

    /// The end marker as messages name it (`[DONE]`, `message_stop`).
    fn end_marker(&self) -> &'static str;

    /// What an incomplete stream lacked, for its error message.
    fn missing_end(&self) -> &'static str;

    /// Folds one event's payload in, pushing per-delta events when they are on.
    ///
    /// # Errors
    /// Why the payload could not be folded; a syntax error may be retried on a repaired
    /// payload with [`Fold::fold_repaired`].
    fn fold(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind>;

    /// Folds a payload that the driver repaired after [`Fold::fold`] refused it.
    ///
    /// # Errors
    /// Why even the repaired payload could not be folded.
    fn fold_repaired(
        &mut self,
        event_type: &[u8],
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Folded, ErrorKind>;

    /// Starts the next stream of a capture, keeping only counters.
    fn next_stream(&mut self);

    /// Payloads folded in so far in this stream.
    fn folded(&self) -> u64;

    /// Whether the stream is complete without an end marker (every choice has finished).
    fn complete(&self) -> bool;

    /// The events that close the stream, before the final `done` event.
    fn finish_events(&mut self, events: &mut Vec<Event>);

    /// The result so far (the whole result at the end).
    fn result(&self) -> Value;

    /// The whole result at the end of the stream, moving what it can out of the state rather
    /// than copying it (a fold that keeps the default copies). The caller hands the result back
    /// with [`Fold::restore`] before the fold is used again, or drops the fold.
    fn take_result(&mut self) -> Value {
        self.result()
    }

    /// Takes back a result of [`Fold::take_result`], leaving the fold as it was before.
    fn restore(&mut self, result: Value) {
        drop(result);
    }

    /// The result as [`Fold::result`] shows it, built by `build` straight from the state
    /// (borrowed: the fold is left as it was), or None when this fold has no such walk or
    /// declines ([`Build::long_text`]): the caller then takes the result as a [`Value`].
    fn build_result<B: Build>(&self, build: &mut B) -> Option<Result<B::Out, B::Error>> {
        let _ = build;
        None
    }

    /// Equal versions have equal results.
    fn version(&self) -> (u64, u64);

    /// This format's part of the summary (everything but `status` and `error`, which the
    /// driver knows).
    fn summary(&self) -> Summary;

    /// Moves the notes of the last payload folded into `notes` (see [`Note`]).
    fn take_notes(&mut self, notes: &mut Vec<Note>) {
        let _ = notes;
    }
    /// Whether this is a dispatching fold that has not decided its format yet: the driver then
    /// frames only up to the deciding event with it, and the rest of the read with the decided
    /// format's own fold (see [`Fold::with_fold`]).
    fn undecided(&self) -> bool {
        false
    }

    /// The framing decided the format before any event (a Bedrock event-stream prelude under
    /// `format="auto"`): a dispatching fold that has not decided yet takes it.
    fn decide_format(&mut self, _format: Format) {}

    /// Runs `job` on the fold that does the folding: a dispatching fold that has decided hands
    /// it the format's own fold, so that the driver's work on one event is compiled for that
    /// format and dispatched once, instead of once per call it makes on the fold.
    fn with_fold<J: FoldJob>(&mut self, job: J) -> J::Output
    where
        Self: Sized,
    {
        job.run(self)
    }
}
