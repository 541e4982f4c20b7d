//! The driver: runs any format ([`Fold`]) over the SSE framer. Everything here is
//! format-independent: the `on_error` policy (raise, skip, repair), the problem list, the queue
//! of events and completions with the error deferred behind them, truncation, captures of many
//! streams, and the refusal of input that is not an event stream at all.

use crate::error::{DecodeKind, ErrorClass, ErrorKind, StreamError};
use crate::event::{Event, EventKind};
use crate::formats::chat::assemble::Options;
use crate::formats::Fold;
use crate::framing::sse::{FeedError, Framer, RawEvent};
use crate::json::repair;
use crate::json::value::Value;
use crate::limits::{LimitName, Limits};
use crate::sniff::Head;

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
        }
    }
}

/// Everything but the framer, so the framer can lend events to it.
struct Core<F> {
    config: Config,
    fold: F,
    done: bool,
    events_seen: u64,
    data_bytes: u64,
    problems: Vec<Problem>,
    /// Problems past `max_problems`, counted but not kept.
    problems_dropped: u64,
    events: Vec<Event>,
    completed: Vec<Value>,
}

/// One stream (or a capture of many) of format `F`, fed read by read.
pub struct Driver<F> {
    framer: Framer,
    core: Core<F>,
    /// An error met after the call that met it had produced events or completions: those are
    /// delivered first and the error is returned by the next call (docs/design.md, "Errors and
    /// limits"). The input of that next call is held, unframed, behind it.
    deferred: Option<StreamError>,
    head: Head,
}

/// ASCII whitespace as `[DONE]` may be surrounded by it.
fn trim(data: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let start = data.iter().position(|b| !is_ws(b)).unwrap_or(data.len());
    let end = data
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |e| e + 1);
    data.get(start..end).unwrap_or_default()
}

impl<F: Fold> Driver<F> {
    pub fn new(config: Config) -> Self {
        Driver {
            framer: Framer::new(config.limits.max_line_bytes),
            core: Core {
                config,
                fold: F::new(config.options, config.limits),
                done: false,
                events_seen: 0,
                data_bytes: 0,
                problems: Vec::new(),
                problems_dropped: 0,
                events: Vec::new(),
                completed: Vec::new(),
            },
            deferred: None,
            head: Head::default(),
        }
    }

    /// The format's own state (for what only that format knows, such as its counters).
    pub fn fold(&self) -> &F {
        &self.core.fold
    }
    /// Consumes one read. In raise mode the first error is returned; the rest of the read is
    /// kept, and the next call continues after the offending event. When the read produced
    /// events or completions before the error, this returns Ok so they can be taken, and the
    /// error is returned by the next `feed` or `finish`.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), StreamError> {
        if let Some(error) = self.deferred.take() {
            self.framer.hold(input);
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
        match result {
            Err(error) if !self.core.events.is_empty() || !self.core.completed.is_empty() => {
                self.deferred = Some(error);
                Ok(())
            }
            other => other,
        }
    }

