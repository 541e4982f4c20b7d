//! The SSE framer against the conformance cases in tests/fixtures and a model of the spec,
//! under every way of splitting the input into reads.

use deltafold::framing::sse::{Decoder, FeedError, Framer, LineTooLong, RawEvent, Stopped};
use std::path::{Path, PathBuf};

const LF: u8 = b'\n';
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// An event copied out of the sink, with every field the framer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnedEvent {
    event_type: Vec<u8>,
    data: Vec<u8>,
    last_event_id: Vec<u8>,
    retry: Option<u64>,
    data_offset: u64,
    index: u64,
}

impl OwnedEvent {
    fn of(event: &RawEvent<'_>) -> OwnedEvent {
        OwnedEvent {
            event_type: event.event_type.to_vec(),
            data: event.data.to_vec(),
            last_event_id: event.last_event_id.to_vec(),
            retry: event.retry,
            data_offset: event.data_offset,
            index: event.index,
        }
    }
}

/// Everything observable from outside while feeding a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Event(OwnedEvent),
    TooLong {
        line_offset: u64,
        limit: usize,
        event_index: u64,
    },
    Finished {
        discarded: bool,
        last_event_id: Vec<u8>,
        retry: Option<u64>,
    },
}

/// Feeds `reads` in order, resuming after every `LineTooLong`, then finishes: what
/// [`drive_path`] gives with the recogniser on and a sink that takes every event.
fn drive(limit: usize, reads: &[&[u8]]) -> Vec<Outcome> {
    drive_path(limit, reads, true, &[])
        .into_iter()
        .filter_map(|step| match step {
            Step::Outcome(outcome) => Some(outcome),
            Step::After { .. } | Step::Refused => None,
        })
        .collect()
}

