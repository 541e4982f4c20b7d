//! The driver: runs any format ([`Fold`]) over the SSE framer. Everything here is
//! format-independent: the `on_error` policy (raise, skip, repair), the problem list, the queue
//! of events and completions with the error deferred behind them, truncation, captures of many
//! streams, and the refusal of input that is not an event stream at all.

use crate::error::{DecodeKind, ErrorClass, ErrorKind, StreamError};
use crate::event::Event;
use crate::formats::{Fold, FoldJob, Folded, Format, Note};
use crate::framing::eventstream::{self, FrameError, FrameErrorKind, RawMessage};
use crate::framing::sse::{FeedError, Framer, RawEvent, Sink, Stopped};
use crate::json::repair;
use crate::json::value::Value;
use crate::limits::{LimitName, Limits};
use crate::sniff::Head;
use crate::summary::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    Raise,
    Skip,
    Repair,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Skipped,
    Repaired,
    Ignored,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Skipped => "skipped",
            Action::Repaired => "repaired",
            Action::Ignored => "ignored",
        }
    }
}

/// What a problem is: an error that was not raised, or data after the end of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Error(ErrorClass),
    DataAfterDone,
    /// A fold's note (see [`crate::formats::Note`]), by its kind's name.
    Note(&'static str),
}

/// Something that went wrong and was not raised, and what was done about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub action: Action,
    pub message: String,
    pub byte_offset: u64,
    pub event_index: Option<u64>,
}

/// What a format produces besides its result; the same for every format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Per-delta events.
    pub events: bool,
    /// A partial-JSON view of tool-call arguments on their events (implies `events` in the
    /// Python API).
    pub partial_arguments: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub on_error: OnError,
    pub options: Options,
    pub limits: Limits,
    pub allow_truncated: bool,
    /// A capture of many streams: the end of one stream (`[DONE]`) closes one result and
    /// starts the next.
    pub capture: bool,
    /// Problems kept in full; later ones are only counted (a long stream of data after
    /// `[DONE]` must not grow memory without bound).
    pub max_problems: usize,
    /// The wire format; `None` is `format="auto"`: decided on the first event.
    pub format: Option<Format>,
}

pub const DEFAULT_MAX_PROBLEMS: usize = 1000;

impl Default for Config {
    fn default() -> Self {
        Config {
            on_error: OnError::default(),
            options: Options::default(),
            limits: Limits::default(),
            allow_truncated: false,
            capture: false,
            max_problems: DEFAULT_MAX_PROBLEMS,
            format: None,
        }
    }
}

/// Who takes the result at the end of input (see [`Driver::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Returned, and carried by the `done` event.
    Both,
    /// Only the `done` event (events on) carries it.
    DoneEvent,
    /// Only returned; the events are dropped.
    Result,
    /// As `Result`, moved out of the fold ([`Fold::take_result`]): the caller restores it or
    /// drops the driver.
    Take,
}

/// A whole-input run that failed: the error, and the result as it stood before it.
#[derive(Debug)]
pub struct Failure {
    pub error: StreamError,
    pub partial: Value,
}

/// Everything but the framer and the fold, so the framer can lend events to it and the fold
/// can hand it the format's own fold (see [`Fold::with_fold`]).
struct Core {
    config: Config,
    done: bool,
    /// The events that may still follow the end of the stream's content (see
    /// [`Folded::EndBefore`]).
    trailer: Option<&'static [u8]>,
    events_seen: u64,
    data_bytes: u64,
    /// Boxed, and only once there is one: `on_error="skip"`/`"repair"` streams that met a bad
    /// chunk are few, and every live parser carries this inline.
    problems: Option<Box<Problems>>,
    events: Vec<Event>,
    /// A capture's closed streams not yet handed out. Boxed, and only once there is one: a
    /// parser of one stream never has any, and every live parser carries this inline.
    // The box is the point: 8 bytes inline instead of a `Vec`'s 24.
    #[allow(clippy::box_collection)]
    completed: Option<Box<Vec<Value>>>,
    /// The body of the in-band API error of this stream, for the summary (`failed`). Boxed:
    /// rarely set, and every live parser carries this inline.
    api_error: Option<Box<Value>>,
}

/// What `on_error="skip"`/`"repair"` met: the first `max_problems` problems, and how many
/// more were only counted.
#[derive(Default)]
struct Problems {
    kept: Vec<Problem>,
    dropped: u64,
}