    fn frame(&mut self, input: &[u8]) -> Result<(), StreamError> {
        let mut input = input;
        loop {
            let core = &mut self.core;
            match self.framer.feed(input, |ev| core.handle(ev)) {
                Ok(()) => return Ok(()),
                Err(FeedError::Sink(e)) => return Err(e),
                Err(FeedError::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                }) => {
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
        // After a raised error the rest of that read is still held: fold it in first.
        self.feed(&[])?;
        if self.deferred.is_some() {
            return Ok(None);
        }
        let inside_event = self.framer.finish();
        let core = &mut self.core;
        if core.events_seen == 0 {
            // Refused in every mode: no chunk of such an input could be skipped to a result.
            if let Some(kind) = self.head.not_an_event_stream(core.config.limits.max_depth) {
                return Err(StreamError {
                    kind,
                    byte_offset: 0,
                    event_index: None,
                    payload: None,
                });
            }
        }
        if core.config.capture && !inside_event && core.fold.folded() == 0 {
            return Ok(None);
        }
        if inside_event || !(core.done || core.fold.complete()) {
            let err = StreamError {
                kind: ErrorKind::Incomplete { inside_event },
                byte_offset: self.framer.bytes_seen(),
                event_index: Some(core.events_seen),
                payload: None,
            };
            if core.config.allow_truncated || core.config.on_error != OnError::Raise {
                core.problem(&err, Action::Ignored);
            } else {
                return Err(err);
            }
        }
        if core.config.capture && core.fold.folded() == 0 {
            return Ok(None);
        }
        if core.config.options.events {
            core.fold.finish_events(&mut core.events);
            let mut e = Event::new(EventKind::Done, None);
            e.value = Some(core.fold.result());
            core.events.push(e);
        }
        Ok(Some(core.fold.result()))
    }

    pub fn snapshot(&self) -> Value {
        self.core.fold.result()
    }

    /// Equal versions have equal snapshots (see `Assembler::version`).
    pub fn snapshot_version(&self) -> (u64, u64) {
        self.core.fold.version()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.core.events)
    }

    pub fn take_completed(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.core.completed)
    }

    pub fn problems(&self) -> &[Problem] {
        &self.core.problems
    }

    /// Problems past `max_problems`, counted but not kept.
    pub fn problems_dropped(&self) -> u64 {
        self.core.problems_dropped
    }

    pub fn done(&self) -> bool {
        self.core.done
    }

    pub fn bytes_seen(&self) -> u64 {
        self.framer.bytes_seen()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.framer.buffered_bytes()
    }

    pub fn last_event_id(&self) -> &[u8] {
        self.framer.last_event_id()
    }
}