fn events_of(outcomes: &[Outcome]) -> Vec<OwnedEvent> {
    outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Event(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

const BIG: usize = 64 * 1024 * 1024;

// ---- conformance cases -------------------------------------------------------------

struct Case {
    name: String,
    reads: Vec<Vec<u8>>,
    /// (event, data, id, retry) as the case file writes them.
    expected: Vec<(String, String, String, Option<u64>)>,
    final_state: Option<(String, Option<u64>)>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_cases() -> Vec<Case> {
    let path = fixtures_dir().join("conformance/sse_cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid case file");
    let cases = json.as_array().expect("a list of cases");
    cases.iter().map(parse_case).collect()
}

fn parse_case(case: &serde_json::Value) -> Case {
    let name = case["name"].as_str().expect("name").to_owned();
    let latin1 = match case["chunk_encoding"].as_str() {
        Some("utf-8") => false,
        Some("latin-1") => true,
        other => panic!("{name}: unknown chunk_encoding {other:?}"),
    };
    let reads = case["input_chunks"]
        .as_array()
        .expect("input_chunks")
        .iter()
        .map(|chunk| {
            let text = chunk.as_str().expect("chunk text");
            if latin1 {
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).expect("latin-1 char"))
                    .collect()
            } else {
                text.as_bytes().to_vec()
            }
        })
        .collect();
    let expected = case["expected_events"]
        .as_array()
        .expect("expected_events")
        .iter()
        .map(|event| {
            (
                event["event"].as_str().expect("event").to_owned(),
                event["data"].as_str().expect("data").to_owned(),
                event["id"].as_str().expect("id").to_owned(),
                event["retry"].as_u64(),
            )
        })
        .collect();
    let final_state = case.get("expected_final_state").map(|state| {
        (
            state["last_event_id"].as_str().expect("id").to_owned(),
            state["retry"].as_u64(),
        )
    });
    Case {
        name,
        reads,
        expected,
        final_state,
    }
}

fn as_case_tuple(event: &OwnedEvent) -> (String, String, String, Option<u64>) {
    let event_type = if event.event_type.is_empty() {
        "message".to_owned()
    } else {
        String::from_utf8_lossy(&event.event_type).into_owned()
    };
    (
        event_type,
        String::from_utf8_lossy(&event.data).into_owned(),
        String::from_utf8_lossy(&event.last_event_id).into_owned(),
        event.retry,
    )
}

fn whole(case: &Case) -> Vec<u8> {
    case.reads.concat()
}

fn reads_of(parts: &[Vec<u8>]) -> Vec<&[u8]> {
    parts.iter().map(Vec::as_slice).collect()
}

#[test]
fn conformance_cases_one_read_per_chunk() {
    let cases = load_cases();
    assert_eq!(cases.len(), 86, "the case file changed size");
    for case in &cases {
        let outcomes = drive(BIG, &reads_of(&case.reads));
        let events = events_of(&outcomes);
        let got: Vec<_> = events.iter().map(as_case_tuple).collect();
        assert_eq!(got, case.expected, "case {}", case.name);
        let Some(Outcome::Finished {
            last_event_id,
            retry,
            ..
        }) = outcomes.last()
        else {
            panic!("case {}: no finish", case.name);
        };
        if let Some((expected_id, expected_retry)) = &case.final_state {
            assert_eq!(
                &String::from_utf8_lossy(last_event_id),
                expected_id,
                "case {} final id",
                case.name
            );
            assert_eq!(retry, expected_retry, "case {} final retry", case.name);
        }
        // Indices count dispatches, and every data_offset points at the first data line's
        // value in the stream as fed.
        let stream = whole(case);
        for (position, event) in events.iter().enumerate() {
            assert_eq!(event.index, position as u64, "case {}", case.name);
            let first_line = event.data.split(|&b| b == LF).next().unwrap_or_default();
            let at = usize::try_from(event.data_offset).expect("offset fits");
            assert_eq!(
                stream.get(at..at + first_line.len()),
                Some(first_line),
                "case {} event {position}: data_offset {at}",
                case.name
            );
        }
    }
}

#[test]
fn conformance_cases_split_anywhere_give_identical_outcomes() {
    for case in load_cases() {
        let stream = whole(&case);
        let baseline = drive(BIG, &reads_of(&case.reads));
        assert_eq!(drive(BIG, &[&stream]), baseline, "case {} whole", case.name);
        // Every two-way split for the small cases, a stride of them for the long ones.
        let stride = (stream.len() / 1500).max(1);
        for split in (0..=stream.len()).step_by(stride) {
            let (head, tail) = stream.split_at(split);
            assert_eq!(
                drive(BIG, &[head, tail]),
                baseline,
                "case {} split at {split}",
                case.name
            );
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            drive(BIG, &bytewise),
            baseline,
            "case {} byte by byte",
            case.name
        );
    }
}

#[test]
fn sink_error_mid_read_resumes_exactly() {
    for case in load_cases() {
        let stream = whole(&case);
        let baseline = events_of(&drive(BIG, &[&stream]));
        for fail_at in 0..baseline.len().min(50) {
            // The sink refuses event `fail_at` once (after seeing it); feeding b"" resumes.
            let mut framer = Framer::new(BIG);
            let mut got = Vec::new();
            let mut refused = false;
            let mut result = framer.feed(&stream, |event| {
                got.push(OwnedEvent::of(event));
                if event.index as usize == fail_at && !refused {
                    refused = true;
                    return Err("stop");
                }
                Ok(())
            });
            assert_eq!(result, Err(FeedError::Sink("stop")), "case {}", case.name);
            assert_eq!(framer.bytes_seen(), stream.len() as u64);
            assert!(framer.buffered_bytes() <= stream.len());
            result = framer.feed(b"", |event| {
                got.push(OwnedEvent::of(event));
                Ok(())
            });
            assert_eq!(result, Ok(()));
            framer.finish();
            assert_eq!(got, baseline, "case {} failing at {fail_at}", case.name);
        }
    }
}

#[test]
fn sink_error_on_every_event_with_reads_continuing() {
    // The sink refuses every event, and the caller keeps feeding new reads on top of the kept
    // remainder instead of draining it: nothing may be lost or reordered.
    for case in load_cases() {
        let baseline = events_of(&drive(BIG, &reads_of(&case.reads)));
        let mut framer = Framer::new(BIG);
        let mut got = Vec::new();
        for read in &case.reads {
            let _ = framer.feed(read, |event| {
                got.push(OwnedEvent::of(event));
                Err(())
            });
        }
        while framer.has_held_input() {
            let _ = framer.feed(b"", |event| {
                got.push(OwnedEvent::of(event));
                Err(())
            });
        }
        framer.finish();
        assert_eq!(got, baseline, "case {}", case.name);
    }
}

#[test]
fn handed_back_rest_is_not_taken_and_frames_as_if_never_cut() {
    // The sink stops on event `stop_at` and asks for the rest of the read back; feeding that
    // rest must go on exactly where framing stopped (offsets, ids, a CR split from its LF),
    // and the rest must not count as seen until it is fed.
    for case in load_cases() {
        let stream = whole(&case);
        let baseline = events_of(&drive(BIG, &[&stream]));
        for stop_at in 0..baseline.len().min(50) {
            let mut framer = Framer::new(BIG);
            let mut got = Vec::new();
            let result = framer.feed_or_hand_back(
                &stream,
                |event: &RawEvent<'_>| {
                    got.push(OwnedEvent::of(event));
                    if event.index as usize == stop_at {
                        return Err("decided");
                    }
                    Ok(())
                },
                |error| *error == "decided",
            );
            let Err(Stopped::HandedBack { error, rest_at }) = result else {
                panic!("case {}: {result:?}", case.name);
            };
            assert_eq!(error, "decided");
            assert_eq!(framer.bytes_seen(), rest_at as u64, "case {}", case.name);
            assert!(!framer.has_held_input(), "case {}", case.name);
            let rest = &stream[rest_at..];
            framer
                .feed(rest, |event| {
                    got.push(OwnedEvent::of(event));
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert_eq!(framer.bytes_seen(), stream.len() as u64);
            framer.finish();
            assert_eq!(got, baseline, "case {} stopping at {stop_at}", case.name);
        }
    }
}

#[test]
fn errors_not_handed_back_keep_the_rest_as_feed_does() {
    for case in load_cases() {
        let stream = whole(&case);
        let baseline = events_of(&drive(BIG, &[&stream]));
        if baseline.is_empty() {
            continue;
        }
        let mut framer = Framer::new(BIG);
        let mut got = Vec::new();
        let result = framer.feed_or_hand_back(
            &stream,
            |event: &RawEvent<'_>| {
                got.push(OwnedEvent::of(event));
                if event.index == 0 {
                    return Err("raised");
                }
                Ok(())
            },
            |error| *error == "decided",
        );
        assert_eq!(result, Err(Stopped::Kept(FeedError::Sink("raised"))));
        assert_eq!(framer.bytes_seen(), stream.len() as u64);
        framer
            .feed(b"", |event| {
                got.push(OwnedEvent::of(event));
                Ok::<(), ()>(())
            })
            .unwrap();
        framer.finish();
        assert_eq!(got, baseline, "case {}", case.name);
    }
}

// ---- zero copy -----------------------------------------------------------------------

fn points_into(inner: &[u8], outer: &[u8]) -> bool {
    let outer_range = outer.as_ptr_range();
    let inner_range = inner.as_ptr_range();
    outer_range.start <= inner_range.start && inner_range.end <= outer_range.end
}

#[test]
fn single_data_line_event_borrows_from_the_read() {
    let input = b": ping\n\ndata: {\"a\":1}\n\ndata: x\r\n\r\nevent: e\ndata: y\n\n".to_vec();
    let mut framer = Framer::new(BIG);
    let mut seen = 0;
    framer
        .feed(&input, |event| {
            assert!(points_into(event.data, &input), "{:?}", event.data);
            seen += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(framer.buffered_bytes(), 0);
}

#[test]
fn data_outliving_the_read_or_joined_is_owned() {
    let mut framer = Framer::new(BIG);
    let first = b"data: a\n".to_vec();
    framer.feed(&first, |_| Err(())).unwrap();
    let second = b"\ndata: b\ndata: c\n\n".to_vec();
    let mut datas = Vec::new();
    framer
        .feed(&second, |event| {
            assert!(!points_into(event.data, &second));
            datas.push(event.data.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(datas, vec![b"a".to_vec(), b"b\nc".to_vec()]);
}

// ---- limits --------------------------------------------------------------------------

fn data_line_of_length(length: usize) -> Vec<u8> {
    let mut line = b"data: ".to_vec();
    line.resize(length, b'x');
    line
}

#[test]
fn line_exactly_at_limit_is_allowed() {
    let limit = 100;
    let mut stream = data_line_of_length(limit);
    stream.extend_from_slice(b"\n\n");
    for reads in [vec![stream.as_slice()], stream.chunks(1).collect()] {
        let outcomes = drive(limit, &reads);
        let events = events_of(&outcomes);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, vec![b'x'; limit - 6]);
        assert!(!outcomes
            .iter()
            .any(|outcome| matches!(outcome, Outcome::TooLong { .. })));
    }
}

#[test]
fn line_one_over_limit_is_reported_and_its_event_dropped() {
    let limit = 100;
    let mut stream = b"data: ok\n\n: comment\n".to_vec();
    let long_line_offset = stream.len() as u64;
    stream.extend_from_slice(&data_line_of_length(limit + 1));
    stream.extend_from_slice(b"\ndata: same block\n\ndata: after\n\n");
    let expected = vec![
        Outcome::Event(OwnedEvent {
            event_type: vec![],
            data: b"ok".to_vec(),
            last_event_id: vec![],
            retry: None,
            data_offset: 6,
            index: 0,
        }),
        Outcome::TooLong {
            line_offset: long_line_offset,
            limit,
            event_index: 1,
        },
        Outcome::Event(OwnedEvent {
            event_type: vec![],
            data: b"after".to_vec(),
            last_event_id: vec![],
            retry: None,
            data_offset: stream.len() as u64 - 7,
            index: 1,
        }),
        Outcome::Finished {
            discarded: false,
            last_event_id: vec![],
            retry: None,
        },
    ];
    assert_eq!(drive(limit, &[&stream]), expected, "one read");
    for split in 0..=stream.len() {
        let (head, tail) = stream.split_at(split);
        assert_eq!(drive(limit, &[head, tail]), expected, "split at {split}");
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(drive(limit, &bytewise), expected, "byte by byte");
}

#[test]
fn joined_data_at_limit_and_one_over() {
    let limit = 20;
    // "data: " + 9 bytes, twice: joined data is 9 + 1 + 9 = 19, then 20, then 21.
    for (second_length, over) in [(9usize, false), (10, false), (11, true)] {
        let mut stream = b"data: 123456789\n".to_vec();
        let second_line_offset = stream.len() as u64;
        stream.extend_from_slice(b"data: ");
        stream.resize(stream.len() + second_length, b'y');
        stream.extend_from_slice(b"\n\ndata: z\n\n");
        let outcomes = drive(limit, &[&stream]);
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(drive(limit, &bytewise), outcomes);
        let events = events_of(&outcomes);
        if over {
            assert_eq!(
                outcomes[0],
                Outcome::TooLong {
                    line_offset: second_line_offset,
                    limit,
                    event_index: 0
                }
            );
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].data, b"z");
            assert_eq!(events[0].index, 0);
        } else {
            assert_eq!(events.len(), 2);
            assert_eq!(events[0].data.len(), 10 + second_length);
        }
    }
}

#[test]
fn huge_single_read_line_is_not_copied_into_the_remainder() {
    let limit = 1000;
    let mut input = vec![b'x'; 1_000_000];
    input.extend_from_slice(b"\n\ndata: y\n\n");
    let mut framer = Framer::new(limit);
    let result = framer.feed(&input, |_| Ok::<(), ()>(()));
    assert!(matches!(result, Err(FeedError::LineTooLong { .. })));
    // Only the bytes after the over-long line are kept for the resume.
    assert_eq!(framer.buffered_bytes(), b"\ndata: y\n\n".len());
    let mut datas = Vec::new();
    framer
        .feed(b"", |event| {
            datas.push(event.data.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(datas, vec![b"y".to_vec()]);
}

// ---- BOM, CR/LF across reads, finish ------------------------------------------------

fn datas_of(reads: &[&[u8]]) -> Vec<Vec<u8>> {
    events_of(&drive(BIG, reads))
        .into_iter()
        .map(|event| event.data)
        .collect()
}

#[test]
fn bom_split_across_reads() {
    assert_eq!(
        datas_of(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]),
        vec![b"x".to_vec()]
    );
    assert_eq!(
        datas_of(&[b"\xEF\xBB", b"\xBF", b"data: x\n\n"]),
        vec![b"x".to_vec()]
    );
    // The offsets count the stripped BOM.
    let events = events_of(&drive(BIG, &[b"\xEF", b"\xBB\xBFdata: x\n\n"]));
    assert_eq!(events[0].data_offset, 9);
}

#[test]
fn partial_bom_is_ordinary_bytes() {
    // "\xEF" + "data" is an unknown field name, so nothing is dispatched...
    assert!(datas_of(&[b"\xEF", b"data: x\n\n"]).is_empty());
    assert!(datas_of(&[b"\xEF\xBB", b"data: x\n\n"]).is_empty());
    assert!(datas_of(&[b"\xEF\xBBdata: x\n\n"]).is_empty());
    // ...and the held bytes belong to the value when they follow a field.
    let mut framer = Framer::new(BIG);
    framer.feed(b"\xEF\xBB", |_| Ok::<(), ()>(())).unwrap();
    assert_eq!(framer.buffered_bytes(), 2);
    assert!(framer.finish(), "a held BOM prefix is an unterminated line");
    // A BOM only counts at the very start.
    assert!(datas_of(&[b"data: x\n\n", b"\xEF\xBB\xBFdata: y\n\n"]).len() == 1);
}

#[test]
fn held_bom_prefix_then_mismatch_keeps_offsets() {
    let events = events_of(&drive(BIG, &[b"\xEF", b"\xBB", b"\n\ndata: x\n\n"]));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data_offset, 10);
}

#[test]
fn cr_lf_split_across_reads_is_one_terminator() {
    assert_eq!(
        datas_of(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
        vec![b"a\nb".to_vec()]
    );
    // A CR that ended a read, then a read that does not start with LF.
    assert_eq!(
        datas_of(&[b"data: a\r", b"\r", b"data: b\n\n"]),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    // An empty read between CR and LF does not forget the CR.
    assert_eq!(
        datas_of(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]),
        vec![b"a\nb".to_vec()]
    );
}

#[test]
fn finish_reports_unterminated_events() {
    let cases: [(&[u8], bool); 9] = [
        (b"", false),
        (b"data: x\n\n", false),
        (b"data: x\n\n: c\n", false),
        (b"data: x\n\r", false),
        (b"data: x", true),
        (b"data: x\n", true),
        (b"data: x\r", true),
        (b"event: e\nid: 3\n", false),
        (b"id: 3", true),
    ];
    for (stream, expected) in cases {
        let outcomes = drive(BIG, &[stream]);
        let Some(Outcome::Finished { discarded, .. }) = outcomes.last() else {
            panic!("no finish");
        };
        assert_eq!(
            *discarded,
            expected,
            "{:?}",
            String::from_utf8_lossy(stream)
        );
    }
}

#[test]
fn finish_after_an_unresumed_stop_discards_the_remainder() {
    let mut framer = Framer::new(BIG);
    let result = framer.feed(b"data: a\n\ndata: b\n\n", |_| Err(()));
    assert_eq!(result, Err(FeedError::Sink(())));
    assert!(framer.finish());
    assert_eq!(framer.buffered_bytes(), 0);
}

fn data_of(event: &RawEvent<'_>) -> Vec<u8> {
    event.data.to_vec()
}

#[test]
fn decoder_delivers_events_before_an_error_then_reports_it() {
    let mut decoder = Decoder::new(8);
    let first = decoder.feed(b"data: a\n\nxxxxxxxxxxxx\n\ndata: b\n\n", data_of);
    assert_eq!(first, Ok(vec![b"a".to_vec()]));
    let second = decoder.feed(b"data: c\n\n", data_of);
    assert_eq!(
        second,
        Err(LineTooLong {
            line_offset: 9,
            limit: 8,
            event_index: 1
        })
    );
    // The input of the call that reported the error was kept, behind the rest.
    assert_eq!(
        decoder.feed(b"", data_of),
        Ok(vec![b"b".to_vec(), b"c".to_vec()])
    );
    assert_eq!(decoder.finish(data_of), Ok(vec![]));
}

#[test]
fn decoder_reports_at_once_when_nothing_was_completed() {
    let mut decoder = Decoder::new(8);
    let first = decoder.feed(b"xxxxxxxxxxxx\n\ndata: b\n\n", data_of);
    assert!(matches!(first, Err(LineTooLong { line_offset: 0, .. })));
    assert_eq!(decoder.finish(data_of), Ok(vec![b"b".to_vec()]));
}

#[test]
fn decoder_finish_delivers_then_reports_then_ends() {
    let mut decoder = Decoder::new(8);
    let first = decoder.feed(
        b"yyyyyyyyyy\n\ndata: a\n\nzzzzzzzzzz\n\ndata: b\n\ndata: c",
        data_of,
    );
    assert!(matches!(first, Err(LineTooLong { line_offset: 0, .. })));
    assert_eq!(decoder.finish(data_of), Ok(vec![b"a".to_vec()]));
    assert!(matches!(
        decoder.finish(data_of),
        Err(LineTooLong {
            line_offset: 21,
            ..
        })
    ));
    assert_eq!(decoder.finish(data_of), Ok(vec![b"b".to_vec()]));
    assert_eq!(decoder.framer().buffered_bytes(), 0);
}

#[test]
fn retry_overflow_is_ignored() {
    let events = events_of(&drive(
        BIG,
        &[b"retry: 18446744073709551615\ndata: a\n\nretry: 18446744073709551616\ndata: b\n\n"],
    ));
    assert_eq!(events[0].retry, Some(u64::MAX));
    assert_eq!(events[1].retry, Some(u64::MAX));
}

#[test]
fn counters() {
    let mut framer = Framer::new(BIG);
    framer
        .feed(b"data: abc\n\ndata: de", |_| Ok::<(), ()>(()))
        .unwrap();
    assert_eq!(framer.bytes_seen(), 19);
    assert_eq!(framer.buffered_bytes(), 8);
    framer.feed(b"f\n", |_| Ok::<(), ()>(())).unwrap();
    // The data line is complete, so its value is now held as data, not as a line.
    assert_eq!(framer.buffered_bytes(), 3);
    assert_eq!(framer.bytes_seen(), 21);
}

// ---- differential test against a plain whole-input model ----------------------------

/// A deliberately naive reading of the spec over the whole input at once.
fn model(stream: &[u8]) -> Vec<Outcome> {
    let mut rest = stream;
    let mut offset = 0u64;
    if rest.starts_with(&BOM) {
        rest = &rest[3..];
        offset = 3;
    }
    let mut outcomes = Vec::new();
    let (mut data, mut has_data, mut data_offset) = (Vec::new(), false, 0u64);
    let mut event_type = Vec::new();
    let (mut id_buffer, mut id_string) = (Vec::new(), Vec::new());
    let mut retry = None;
    let mut index = 0;
    let mut discarded = false;
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            discarded |= !rest.is_empty();
            break;
        };
        let line = &rest[..end];
        let step = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        if line.is_empty() {
            id_string.clone_from(&id_buffer);
            if has_data {
                outcomes.push(Outcome::Event(OwnedEvent {
                    event_type: event_type.clone(),
                    data: data.clone(),
                    last_event_id: id_string.clone(),
                    retry,
                    data_offset,
                    index,
                }));
                index += 1;
            }
            data.clear();
            has_data = false;
            event_type.clear();
        } else if line[0] != b':' {
            let (name, mut value, mut value_offset) = match line.iter().position(|&b| b == b':') {
                Some(colon) => (&line[..colon], &line[colon + 1..], colon + 1),
                None => (line, &line[line.len()..], line.len()),
            };
            if value.first() == Some(&b' ') {
                value = &value[1..];
                value_offset += 1;
            }
            match name {
                b"data" => {
                    if has_data {
                        data.push(b'\n');
                    } else {
                        data_offset = offset + value_offset as u64;
                    }
                    has_data = true;
                    data.extend_from_slice(value);
                }
                b"event" => event_type = value.to_vec(),
                b"id" if !value.contains(&0) => id_buffer = value.to_vec(),
                b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                    if let Ok(ms) = std::str::from_utf8(value).unwrap().parse() {
                        retry = Some(ms);
                    }
                }
                _ => {}
            }
        }
        rest = &rest[step..];
        offset += step as u64;
    }
    outcomes.push(Outcome::Finished {
        discarded: discarded || has_data,
        last_event_id: id_string,
        retry,
    });
    outcomes
}

/// xorshift64*: deterministic, dependency-free randomness for the generated streams.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_stream(rng: &mut Rng) -> Vec<u8> {
    const PIECES: [&[u8]; 25] = [
        // Whole `event` lines, repeated, extended and cut, for the framer's repeated-line
        // shortcut.
        b"event: a\n",
        b"event: ab\r\n",
        b"event: a",
        b"data",
        b"data:",
        b"data: ",
        b"event: ",
        b"id: ",
        b"id",
        b"retry: ",
        b"retry:",
        b":",
        b" ",
        b"\n",
        b"\n",
        b"\r",
        b"\r\n",
        b"x",
        b"{\"a\":1}",
        b"7",
        b"42",
        b"\0",
        b"\xEF\xBB\xBF",
        b"\xEF",
        b"\xE2\x80\xA8",
    ];
    let mut stream = Vec::new();
    for _ in 0..rng.below(60) {
        stream.extend_from_slice(PIECES[rng.below(PIECES.len())]);
    }
    stream
}

fn random_reads<'a>(rng: &mut Rng, stream: &'a [u8]) -> Vec<&'a [u8]> {
    random_reads_up_to(rng, stream, 12)
}

