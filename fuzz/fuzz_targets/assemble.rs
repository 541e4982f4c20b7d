//! The whole chat layer (`formats::chat::ChatStream`, the driver running the chat fold): no panic on any bytes, under every `on_error`
//! mode and option; the same errors, problems, events and completions whether the stream
//! arrives whole or in arbitrary reads; `skip`/`repair` never raise; and the template fast
//! path gives exactly what decoding every chunk in full gives.
#![no_main]

mod oracle;
mod split;

use deltafold::driver::{Config, OnError};
use deltafold::error::ErrorKind;
use deltafold::event::{Call, CallOf, Event, TextOf};
use deltafold::formats::chat::ChatStream;
use deltafold::json::value::Value;
use libfuzzer_sys::fuzz_target;
use oracle::{noted, small_limits, Noted, Raised};

/// The comparable part of an event (snapshots and partial arguments are lazily built views).
#[derive(Debug, PartialEq)]
struct EventSummary {
    kind: &'static str,
    choice_index: Option<u64>,
    index: Option<usize>,
    id: Option<String>,
    name: Option<String>,
    field: Option<String>,
    text: Option<String>,
    items: Option<Vec<Value>>,
    value: Option<Value>,
}

impl EventSummary {
    fn of(event: Event) -> EventSummary {
        let kind = event.kind().name();
        let choice_index = event.choice_index();
        let mut summary = EventSummary {
            kind,
            choice_index,
            index: None,
            id: None,
            name: None,
            field: None,
            text: None,
            items: None,
            value: None,
        };
        match event {
            Event::TextDelta { of, .. } => summary.field = reasoning_field(of),
            Event::TextDone { of, text, .. } => {
                summary.field = reasoning_field(of);
                summary.text = Some(text);
            }
            Event::ArgumentsDelta { call, .. } => summary.call(call),
            Event::ArgumentsDone { call, text, .. } => {
                summary.call(call);
                summary.text = Some(text);
            }
            Event::Logprobs { trail, .. } => summary.items = trail.last().cloned(),
            Event::Usage(_) => {}
            Event::Error(body) => summary.value = Some(body),
            Event::Done(completion) => summary.value = completion,
        }
        summary
    }

    fn call(&mut self, call: Call) {
        self.name = call.name.as_deref().map(str::to_owned);
        if let CallOf::Tool { index, id } = call.of {
            self.index = Some(index);
            self.id = id.as_deref().map(str::to_owned);
        }
    }
}

fn reasoning_field(of: TextOf) -> Option<String> {
    match of {
        TextOf::Reasoning(field) => Some(field.to_owned()),
        TextOf::Content | TextOf::Refusal => None,
    }
}

#[derive(Debug, PartialEq)]
struct Run {
    raised: Vec<Raised>,
    events: Vec<EventSummary>,
    finished: Result<Option<Value>, Raised>,
    completed: Vec<Value>,
    problems: Vec<Noted>,
    done: bool,
    bytes_seen: u64,
}

fn config(flags: u8) -> Config {
    let mut config = Config {
        on_error: match flags & 0b11 {
            0 => OnError::Raise,
            1 => OnError::Skip,
            _ => OnError::Repair,
        },
        allow_truncated: flags & 0b100 != 0,
        capture: flags & 0b1000 != 0,
        ..Config::default()
    };
    config.options.events = flags & 0b1_0000 != 0;
    config.options.partial_arguments = flags & 0b10_0000 != 0;
    if flags & 0b100_0000 != 0 {
        config.limits = small_limits();
    }
    config
}

/// The keys every completion starts with, in this order (the output shape of the contract).
const LEADING_KEYS: [&str; 6] = ["id", "object", "created", "model", "choices", "usage"];

fn check_shape(completion: &Value) {
    let Value::Object(map) = completion else {
        panic!("a completion that is not an object: {completion:?}");
    };
    let leading: Vec<&str> = map
        .keys()
        .take(LEADING_KEYS.len())
        .map(String::as_str)
        .collect();
    assert_eq!(leading, LEADING_KEYS);
    assert_eq!(
        map.get("object"),
        Some(&Value::String("chat.completion".to_string()))
    );
}

/// Feeds `reads`; after a raised error feeds empty reads until the kept rest is consumed, as
/// the caller of a raising parser would. `snapshot_now` picks reads after which to take a
/// snapshot, which must not change anything.
fn drive(config: Config, reads: &[&[u8]], mut snapshot_now: impl FnMut() -> bool) -> Run {
    let mut stream = ChatStream::new(config);
    let mut raised = Vec::new();
    let mut events = Vec::new();
    for &read in reads {
        let mut next = read;
        while let Err(error) = stream.feed(next) {
            raised.push(Raised::of(&error, stream.snapshot()));
            next = b"";
        }
        events.extend(stream.take_events().into_iter().map(EventSummary::of));
        if snapshot_now() {
            check_shape(&stream.snapshot());
        }
    }
    // With events on, an error is raised by the call after the one that met it (the events
    // before it are delivered first): empty reads collect it and resume, as a caller would,
    // until no error waits. Without events nothing is ever deferred.
    while stream.has_deferred_error() {
        while let Err(error) = stream.feed(b"") {
            raised.push(Raised::of(&error, stream.snapshot()));
        }
        events.extend(stream.take_events().into_iter().map(EventSummary::of));
    }
    let finished = stream.finish();
    // Input that is not an event stream at all is refused in every on_error mode
    // (docs/design.md, "Errors and limits"); nothing else may raise in skip or repair mode.
    let refused = matches!(
        &finished,
        Err(e) if matches!(e.kind, ErrorKind::NotEventStream { .. } | ErrorKind::ErrorResponse { .. })
    );
    let finished = finished.map_err(|error| Raised::of(&error, stream.snapshot()));
    events.extend(stream.take_events().into_iter().map(EventSummary::of));
    if config.on_error != OnError::Raise {
        assert!(raised.is_empty(), "{:?} raised {raised:?}", config.on_error);
        assert!(
            finished.is_ok() || refused,
            "{:?} raised at finish: {finished:?}",
            config.on_error
        );
    }
    Run {
        raised,
        events,
        finished,
        completed: stream.take_completed(),
        problems: noted(stream.problems()),
        done: stream.done(),
        bytes_seen: stream.bytes_seen(),
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = split::Input::parse(bytes) else {
        return;
    };
    let config = config(input.flags);
    let whole = drive(config, &[input.body], || false);
    let mut rng = input.rng();
    let split = drive(config, &input.reads(), || rng.below(8) == 0);
    if let Ok(Some(completion)) = &whole.finished {
        check_shape(completion);
    }
    assert_eq!(whole, split);
    if !config.options.events {
        // Events turn off the template fast path (rust/formats/chat/template.rs): with them on, every
        // chunk is decoded in full, so this compares the fast path with the full decoder.
        let mut full_config = config;
        full_config.options.events = true;
        let full = drive(full_config, &[input.body], || false);
        assert_eq!(whole.finished, full.finished);
        assert_eq!(whole.completed, full.completed);
        assert_eq!(whole.raised, full.raised);
        assert_eq!(whole.problems, full.problems);
    }
});