impl<F: Fold> Core<F> {
    fn handle(&mut self, ev: &RawEvent<'_>) -> Result<(), StreamError> {
        self.events_seen = ev.index + 1;
        let at = |kind| StreamError {
            kind,
            byte_offset: ev.data_offset,
            event_index: Some(ev.index),
            payload: None,
        };
        if self.done {
            self.record(|| Problem {
                kind: ProblemKind::DataAfterDone,
                action: Action::Ignored,
                message: "event after [DONE] ignored".to_string(),
                byte_offset: ev.data_offset,
                event_index: Some(ev.index),
            });
            return Ok(());
        }
        let data = trim(ev.data);
        // `data:` with nothing after it dispatches an empty event (WHATWG); servers use it as a
        // keep-alive, so it carries no chunk rather than being invalid JSON. Under `event: error`
        // it is still an error report, with body "" (docs/design.md, twin decisions, row g).
        if data.is_empty() && ev.event_type != b"error" {
            return Ok(());
        }
        if F::ends_stream(data) {
            if self.config.capture {
                self.completed.push(self.fold.result());
                self.fold.next_stream();
                self.data_bytes = 0;
            } else {
                self.done = true;
            }
            return Ok(());
        }
        self.data_bytes = self.data_bytes.saturating_add(ev.data.len() as u64);
        if self.data_bytes > self.config.limits.max_buffer_bytes {
            let err = at(ErrorKind::Limit {
                limit: LimitName::BufferBytes,
                maximum: self.config.limits.max_buffer_bytes,
            });
            return self.report(err, Action::Skipped);
        }
        if ev.event_type == b"error" {
            let body = crate::json::reader::parse(ev.data, self.config.limits.max_depth)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(ev.data).into_owned()));
            return self.report(at(ErrorKind::Api { body }), Action::Skipped);
        }
        match self.fold.fold(ev.event_type, ev.data, &mut self.events) {
            Ok(()) => Ok(()),
            // Raised in every mode: skipping such events would leave a silently empty result.
            Err(kind @ ErrorKind::UnsupportedFormat { .. }) => Err(at(kind)),
            Err(kind) => {
                let repairable = matches!(kind, ErrorKind::Decode(DecodeKind::Syntax(_)));
                if repairable && self.config.on_error == OnError::Repair {
                    if let Some(fixed) = repair::repair(ev.data) {
                        if self.fold.fold_repaired(&fixed, &mut self.events).is_ok() {
                            let mut err = at(kind);
                            err.payload = Some(ev.data.to_vec());
                            self.problem(&err, Action::Repaired);
                            return Ok(());
                        }
                    }
                }
                let mut err = at(kind);
                if matches!(err.kind, ErrorKind::Decode(_)) {
                    err.payload = Some(ev.data.to_vec());
                }
                self.report(err, Action::Skipped)
            }
        }
    }

    /// Raises in raise mode; otherwise records the problem (and an `error` event for in-band
    /// errors) and carries on.
    fn report(&mut self, err: StreamError, action: Action) -> Result<(), StreamError> {
        if self.config.on_error == OnError::Raise {
            return Err(err);
        }
        if let (ErrorKind::Api { body }, true) = (&err.kind, self.config.options.events) {
            let mut e = Event::new(EventKind::Error, None);
            e.value = Some(body.clone());
            self.events.push(e);
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
        if self.problems.len() < self.config.max_problems {
            self.problems.push(problem());
        } else {
            self.problems_dropped = self.problems_dropped.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::chat::assemble::Options;
    use crate::formats::chat::ChatStream;

    fn run(
        config: Config,
        data: &[u8],
        read: usize,
    ) -> (Result<Option<Value>, StreamError>, ChatStream) {
        let mut s = ChatStream::new(config);
        for piece in data.chunks(read.max(1)) {
            if let Err(e) = s.feed(piece) {
                return (Err(e), s);
            }
        }
        (s.finish(), s)
    }

    fn with_events() -> Config {
        Config {
            options: Options {
                events: true,
                partial_arguments: false,
            },
            ..Config::default()
        }
    }

    fn recorded() -> Vec<(String, Vec<u8>)> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openai-recorded"
        );
        let mut out = Vec::new();
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sse") {
                let data = std::fs::read(&path).unwrap_or_default();
                out.push((path.display().to_string(), data));
            }
        }
        assert!(out.len() >= 40, "recorded streams missing in {dir}");
        out
    }

    #[test]
    fn template_path_gives_the_same_completion_as_full_decoding() {
        // Events turn the template path off, so the two runs differ only in that path.
        for (name, data) in recorded() {
            for read in [1, 7, 4096, usize::MAX] {
                let (fast, s) = run(Config::default(), &data, read);
                let (full, _) = run(with_events(), &data, read);
                assert_eq!(fast.ok(), full.ok(), "{name} read {read}");
                if read == 4096 && name.contains("non_pydantic_response_format.sse") {
                    let (chunks, via_template) = s.chunk_counts();
                    assert!(
                        via_template * 10 > chunks * 9,
                        "{name}: {via_template}/{chunks}"
                    );
                }
            }
        }
    }

    #[test]
    fn interleaved_choices_keep_their_templates() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openai-recorded"
        );
        let data = std::fs::read(format!("{dir}/parse_pydantic_model_multiple_choices.sse"))
            .unwrap_or_default();
        let (fast, s) = run(Config::default(), &data, 4096);
        let (full, _) = run(with_events(), &data, 4096);
        assert_eq!(fast.ok(), full.ok());
        let (chunks, via_template) = s.chunk_counts();
        assert!(via_template * 4 > chunks * 3, "{via_template}/{chunks}");
    }

    #[test]
    fn a_changed_fingerprint_is_not_undone_by_a_template() {
        let mut data = Vec::new();
        for (fp, token) in [("a", "x"), ("a", "y"), ("b", "z"), ("a", "w")] {
            data.extend_from_slice(
                format!(
                    "data: {{\"system_fingerprint\":\"{fp}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{token}\"}}}}]}}\n\n"
                )
                .as_bytes(),
            );
        }
        data.extend_from_slice(b"data: [DONE]\n\n");
        let (fast, _) = run(Config::default(), &data, 4096);
        let (full, _) = run(with_events(), &data, 4096);
        let fast = fast.ok().flatten();
        assert_eq!(fast, full.ok().flatten());
        let Some(Value::Object(m)) = fast else {
            panic!("no completion")
        };
        assert_eq!(m.get("system_fingerprint"), Some(&Value::string("a")));
    }

    #[test]
    fn a_template_chunk_makes_its_call_the_current_one() {
        // Found by the `assemble` fuzz target: a fragment without an index continues the call
        // of the previous fragment, also when that fragment took the template path.
        let frags = [
            r#"{"index":0,"id":"a","function":{"name":"f","arguments":""}}"#,
            r#"{"index":1,"id":"b","function":{"name":"g","arguments":""}}"#,
            r#"{"index":0,"function":{"arguments":"x"}}"#,
            r#"{"index":1,"function":{"arguments":"y"}}"#,
            r#"{"index":0,"function":{"arguments":"z"}}"#,
            r#"{"function":{"arguments":"w"}}"#,
        ];
        let mut data = Vec::new();
        for f in frags {
            data.extend_from_slice(
                format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{f}]}}}}]}}\n\n")
                    .as_bytes(),
            );
        }
        data.extend_from_slice(b"data: [DONE]\n\n");
        let (fast, s) = run(Config::default(), &data, 4096);
        let (full, _) = run(with_events(), &data, 4096);
        assert_eq!(
            s.chunk_counts().1,
            1,
            "the fifth chunk takes the template path"
        );
        let fast = fast.ok().flatten();
        assert_eq!(fast, full.ok().flatten());
        let text = format!("{fast:?}");
        assert!(text.contains(r#"String("xzw")"#), "{text}");
    }

    #[test]
    fn a_template_is_not_taken_when_another_fragment_would_change_the_current_call() {
        // Found by tests/test_growth_inputs.py: the third chunk has the second's shape, so a
        // template learned from the second would append its "" to call 0 and leave call 0
        // current, where decoding it in full makes call 1 current; the fragment without an
        // index then belongs to call 1.
        let chunks = [
            r#"[{"index":0,"id":"a","function":{"name":"f","arguments":""}},{"index":1,"id":"b","function":{"name":"g","arguments":""}}]"#,
            r#"[{"index":0,"function":{"arguments":":"}},{"index":1,"function":{"arguments":""}}]"#,
            r#"[{"index":0,"function":{"arguments":""}},{"index":1,"function":{"arguments":""}}]"#,
            r#"[{"function":{"arguments":":"}}]"#,
        ];
        let mut data = Vec::new();
        for c in chunks {
            data.extend_from_slice(
                format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":{c}}}}}]}}\n\n"
                )
                .as_bytes(),
            );
        }
        data.extend_from_slice(b"data: [DONE]\n\n");
        let (fast, _) = run(Config::default(), &data, 4096);
        let (full, _) = run(with_events(), &data, 4096);
        let fast = fast.ok().flatten();
        assert_eq!(fast, full.ok().flatten());
        let text = format!("{fast:?}");
        assert_eq!(text.matches(r#"String(":")"#).count(), 2, "{text}");
    }

    #[test]
    fn done_empty_data_and_after_done() {
        let data = b"data:\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata:  [DONE] \n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n";
        let (out, s) = run(Config::default(), data, 3);
        assert!(out.is_ok());
        assert!(s.done());
        let kinds: Vec<_> = s
            .problems()
            .iter()
            .map(|p| (p.kind, p.action, p.event_index))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (ProblemKind::DataAfterDone, Action::Ignored, Some(3)),
                (ProblemKind::DataAfterDone, Action::Ignored, Some(4))
            ]
        );
    }

    #[test]
    fn error_event_with_empty_data_is_an_api_error() {
        let data = b"data: {\"choices\":[]}\n\nevent: error\ndata:\n\n";
        let mut s = ChatStream::new(Config::default());
        let err = s.feed(data).err();
        assert!(
            matches!(&err, Some(StreamError { kind: ErrorKind::Api { body }, event_index: Some(1), .. }) if *body == Value::String(String::new())),
            "{err:?}"
        );
    }

    #[test]
    fn capture_mode_yields_one_completion_per_stream() {
        let one = b"data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"1\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n: between\n\n";
        let two = b"data: {\"id\":\"b\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"2\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let mut data = one.to_vec();
        data.extend_from_slice(two);
        let config = Config {
            capture: true,
            ..Config::default()
        };
        let mut s = ChatStream::new(config);
        assert!(s.feed(&data).is_ok());
        assert_eq!(s.finish().ok(), Some(None));
        let done = s.take_completed();
        let ids: Vec<_> = done
            .iter()
            .map(|c| match c {
                Value::Object(m) => m.get("id").cloned(),
                _ => None,
            })
            .collect();
        assert_eq!(
            ids,
            vec![Some(Value::string("a")), Some(Value::string("b"))]
        );
    }

    #[test]
    fn limits_at_their_edge() {
        let payload =
            br#"{"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":"stop"}]}"#;
        let mut data = b"data: ".to_vec();
        data.extend_from_slice(payload);
        data.extend_from_slice(b"\n\n");
        let line = payload.len() + 6;
        let at = |limits: Limits| {
            run(
                Config {
                    limits,
                    ..Config::default()
                },
                &data,
                5,
            )
            .0
        };
        let exact = Limits {
            max_line_bytes: line,
            max_buffer_bytes: payload.len() as u64,
            ..Limits::default()
        };
        assert!(at(exact).is_ok());
        let short_line = Limits {
            max_line_bytes: line - 1,
            ..exact
        };
        assert!(matches!(
            at(short_line).err().map(|e| e.kind),
            Some(ErrorKind::Limit {
                limit: LimitName::LineBytes,
                ..
            })
        ));
        let short_buffer = Limits {
            max_buffer_bytes: payload.len() as u64 - 1,
            ..exact
        };
        assert!(matches!(
            at(short_buffer).err().map(|e| e.kind),
            Some(ErrorKind::Limit {
                limit: LimitName::BufferBytes,
                ..
            })
        ));
        let shallow = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert!(matches!(
            at(shallow).err().map(|e| e.kind),
            Some(ErrorKind::Limit {
                limit: LimitName::Depth,
                ..
            })
        ));
        let deep_enough = Limits {
            max_depth: 4,
            ..Limits::default()
        };
        assert!(at(deep_enough).is_ok());
    }

    const GOOD_A: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
    const BAD: &[u8] = b"data: {oops}\n\n";
    const GOOD_B: &[u8] =
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n";

    #[test]
    fn events_before_an_error_come_first_and_the_error_with_the_next_call() {
        let mut s = ChatStream::new(with_events());
        let mut read = GOOD_A.to_vec();
        read.extend_from_slice(BAD);
        assert!(s.feed(&read).is_ok());
        assert!(s.has_deferred_error());
        assert_eq!(s.take_events().len(), 1);
        // The next call reports the error; its own input is kept behind it, not lost.
        let err = s.feed(GOOD_B).err();
        assert!(matches!(
            err.as_ref().map(|e| (&e.kind, e.event_index)),
            Some((ErrorKind::Decode(_), Some(1)))
        ));
        assert!(s.take_events().is_empty());
        assert!(s.feed(b"").is_ok());
        assert!(!s.take_events().is_empty());
        let out = s.finish().ok().flatten();
        assert!(format!("{out:?}").contains(r#"String("ab")"#), "{out:?}");
    }

    #[test]
    fn an_error_with_nothing_produced_is_returned_at_once() {
        let mut s = ChatStream::new(with_events());
        assert!(s.feed(BAD).is_err());
        assert!(!s.has_deferred_error());
        let mut s = ChatStream::new(Config::default());
        let mut read = GOOD_A.to_vec();
        read.extend_from_slice(BAD);
        assert!(
            s.feed(&read).is_err(),
            "no events asked for: nothing to deliver first"
        );
    }

    #[test]
    fn capture_completions_before_an_error_come_first() {
        let config = Config {
            capture: true,
            ..Config::default()
        };
        let mut s = ChatStream::new(config);
        let mut read = GOOD_B.to_vec();
        read.extend_from_slice(b"data: [DONE]\n\n");
        read.extend_from_slice(BAD);
        read.extend_from_slice(GOOD_B);
        assert!(s.feed(&read).is_ok());
        assert_eq!(s.take_completed().len(), 1);
        assert!(s.feed(b"data: [DONE]\n\n").is_err());
        assert!(s.feed(b"").is_ok());
        assert_eq!(s.take_completed().len(), 1);
    }

    #[test]
    fn finish_delivers_what_the_held_input_produced_before_its_error() {
        let mut s = ChatStream::new(with_events());
        let mut read = BAD.to_vec();
        read.extend_from_slice(GOOD_A);
        read.extend_from_slice(BAD);
        read.extend_from_slice(GOOD_B);
        assert!(s.feed(&read).is_err());
        assert_eq!(s.finish().ok(), Some(None));
        assert!(s.has_deferred_error());
        assert_eq!(s.take_events().len(), 1);
        assert!(s.finish().is_err());
        assert!(s.finish().ok().flatten().is_some());
    }

    #[test]
    fn problems_past_the_cap_are_counted_not_kept() {
        let mut data = b"data: [DONE]\n\n".to_vec();
        for _ in 0..5 {
            data.extend_from_slice(GOOD_A);
        }
        for (max, kept, dropped) in [(0, 0, 5), (3, 3, 2), (5, 5, 0), (6, 5, 0)] {
            let config = Config {
                max_problems: max,
                ..Config::default()
            };
            let (out, s) = run(config, &data, 7);
            assert!(out.is_ok());
            assert_eq!((s.problems().len(), s.problems_dropped()), (kept, dropped));
        }
    }

    #[test]
    fn wrong_input_is_refused_in_every_mode() {
        for on_error in [OnError::Raise, OnError::Skip, OnError::Repair] {
            let config = Config {
                on_error,
                ..Config::default()
            };
            let (out, _) = run(config, b"<html>\n<p>502 Bad Gateway</p>\n", 3);
            assert!(matches!(
                out.map_err(|e| e.kind),
                Err(ErrorKind::NotEventStream { .. })
            ));
            let (out, _) = run(config, b"{\"error\": {\"message\": \"no\"}}", 3);
            assert!(matches!(
                out.map_err(|e| e.kind),
                Err(ErrorKind::ErrorResponse { .. })
            ));
            let anthropic = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
            let (out, _) = run(config, anthropic, 3);
            assert!(matches!(
                out.map_err(|e| e.kind),
                Err(ErrorKind::UnsupportedFormat {
                    format: crate::sniff::Format::Anthropic
                })
            ));
        }
    }

    #[test]
    fn raise_mode_resumes_after_the_bad_event() {
        let data = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {oops}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n";
        let mut s = ChatStream::new(Config::default());
        let err = s.feed(data).err();
        assert!(matches!(
            err.as_ref().map(|e| &e.kind),
            Some(ErrorKind::Decode(_))
        ));
        assert_eq!(err.map(|e| e.event_index), Some(Some(1)));
        let out = s.finish().ok().flatten();
        let Some(Value::Object(m)) = out else {
            panic!("no completion")
        };
        let content = match m.get("choices") {
            Some(Value::Array(c)) => match c.first() {
                Some(Value::Object(c)) => match c.get("message") {
                    Some(Value::Object(msg)) => msg.get("content").cloned(),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        assert_eq!(content, Some(Value::string("ab")));
    }
}