fn random_reads_up_to<'a>(rng: &mut Rng, stream: &'a [u8], most: usize) -> Vec<&'a [u8]> {
    let mut reads = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let take = rng.below(rest.len().min(most) + 1);
        let (read, tail) = rest.split_at(take);
        reads.push(read);
        rest = tail;
    }
    reads
}

#[test]
fn random_streams_match_the_model_under_random_reads() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let stream = random_stream(&mut rng);
        let expected = model(&stream);
        let reads = random_reads(&mut rng, &stream);
        assert_eq!(
            drive(BIG, &reads),
            expected,
            "round {round}: {:?} read as {reads:?}",
            String::from_utf8_lossy(&stream)
        );
    }
}

#[test]
fn random_streams_with_a_small_limit_are_split_invariant() {
    // No model for the limit; instead the whole-read outcome, errors included, must not
    // depend on how the stream is cut, and buffering never exceeds the limit.
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for round in 0..20_000 {
        let stream = random_stream(&mut rng);
        let limit = rng.below(12);
        let expected = drive(limit, &[&stream]);
        let reads = random_reads(&mut rng, &stream);
        assert_eq!(
            drive(limit, &reads),
            expected,
            "round {round} limit {limit}: {:?} read as {reads:?}",
            String::from_utf8_lossy(&stream)
        );
        for event in events_of(&expected) {
            assert!(event.data.len() <= limit);
        }
    }
}

