//! Chat Completions streams through the driver: recorded streams, the template fast path
//! against full decoding, `on_error` modes, limits at their edges, deferred errors, captures.

use deltafold::driver::{Action, Config, OnError, Options, ProblemKind};
use deltafold::error::{ErrorKind, StreamError};
use deltafold::formats::auto::AnyStream;
use deltafold::formats::chat::ChatStream;
use deltafold::formats::Format;
use deltafold::json::value::Value;
use deltafold::limits::{LimitName, Limits};

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
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{f}]}}}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    data.extend_from_slice(b"data: [DONE]\n\n");
    let (fast, s) = run(Config::default(), &data, 4096);
    let (full, _) = run(with_events(), &data, 4096);
    assert_eq!(
        s.chunk_counts().1,
        2,
        "the fifth chunk takes the template path (and the fourth, call 1's fragment read by \
         the template of call 0's, which takes another call's index)"
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
            format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":{c}}}}}]}}\n\n")
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
    let payload = br#"{"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":"stop"}]}"#;
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
                format: deltafold::sniff::Format::Anthropic
            })
        ));
    }
}

/// A first chunk is named by its format whether the chat decoder reads it (the format is then
/// judged from what it read) or refuses it (a foreign chunk often breaks the chat schema: the
/// format is then read from its keys); a chat chunk with the same hints folds.
#[test]
fn foreign_first_chunks_are_named_whether_the_chat_decoder_reads_them_or_not() {
    use deltafold::sniff::Format;
    let cases: [(&str, Option<Format>); 8] = [
        (
            r#"{"type":"message_start","message":{}}"#,
            Some(Format::Anthropic),
        ),
        (
            r#"{"type":"message_start","id":5}"#,
            Some(Format::Anthropic),
        ),
        (r#"{"candidates":[]}"#, Some(Format::Gemini)),
        (r#"{"candidates":[],"created":"x"}"#, Some(Format::Gemini)),
        (
            r#"{"object":"text_completion","choices":[{"text":"a","index":0}]}"#,
            Some(Format::Completions),
        ),
        (
            r#"{"object":"text_completion","choices":[{"text":"a","index":-1}]}"#,
            Some(Format::Completions),
        ),
        (
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            None,
        ),
        (
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"text":"x","finish_reason":"stop"}]}"#,
            None,
        ),
    ];
    for (payload, format) in cases {
        for on_error in [OnError::Raise, OnError::Skip] {
            let config = Config {
                on_error,
                ..Config::default()
            };
            let data = format!("data: {payload}\n\ndata: [DONE]\n\n");
            let (out, s) = run(config, data.as_bytes(), 4096);
            if let Some(want) = format {
                assert!(
                    matches!(
                        out.as_ref().map_err(|e| &e.kind),
                        Err(ErrorKind::UnsupportedFormat { format }) if *format == want
                    ),
                    "{payload}: {out:?}"
                );
            } else {
                assert!(out.is_ok(), "{payload}: {out:?}");
                assert_eq!(s.chunk_counts(), (1, 0), "{payload}");
            }
        }
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

#[test]
fn finish_without_events_returns_an_error_deferred_behind_events() {
    let mut s = ChatStream::new(with_events());
    let mut read = GOOD_A.to_vec();
    read.extend_from_slice(BAD);
    assert!(s.feed(&read).is_ok());
    assert!(s.has_deferred_error());
    let err = s.finish_without_events().err();
    assert!(matches!(
        err.as_ref().map(|e| (&e.kind, e.event_index)),
        Some((ErrorKind::Decode(_), Some(1)))
    ));
}

#[test]
fn run_whole_keeps_what_was_produced_before_an_error() {
    let mut data = GOOD_A.to_vec();
    data.extend_from_slice(BAD);
    let failure = ChatStream::run_whole(Config::default(), &data).err();
    let failure = failure.map(|f| (f.error.event_index, format!("{:?}", f.partial)));
    let (index, partial) = failure.unwrap_or_default();
    assert_eq!(index, Some(1));
    assert!(partial.contains(r#"String("a")"#), "{partial}");
    let mut whole = GOOD_A.to_vec();
    whole.extend_from_slice(GOOD_B);
    whole.extend_from_slice(b"data: [DONE]\n\n");
    let out = ChatStream::run_whole(Config::default(), &whole).ok();
    assert!(format!("{out:?}").contains(r#"String("ab")"#), "{out:?}");
}

/// A logprobs chunk of `token` with `entry` as its one `logprobs.content` entry.
fn logprobs_chunk(token: &str, entry: &str) -> String {
    format!(
        "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{token}\"}},\"logprobs\":{{\"content\":[{entry}],\"refusal\":null}},\"finish_reason\":null}}],\"usage\":null,\"obfuscation\":\"{token}{token}\"}}\n\n"
    )
}

#[test]
fn logprobs_chunks_take_the_template_path_with_the_same_result() {
    let mut data = Vec::new();
    let tokens = ["He", "llo", " \\\"w\\\"", " \u{e9}t\u{e9}", "\\n", "!"];
    for (i, t) in tokens.iter().enumerate() {
        let entry = format!(
            "{{\"token\":\"{t}\",\"logprob\":-{i}.5e-{i},\"bytes\":[{i},32],\"top_logprobs\":[{{\"token\":\"x\",\"logprob\":-9,\"bytes\":[120]}}]}}"
        );
        data.extend_from_slice(logprobs_chunk(t, &entry).as_bytes());
    }
    data.extend_from_slice(b"data: [DONE]\n\n");
    for read in [1, 5, 4096] {
        let (fast, s) = run(Config::default(), &data, read);
        let (full, _) = run(with_events(), &data, read);
        let fast = fast.ok().flatten();
        assert!(fast.is_some(), "read {read}");
        assert_eq!(fast, full.ok().flatten(), "read {read}");
        // The first chunk is decoded in full and teaches the template; the rest use it.
        assert_eq!(s.chunk_counts(), (6, 5), "read {read}");
    }
}

#[test]
fn a_bad_logprobs_entry_after_a_template_fails_where_full_decoding_fails() {
    let good = r#"{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]}"#;
    for bad in [
        r#"{"token":"a","logprob":-01,"bytes":[97],"top_logprobs":[]}"#,
        r#"{"token":"a","logprob":-0.5,"bytes":[97,],"top_logprobs":[]}"#,
        r#"{"token":"\ud800","logprob":-0.5,"bytes":[97],"top_logprobs":[]}"#,
        r#"{"token":"a","logprob":1e999,"bytes":[97],"top_logprobs":[]}"#,
    ] {
        let mut data = Vec::new();
        data.extend_from_slice(logprobs_chunk("a", good).as_bytes());
        data.extend_from_slice(logprobs_chunk("b", good).as_bytes());
        data.extend_from_slice(logprobs_chunk("c", bad).as_bytes());
        data.extend_from_slice(b"data: [DONE]\n\n");
        let (fast, _) = run(Config::default(), &data, 4096);
        let (full, _) = run(with_events(), &data, 4096);
        let fast = fast.err();
        assert!(fast.is_some(), "{bad}");
        assert_eq!(fast, full.err(), "{bad}");
    }
}

/// Every recorded stream of each SSE format in tests/fixtures/<dir>.
fn recorded_in(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sse") {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    assert!(!out.is_empty(), "no recorded streams in {dir}");
    out
}

/// What a stream gives fed in reads of `read` bytes: the result or the error, and the problems.
fn outcome_of(config: Config, data: &[u8], read: usize) -> String {
    let mut s = AnyStream::new(config);
    let mut out = String::new();
    for piece in data.chunks(read.max(1)) {
        if let Err(e) = s.feed(piece) {
            out = format!("error {e:?}");
            break;
        }
    }
    if out.is_empty() {
        out = format!("{:?}", s.finish());
    }
    format!(
        "{out} {:?} {:?} {}",
        s.problems(),
        s.format(),
        s.bytes_seen()
    )
}

#[test]
fn auto_decides_mid_read_and_frames_the_rest_for_the_decided_format() {
    // Under format="auto" the driver frames up to the deciding event with the dispatching fold
    // and hands the rest of the read to the decided format's fold: with the whole stream in
    // one read (as `assemble` gives it), after a BOM, with CRLF ends and in small reads, the
    // outcome must be the one the explicit format gives.
    let cases = [
        ("anthropic-recorded", Format::Anthropic),
        ("openai-recorded", Format::Chat),
        ("responses-recorded", Format::Responses),
        ("gemini-recorded", Format::Gemini),
    ];
    for (dir, format) in cases {
        for (name, data) in recorded_in(dir) {
            let crlf = String::from_utf8_lossy(&data)
                .replace("\r\n", "\n")
                .replace('\n', "\r\n")
                .into_bytes();
            let bom = [&[0xEF, 0xBB, 0xBF][..], &data].concat();
            for (shape, input) in [("lf", &data), ("crlf", &crlf), ("bom", &bom)] {
                let fixed = Config {
                    format: Some(format),
                    ..Config::default()
                };
                for read in [input.len(), 7, 1] {
                    let expected = outcome_of(fixed, input, read);
                    let auto = outcome_of(Config::default(), input, read);
                    assert_eq!(auto, expected, "{name} {shape} reads of {read}");
                }
            }
        }
    }
}
