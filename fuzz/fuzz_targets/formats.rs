//! The format folds other than chat (Anthropic, Responses, Gemini, Bedrock), driven through the
//! core as `format=` selects them (or `format="auto"`), in every `on_error` mode, with events,
//! truncation, captures and small limits: no panic on any bytes, and the same errors (class,
//! message, byte offset, event index, `.partial`), events, problems and results whether the
//! input arrives whole or in arbitrary reads. `skip`/`repair` raise only what every mode
//! refuses (input that is not an event stream, an error response, a format that is not folded).
//!
//! Bedrock input is binary: the body's frame lengths and CRCs are rewritten so they check
//! (frames that already check are kept as they are), so the fuzzer reaches the fold instead of
//! stopping at the first prelude CRC. A read-size byte of 128 or more leaves the body as it is.
#![no_main]

mod oracle;
mod split;

use deltafold::driver::{Config, OnError, Options};
use deltafold::error::{ErrorKind, StreamError};
use deltafold::event::{Call, CallOf, Event};
use deltafold::formats::auto::AnyStream;
use deltafold::formats::Format;
use deltafold::json::value::Value;
use libfuzzer_sys::fuzz_target;
use oracle::{noted, seal_frame, small_limits, Noted, Raised};

/// The comparable part of an event: its kind and what it carries, with trails read out and
/// partial arguments built (both are lazily built views).
#[derive(Debug, PartialEq)]
struct EventSummary {
    kind: &'static str,
    choice_index: Option<u64>,
    call: Option<(Option<usize>, Option<String>, Option<String>)>,
    text: Option<String>,
    items: Option<Vec<Value>>,
    parsed: Option<Option<Value>>,
    value: Option<Value>,
}

impl EventSummary {
    fn of(event: Event) -> EventSummary {
        let mut summary = EventSummary {
            kind: event.kind().name(),
            choice_index: event.choice_index(),
            call: None,
            text: None,
            items: None,
            parsed: event.parsed().map(|p| p.to_value()),
            value: None,
        };
        match event {
            Event::TextDelta { trail, .. } => summary.text = Some(trail.text()),
            Event::TextDone { text, .. } => summary.text = Some(text),
            Event::ArgumentsDelta { call, trail, .. } => {
                summary.call = Some(call_of(call));
                summary.text = Some(trail.text());
            }
            Event::ArgumentsDone { call, text, .. } => {
                summary.call = Some(call_of(call));
                summary.text = Some(text);
            }
            Event::Logprobs { trail, .. } => summary.items = Some(trail.items()),
            Event::Usage(usage) => summary.value = Some(Value::Object(usage.to_map())),
            Event::Error(body) => summary.value = Some(body),
            Event::Done(result) => summary.value = result,
        }
        summary
    }
}

fn call_of(call: Call) -> (Option<usize>, Option<String>, Option<String>) {
    let name = call.name.as_deref().map(str::to_owned);
    match call.of {
        CallOf::Tool { index, id } => (Some(index), id.as_deref().map(str::to_owned), name),
        CallOf::Function => (None, None, name),
    }
}

#[derive(Debug, PartialEq)]
struct Run {
    raised: Vec<Raised>,
    events: Vec<EventSummary>,
    finished: Result<Option<Value>, Raised>,
    completed: Vec<Value>,
    problems: Vec<Noted>,
    problems_dropped: u64,
    done: bool,
    format: Option<Format>,
    bytes_seen: u64,
}

const FORMATS: [Format; 4] = [
    Format::Anthropic,
    Format::Responses,
    Format::Gemini,
    Format::Bedrock,
];

/// Flag bits: 0-1 the format; 2-3 `on_error` (3: raise with `format="auto"`); 4 events with
/// partial arguments; 5 `allow_truncated`; 6 small limits (and `max_problems=2`); 7 capture.
fn config(flags: u8) -> Config {
    let format = FORMATS[usize::from(flags & 0b11)];
    let (on_error, format) = match (flags >> 2) & 0b11 {
        0 => (OnError::Raise, Some(format)),
        1 => (OnError::Skip, Some(format)),
        2 => (OnError::Repair, Some(format)),
        _ => (OnError::Raise, None),
    };
    let events = flags & 0b1_0000 != 0;
    let mut config = Config {
        on_error,
        format,
        options: Options {
            events,
            partial_arguments: events,
        },
        allow_truncated: flags & 0b10_0000 != 0,
        capture: flags & 0b1000_0000 != 0,
        ..Config::default()
    };
    if flags & 0b100_0000 != 0 {
        config.limits = small_limits();
        config.max_problems = 2;
    }
    config
}