// ---- benchmark -----------------------------------------------------------------------

#[test]
fn a_first_data_line_split_across_reads_gives_the_same_events() {
    // A data line's field name in each of its three forms: `data`, `data:` and `data: `.
    let stream = b"data\ndata:ab\ndata: cd\n\ndata: first\ndata: x\n\n";
    let whole = drive(64, &[stream]);
    let datas: Vec<Vec<u8>> = events_of(&whole).into_iter().map(|e| e.data).collect();
    assert_eq!(datas, vec![b"\nab\ncd".to_vec(), b"first\nx".to_vec()]);
    for split in 0..=stream.len() {
        let (head, tail) = stream.split_at(split);
        assert_eq!(drive(64, &[head, tail]), whole, "split at {split}");
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(drive(64, &bytewise), whole, "byte by byte");
}

#[test]
fn held_data_of_a_split_line_counts_only_its_value() {
    let mut framer = Framer::new(64);
    let mut datas: Vec<Vec<u8>> = Vec::new();
    let mut feed = |framer: &mut Framer, read: &[u8]| {
        framer
            .feed(read, |event| {
                datas.push(event.data.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
    };
    feed(&mut framer, b"data: hel");
    assert_eq!(framer.buffered_bytes(), 9, "the partial line");
    feed(&mut framer, b"lo\n");
    assert_eq!(
        framer.buffered_bytes(),
        5,
        "the event's data, without `data: `"
    );
    feed(&mut framer, b"data: !\n\n");
    assert_eq!(framer.buffered_bytes(), 0);
    assert_eq!(datas, vec![b"hello\n!".to_vec()]);
}

// ---- the whole-event recogniser against the general path ------------------------------

/// Everything observable while feeding, with the framer's counters after every call, so that
/// a recogniser that consumed a different amount of a read would show even without an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Outcome(Outcome),
    Refused,
    After {
        bytes_seen: u64,
        buffered: usize,
        held: bool,
        // A `retry` takes effect when its line ends, an `id` at the blank line: a framer that
        // put off framing a line would show here.
        retry: Option<u64>,
        last_event_id: Vec<u8>,
    },
}

/// Feeds `reads` with the recogniser on or off; the sink refuses the events whose index is in
/// `refuse` (each once), and every stop is resumed with empty reads, as the contract says.
fn drive_path(limit: usize, reads: &[&[u8]], whole_events: bool, refuse: &[u64]) -> Vec<Step> {
    let mut framer = Framer::new(limit);
    framer.set_whole_events(whole_events);
    let mut steps = Vec::new();
    let mut refused = Vec::new();
    for read in reads {
        let mut next: &[u8] = read;
        loop {
            let result = framer.feed(next, |event| {
                steps.push(Step::Outcome(Outcome::Event(OwnedEvent::of(event))));
                if refuse.contains(&event.index) && !refused.contains(&event.index) {
                    refused.push(event.index);
                    return Err(());
                }
                Ok(())
            });
            steps.push(Step::After {
                bytes_seen: framer.bytes_seen(),
                buffered: framer.buffered_bytes(),
                held: framer.has_held_input(),
                retry: framer.retry(),
                last_event_id: framer.last_event_id().to_vec(),
            });
            match result {
                Ok(()) => break,
                Err(FeedError::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                }) => steps.push(Step::Outcome(Outcome::TooLong {
                    line_offset,
                    limit,
                    event_index,
                })),
                Err(FeedError::Sink(())) => steps.push(Step::Refused),
            }
            next = b"";
        }
    }
    let discarded = framer.finish();
    steps.push(Step::Outcome(Outcome::Finished {
        discarded,
        last_event_id: framer.last_event_id().to_vec(),
        retry: framer.retry(),
    }));
    steps
}

/// A stream mostly of the shapes the recogniser takes (`data: V` and `event: T` + `data: V`,
/// each with a blank line, under LF, CRLF and CR), mixed with near misses and lines only the
/// general path frames.
fn random_event_stream(rng: &mut Rng) -> Vec<u8> {
    const ENDS: [&[u8]; 3] = [b"\n", b"\r\n", b"\r"];
    // `data:` followed by no space, one (stripped) or two (one kept).
    const SEPARATORS: [&[u8]; 3] = [b"", b" ", b"  "];
    // Types of every length class the repeat check compares (under eight bytes, a multiple of
    // eight, and longer with a tail), and pairs of one length that differ only in their first,
    // middle or last bytes.
    const TYPES: [&[u8]; 12] = [
        b"content_block_delta",
        b"ping",
        b"",
        b"content_block",
        b"x y",
        b"content_block_delte",
        b"Content_block_delta",
        b"content_block_start",
        b"message_",
        b"message!",
        b"message_delta_01",
        b"message_delta_02",
    ];
    const VALUES: [&[u8]; 7] = [
        b"{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}",
        b"{\"a\":1}",
        b"",
        b" ",
        b"[DONE]",
        b"\xE2\x80\xA8\xEF\xBB\xBF",
        b"x\0y",
    ];
    const OTHERS: [&[u8]; 16] = [
        b": keep-alive",
        b":",
        b"id: 7",
        b"id",
        b"id: a\0b",
        b"retry: 250",
        b"retry: x",
        b"data",
        b"data:second",
        b"event",
        b"event:",
        b"eventx: y",
        b"dat: x",
        b"DATA: x",
        b"data : x",
        b"\xEF\xBB\xBF",
    ];
    let pick =
        |rng: &mut Rng, set: &[&'static [u8]]| -> &'static [u8] { set[rng.below(set.len())] };
    let mut stream = Vec::new();
    if rng.below(8) == 0 {
        stream.extend_from_slice(&BOM);
    }
    for _ in 0..rng.below(14) {
        // Mostly one line end per event, as servers write them; sometimes mixed.
        let end = pick(rng, &ENDS);
        let end_of = |rng: &mut Rng| {
            if rng.below(6) == 0 {
                pick(rng, &ENDS)
            } else {
                end
            }
        };
        match rng.below(12) {
            0..=7 => {
                if rng.below(2) == 0 {
                    stream.extend_from_slice(b"event:");
                    stream.extend_from_slice(pick(rng, &SEPARATORS));
                    stream.extend_from_slice(pick(rng, &TYPES));
                    stream.extend_from_slice(end_of(rng));
                }
                stream.extend_from_slice(b"data:");
                stream.extend_from_slice(pick(rng, &SEPARATORS));
                stream.extend_from_slice(pick(rng, &VALUES));
                stream.extend_from_slice(end_of(rng));
                // Usually the blank line; otherwise the event goes on with more lines.
                if rng.below(5) != 0 {
                    stream.extend_from_slice(end_of(rng));
                }
            }
            8..=9 => {
                stream.extend_from_slice(pick(rng, &OTHERS));
                stream.extend_from_slice(end_of(rng));
            }
            10 => stream.extend_from_slice(end_of(rng)),
            // Unterminated or cut pieces.
            _ => stream.extend_from_slice(pick(rng, &[b"data: {", b"event: x", b"\r", b"e"])),
        }
    }
    stream
}

/// Framing outcomes must not depend on the recogniser, for one stream and several cuts.
fn assert_paths_agree(limit: usize, reads: &[&[u8]], refuse: &[u64], what: &str) {
    let general = drive_path(limit, reads, false, refuse);
    let whole = drive_path(limit, reads, true, refuse);
    assert_eq!(
        whole, general,
        "{what}: limit {limit}, refusing {refuse:?}, reads {reads:?}"
    );
}

/// A generated stream, a line limit (small in a third of the cases) and the event indexes the
/// sink refuses.
fn random_case(rng: &mut Rng) -> (Vec<u8>, usize, Vec<u64>) {
    let stream = random_event_stream(rng);
    let limit = if rng.below(3) == 0 {
        rng.below(60)
    } else {
        BIG
    };
    let refuse = (0..rng.below(3)).map(|_| rng.below(8) as u64).collect();
    (stream, limit, refuse)
}

#[test]
fn whole_event_recogniser_matches_the_general_path_at_every_cut() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..400 {
        let (stream, limit, refuse) = random_case(&mut rng);
        let what = format!("round {round}: {:?}", String::from_utf8_lossy(&stream));
        assert_paths_agree(limit, &[&stream], &refuse, &what);
        for cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(cut);
            assert_paths_agree(limit, &[head, tail], &refuse, &what);
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_paths_agree(limit, &bytewise, &refuse, &what);
    }
}

#[test]
fn whole_event_recogniser_matches_the_general_path_under_random_reads() {
    let mut rng = Rng(0x9FB2_1C65_1E98_DF25);
    for round in 0..20_000 {
        let (stream, limit, refuse) = random_case(&mut rng);
        // Reads of up to a few events, so that whole events often lie inside one.
        let most = [12, 80, 400][rng.below(3)];
        let reads = random_reads_up_to(&mut rng, &stream, most);
        let what = format!("round {round}: {:?}", String::from_utf8_lossy(&stream));
        assert_paths_agree(limit, &reads, &refuse, &what);
        if limit == BIG {
            // And both against the spec's plain reading.
            let model_events = events_of(&model(&stream));
            assert_eq!(events_of(&drive(limit, &reads)), model_events, "{what}");
        }
    }
}

/// The shapes the one-step recognisers take and their near misses: line ends other than LF,
/// `data:` without its space, a comment, `id`/`retry` fields, a changed event type, a blank
/// `data:`, an event line written first without and then with its space, and a second data
/// line. Each stream holds the shape twice, so that the second one meets the repeat checks.
const NEAR_MISSES: [&[u8]; 16] = [
    b"event: delta\ndata: {\"a\":1}\n\nevent: delta\ndata: {\"a\":2}\n\n",
    b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\n",
    b"event: delta\r\ndata: {\"a\":1}\r\n\r\nevent: delta\r\ndata: {\"a\":2}\r\n\r\n",
    b"event: delta\rdata: {\"a\":1}\r\revent: delta\rdata: {\"a\":2}\r\r",
    b"event: delta\ndata: {\"a\":1}\n\nevent: delta\ndata: {\"a\":2}\r\n\n",
    b"event: delta\ndata: {\"a\":1}\n\nevent: delta\ndata: {\"a\":2}\n\r\n",
    b"event: delta\ndata:{\"a\":1}\n\nevent: delta\ndata:{\"a\":2}\n\n",
    b"data:{\"a\":1}\n\ndata:  {\"a\":2}\n\n",
    b"event: delta\ndata: 1\n\n: keep-alive\nevent: delta\ndata: 2\n\n",
    b"event: delta\ndata: 1\n\nid: 7\nevent: delta\ndata: 2\n\nretry: 10\ndata: 3\n\n",
    b"event: delta\ndata: 1\n\nevent: deltb\ndata: 2\n\nevent: delt\ndata: 3\n\nevent: deltas\ndata: 4\n\n",
    b"event: delta\ndata: \n\nevent: delta\ndata:\n\ndata: \n\n",
    b"event:delta\ndata: 1\n\nevent: delta\ndata: 2\n\n",
    b"event: delta\ndata: 1\ndata: 2\n\nevent: delta\ndata: 3\n\n",
    b"event: delta\n\ndata: 1\n\nevent: \ndata: 2\n\nevent: \ndata: 3\n\n",
    b"event: delta\ndata: 1\n\nevent: delta\nid: 4\ndata: 2\n\nevent: delta\ndata: 3\n\n",
];

#[test]
fn one_step_shapes_and_near_misses_match_the_general_path_at_every_cut() {
    for stream in NEAR_MISSES {
        let what = String::from_utf8_lossy(stream).into_owned();
        assert_eq!(
            events_of(&drive(BIG, &[stream])),
            events_of(&model(stream)),
            "{what}"
        );
        // Every limit from nothing to past the longest line: each line of the stream is, in
        // turn, exactly at the limit and one over it.
        for limit in (0..40).chain([BIG]) {
            assert_paths_agree(limit, &[stream], &[], &what);
            for cut in 0..=stream.len() {
                let (head, tail) = stream.split_at(cut);
                assert_paths_agree(limit, &[head, tail], &[], &what);
            }
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_paths_agree(BIG, &bytewise, &[1], &what);
    }
}

#[test]
fn a_repeated_event_line_one_byte_longer_than_before_meets_the_limit() {
    // `event:delta` (11 bytes) is within a limit of 11; the same type written `event: delta`
    // (12 bytes) is over it, though its value is the one already held.
    let stream = b"event:delta\ndata: 1\n\nevent: delta\ndata: 2\n\n";
    let outcomes = drive(11, &[stream]);
    assert_eq!(events_of(&outcomes).len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Outcome::TooLong {
                line_offset: 21,
                limit: 11,
                event_index: 1
            }
        )),
        "{outcomes:?}"
    );
    assert_paths_agree(11, &[stream], &[], "event line over the limit");
}

/// As [`drive`], but the sink asks for the rest of the read back after each event whose index
/// is in `hand_back_at`, and the rest is fed at once, as the driver does when the first event
/// decides the format.
fn drive_handing_back(limit: usize, reads: &[&[u8]], hand_back_at: &[u64]) -> Vec<Outcome> {
    let mut framer = Framer::new(limit);
    let mut outcomes = Vec::new();
    for read in reads {
        let mut next: &[u8] = read;
        loop {
            let result = framer.feed_or_hand_back(
                next,
                |event: &RawEvent<'_>| {
                    outcomes.push(Outcome::Event(OwnedEvent::of(event)));
                    if hand_back_at.contains(&event.index) {
                        return Err(());
                    }
                    Ok(())
                },
                |()| true,
            );
            match result {
                Ok(()) => break,
                Err(Stopped::HandedBack { rest_at, .. }) => next = &next[rest_at..],
                Err(Stopped::Kept(FeedError::LineTooLong {
                    line_offset,
                    limit,
                    event_index,
                })) => {
                    outcomes.push(Outcome::TooLong {
                        line_offset,
                        limit,
                        event_index,
                    });
                    next = b"";
                }
                Err(Stopped::Kept(FeedError::Sink(()))) => {
                    // Refused while framing input held after a limit error: kept, resumed.
                    next = b"";
                }
            }
        }
    }
    let total: usize = reads.iter().map(|r| r.len()).sum();
    assert_eq!(framer.bytes_seen(), total as u64);
    let discarded = framer.finish();
    outcomes.push(Outcome::Finished {
        discarded,
        last_event_id: framer.last_event_id().to_vec(),
        retry: framer.retry(),
    });
    outcomes
}