/// Whether the input is AWS event-stream frames (Bedrock) rather than SSE.
enum Binary {
    /// SSE.
    Off,
    /// `format="auto"` before the first bytes decide: a stream that starts with NUL is held
    /// until its 12-byte prelude is in (SSE text never starts with NUL, so no other stream
    /// waits on this).
    Sniffing(Vec<u8>),
    /// Event-stream frames (`format="bedrock"`, or a prelude whose CRC checked). Boxed: SSE
    /// parsers, the many, should not carry its room.
    On(Box<eventstream::Framer>),
}

/// One stream (or a capture of many) of format `F`, fed read by read.
pub struct Driver<F> {
    framer: Framer,
    binary: Binary,
    fold: F,
    core: Core,
    /// An error met after the call that met it had produced events or completions: those are
    /// delivered first and the error is returned by the next call (docs/design.md, "Errors and
    /// limits"). The input of that next call is held, unframed, behind it.
    /// Boxed: rarely set, and a live parser should be small.
    deferred: Option<Box<StreamError>>,
    head: Head,
}

/// ASCII whitespace as `[DONE]` may be surrounded by it. Not JSON whitespace: the marker is
/// compared as text, and the set (with form feed) is the reference's, so the twins agree.
#[inline(always)]
fn trim(data: &[u8]) -> &[u8] {
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    // Every byte of the set is at most a space: a payload that starts and ends above it (a
    // JSON object, nearly always) is one compare per end.
    if let (Some(&first), Some(&last)) = (data.first(), data.last()) {
        if first > b' ' && last > b' ' {
            return data;
        }
    }
    let mut rest = data;
    while let [first, tail @ ..] = rest {
        if !is_ws(*first) {
            break;
        }
        rest = tail;
    }
    while let [head @ .., last] = rest {
        if !is_ws(*last) {
            break;
        }
        rest = head;
    }
    rest
}

impl<F: Fold> Driver<F> {
    pub fn new(config: Config) -> Self {
        let binary = match config.format {
            Some(Format::Bedrock) => Binary::On(Box::new(eventstream::Framer::new(
                config.limits.max_line_bytes,
            ))),
            None => Binary::Sniffing(Vec::new()),
            Some(_) => Binary::Off,
        };
        Driver {
            framer: Framer::new(config.limits.max_line_bytes),
            binary,
            fold: F::new(&config),
            core: Core {
                config,
                done: false,
                trailer: None,
                events_seen: 0,
                data_bytes: 0,
                problems: None,
                events: Vec::new(),
                completed: None,
                api_error: None,
            },
            deferred: None,
            head: Head::default(),
        }
    }