/// Errors every `on_error` mode raises: input that is no event stream or is an error response
/// (at finish), and a stream of a format that is not folded.
fn raised_in_every_mode(error: &StreamError) -> bool {
    matches!(
        error.kind,
        ErrorKind::NotEventStream { .. }
            | ErrorKind::ErrorResponse { .. }
            | ErrorKind::UnsupportedFormat { .. }
    )
}

/// Feeds `reads`; after a raised error feeds empty reads until the kept rest is consumed, as
/// the caller of a raising parser would. `snapshot_now` picks reads after which to take a
/// snapshot, which must not change anything.
fn drive(config: Config, reads: &[&[u8]], mut snapshot_now: impl FnMut() -> bool) -> Run {
    let mut stream = AnyStream::new(config);
    let mut raised = Vec::new();
    let mut events = Vec::new();
    let lenient = config.on_error != OnError::Raise;
    let check = |error: &StreamError| {
        assert!(
            !lenient || raised_in_every_mode(error),
            "{:?} raised {error:?}",
            config.on_error
        );
    };
    for &read in reads {
        let mut next = read;
        while let Err(error) = stream.feed(next) {
            check(&error);
            raised.push(Raised::of(&error, stream.snapshot()));
            next = b"";
        }
        events.extend(stream.take_events().into_iter().map(EventSummary::of));
        if snapshot_now() {
            drop(stream.snapshot());
        }
    }
    // An error met after events were produced is raised by the next call: empty reads collect
    // it and resume, as a caller would, until no error waits.
    while stream.has_deferred_error() {
        while let Err(error) = stream.feed(b"") {
            check(&error);
            raised.push(Raised::of(&error, stream.snapshot()));
        }
        events.extend(stream.take_events().into_iter().map(EventSummary::of));
    }
    let finished = stream.finish();
    if let Err(error) = &finished {
        check(error);
    }
    let finished = finished.map_err(|error| Raised::of(&error, stream.snapshot()));
    events.extend(stream.take_events().into_iter().map(EventSummary::of));
    Run {
        raised,
        events,
        finished,
        completed: stream.take_completed(),
        problems: noted(stream.problems()),
        problems_dropped: stream.problems_dropped(),
        done: stream.done(),
        format: stream.format(),
        bytes_seen: stream.bytes_seen(),
    }
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Rewrites lengths that do not fit and every CRC so that each message of `body` checks; a
/// message that already checks is left as it is (so seeds stay valid).
fn fix_frames(body: &mut [u8]) {
    let mut pos = 0;
    while body.len() - pos >= 16 {
        let room = body.len() - pos;
        let mut total = u32_at(body, pos);
        if !(16..=room).contains(&total) {
            total = 16 + total % (room - 15);
        }
        let mut headers = u32_at(body, pos + 4);
        if headers > total - 16 {
            headers %= total - 15;
        }
        seal_frame(body, pos, total, headers);
        pos += total;
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = split::Input::parse(bytes) else {
        return;
    };
    let config = config(input.flags);
    let mut body = input.body.to_vec();
    if input.flags & 0b11 == 3 && bytes[1] < 128 {
        fix_frames(&mut body);
    }
    let whole = drive(config, &[&body], || false);
    // The same cut points as `input.reads()`, over the (possibly rewritten) body.
    let mut reads = Vec::new();
    let mut at = 0;
    for len in input.reads().iter().map(|r| r.len()) {
        reads.push(&body[at..at + len]);
        at += len;
    }
    let mut rng = input.rng();
    let split = drive(config, &reads, || rng.below(8) == 0);
    assert_eq!(whole, split);
});