#[test]
fn handing_back_at_random_events_frames_as_if_never_cut() {
    let mut rng = Rng(0x6A09_E667_F3BC_C908);
    for round in 0..20_000 {
        let (stream, limit, _) = random_case(&mut rng);
        let most = [12, 80, 400][rng.below(3)];
        let reads = random_reads_up_to(&mut rng, &stream, most);
        let hand_back_at: Vec<u64> = (0..rng.below(4)).map(|_| rng.below(8) as u64).collect();
        assert_eq!(
            drive_handing_back(limit, &reads, &hand_back_at),
            drive(limit, &reads),
            "round {round}: limit {limit}, handing back at {hand_back_at:?}, reads {reads:?}"
        );
    }
}

// ---- an event cut by the end of a read, held until its blank line ---------------------

/// Streams whose events the end of a read cuts, in the shapes the framer holds unframed until
/// the event's end (an `event` line and a `data` line, or a `data` line alone) and their near
/// misses: every line end, a type that changes, comments, `id` and `retry` lines inside the
/// cut event, several data lines, and a CR-only stream where a CR ends the data line and the
/// next CR is the blank line.
const HELD_TAILS: [&[u8]; 12] = [
    b"event: delta\ndata: {\"a\":1}\n\nevent: delta\ndata: {\"a\":2}\n\nevent: delta\ndata: 3\n\n",
    b"event: delta\r\ndata: {\"a\":1}\r\n\r\nevent: delta\r\ndata: {\"a\":2}\r\n\r\n",
    b"event: delta\rdata: {\"a\":1}\r\revent: delta\rdata: {\"a\":2}\r\r",
    b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n",
    b"data: {\"a\":1}\r\n\r\ndata: {\"a\":2}\r\n\r\n",
    b"event: start\ndata: 1\n\nevent: delta\ndata: 2\n\nevent: stop\ndata: 3\n\n",
    b"event: delta\ndata: 1\n\n: ping\nevent: delta\n: mid\ndata: 2\n\n",
    b"event: delta\ndata: 1\n\nevent: delta\nid: 9\ndata: 2\n\nid: 10\ndata: 3\n\n",
    b"event: delta\ndata: 1\n\nevent: delta\nretry: 70\ndata: 2\n\ndata: 3\nretry: 80\n\n",
    b"data: 1\n\ndata: 2\ndata: 3\n\ndata:4\r\ndata:  5\r\n\r\n",
    b"event: delta\ndata: 1\n\nevent:delta\ndata:2\n\nevent: delta\ndata\n\n",
    b"data: 1\n\rdata: 2\r\n\ndata: 3\r\r\n",
];