    /// The format's own state (for what only that format knows, such as its counters).
    pub fn fold(&self) -> &F {
        &self.fold
    }
    /// Consumes one read. In raise mode the first error is returned; the rest of the read is
    /// kept, and the next call continues after the offending event. When the read produced
    /// events or completions before the error, this returns Ok so they can be taken, and the
    /// error is returned by the next `feed` or `finish`.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), StreamError> {
        if let Some(error) = self.deferred.take().map(|e| *e) {
            match &mut self.binary {
                Binary::On(framer) => framer.hold(input),
                _ => self.framer.hold(input),
            }
            return Err(error);
        }
        if self.core.events_seen == 0 {
            self.head.see(input);
        }
        let result = self.frame(input);
        if self.core.events_seen > 0 {
            self.head.forget();
        }
        self.settle(result)
    }

    /// Whether an error waits for the next call, behind what this call produced.
    pub fn has_deferred_error(&self) -> bool {
        self.deferred.is_some()
    }

    fn settle(&mut self, result: Result<(), StreamError>) -> Result<(), StreamError> {
        // `Ok` is written out on its own: passing the result on would copy the whole error's
        // room on every call.
        let Err(error) = result else {
            return Ok(());
        };
        if !self.core.events.is_empty() || self.core.completed.is_some() {
            self.deferred = Some(Box::new(error));
            return Ok(());
        }
        Err(error)
    }

    fn frame(&mut self, input: &[u8]) -> Result<(), StreamError> {
        if let Binary::Sniffing(held) = &mut self.binary {
            if held.is_empty() && input.first().is_some_and(|&b| b != 0) {
                self.binary = Binary::Off;
                return self.frame_sse(input);
            }
            held.extend_from_slice(input);
            if held.first().is_none_or(|&b| b == 0) && held.len() < eventstream::PRELUDE_BYTES {
                return Ok(());
            }
            let held = std::mem::take(held);
            return self.decide_framing(&held);
        }
        if let Binary::On(_) = self.binary {
            return self.frame_binary(input);
        }
        self.frame_sse(input)
    }

    /// The first bytes are in: Bedrock if they start with a prelude whose CRC checks.
    fn decide_framing(&mut self, head: &[u8]) -> Result<(), StreamError> {
        if eventstream::is_prelude(head) {
            self.binary = Binary::On(Box::new(eventstream::Framer::new(
                self.core.config.limits.max_line_bytes,
            )));
            self.fold.decide_format(Format::Bedrock);
            self.frame_binary(head)
        } else {
            self.binary = Binary::Off;
            self.frame_sse(head)
        }
    }

    fn frame_binary(&mut self, input: &[u8]) -> Result<(), StreamError> {
        let Binary::On(framer) = &mut self.binary else {
            return Ok(());
        };
        let mut input = input;
        loop {
            let (core, fold) = (&mut self.core, &mut self.fold);
            let handle = |message: &RawMessage<'_>| fold.with_fold(HandleMessage { core, message });
            match framer.feed(input, handle) {
                Ok(()) => return Ok(()),
                Err(eventstream::FeedError::Sink(e)) => return Err(e),
                Err(eventstream::FeedError::Frame(e)) => {
                    self.core.report(frame_error(e), Action::Skipped)?;
                    input = &[];
                }
            }
        }
    }

    fn frame_sse(&mut self, input: &[u8]) -> Result<(), StreamError> {
        let mut input = input;
        loop {
            let job = FrameRead {
                core: &mut self.core,
                framer: &mut self.framer,
                input,
            };
            match self.fold.with_fold(job) {
                Ok(()) => return Ok(()),
                Err(Stopped::HandedBack { rest_at, .. }) => {
                    // The format was just decided: the rest of the read goes to its fold.
                    input = input.get(rest_at..).unwrap_or_default();
                }
                Err(Stopped::Kept(FeedError::Sink(Halt::Error(e)))) => return Err(*e),
                // Decided while framing input held from before: the framer kept the rest.
                Err(Stopped::Kept(FeedError::Sink(Halt::Decided))) => input = &[],
                Err(Stopped::Kept(FeedError::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                })) => {
                    let err = StreamError {
                        kind: ErrorKind::Limit {
                            limit: LimitName::LineBytes,
                            maximum: limit as u64,
                        },
                        byte_offset: line_offset,
                        event_index: Some(event_index),
                        payload: None,
                    };
                    self.core.report(err, Action::Skipped)?;
                    input = &[];
                }
            }
        }
    }

    /// End of input: the completion (in capture mode, the last stream's, if it had chunks).
    /// When the input held after a raised error produces events or completions and then
    /// another error, this returns Ok(None) with that error deferred (`has_deferred_error`):
    /// take what was produced, and the next call returns the error.
    pub fn finish(&mut self) -> Result<Option<Value>, StreamError> {
        self.finish_as(Finish::Both)
    }

    /// As [`Driver::finish`] for a caller that takes the events: the result is rendered once,
    /// for the `done` event only (and not at all with events off), and `Ok(None)` returned.
    ///
    /// # Errors
    /// As [`Driver::finish`].
    pub fn finish_events(&mut self) -> Result<(), StreamError> {
        self.finish_as(Finish::DoneEvent).map(drop)
    }

    fn finish_as(&mut self, how: Finish) -> Result<Option<Value>, StreamError> {
        if !self.close(how)? {
            return Ok(None);
        }
        let fold = &mut self.fold;
        Ok(match how {
            Finish::DoneEvent => None,
            Finish::Take => Some(fold.take_result()),
            Finish::Both | Finish::Result => Some(fold.result()),
        })
    }

    /// Ends the input: everything [`Driver::finish_as`] does but produce the result. Whether a
    /// result is due: not when an error was deferred, nor for a capture whose last stream had
    /// no chunk.
    fn close(&mut self, how: Finish) -> Result<bool, StreamError> {
        // After a raised error the rest of that read is still held: fold it in first.
        self.feed(&[])?;
        if self.deferred.is_some() {
            return Ok(false);
        }
        let inside_event = match &mut self.binary {
            Binary::On(framer) => framer.finish().is_some(),
            Binary::Sniffing(held) => {
                // Fewer than 12 bytes, starting with NUL: not a prelude, so not Bedrock.
                let held = std::mem::take(held);
                self.binary = Binary::Off;
                self.frame_sse(&held)?;
                self.framer.finish()
            }
            Binary::Off => self.framer.finish(),
        };
        let bytes_seen = self.bytes_seen();
        let (core, fold) = (&mut self.core, &mut self.fold);
        if core.events_seen == 0 {
            // Refused in every mode: no chunk of such an input could be skipped to a result.
            if let Some(kind) = self.head.not_an_event_stream(core.config.limits.max_depth) {
                if let ErrorKind::ErrorResponse { body, .. } = &kind {
                    core.api_error.get_or_insert_with(|| Box::new(body.clone()));
                }
                return Err(StreamError {
                    kind,
                    byte_offset: 0,
                    event_index: None,
                    payload: None,
                });
            }
        }
        if core.config.capture && !inside_event && fold.folded() == 0 {
            return Ok(false);
        }
        if inside_event || !(core.done || fold.complete()) {
            let err = StreamError {
                kind: ErrorKind::Incomplete {
                    inside_event,
                    missing: fold.missing_end(),
                },
                byte_offset: bytes_seen,
                event_index: Some(core.events_seen),
                payload: None,
            };
            if core.config.allow_truncated || core.config.on_error != OnError::Raise {
                core.problem(&err, Action::Ignored);
            } else {
                return Err(err);
            }
        }
        if core.config.capture && fold.folded() == 0 {
            return Ok(false);
        }
        if core.config.options.events {
            fold.finish_events(&mut core.events);
            // Rendered once for whoever takes it: a completion can be large.
            let completion = matches!(how, Finish::Both | Finish::DoneEvent).then(|| fold.result());
            core.events.push(Event::Done(completion));
        }
        Ok(true)
    }

    /// End of input for a caller that takes no events: an error deferred behind events is
    /// returned rather than kept for a next call, and the events are dropped. The result is the
    /// completion, or the snapshot when a capture's last stream had no chunk.
    pub fn finish_without_events(&mut self) -> Result<Value, StreamError> {
        loop {
            match self.finish_as(Finish::Result) {
                Ok(_) if self.deferred.is_some() => {}
                Ok(v) => {
                    self.core.events.clear();
                    return Ok(v.unwrap_or_else(|| self.snapshot()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// As [`Driver::finish_without_events`], handing the result to `use_result` without copying
    /// it: it is moved out of the fold for the call and back afterwards, so the driver is left
    /// as `finish_without_events` leaves it. `use_result` may move texts out of the result;
    /// the fold then lacks them until they are put back ([`Driver::with_result_mut`]).
    ///
    /// # Errors
    /// As [`Driver::finish_without_events`].
    pub fn finish_with<T>(
        &mut self,
        use_result: impl FnOnce(&mut Value) -> T,
    ) -> Result<T, StreamError> {
        loop {
            match self.finish_as(Finish::Take) {
                Ok(_) if self.deferred.is_some() => {}
                Ok(Some(mut v)) => {
                    self.core.events.clear();
                    let out = use_result(&mut v);
                    self.fold.restore(v);
                    return Ok(out);
                }
                Ok(None) => {
                    self.core.events.clear();
                    return Ok(use_result(&mut self.snapshot()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// As [`Driver::finish_with`], handing `use_fold` the fold that holds the result instead
    /// of the result: for a caller that builds the result from the state itself
    /// ([`Fold::build_result`]). `use_fold` must leave the fold as it found it (a result taken
    /// with [`Fold::take_result`] is restored).
    ///
    /// # Errors
    /// As [`Driver::finish_without_events`].
    pub fn finish_with_fold<T>(
        &mut self,
        use_fold: impl FnOnce(&mut F) -> T,
    ) -> Result<T, StreamError> {
        // A capture whose last stream had no chunk has no result due: its snapshot, which
        // the fold gives as well.
        while !self.close(Finish::Result)? && self.deferred.is_some() {}
        self.core.events.clear();
        Ok(use_fold(&mut self.fold))
    }

    /// Lends the result as [`Driver::finish_with`] hands it over (moved out of the fold and back),
    /// to put back what `finish_with`'s caller took out of it.
    pub fn with_result_mut<T>(&mut self, change: impl FnOnce(&mut Value) -> T) -> T {
        let mut v = self.fold.take_result();
        let out = change(&mut v);
        self.fold.restore(v);
        out
    }

    /// Runs a whole input held in memory. On error, what was produced before it is kept: the
    /// failure carries the result as it stood.
    pub fn run_whole(config: Config, data: &[u8]) -> Result<Value, Box<Failure>> {
        let mut driver = Self::new(config);
        // The driver ends here, so the result is moved out of the fold, never copied.
        match driver
            .feed(data)
            .and_then(|()| driver.finish_as(Finish::Take))
        {
            Ok(v) => Ok(v.unwrap_or_else(|| driver.snapshot())),
            Err(error) => Err(Box::new(Failure {
                error,
                partial: driver.snapshot(),
            })),
        }
    }

    /// As [`Driver::run_whole`], handing over the fold at the end of the input instead of its
    /// result, for a caller that builds the result from the state itself
    /// ([`Fold::build_result`], or [`Fold::take_result`], which needs no restore here).
    pub fn run_whole_into_fold(config: Config, data: &[u8]) -> Result<F, Box<Failure>> {
        let mut driver = Self::new(config);
        // An error deferred behind events is returned by the next call: it is this run's.
        let ended = driver.feed(data).and_then(|()| loop {
            if driver.close(Finish::Result)? || driver.deferred.is_none() {
                return Ok(());
            }
        });
        match ended {
            Ok(()) => Ok(driver.fold),
            Err(error) => Err(Box::new(Failure {
                error,
                partial: driver.snapshot(),
            })),
        }
    }

    pub fn snapshot(&self) -> Value {
        self.fold.result()
    }

    /// Equal versions have equal snapshots (see `Assembler::version`).
    pub fn snapshot_version(&self) -> (u64, u64) {
        self.fold.version()
    }

    /// Whether events wait to be taken ([`Driver::take_events`]).
    pub fn has_events(&self) -> bool {
        !self.core.events.is_empty()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.core.events)
    }

    pub fn take_completed(&mut self) -> Vec<Value> {
        self.core
            .completed
            .take()
            .map_or_else(Vec::new, |done| *done)
    }

    pub fn problems(&self) -> &[Problem] {
        self.core.problems.as_ref().map_or(&[], |p| &p.kept)
    }

    /// Problems past `max_problems`, counted but not kept.
    pub fn problems_dropped(&self) -> u64 {
        self.core.problems.as_ref().map_or(0, |p| p.dropped)
    }

    pub fn done(&self) -> bool {
        self.core.done
    }

    /// The format: the fixed one, or under auto the decided one (`None` until decided).
    pub fn format(&self) -> Option<Format> {
        self.fold.format()
    }

    /// The summary of the stream as it stands: usable at any time, also after an error.
    pub fn summary(&self) -> Summary {
        let mut summary = self.fold.summary();
        summary.settle(self.core.done, self.core.api_error.as_deref());
        summary
    }

    pub fn bytes_seen(&self) -> u64 {
        match &self.binary {
            Binary::On(framer) => framer.bytes_seen(),
            Binary::Sniffing(held) => held.len() as u64,
            Binary::Off => self.framer.bytes_seen(),
        }
    }

    pub fn buffered_bytes(&self) -> usize {
        match &self.binary {
            Binary::On(framer) => framer.buffered_bytes(),
            Binary::Sniffing(held) => held.len(),
            Binary::Off => self.framer.buffered_bytes(),
        }
    }

    pub fn last_event_id(&self) -> &[u8] {
        self.framer.last_event_id()
    }
}

/// A framing error of the event-stream framer as the driver reports it: a message over the
/// limit is `max_line_bytes`'s (the limit on one event, whatever the framing).
fn frame_error(e: FrameError) -> StreamError {
    let kind = match e.kind {
        FrameErrorKind::TooLong { limit, .. } => ErrorKind::Limit {
            limit: LimitName::LineBytes,
            maximum: limit as u64,
        },
        kind => ErrorKind::Frame(kind),
    };
    StreamError {
        kind,
        byte_offset: e.byte_offset,
        event_index: Some(e.message_index),
        payload: None,
    }
}

/// A string header as a JSON value (`null` when absent or of another type).
fn header_value(message: &RawMessage<'_>, name: &str) -> Value {
    message
        .string_header(name)
        .map_or(Value::Null, Value::string)
}

/// The body of an event-stream `exception` message: its JSON object payload with `type` (the
/// `:exception-type` header) first, or `{"type", "message": <text>}` when the payload is not
/// a JSON object.
fn exception_body(message: &RawMessage<'_>, max_depth: usize) -> Value {
    let mut body = crate::json::value::Map::new();
    body.insert("type".into(), header_value(message, ":exception-type"));
    match crate::json::reader::parse(message.payload, max_depth) {
        Ok(Value::Object(payload)) => {
            for (key, value) in payload {
                if key != "type" {
                    body.insert(key, value);
                }
            }
        }
        _ => {
            body.insert(
                "message".into(),
                Value::String(String::from_utf8_lossy(message.payload).into_owned()),
            );
        }
    }
    Value::Object(body)
}

/// Why the driver's sink stopped the SSE framer.
enum Halt {
    /// Raised (or deferred): the framer keeps the rest of the read. Boxed: the framer passes
    /// its result up through every call of a read, and an error is rare.
    Error(Box<StreamError>),
    /// The event just handled decided the format: the rest of the read is handed back, to be
    /// framed with the decided format's fold.
    Decided,
}

/// One read of SSE, framed onto the format's own fold: the framer's loop and the driver's
/// per-event work are compiled together for that fold, which is dispatched once per read
/// instead of once per event. Undecided (`format="auto"` before the first payload), the job
/// runs on the dispatching fold and stops once the format is decided, so that the rest of a
/// read (all of it, for `assemble`) is framed for the decided fold too.
struct FrameRead<'d, 'i> {
    core: &'d mut Core,
    framer: &'d mut Framer,
    input: &'i [u8],
}

impl FoldJob for FrameRead<'_, '_> {
    type Output = Result<(), Stopped<Halt>>;
    #[inline]
    fn run<G: Fold>(self, fold: &mut G) -> Self::Output {
        let FrameRead {
            core,
            framer,
            input,
        } = self;
        let sink = EventSink {
            deciding: fold.undecided(),
            core,
            fold,
        };
        framer.feed_or_hand_back(input, sink, |halt| matches!(halt, Halt::Decided))
    }
}

/// The driver's per-event work on the fold `G`, as the framer's sink.
struct EventSink<'d, G> {
    core: &'d mut Core,
    fold: &'d mut G,
    /// The fold had not decided its format when the read began.
    deciding: bool,
}

impl<G: Fold> Sink<Halt> for EventSink<'_, G> {
    // Compiled into the framer's loop: the event's fields stay in registers, and the call per
    // event with its spills goes.
    #[inline(always)]
    fn event(&mut self, ev: &RawEvent<'_>) -> Result<(), Halt> {
        self.core
            .handle(self.fold, ev)
            .map_err(|e| Halt::Error(Box::new(e)))?;
        if self.deciding && !self.fold.undecided() {
            return Err(Halt::Decided);
        }
        Ok(())
    }
}

/// One event-stream message for [`Core::handle_message`], run on the format's own fold.
struct HandleMessage<'c, 'm, 'a> {
    core: &'c mut Core,
    message: &'m RawMessage<'a>,
}

impl FoldJob for HandleMessage<'_, '_, '_> {
    type Output = Result<(), StreamError>;
    fn run<G: Fold>(self, fold: &mut G) -> Self::Output {
        self.core.handle_message(fold, self.message)
    }
}

impl Core {
    /// One event-stream message: an `event` is handled as an SSE event named by its
    /// `:event-type`; `exception` and `error` messages are in-band API errors; other message
    /// types are skipped. A `metadata` event after `messageStop` (the end marker) is still
    /// folded: Bedrock sends the usage after the stop.
    fn handle_message<G: Fold>(
        &mut self,
        fold: &mut G,
        m: &RawMessage<'_>,
    ) -> Result<(), StreamError> {
        self.events_seen = m.index + 1;
        // Noted by the framer while it checked the headers.
        let (message_type, event_type) = (m.routing.message_type, m.routing.event_type);
        match message_type {
            Some("event") => {
                let event_type = event_type.unwrap_or_default();
                let ev = RawEvent {
                    event_type: event_type.as_bytes(),
                    data: m.payload,
                    last_event_id: b"",
                    retry: None,
                    data_offset: m.payload_offset,
                    index: m.index,
                };
                // After the end of the content only the fold's trailer events belong to the
                // stream (docs/formats.md, "Decisions taken").
                if let Some(trailer) = self.trailer {
                    let trails = event_type.as_bytes() == trailer;
                    if self.config.capture && !trails {
                        self.end_stream(fold);
                    } else if trails && self.done {
                        self.done = false;
                        let result = self.handle(fold, &ev);
                        self.done = true;
                        return result;
                    }
                }
                self.handle(fold, &ev)
            }
            Some(kind @ ("exception" | "error")) => {
                let body = if kind == "exception" {
                    exception_body(m, self.config.limits.max_depth)
                } else {
                    let mut body = crate::json::value::Map::new();
                    body.insert("type".into(), header_value(m, ":error-code"));
                    body.insert("message".into(), header_value(m, ":error-message"));
                    Value::Object(body)
                };
                self.api_error.get_or_insert_with(|| Box::new(body.clone()));
                let offset = if kind == "exception" {
                    m.payload_offset
                } else {
                    m.offset
                };
                let err = StreamError {
                    kind: ErrorKind::Api { body },
                    byte_offset: offset,
                    event_index: Some(m.index),
                    payload: None,
                };
                self.report(err, Action::Skipped)
            }
            _ => Ok(()),
        }
    }

    #[inline(always)]
    fn handle<G: Fold>(&mut self, fold: &mut G, ev: &RawEvent<'_>) -> Result<(), StreamError> {
        self.events_seen = ev.index + 1;
        if self.done {
            self.after_done(fold, ev);
            return Ok(());
        }
        let data = trim(ev.data);
        let is_error = ev.event_type == b"error";
        // `data:` with nothing after it dispatches an empty event (WHATWG); servers use it as a
        // keep-alive, so it carries no chunk rather than being invalid JSON. Under `event: error`
        // it is still an error report, with body "" (docs/design.md, twin decisions, row g).
        if data.is_empty() && !is_error {
            return Ok(());
        }
        if !is_error {
            fold.see(ev.event_type, data);
        }
        if fold.ends_stream(data) {
            self.end_stream(fold);
            return Ok(());
        }
        self.data_bytes = self.data_bytes.saturating_add(ev.data.len() as u64);
        if self.data_bytes > self.config.limits.max_buffer_bytes {
            return self.over_buffer(ev);
        }
        if is_error {
            return self.error_event(ev);
        }
        match fold.fold(ev.event_type, ev.data, &mut self.events) {
            Ok(folded) => {
                self.notes(fold, ev);
                self.folded(fold, folded);
                Ok(())
            }
            Err(kind) => self.refused(fold, ev, kind),
        }
    }

    /// An error at this event's payload.
    fn error_at(ev: &RawEvent<'_>, kind: ErrorKind) -> StreamError {
        StreamError {
            kind,
            byte_offset: ev.data_offset,
            event_index: Some(ev.index),
            payload: None,
        }
    }

    /// An event after the end of the stream: recorded, never folded.
    // Out of line, as are the other rare outcomes below: the per-event path stays small.
    #[cold]
    #[inline(never)]
    fn after_done<G: Fold>(&mut self, fold: &G, ev: &RawEvent<'_>) {
        let marker = fold.end_marker();
        self.record(|| Problem {
            kind: ProblemKind::DataAfterDone,
            action: Action::Ignored,
            message: format!("event after {marker} ignored"),
            byte_offset: ev.data_offset,
            event_index: Some(ev.index),
        });
    }

    #[cold]
    #[inline(never)]
    fn over_buffer(&mut self, ev: &RawEvent<'_>) -> Result<(), StreamError> {
        let err = Self::error_at(
            ev,
            ErrorKind::Limit {
                limit: LimitName::BufferBytes,
                maximum: self.config.limits.max_buffer_bytes,
            },
        );
        self.report(err, Action::Skipped)
    }

    /// An `event: error` frame: an in-band API error, whatever the format.
    #[cold]
    #[inline(never)]
    fn error_event(&mut self, ev: &RawEvent<'_>) -> Result<(), StreamError> {
        let body = crate::json::reader::parse(ev.data, self.config.limits.max_depth)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(ev.data).into_owned()));
        self.api_error.get_or_insert_with(|| Box::new(body.clone()));
        self.report(Self::error_at(ev, ErrorKind::Api { body }), Action::Skipped)
    }

    /// The fold refused the payload: raised, skipped, or repaired and folded again.
    #[cold]
    #[inline(never)]
    fn refused<G: Fold>(
        &mut self,
        fold: &mut G,
        ev: &RawEvent<'_>,
        kind: ErrorKind,
    ) -> Result<(), StreamError> {
        if let ErrorKind::UnsupportedFormat { .. } = kind {
            // Raised in every mode: skipping such events would leave a silently empty result.
            return Err(Self::error_at(ev, kind));
        }
        let repairable = matches!(kind, ErrorKind::Decode(DecodeKind::Syntax(_)));
        if repairable && self.config.on_error == OnError::Repair {
            if let Some(fixed) = repair::repair(ev.data) {
                if let Ok(folded) = fold.fold_repaired(ev.event_type, &fixed, &mut self.events) {
                    let mut err = Self::error_at(ev, kind);
                    err.payload = Some(ev.data.to_vec());
                    self.problem(&err, Action::Repaired);
                    // What the repaired payload's folding noted comes after the
                    // repair, at this event (as in the reference).
                    self.notes(fold, ev);
                    self.folded(fold, folded);
                    return Ok(());
                }
            }
        }
        if let ErrorKind::Api { body } = &kind {
            self.api_error.get_or_insert_with(|| Box::new(body.clone()));
        }
        let mut err = Self::error_at(ev, kind);
        if matches!(err.kind, ErrorKind::Decode(_)) {
            err.payload = Some(ev.data.to_vec());
        }
        self.report(err, Action::Skipped)
    }

    /// Records the notes the fold took of the payload just folded.
    #[inline]
    fn notes<G: Fold>(&mut self, fold: &mut G, ev: &RawEvent<'_>) {
        let mut notes: Vec<Note> = Vec::new();
        fold.take_notes(&mut notes);
        if notes.capacity() == 0 {
            // Nearly every payload: the fold moved no note in, so the vector never allocated
            // and owns nothing. Forgetting it spares every such payload the call to its drop.
            std::mem::forget(notes);
            return;
        }
        self.record_notes(notes, ev);
    }

    #[cold]
    #[inline(never)]
    fn record_notes(&mut self, notes: Vec<Note>, ev: &RawEvent<'_>) {
        for note in notes {
            self.record(|| Problem {
                kind: ProblemKind::Note(note.kind),
                action: if note.skipped {
                    Action::Skipped
                } else {
                    Action::Ignored
                },
                message: note.message,
                byte_offset: ev.data_offset,
                event_index: Some(ev.index),
            });
        }
    }

    /// The end marker arrived: the stream is done, or in a capture the next one starts.
    /// Acts on what folding a payload did to the stream.
    fn folded<G: Fold>(&mut self, fold: &mut G, folded: Folded) {
        match folded {
            Folded::Continue => {}
            Folded::End => self.end_stream(fold),
            Folded::EndBefore(trailer) => {
                self.trailer = Some(trailer);
                if !self.config.capture {
                    self.done = true;
                }
            }
        }
    }

    fn end_stream<G: Fold>(&mut self, fold: &mut G) {
        self.trailer = None;
        if self.config.capture {
            let result = fold.result();
            self.completed.get_or_insert_with(Box::default).push(result);
            fold.next_stream();
            self.data_bytes = 0;
            self.api_error = None;
        } else {
            self.done = true;
        }
    }

    /// Raises in raise mode; otherwise records the problem (and an `error` event for in-band
    /// errors) and carries on.
    fn report(&mut self, err: StreamError, action: Action) -> Result<(), StreamError> {
        if self.config.on_error == OnError::Raise {
            return Err(err);
        }
        if let (ErrorKind::Api { body }, true) = (&err.kind, self.config.options.events) {
            self.events.push(Event::Error(body.clone()));
        }
        self.problem(&err, action);
        Ok(())
    }

    fn problem(&mut self, err: &StreamError, action: Action) {
        self.record(|| Problem {
            kind: ProblemKind::Error(err.kind.class()),
            action,
            // The position is in the problem's own fields, as in the reference.
            message: err.message(),
            byte_offset: err.byte_offset,
            event_index: err.event_index,
        });
    }

    /// Keeps the first `max_problems` problems and counts the rest (built only when kept).
    fn record(&mut self, problem: impl FnOnce() -> Problem) {
        let problems = self.problems.get_or_insert_with(Box::default);
        if problems.kept.len() < self.config.max_problems {
            problems.kept.push(problem());
        } else {
            problems.dropped = problems.dropped.saturating_add(1);
        }
    }
}
