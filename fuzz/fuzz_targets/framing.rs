//! SSE framing: the events (and limit errors) are the same whether the bytes arrive whole or in
//! arbitrary reads, whether or not the sink stops the framer after some events, and whether
//! whole events are recognised in one step or every line goes through the general path.
#![no_main]

mod split;

use deltafold::framing::sse::{FeedError, Framer, RawEvent};
use libfuzzer_sys::fuzz_target;

/// Everything observable from outside the framer.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Event {
        event_type: Vec<u8>,
        data: Vec<u8>,
        last_event_id: Vec<u8>,
        retry: Option<u64>,
        data_offset: u64,
        index: u64,
    },
    LineTooLong {
        line_offset: u64,
        limit: usize,
        event_index: u64,
    },
    Finished {
        discarded: bool,
        last_event_id: Vec<u8>,
        retry: Option<u64>,
        bytes_seen: u64,
    },
}

impl Outcome {
    fn event(event: &RawEvent<'_>) -> Outcome {
        Outcome::Event {
            event_type: event.event_type.to_vec(),
            data: event.data.to_vec(),
            last_event_id: event.last_event_id.to_vec(),
            retry: event.retry,
            data_offset: event.data_offset,
            index: event.index,
        }
    }
}

/// Feeds `reads`; after any stop (sink refusal or over-long line) resumes with empty reads, as
/// the framer's contract says, until the read is used up.
fn drive(
    limit: usize,
    reads: &[&[u8]],
    whole_events: bool,
    mut refuse: impl FnMut() -> bool,
) -> Vec<Outcome> {
    let mut framer = Framer::new(limit);
    framer.set_whole_events(whole_events);
    let mut outcomes = Vec::new();
    for &read in reads {
        let mut next = read;
        loop {
            let result = framer.feed(next, |event| {
                outcomes.push(Outcome::event(event));
                if refuse() {
                    Err(())
                } else {
                    Ok(())
                }
            });
            match result {
                Ok(()) => break,
                Err(FeedError::Sink(())) => {}
                Err(FeedError::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                }) => outcomes.push(Outcome::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                }),
            }
            next = b"";
        }
        // A line and an event's data are each held only up to the limit (plus a held BOM).
        assert!(
            framer.buffered_bytes() <= limit.saturating_mul(2).saturating_add(3),
            "buffered {} bytes with max_line_bytes {limit}",
            framer.buffered_bytes()
        );
    }
    let discarded = framer.finish();
    outcomes.push(Outcome::Finished {
        discarded,
        last_event_id: framer.last_event_id().to_vec(),
        retry: framer.retry(),
        bytes_seen: framer.bytes_seen(),
    });
    outcomes
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = split::Input::parse(bytes) else {
        return;
    };
    // High bit clear: the default limit; set: a tiny one, so the limit paths are reached.
    let limit = if input.flags & 0x80 == 0 {
        64 << 20
    } else {
        usize::from(input.flags & 0x7f)
    };
    let whole = drive(limit, &[input.body], true, || false);
    let reads = input.reads();
    let mut rng = input.rng();
    let split = drive(limit, &reads, true, || rng.below(4) == 0);
    assert_eq!(whole, split);
    // The same reads and refusals through the general path alone.
    let mut rng = input.rng();
    let general = drive(limit, &reads, false, || rng.below(4) == 0);
    assert_eq!(split, general);
});