#[test]
fn an_event_cut_at_every_byte_frames_as_the_general_path_does() {
    for stream in HELD_TAILS {
        let what = String::from_utf8_lossy(stream).into_owned();
        let whole = drive(BIG, &[stream]);
        assert_eq!(events_of(&whole), events_of(&model(stream)), "{what}");
        for cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(cut);
            assert_paths_agree(BIG, &[head, tail], &[], &what);
            assert_eq!(drive(BIG, &[head, tail]), whole, "{what}: cut at {cut}");
            // Cut twice: the held tail grows by a read that does not end the event, or a read
            // ends the event and cuts the next one.
            for second in cut..=stream.len() {
                let reads = [&stream[..cut], &stream[cut..second], &stream[second..]];
                assert_paths_agree(BIG, &reads, &[], &what);
            }
            // The sink refuses the event that completes a held tail and the one after it.
            assert_paths_agree(BIG, &[head, tail], &[1, 2], &what);
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_paths_agree(BIG, &bytewise, &[], &what);
        assert_paths_agree(BIG, &bytewise, &[0, 2], &what);
    }
}

#[test]
fn a_held_tail_never_outgrows_the_limit() {
    // The second event is 33 bytes, its data line 17: limits below, at and above each, with
    // the event cut anywhere, so that the held bytes reach the limit exactly in some read.
    let stream = b"event: delta\ndata: 1\n\nevent: delta\ndata: {\"a\":\"bcd\"}\n\ndata: z\n\n";
    for limit in (0..40).chain([BIG]) {
        for cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(cut);
            assert_paths_agree(limit, &[head, tail], &[], "cut once");
            for second in cut..=stream.len() {
                let reads = [&stream[..cut], &stream[cut..second], &stream[second..]];
                assert_paths_agree(limit, &reads, &[], "cut twice");
            }
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_paths_agree(limit, &bytewise, &[], "byte by byte");
    }
}

#[test]
fn an_over_long_line_in_a_cut_event_is_reported_where_it_starts() {
    // The data line of the second event (offset 26) is over the limit of 20.
    let stream = b"data: short\n\nevent: delta\ndata: xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\ndata: ok\n\n";
    for cut in 0..=stream.len() {
        let (head, tail) = stream.split_at(cut);
        let outcomes = drive(20, &[head, tail]);
        let too_long: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::TooLong { .. }))
            .collect();
        assert_eq!(
            too_long,
            [&Outcome::TooLong {
                line_offset: 26,
                limit: 20,
                event_index: 1
            }],
            "cut at {cut}"
        );
        let datas: Vec<Vec<u8>> = events_of(&outcomes).into_iter().map(|e| e.data).collect();
        assert_eq!(datas, [b"short".to_vec(), b"ok".to_vec()], "cut at {cut}");
        assert_paths_agree(20, &[head, tail], &[], "over-long line");
    }
}

#[test]
fn a_cut_event_keeps_its_offsets_and_the_retry_of_a_cut_line() {
    // The event held across two reads reports the offset of its data in the stream.
    let events = events_of(&drive(
        BIG,
        &[b"data: a\n\nevent: delta\nda", b"ta: bc\n\n"],
    ));
    assert_eq!(events[1].data, b"bc");
    assert_eq!(events[1].data_offset, 28);
    assert_eq!(events[1].event_type, b"delta");
    // A `retry` line inside a cut event takes effect in the read that ends it.
    let mut framer = Framer::new(BIG);
    let ok = |_: &RawEvent<'_>| Ok::<(), ()>(());
    framer.feed(b"data: a\n\ndata: b\nretry: 5", ok).unwrap();
    assert_eq!(framer.retry(), None);
    framer.feed(b"0\n", ok).unwrap();
    assert_eq!(framer.retry(), Some(50));
    framer.feed(b"\n", ok).unwrap();
    let mut framer = Framer::new(BIG);
    framer.feed(b"data: a\n\ndata: b\n", ok).unwrap();
    framer.feed(b"retry: 7\n", ok).unwrap();
    assert_eq!(framer.retry(), Some(7));
}

#[test]
fn input_held_behind_an_error_follows_a_held_tail() {
    // `hold` (the delivery rule's) keeps a read behind the bytes of a cut event.
    let mut framer = Framer::new(BIG);
    let mut datas = Vec::new();
    framer
        .feed(b"data: a\n\nevent: e\ndata: b", |_| Ok::<(), ()>(()))
        .unwrap();
    assert_eq!(framer.buffered_bytes(), b"data: b".len());
    framer.hold(b"c\n\ndata: d\n\n");
    assert!(framer.has_held_input());
    framer
        .feed(b"", |event| {
            datas.push((event.event_type.to_vec(), event.data.to_vec()));
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(
        datas,
        [
            (b"e".to_vec(), b"bc".to_vec()),
            (b"".to_vec(), b"d".to_vec())
        ]
    );
    assert_eq!(framer.buffered_bytes(), 0);
}

#[test]
fn finishing_inside_a_cut_event_judges_it_line_by_line() {
    // (reads, whether an unterminated event is discarded)
    let cases: [(&[&[u8]], bool); 7] = [
        (&[b"data: a\n\ndata: x"], true),
        (&[b"data: a\n\nevent: e\n"], false),
        (&[b"data: a\n\nevent: e"], true),
        (&[b"data: a\n\ndata: x\n"], true),
        (&[b"data: a\n\ndata: x\r"], true),
        (&[b"data: a\n\nda", b"ta: x\r\n"], true),
        (&[b"data: a\n\n: c", b"omment\n"], false),
    ];
    for (reads, expected) in cases {
        let outcomes = drive(BIG, reads);
        let Some(Outcome::Finished { discarded, .. }) = outcomes.last() else {
            panic!("no finish");
        };
        assert_eq!(*discarded, expected, "{reads:?}");
        assert_paths_agree(BIG, reads, &[], "finish");
    }
}
