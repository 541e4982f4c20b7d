use super::*;
use crate::json::reader::parse;
use std::fmt::Write;

fn fold(payloads: &[&str]) -> Result<Gemini, ErrorKind> {
    let mut g = Gemini::new(&Config::default());
    for p in payloads {
        g.fold(b"", p.as_bytes(), &mut Vec::new())?;
    }
    Ok(g)
}

fn json(text: &str) -> Value {
    parse(text.as_bytes(), 128).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// Raw values compare by their text; build the expected value by re-parsing the result.
fn result(g: &Gemini) -> Value {
    let text = crate::formats::gemini::tests::to_json(&g.result());
    json(&text)
}

pub fn to_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) | Value::Raw(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(to_json).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k:?}:{}", to_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

#[test]
fn text_parts_merge_and_a_lone_signature_moves_to_the_previous_part() {
    let g = fold(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"Hi","thought":true}],"role":"model"},"index":0}],"modelVersion":"m1"}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":" there","thought":true,"thoughtSignature":"s1"}],"role":"model"}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"Answer"}],"role":"model"}}]}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"s2"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3},"responseId":"r"}"#,
    ])
    .unwrap();
    assert!(g.finished);
    assert_eq!(
        result(&g),
        json(
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi there","thought":true,"thoughtSignature":"s1"},{"text":"Answer","thoughtSignature":"s2"}],"role":"model"},"index":0,"finishReason":"STOP"}],"modelVersion":"m1","usageMetadata":{"promptTokenCount":3},"responseId":"r"}"#
        )
    );
}

#[test]
fn partial_args_build_the_call_and_continuations_merge() {
    let g = fold(&[
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","willContinue":true},"thoughtSignature":"sig"}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.steps[0]","stringValue":"Pre","willContinue":true}],"willContinue":true}}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.steps[0]","stringValue":"heat"}],"willContinue":true}}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.n","numberValue":0.5},{"jsonPath":"$.ok","boolValue":true}],"willContinue":true}}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{}}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"g"}}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}]}"#,
    ])
    .unwrap();
    assert_eq!(
        result(&g),
        json(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"steps":["Preheat"],"n":0.5,"ok":true}},"thoughtSignature":"sig"},{"functionCall":{"name":"g"}}]},"finishReason":"STOP"}]}"#
        )
    );
}

#[test]
fn candidates_by_index_and_last_non_null() {
    let g = fold(&[
        r#"{"candidates":[{"index":1,"content":{"parts":[{"text":"b"}]}},{"index":0,"content":{"parts":[{"text":"a"}]},"safetyRatings":[1]}],"promptFeedback":null}"#,
        r#"{"candidates":[{"index":0,"safetyRatings":null,"finishReason":null}],"promptFeedback":{"x":1}}"#,
    ])
    .unwrap();
    assert!(!g.finished);
    assert_eq!(
        result(&g),
        json(
            r#"{"candidates":[{"index":0,"content":{"parts":[{"text":"a"}]},"safetyRatings":[1],"finishReason":null},{"index":1,"content":{"parts":[{"text":"b"}]}}],"promptFeedback":{"x":1}}"#
        )
    );
}

#[test]
fn errors_are_typed() {
    let api = fold(&[r#"{"error":{"code":500,"message":"boom"}}"#]).err();
    assert!(matches!(api, Some(ErrorKind::Api { .. })), "{api:?}");
    let schema = fold(&[r#"{"candidates":[{"content":{"parts":[{"text":5}]}}]}"#]).err();
    assert!(
        matches!(
            schema,
            Some(ErrorKind::Decode(DecodeKind::Schema {
                field: "candidates[].content.parts[].text",
                pos: 44,
                ..
            }))
        ),
        "{schema:?}"
    );
    // A syntax error later in the payload wins over a schema problem before it.
    let both = fold(&[r#"{"candidates":5,"x":}"#]).err();
    assert!(
        matches!(both, Some(ErrorKind::Decode(DecodeKind::Syntax(_)))),
        "{both:?}"
    );
    let index = fold(&[r#"{"candidates":[{"index":5000}]}"#]).err();
    assert!(matches!(
        index,
        Some(ErrorKind::Limit {
            limit: LimitName::ChoiceIndex,
            ..
        })
    ));
}

/// The recorded Gemini streams in tests/fixtures, each as its whole SSE text.
fn recorded_texts() -> Vec<String> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gemini-recorded"
    );
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect()
}

/// The `data:` payloads of a recorded stream (its events are CRLF-separated).
fn data_payloads(text: &str) -> Vec<&str> {
    text.split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect()
}

#[test]
fn recorded_streams_fold() {
    let mut count = 0;
    for text in recorded_texts() {
        let payloads = data_payloads(&text);
        let g = fold(&payloads).unwrap();
        assert!(g.finished);
        assert_eq!(g.folded(), payloads.len() as u64);
        count += 1;
    }
    assert_eq!(count, 5);
}

fn kept(g: &Gemini, key: &str) -> String {
    g.keys.get(key).map(to_json).unwrap_or_default()
}

/// Values repeated byte for byte are stepped over unvalidated: the result and every error must
/// be what a full read gives (expected values written out by hand).
#[test]
fn repeated_values_fold_as_if_read_again() {
    let first = r#"{"usageMetadata":{"a":1},"modelVersion":"m","n":1,"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"safetyRatings":[1]}]}"#;
    // A number whose kept text is a prefix of the new one is a new value.
    let g = fold(&[first, r#"{"n":12,"modelVersion":"m"}"#]).unwrap();
    assert_eq!(kept(&g, "n"), "12");
    // A duplicate key: the last value in the payload wins, even when it repeats the kept one.
    let g = fold(&[first, r#"{"modelVersion":"other","modelVersion":"m"}"#]).unwrap();
    assert_eq!(kept(&g, "modelVersion"), "\"m\"");
    let g = fold(&[first, r#"{"modelVersion":"m","modelVersion":"other"}"#]).unwrap();
    assert_eq!(kept(&g, "modelVersion"), "\"other\"");
    // Repeated candidate and content values, then new ones.
    let g = fold(&[
        first,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"y"}]},"safetyRatings":[1]}],"usageMetadata":{"a":1}}"#,
        r#"{"candidates":[{"content":{"role":"user","parts":[]},"safetyRatings":[2],"finishReason":"STOP"}],"usageMetadata":{"a":2}}"#,
    ])
    .unwrap();
    assert_eq!(
        result(&g),
        json(
            r#"{"usageMetadata":{"a":2},"modelVersion":"m","n":1,"candidates":[{"content":{"role":"user","parts":[{"text":"xy"}]},"safetyRatings":[2],"finishReason":"STOP"}]}"#
        )
    );
    // Bytes after a repeated value are still checked.
    for bad in [
        r#"{"usageMetadata":{"a":1}x}"#,
        r#"{"usageMetadata":{"a":1}"#,
        r#"{"modelVersion":"m" "n":1}"#,
    ] {
        let fresh = fold(&[bad]).err();
        let again = fold(&[first, bad]).err();
        assert!(
            matches!(again, Some(ErrorKind::Decode(DecodeKind::Syntax(_)))),
            "{bad}"
        );
        assert_eq!(format!("{fresh:?}"), format!("{again:?}"), "{bad}");
    }
}

/// Folds `payloads` in event mode, with templates or (`full`) decoding every payload in full:
/// the result, the summary, the events and each payload's outcome, as text, and how many
/// payloads were not decoded in full.
fn trace(
    payloads: &[&str],
    full: bool,
    events: bool,
) -> (String, String, String, Vec<String>, usize) {
    let mut config = Config::default();
    config.options.events = events;
    config.options.partial_arguments = events;
    trace_config(payloads, full, &config)
}

/// [`trace`] with `config`.
fn trace_config(
    payloads: &[&str],
    full: bool,
    config: &Config,
) -> (String, String, String, Vec<String>, usize) {
    let mut g = Gemini::new(config);
    let mut events = Vec::new();
    let mut outcomes = Vec::new();
    let mut repeated = 0;
    for p in payloads {
        if full {
            g.templates = [None, None];
        }
        let decoded = g.decoded;
        outcomes.push(format!("{:?}", g.fold(b"", p.as_bytes(), &mut events)));
        repeated += usize::from(g.decoded == decoded);
    }
    g.finish_events(&mut events);
    let result = to_json(&g.result());
    (
        result,
        format!("{:?}", g.summary()),
        format!("{events:?}"),
        outcomes,
        repeated,
    )
}

/// A payload that repeats the previous one's bytes around new text and usage numbers is folded
/// from the template: the result, summary, events and errors must be those of a full decode.
#[test]
fn templated_events_fold_as_if_decoded_in_full() {
    let ev = |text: &str, thought: &str, usage: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":{text}{thought}}}]}},"index":0}}],"usageMetadata":{{"promptTokenCount":9,"candidatesTokenCount":{usage},"details":[{{"m":"TEXT","n":9}}]}},"modelVersion":"m"}}"#
        )
    };
    let t = r#","thought":true"#;
    let mv = |text: &str, role: &str, version: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"{role}","parts":[{{"text":"{text}"}}]}},"index":0}}],"modelVersion":"{version}"}}"#
        )
    };
    let arg = |call: &str, entry: &str| {
        let entry = if entry.is_empty() {
            String::new()
        } else {
            format!(r#""partialArgs":[{{"jsonPath":{entry}}}],"#)
        };
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{{entry}{call}}}}}]}}}}],"usageMetadata":{{"trafficType":"X"}},"modelVersion":"m"}}"#
        )
    };
    // A part in an envelope with a top-level value before the candidates and others after
    // (the last long enough that a misplaced span of the others is still text).
    let pt = |part: &str, usage: &str| {
        format!(
            r#"{{"responseId":"r","candidates":[{{"content":{{"role":"model","parts":[{part}]}},"index":0}}],"usageMetadata":{{"promptTokenCount":{usage}}},"modelVersion":"m","x":"0123456789abcdefghijklmnopqrstuv"}}"#
        )
    };
    let end =
        r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#;
    // A streamed argument whose call, part and candidate carry other keys, before and after.
    let keyed = |entry: &str| {
        format!(
            r#"{{"candidates":[{{"x":[1],"content":{{"parts":[{{"functionCall":{{"id":"c1","partialArgs":[{{"jsonPath":{entry}}}],"willContinue":true}},"y":"z"}}],"role":"model"}},"index":0,"w":null}}],"modelVersion":"m"}}"#
        )
    };
    let wc = r#""willContinue":true"#;
    let streams: Vec<Vec<String>> = vec![
        // Thought text, then answer text; usage numbers change; escapes; an empty text.
        vec![
            ev(r#""Hm""#, t, "1"),
            ev(r#"" \"q\"\n""#, t, "2"),
            ev(r#""""#, t, "2"),
            ev(r#""Answer""#, "", "3"),
            ev(r#"" \u00e9 two""#, "", "-4.5e1"),
            ev(r#""!""#, "", "40"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":41}}"#.into(),
        ],
        // Bad values where the template has holes, and bytes after the end.
        vec![ev(r#""a""#, "", "1"), ev(r#""b""#, "", "01")],
        vec![ev(r#""a""#, "", "1"), ev(r#""b""#, "", "1.")],
        vec![ev(r#""a""#, "", "1"), ev("\"b\x01\"", "", "1")],
        vec![ev(r#""a""#, "", "1"), ev(r#""b\x""#, "", "1")],
        vec![ev(r#""a""#, "", "1"), ev("5", "", "1")],
        vec![ev(r#""a""#, "", "1"), ev(r#""b""#, "", "1") + " x"],
        // A second candidate, a signature and a function call break the pattern.
        vec![
            ev(r#""a""#, "", "1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"b"}]},"index":1}]}"#.into(),
            ev(r#""c""#, "", "1"),
            ev(r#""d""#, "", "1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"e","thoughtSignature":"s"}]},"index":0}]}"#.into(),
            ev(r#""f""#, "", "1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"g","args":{"x":1}}}]},"index":0}]}"#.into(),
            ev(r#""h""#, "", "2"),
            ev(r#""i""#, "", "2"),
        ],
        // A duplicate top-level key gives no template; a finishing candidate's does.
        vec![
            ev(r#""a""#, "", "1"),
            r#"{"candidates":[{"content":{"parts":[{"text":"b"}]},"index":0}],"n":1,"n":2}"#.into(),
            r#"{"candidates":[{"content":{"parts":[{"text":"c"}]},"index":0}],"n":3,"n":2}"#.into(),
            r#"{"candidates":[{"content":{"parts":[{"text":"d"}]},"index":0,"finishReason":"STOP"}]}"#.into(),
            r#"{"candidates":[{"content":{"parts":[{"text":"e"}]},"index":0,"finishReason":"STOP"}]}"#.into(),
        ],
        // Streamed arguments: two shapes alternate; other values and paths; a path the
        // decoder refuses; a named call part (a new call each time).
        vec![
            arg(r#""name":"f","willContinue":true"#, ""),
            arg(r#""willContinue":true"#, r#""$.a[0].x","stringValue":"1 o","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a[0].x","stringValue":"z""#),
            arg(r#""willContinue":true"#, r#""$.a[0].y","stringValue":"\"q","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a[0].y","stringValue":"""#),
            arg(r#""willContinue":true"#, r#""$.a[1].x","stringValue":"b","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a[1].x","stringValue":"""#),
            arg(r#""willContinue":true"#, r#""$.b","stringValue":"c","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.b","stringValue":"d","willContinue":true"#),
            // The open string's path spelled otherwise, then as it was: the same path.
            arg(r#""willContinue":true"#, r#""$['b']","stringValue":"2","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.b","stringValue":"3","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a[0]","stringValue":"e","willContinue":true"#),
            // Another path than the open string's: set, not appended.
            arg(r#""willContinue":true"#, r#""$.b","stringValue":"f""#),
            arg("", ""),
            arg(r#""name":"g""#, r#""$.a","stringValue":"x""#),
            arg(r#""name":"g""#, r#""$.b","stringValue":"y""#),
            r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#.into(),
        ],
        vec![
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"1 o""#),
            arg(r#""willContinue":true"#, r#""$.a.","stringValue":"1 o""#),
        ],
        // Usage numbers that change in a later digit, or not at all, between templated events.
        vec![
            ev(r#""a""#, "", "10"),
            ev(r#""b""#, "", "11"),
            ev(r#""c""#, "", "11"),
            ev(r#""d""#, "", "19"),
        ],
        vec![
            ev(r#""a""#, "", "1"),
            ev(r#""b""#, "", "2"),
            ev(r#""c""#, "", "2"),
            ev(r#""d""#, "", "23"),
        ],
        // Two templates whose fixed values differ, and a decoded payload between: each
        // template merges its own values again after anything else changed them (each stream
        // ends where a wrongly skipped merge would show).
        vec![
            mv("a", "model", "m1"),
            mv("b", "model", "m2"),
            mv("c", "model", "m1"),
            mv("d", "model", "m2"),
            mv("e", "model", "m1"),
        ],
        vec![
            mv("a", "model", "m1"),
            mv("b", "user", "m1"),
            mv("c", "model", "m1"),
            mv("d", "user", "m1"),
            mv("e", "model", "m1"),
        ],
        vec![
            mv("a", "model", "m1"),
            mv("b", "model", "m1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"k"}]},"index":0}],"modelVersion":"m3","n":1}"#.into(),
            mv("c", "model", "m1"),
        ],
        // The first answer after thoughts folds from the thought template less its `thought`
        // member: spaced, or between the text and a signature.
        vec![
            pt(r#"{"text":"a" , "thought" : true }"#, "1"),
            pt(r#"{"text":"b" }"#, "2"),
            pt(r#"{"text":"c" }"#, "23"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true,"thoughtSignature":"s"}"#, "1"),
            pt(r#"{"text":"b","thoughtSignature":"s"}"#, "2"),
            pt(r#"{"text":"c","thoughtSignature":"s"}"#, "2"),
            end.into(),
        ],
        // Near misses: the member first, another key beside it, two of them, an answer that
        // says `"thought":false`, a part without the flag.
        vec![
            pt(r#"{"thought":true,"text":"a"}"#, "1"),
            pt(r#"{"text":"b"}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true,"x":1}"#, "1"),
            pt(r#"{"text":"b","x":1}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true,"thought":true}"#, "1"),
            pt(r#"{"text":"b","thought":true}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true}"#, "1"),
            pt(r#"{"text":"b","thought":false}"#, "2"),
            pt(r#"{"text":"c"}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","x":true}"#, "1"),
            pt(r#"{"text":"b"}"#, "2"),
            end.into(),
        ],
        vec![
            keyed(r#""$.a","stringValue":"1","willContinue":true"#),
            keyed(r#""$.a","stringValue":"2","willContinue":true"#),
            keyed(r#""$.a","stringValue":"3""#),
            keyed(r#""$.b","stringValue":"4""#),
            end.into(),
        ],
        // A templated entry that ends a string closes it, whether its path was parsed (another
        // path) or is the open string's text: the next fragment at the open path is set anew,
        // not appended (each template learned first, so that the closing entries use one).
        vec![
            arg(r#""willContinue":true"#, r#""$.x","stringValue":"0""#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"1","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"2","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.b","stringValue":"3""#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"4","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$['a']","stringValue":"5""#),
            end.into(),
        ],
        vec![
            arg(r#""willContinue":true"#, r#""$.x","stringValue":"0""#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"1","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"2","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"3""#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"4","willContinue":true"#),
            end.into(),
        ],
        // A decoded continuation that replaces the arguments between a templated fragment and
        // the empty one that ends it: the string is made again, empty.
        vec![
            arg(r#""willContinue":true"#, r#""$.x","stringValue":"0""#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"1","willContinue":true"#),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"2","willContinue":true"#),
            arg(r#""args":{"z":1},"willContinue":true"#, ""),
            arg(r#""willContinue":true"#, r#""$.a","stringValue":"""#),
            end.into(),
        ],
        // The first entry that ends a string folds from the template of its fragments less the
        // entry's `willContinue` member (spaced here), whatever its value.
        vec![
            arg(wc, r#""$.a","stringValue":"1" , "willContinue" : true "#),
            arg(wc, r#""$.a","stringValue":"2" , "willContinue" : true "#),
            arg(wc, r#""$.a","stringValue":"3" "#),
            arg(wc, r#""$.b","stringValue":"4" , "willContinue" : true "#),
            arg(wc, r#""$.b","stringValue":"" "#),
            end.into(),
        ],
        // Near misses: the member first in its entry, twice in it, false, and an end that
        // differs elsewhere too.
        vec![
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"willContinue":true,"jsonPath":"$.a","stringValue":"1"}],"willContinue":true}}]}}]}"#.into(),
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a","stringValue":"2"}],"willContinue":true}}]}}]}"#.into(),
            end.into(),
        ],
        vec![
            arg(wc, r#""$.a","stringValue":"1","willContinue":true,"willContinue":true"#),
            arg(wc, r#""$.a","stringValue":"2","willContinue":true"#),
            arg(wc, r#""$.a","stringValue":"3""#),
            end.into(),
        ],
        vec![
            arg(wc, r#""$.a","stringValue":"1","willContinue":false"#),
            arg(wc, r#""$.a","stringValue":"2""#),
            end.into(),
        ],
        vec![
            arg(wc, r#""$.a","stringValue":"1","willContinue":true"#),
            arg(wc, r#""$.a","stringValue":"2","x":1"#),
            end.into(),
        ],
        // Payloads that end as the one applied before them (the same numbers) are read by
        // their strings alone, escapes included. Near misses: a text followed by another
        // member before the same tail, a control byte in the text.
        vec![
            ev(r#""a""#, "", "5"),
            ev(r#""b""#, "", "5"),
            ev(r#"" \"q\" \u00e9\n""#, "", "5"),
            ev(r#""c","thought":true"#, "", "5"),
            ev(r#""d""#, "", "5"),
            ev(r#""e""#, "", "5"),
            ev("\"f\x01\"", "", "5"),
        ],
        // The same for an argument's two strings: new paths and values, an escaped one, and
        // an entry with another member between its value and the same tail.
        vec![
            arg(wc, r#""$.a","stringValue":"1","willContinue":true"#),
            arg(wc, r#""$.a","stringValue":"2","willContinue":true"#),
            arg(wc, r#""$.b","stringValue":"\"3\"","willContinue":true"#),
            arg(wc, r#""$.b","stringValue":"4","x":1,"willContinue":true"#),
            arg(wc, r#""$.b","stringValue":"5","willContinue":true"#),
            arg(wc, r#""$['b']","stringValue":"6""#),
            end.into(),
        ],
        // A template learned from a decoded payload, and one derived from it, start with that
        // payload's numbers and merges noted: the next payload with the same numbers is read by
        // its strings alone, the derived template's tail being the learned one's less the cut
        // member. Near misses with the same numbers: the cut member false, another member in
        // its place, the member kept.
        vec![
            pt(r#"{"text":"a","thought":true}"#, "1"),
            pt(r#"{"text":"b","thought":true}"#, "1"),
            pt(r#"{"text":"c"}"#, "1"),
            pt(r#"{"text":"d"}"#, "1"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true}"#, "1"),
            pt(r#"{"text":"b"}"#, "1"),
            pt(r#"{"text":"c"}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","thought":true}"#, "1"),
            pt(r#"{"text":"b","thought":false}"#, "1"),
            pt(r#"{"text":"c","thought":true}"#, "1"),
            pt(r#"{"text":"d","thinking":true}"#, "1"),
            pt(r#"{"text":"e"}"#, "1"),
            end.into(),
        ],
        vec![
            pt(r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.a","stringValue":"1","willContinue":true}],"willContinue":true}}"#, "7"),
            pt(r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.a","stringValue":""}],"willContinue":true}}"#, "7"),
            pt(r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.b","stringValue":"2","willContinue":true}],"willContinue":true}}"#, "7"),
            pt(r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.b","stringValue":"3","willContinue":false}],"willContinue":true}}"#, "7"),
            pt(r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.c","stringValue":"4"}],"willContinue":true}}"#, "8"),
            end.into(),
        ],
        // A payload read in part against a template (a longer number, then other bytes): the
        // next one with the template's numbers is read by its strings with the numbers'
        // lengths as applied, not as that partial read left them.
        vec![
            pt(r#"{"text":"a"}"#, "9"),
            pt(r#"{"text":"b"}"#, "123").replace(r#""modelVersion":"m""#, r#""modelVersion":"n""#),
            pt(r#"{"text":"c"}"#, "9"),
            pt(r#"{"text":"d"}"#, "9"),
            end.into(),
        ],
        // A template learned from a payload that merged something other templates depend on:
        // each of the others merges its own again.
        vec![
            mv("a", "model", "m1"),
            mv("b", "model", "m1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"k","thought":true}]},"index":0}],"modelVersion":"m2"}"#.into(),
            mv("c", "model", "m1"),
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"l","thought":true}]},"index":0}],"modelVersion":"m2"}"#.into(),
        ],
        // A templated named call opens a new part, which takes the template's one call key
        // and one part key; a templated text appended to a part made without its one other
        // key adds it there.
        vec![
            pt(r#"{"functionCall":{"name":"g","id":"c","partialArgs":[{"jsonPath":"$.a","stringValue":"x"}]},"y":"z"}"#, "1"),
            pt(r#"{"functionCall":{"name":"g","id":"c","partialArgs":[{"jsonPath":"$.b[1]","stringValue":"w"}]},"y":"z"}"#, "2"),
            end.into(),
        ],
        vec![
            pt(r#"{"text":"a","x":1}"#, "1"),
            pt(r#"{"functionCall":{"name":"g","args":{}}}"#, "1"),
            pt(r#"{"text":"c"}"#, "1"),
            pt(r#"{"text":"d","x":1}"#, "2"),
            end.into(),
        ],
    ];
    // With events and without: the fold's paths differ (a text template is applied straight
    // from its recipe in both).
    for events in [true, false] {
        let mut repeated = 0;
        for stream in &streams {
            let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
            let fast = trace(&payloads, false, events);
            let full = trace(&payloads, true, events);
            assert_eq!(full.4, 0);
            repeated += fast.4;
            assert_eq!(fast.0, full.0, "{payloads:?}");
            assert_eq!(fast.1, full.1, "{payloads:?}");
            assert_eq!(fast.2, full.2, "{payloads:?}");
            assert_eq!(fast.3, full.3, "{payloads:?}");
        }
        assert!(repeated >= 18, "{repeated}");
        // Payloads folded from a template, the derived answer templates among them.
        let used = |i: usize| {
            trace(
                &streams[i].iter().map(String::as_str).collect::<Vec<_>>(),
                false,
                events,
            )
            .4
        };
        assert_eq!([used(0), used(16), used(17)], [5, 2, 2]);
        assert_eq!([18, 19, 20, 21, 22].map(used), [0; 5]);
        assert_eq!(used(23), 3);
        assert_eq!([used(24), used(25), used(26)], [4, 3, 2]);
        assert_eq!([27, 28, 29, 30, 31].map(used), [4, 0, 1, 0, 0]);
        assert_eq!([used(32), used(33)], [4, 3]);
        assert_eq!([34, 35, 36, 37, 38, 39].map(used), [3, 2, 1, 3, 2, 3]);
        // The templated named call, and the appended text with its key.
        assert_eq!([40, 41].map(used), [1, 1]);
        // Their results in full: the comparison above cannot see a key that both paths drop.
        let result_of = |i: usize| {
            let payloads: Vec<&str> = streams[i].iter().map(String::as_str).collect();
            trace(&payloads, false, events).0
        };
        let envelope = |parts: &str| {
            format!(
                r#"{{"responseId":"r","candidates":[{{"content":{{"parts":[{parts}],"role":"model"}},"index":0,"finishReason":"STOP"}}],"usageMetadata":{{"promptTokenCount":2}},"modelVersion":"m","x":"0123456789abcdefghijklmnopqrstuv"}}"#
            )
        };
        assert_eq!(
            result_of(40),
            envelope(
                r#"{"functionCall":{"name":"g","args":{"a":"x"},"id":"c"},"y":"z"},{"functionCall":{"name":"g","args":{"b":[null,"w"]},"id":"c"},"y":"z"}"#
            )
        );
        assert_eq!(
            result_of(41),
            envelope(
                r#"{"text":"a","x":1},{"functionCall":{"name":"g","args":{}}},{"text":"cd","x":1}"#
            )
        );
        // Recorded streams, and the arguments streamed above.
        let mut recorded = 0;
        for text in recorded_texts() {
            let payloads = data_payloads(&text);
            let fast = trace(&payloads, false, events);
            assert_eq!(fast.0, trace(&payloads, true, events).0);
            assert_eq!(fast.2, trace(&payloads, true, events).2);
            recorded += fast.4;
        }
        assert!(recorded >= 40, "{recorded}");
    }
    let payloads: Vec<&str> = streams[9].iter().map(String::as_str).collect();
    let (result, ..) = trace(&payloads, false, true);
    assert_eq!(
        json(&result),
        json(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":["e",{"x":"b"}],"b":"f"}}},{"functionCall":{"name":"g","args":{"a":"x"}}},{"functionCall":{"name":"g","args":{"b":"y"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"trafficType":"X"},"modelVersion":"m"}"#
        )
    );
    for (i, args) in [
        (24, r#"{"x":"0","a":"45","b":"3"}"#),
        (25, r#"{"x":"0","a":"4"}"#),
        (26, r#"{"z":1,"a":""}"#),
        (27, r#"{"a":"123","b":"4"}"#),
        (29, r#"{"a":"123"}"#),
        (31, r#"{"a":"12"}"#),
    ] {
        let payloads: Vec<&str> = streams[i].iter().map(String::as_str).collect();
        let (result, ..) = trace(&payloads, false, false);
        assert!(result.contains(&format!(r#""args":{args}"#)), "{result}");
    }
    // The expected text and usage, written out.
    let payloads: Vec<&str> = streams[0].iter().map(String::as_str).collect();
    let (result, ..) = trace(&payloads, false, false);
    assert_eq!(
        json(&result),
        json(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hm \"q\"\n","thought":true},{"text":"Answer \u00e9 two!"}]},"index":0,"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":41},"modelVersion":"m"}"#
        )
    );
}

/// Folds `payloads` (without events) and counts those folded by the clean-text path.
fn clean_texts(payloads: &[&str]) -> usize {
    let mut g = Gemini::new(&Config::default());
    for p in payloads {
        let _ = g.fold(b"", p.as_bytes(), &mut Vec::new());
    }
    g.clean_texts
}

/// The usual templated payload, a text part continuing the text with the numbers applied last,
/// takes the clean-text path; the fold is that of a full decode, events and errors included,
/// whichever part, candidate, signature or other key the text lands on.
#[test]
fn clean_text_payloads_fold_as_if_decoded_in_full() {
    let env = |index: u64, part: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{part}]}},"index":{index}}}],"usageMetadata":{{"promptTokenCount":7}},"modelVersion":"m"}}"#
        )
    };
    let text = |t: &str| env(0, &format!(r#"{{"text":"{t}"}}"#));
    let thought = |t: &str| env(0, &format!(r#"{{"text":"{t}","thought":true}}"#));
    let signed =
        |t: &str, s: &str| env(0, &format!(r#"{{"text":"{t}","thoughtSignature":"{s}"}}"#));
    let keyed = |t: &str, x: &str| env(0, &format!(r#"{{"text":"{t}","thought":true,"x":{x}}}"#));
    let upper = |t: &str| text(t).replace(r#""role":"model""#, r#""role":"MODEL""#);
    // A payload whose bytes after the text are fewer than a block of the scan.
    let short =
        |t: &str| format!(r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{t}"}}]}}}}]}}"#);
    let end =
        r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#;
    let both_end = r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0},{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":1}]}"#;
    let texts = [
        "",
        "a",
        "0123456789abcde",
        "0123456789abcdef",
        "0123456789abcdefg",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0",
        "caf\u{e9} \u{1F600}",
        "0123456789abcde\u{e9}",
        r#"a \"q\" \u00e9\n"#,
        r"0123456789abcdef0123456789\\",
        "\u{7f}",
    ];
    let mut plain = vec![text("x")];
    plain.extend(texts.iter().map(|t| text(t)));
    plain.push(end.into());
    let mut near = vec![short("x")];
    near.extend(texts.iter().map(|t| short(t)));
    near.push(short("y") + " ");
    near.push(short("z"));
    near.push(end.into());
    let streams: Vec<(Vec<String>, usize, &str)> = vec![
        // Thoughts and answers alternate, with their numbers unchanged: each text goes to a
        // part of its own kind.
        (
            vec![
                thought("a"),
                thought("b"),
                text("c"),
                text("d"),
                thought("e"),
                thought("f"),
                text("g"),
                text("h"),
                end.into(),
            ],
            6,
            r#"{"text":"ab","thought":true},{"text":"cd"},{"text":"ef","thought":true},{"text":"gh"}"#,
        ),
        // Two candidates alternate: each text goes to its own, not to the last one applied.
        (
            vec![
                text("a"),
                env(1, r#"{"text":"b"}"#),
                text("c"),
                env(1, r#"{"text":"d"}"#),
                text("e"),
                env(1, r#"{"text":"f"}"#),
                both_end.into(),
            ],
            3,
            "",
        ),
        // Two signatures alternate on one part: the last one sent stays.
        (
            vec![
                signed("a", "s"),
                signed("b", "t"),
                signed("c", "s"),
                signed("d", "t"),
                signed("e", "s"),
                signed("f", "t"),
                end.into(),
            ],
            3,
            r#"{"text":"abcdef","thoughtSignature":"t"}"#,
        ),
        // A thought part's other key changes between two templates: the last one sent stays.
        (
            vec![
                keyed("a", "1"),
                keyed("b", "2"),
                keyed("c", "1"),
                keyed("d", "2"),
                keyed("e", "1"),
                keyed("f", "2"),
                end.into(),
            ],
            3,
            r#"{"text":"abcdef","thought":true,"x":2}"#,
        ),
        // A thought part made with another key first, then continued by a template without it.
        (
            vec![
                env(0, r#"{"text":"a","x":1,"thought":true}"#),
                thought("b"),
                thought("c"),
                env(0, r#"{"text":"d","thought":true,"x":2}"#),
                thought("e"),
                thought("f"),
                end.into(),
            ],
            2,
            r#"{"text":"abcdef","x":2,"thought":true}"#,
        ),
        // Texts of every length around the scan's blocks, escaped, not ASCII, and with a
        // control byte (refused, as by the full decode), then bytes after the end.
        (plain.clone(), 11, ""),
        (near.clone(), 11, ""),
        (
            vec![
                text("a"),
                text("b"),
                text("c\u{1}"),
                text("d"),
                text("e"),
                end.into(),
            ],
            3,
            "",
        ),
        // Other bytes of the same length before the text: another template's payload.
        (
            vec![
                text("a"),
                upper("b"),
                text("c"),
                upper("d"),
                text("e"),
                end.into(),
            ],
            0,
            "",
        ),
    ];
    for (i, (stream, fast, parts)) in streams.iter().enumerate() {
        let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
        for events in [false, true] {
            let with = trace(&payloads, false, events);
            let full = trace(&payloads, true, events);
            assert_eq!(with.0, full.0, "{i} {events}");
            assert_eq!(with.1, full.1, "{i} {events}");
            assert_eq!(with.2, full.2, "{i} {events}");
            assert_eq!(with.3, full.3, "{i} {events}");
            if !parts.is_empty() {
                assert!(with.0.contains(&format!("[{parts}]")), "{i}: {}", with.0);
            }
        }
        assert_eq!(clean_texts(&payloads), *fast, "{i}");
    }
    let two = &streams[1].0;
    let (result, ..) = trace(
        &two.iter().map(String::as_str).collect::<Vec<_>>(),
        false,
        false,
    );
    assert!(result.contains(r#""parts":[{"text":"ace"}]"#), "{result}");
    assert!(result.contains(r#""parts":[{"text":"bdf"}]"#), "{result}");
}

/// Payloads that repeat one shape, or alternate two, match the template they try first; the
/// fold is that of a full decode either way.
#[test]
fn repeated_and_alternating_shapes_match_at_the_first_try() {
    let entry = |path: &str, value: &str, more: bool| {
        let more = if more { r#","willContinue":true"# } else { "" };
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{"partialArgs":[{{"jsonPath":"{path}","stringValue":"{value}"{more}}}],"willContinue":true}}}}]}},"index":0}}],"modelVersion":"m"}}"#
        )
    };
    let text = |t: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{t}"}}]}},"index":0}}],"modelVersion":"m"}}"#
        )
    };
    let mut stream = vec![text("a"), text("b"), text("c")];
    for i in 0..6 {
        let path = format!("$.items[{i}].name");
        stream.push(entry(&path, "x", true));
        stream.push(entry(&path, "", false));
    }
    stream.extend([text("d"), text("e")]);
    stream.push(
        r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#
            .into(),
    );
    let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
    for events in [false, true] {
        assert_eq!(
            trace(&payloads, false, events).0,
            trace(&payloads, true, events).0
        );
    }
    let mut g = Gemini::new(&Config::default());
    for p in &payloads {
        g.fold(b"", p.as_bytes(), &mut Vec::new())
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    // Decoded: the first text, the first fragment, the first text after the fragments and the
    // last payload; each is read against each template there was (0, 1, 2, 2 reads). The
    // first fragment's end is read against both, then against the first fragment's template
    // less its entry's `willContinue` (3 reads). The other payloads (2 texts, 10 fragments, 1
    // text) are read once, but for the first fragment after that (until the fold has seen
    // the two alternate).
    assert_eq!(g.decoded, 4);
    assert_eq!(g.template_reads, (1 + 2 + 2) + 3 + 13 + 1);
    let result = to_json(&g.result());
    assert!(
        result.contains(r#""args":{"items":[{"name":"x"},{"name":"x"},{"name":"x"},{"name":"x"},{"name":"x"},{"name":"x"}]}"#),
        "{result}"
    );
}

/// Each call part of a chunk counts as a new call: a templated one meets the limit where a
/// decoded one does, with the same error and nothing changed.
#[test]
fn templated_call_parts_meet_the_call_limit_where_decoded_ones_do() {
    let named = |path: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{"name":"g","partialArgs":[{{"jsonPath":"{path}","stringValue":"v"}}]}}}}]}}}}],"modelVersion":"m"}}"#
        )
    };
    let payloads = [named("$.a"), named("$.b"), named("$.c"), named("$.d")];
    let run = |full: bool| {
        let mut config = Config::default();
        config.limits.max_tool_calls = 2;
        let mut g = Gemini::new(&config);
        let mut seen = Vec::new();
        for p in &payloads {
            if full {
                g.templates = [None, None];
            }
            let matched = g
                .templates
                .iter_mut()
                .flatten()
                .any(|t| t.read(p.as_bytes()).is_some());
            let outcome = g.fold(b"", p.as_bytes(), &mut Vec::new());
            seen.push((matched, format!("{outcome:?}")));
        }
        (seen, to_json(&g.result()))
    };
    let (fast, fast_result) = run(false);
    let (full, full_result) = run(true);
    assert_eq!(
        fast.iter().map(|s| s.0).collect::<Vec<_>>(),
        [false, true, true, true]
    );
    assert_eq!(
        fast.iter().map(|s| &s.1).collect::<Vec<_>>(),
        full.iter().map(|s| &s.1).collect::<Vec<_>>()
    );
    assert!(fast[2].1.contains("ToolCalls"), "{:?}", fast[2]);
    assert!(fast[3].1.contains("ToolCalls"), "{:?}", fast[3]);
    assert_eq!(fast_result, full_result);
    assert_eq!(
        json(&fast_result),
        json(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"g","args":{"a":"v"}}},{"functionCall":{"name":"g","args":{"b":"v"}}}]}}],"modelVersion":"m"}"#
        )
    );
}

/// `take_result` moves the parts' texts and arguments into the result, which equals `result`;
/// `restore` puts them back, leaving the fold as it was.
#[test]
fn a_taken_result_is_the_result_and_restores_the_fold() {
    for stream in &result_shapes() {
        let mut g = Gemini::new(&Config::default());
        for p in stream {
            let _ = g.fold(b"", p.as_bytes(), &mut Vec::new());
        }
        let expected = to_json(&g.result());
        let summary = format!("{:?}", g.summary());
        let taken = g.take_result();
        assert_eq!(to_json(&taken), expected);
        g.restore(taken);
        assert_eq!(to_json(&g.result()), expected);
        assert_eq!(format!("{:?}", g.summary()), summary);
        // Taken twice over (a parser reads its state again after `finish`): the same.
        let taken = g.take_result();
        assert_eq!(to_json(&taken), expected);
        g.restore(taken);
        assert_eq!(to_json(&g.result()), expected);
        // Taken and restored after any payload, the fold folds on as one never taken (each
        // value back in its place: later keys are merged after it).
        for cut in 0..=stream.len().min(40) {
            let mut g = Gemini::new(&Config::default());
            for (i, p) in stream.iter().enumerate() {
                if i == cut {
                    let taken = g.take_result();
                    g.restore(taken);
                }
                let _ = g.fold(b"", p.as_bytes(), &mut Vec::new());
            }
            assert_eq!(to_json(&g.result()), expected, "cut at {cut}");
        }
    }
}

/// A builder that writes JSON text (as [`to_json`] writes a value) and refuses a list that
/// gets other than the items it asked room for, as the bindings' lists do.
struct TextBuild {
    long: usize,
}

impl Build for TextBuild {
    type Out = String;
    type Object = String;
    /// The text so far, and how many items are still due.
    type List = (String, usize);
    type Error = &'static str;

    fn value(&mut self, v: &Value) -> Result<String, Self::Error> {
        Ok(to_json(v))
    }

    fn string(&mut self, s: &str) -> Result<String, Self::Error> {
        Ok(format!("{s:?}"))
    }

    fn null(&mut self) -> Result<String, Self::Error> {
        Ok("null".into())
    }

    fn object(&mut self, _len: usize) -> Result<String, Self::Error> {
        Ok("{".into())
    }

    fn set(&mut self, object: &mut String, key: &str, v: String) -> Result<(), Self::Error> {
        if object.len() > 1 {
            object.push(',');
        }
        let _ = write!(object, "{key:?}:{v}");
        Ok(())
    }

    fn end_object(&mut self, object: String) -> String {
        object + "}"
    }

    fn list(&mut self, len: usize) -> Result<(String, usize), Self::Error> {
        Ok(("[".into(), len))
    }

    fn push(&mut self, (list, due): &mut (String, usize), v: String) -> Result<(), Self::Error> {
        *due = due
            .checked_sub(1)
            .ok_or("more items than the list's room")?;
        if list.len() > 1 {
            list.push(',');
        }
        list.push_str(&v);
        Ok(())
    }

    fn end_list(&mut self, (list, due): (String, usize)) -> Result<String, Self::Error> {
        if due != 0 {
            return Err("fewer items than the list's room");
        }
        Ok(list + "]")
    }

    fn long_text(&self) -> usize {
        self.long
    }
}

/// A result built from the state is the result, to the key order, with every list given
/// exactly the items it asked room for; a fold holding a text as long as the builder's
/// `long_text` declines, whichever part holds it.
#[test]
fn a_built_result_is_the_result() {
    for stream in &result_shapes() {
        let mut g = Gemini::new(&Config::default());
        for p in stream {
            let _ = g.fold(b"", p.as_bytes(), &mut Vec::new());
        }
        let expected = to_json(&g.result());
        let built = g.build_result(&mut TextBuild { long: usize::MAX });
        assert_eq!(built, Some(Ok(expected)));
    }
    let g = fold(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"abc"},{"functionCall":{"name":"f","args":{"k":["wxyz"]}}},{"text":"d","thoughtSignature":"12345"}]},"index":0}]}"#,
    ])
    .unwrap();
    // The longest text is the signature (5 bytes); then the arguments' string (4).
    assert!(g.build_result(&mut TextBuild { long: 5 }).is_none());
    assert!(g.build_result(&mut TextBuild { long: 6 }).is_some());
    let g = fold(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"abc"},{"functionCall":{"name":"f","args":{"k":["wxyz"]}}}]},"index":0}]}"#,
    ])
    .unwrap();
    assert!(g.build_result(&mut TextBuild { long: 4 }).is_none());
    assert!(g.build_result(&mut TextBuild { long: 5 }).is_some());
}

/// A call's arguments grown by templated `partialArgs` fragments (appended, at a deep path
/// with array indexes, then a second string) decline a build exactly when a string reaches
/// the builder's `long_text`, as a walk of the arguments would; a string replaced by a
/// shorter one by a whole `args` still declines (the bound is the longest the arguments
/// held), and a declined or built result is the result.
#[test]
fn argument_strings_grown_by_fragments_are_measured() {
    let entry = |name: &str, path: &str, value: &str, more: bool| {
        let name = if name.is_empty() {
            String::new()
        } else {
            format!(r#""name":"{name}","#)
        };
        let more = if more { r#","willContinue":true"# } else { "" };
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{{name}"partialArgs":[{{"jsonPath":"{path}","stringValue":"{value}"{more}}}],"willContinue":true}}}}]}},"index":0}}],"modelVersion":"m"}}"#
        )
    };
    let mut payloads = vec![entry("f", "$.a.b[2].c", "xy", true)];
    for piece in ["zz", "w\\u00e9", "vvv"] {
        payloads.push(entry("", "$.a.b[2].c", piece, true));
    }
    payloads.push(entry("", "$.a.b[2].c", "", false));
    payloads.push(entry("", "$.a.d", "q", true));
    payloads.push(entry("", "$.a.d", "", false));
    let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
    let g = fold(&refs).unwrap();
    // "xyzzw\u00e9vvv": 10 bytes (the escape is one two-byte character).
    let args = r#""args":{"a":{"b":[null,null,{"c":"xyzzwévvv"}],"d":"q"}}"#;
    assert!(
        to_json(&g.result()).contains(args),
        "{}",
        to_json(&g.result())
    );
    assert!(g.template_reads > 0 && g.decoded < payloads.len());
    let expected = to_json(&g.result());
    assert_eq!(g.build_result(&mut TextBuild { long: 10 }), None);
    assert_eq!(
        g.build_result(&mut TextBuild { long: 11 }),
        Some(Ok(expected))
    );
    // A whole `args` with a shorter string replaces the arguments: still declined.
    let whole = r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"args":{"k":"ab"}}}]},"index":0}]}"#;
    let mut refs = refs;
    refs.push(whole);
    let g = fold(&refs).unwrap();
    assert!(to_json(&g.result()).contains(r#""args":{"k":"ab"}"#));
    assert_eq!(g.build_result(&mut TextBuild { long: 10 }), None);
    assert!(g.build_result(&mut TextBuild { long: 11 }).is_some());
    // Decoded in full (a whole `args`): measured by a walk.
    let g = fold(&[r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"k":[{"l":"abcdefg"}]}}}]},"index":0}]}"#]).unwrap();
    assert_eq!(g.build_result(&mut TextBuild { long: 7 }), None);
    assert!(g.build_result(&mut TextBuild { long: 8 }).is_some());
}

/// Streams of every shape of result: the recorded ones, several candidates (a null content,
/// parts null), every kind of part with its other keys and signatures, a content without
/// parts.
fn result_shapes() -> Vec<Vec<String>> {
    let mut streams: Vec<Vec<String>> = recorded_texts()
        .iter()
        .map(|t| data_payloads(t).into_iter().map(String::from).collect())
        .collect();
    streams.push(
        [
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"a"},{"functionCall":{"name":"f","args":{"x":[1,"y"]}}},{"inlineData":{"d":1}}]},"index":1},{"content":null,"index":0},{"index":2,"content":{"parts":null}}],"modelVersion":"m"}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"g"}},{"text":"b","thought":true}]},"index":1,"finishReason":"STOP"},{"content":{"role":"r"},"index":3}]}"#,
        ]
        .map(String::from)
        .to_vec(),
    );
    streams.push(vec![r#"{"modelVersion":"m"}"#.into()]);
    // Every kind of part with its other keys and a signature, a text part that carries a
    // call, a call with its own other keys, a content with other keys before its parts, and
    // candidate and top-level keys on both sides of the moved ones.
    streams.push(
        [
            r#"{"a":1,"candidates":[{"x":[2],"content":{"role":"model","k":{"l":[3]},"parts":[{"text":"t","thought":true,"thoughtSignature":"s1","q":null}]},"index":0}],"usageMetadata":{"promptTokenCount":3}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":" v","thought":true,"q2":2}],"k2":4},"index":0,"y":5}],"a2":6}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"id":"c1","name":"f","args":{"x":["y"]},"z":null},"thoughtSignature":"s2","p":{"n":1}},{"inlineData":{"d":"AA=="},"thoughtSignature":"s3","o":[]},{"text":"u","functionCall":{"name":"g"},"r":1}]},"index":0,"finishReason":"STOP"}],"b":"c"}"#,
        ]
        .map(String::from)
        .to_vec(),
    );
    // A content without parts, and one that was null.
    streams.push(
        [r#"{"candidates":[{"content":{"role":"model"},"index":0},{"content":null,"index":1,"finishReason":"STOP"}],"m":"v"}"#]
            .map(String::from)
            .to_vec(),
    );
    streams
}

/// A call streamed by fragments, then what follows it: the payload that ends the call
/// (`"functionCall":{}`), once or (no call open the second time) twice, and the next call.
fn call_stream(ends: &[&str], part_keys: &str) -> Vec<String> {
    let envelope = |part: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{{part}}}]}},"index":0}}],"usageMetadata":{{"promptTokenCount":5,"n":[1,2]}},"modelVersion":"m"}}"#
        )
    };
    let start = |name: &str| {
        envelope(&format!(
            r#""functionCall":{{"name":"{name}","willContinue":true}},"thoughtSignature":"s""#
        ))
    };
    let entry = |path: &str, value: &str, more: bool| {
        let more = if more { r#","willContinue":true"# } else { "" };
        envelope(&format!(
            r#""functionCall":{{"partialArgs":[{{"jsonPath":"{path}","stringValue":"{value}"{more}}}],"willContinue":true}}{part_keys}"#
        ))
    };
    let mut stream = vec![start("f")];
    for path in [
        "$.r.items[0].a",
        "$.r.items[0].b",
        "$.r.items[1].a",
        "$.r.items[0].c",
    ] {
        stream.push(entry(path, "x", true));
        stream.push(entry(path, "", false));
    }
    stream.extend(ends.iter().map(|end| envelope(end)));
    stream.push(start("g"));
    stream.push(entry("$.q", "y", true));
    stream.push(entry("$.q", "", false));
    stream.push(envelope(&format!(r#""functionCall":{{}}{part_keys}"#)));
    stream.push(
        r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#
            .into(),
    );
    stream
}

/// The payload that ends a call streamed by fragments folds from the fragments' template less
/// the call's members, as a full decode folds it: in both modes, with a call open or not,
/// with the part's other keys, other usage numbers, and under the call limit. A payload that
/// differs from it otherwise (a space, a signature) is decoded.
#[test]
fn a_call_end_folds_from_the_fragments_template() {
    let end = r#""functionCall":{}"#;
    let with_y = r#""functionCall":{},"y":"z""#;
    // (ends, the part's other keys, payloads decoded). Decoded: the calls' starts, the last
    // payload, the first call's first fragment, and the second's unless the first call's
    // fragment template is still there (an end decoded leaves it; a templated end takes
    // its place); an end that is not the template's, and a text before it.
    let cases: [(&[&str], &str, usize); 6] = [
        (&[end], "", 5),
        (&[end, end], "", 5),
        (&[with_y], r#","y":"z""#, 5),
        (&[r#""functionCall":{ }"#], "", 5),
        (&[r#""functionCall":{},"thoughtSignature":"t""#], "", 5),
        (&[r#""text":"after""#, end], "", 7),
    ];
    for (ends, part_keys, expected) in cases {
        let stream = call_stream(ends, part_keys);
        let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
        for events in [false, true] {
            let fast = trace(&payloads, false, events);
            let full = trace(&payloads, true, events);
            assert_eq!(fast.0, full.0, "{ends:?} {events}");
            assert_eq!(fast.1, full.1, "{ends:?} {events}");
            assert_eq!(fast.2, full.2, "{ends:?} {events}");
            assert_eq!(fast.3, full.3, "{ends:?} {events}");
            assert!(fast.3.iter().all(|o| o.starts_with("Ok")), "{:?}", fast.3);
            assert_eq!(payloads.len() - fast.4, expected, "{ends:?} {events}");
        }
        for max_tool_calls in 1..=3 {
            let mut config = Config::default();
            config.limits.max_tool_calls = max_tool_calls;
            let fast = trace_config(&payloads, false, &config);
            let full = trace_config(&payloads, true, &config);
            assert_eq!(fast.3, full.3, "{ends:?} {max_tool_calls}");
            assert_eq!(fast.0, full.0, "{ends:?} {max_tool_calls}");
        }
    }
    let stream = call_stream(&[end, with_y], "");
    let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
    let result = trace(&payloads, false, false).0;
    assert!(
        result.contains(r#"{"functionCall":{"name":"f","args":{"r":{"items":[{"a":"x","b":"x","c":"x"},{"a":"x"}]}}},"thoughtSignature":"s"},{"functionCall":{},"y":"z"},{"functionCall":{"name":"g","args":{"q":"y"}}"#),
        "{result}"
    );
}

/// Templated fragments whose paths share steps with the one parsed before fold as decoded
/// ones: a string left open by the next path, a complete entry while one is open, an entry
/// at the open string's path that adds text and ends it, indexes going back, a whole `args`
/// between fragments, and paths through a string, an object and an array at one place.
#[test]
fn templated_fragments_with_shared_steps_fold_as_decoded() {
    let envelope = |call: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"functionCall":{{{call}}}}}]}},"index":0}}],"modelVersion":"m"}}"#
        )
    };
    let entry = |path: &str, value: &str, more: bool| {
        let more = if more { r#","willContinue":true"# } else { "" };
        envelope(&format!(
            r#""partialArgs":[{{"jsonPath":"{path}","stringValue":"{value}"{more}}}],"willContinue":true"#
        ))
    };
    let mut stream = vec![envelope(r#""name":"f","willContinue":true"#)];
    for (path, value, more) in [
        ("$.a.b[0].c", "0", true),
        ("$.a.b[0].c", "", false),
        ("$.a.b[0].d", "1", true),
        ("$.a.b[1].d", "2", true),
        ("$.a.b[1].d", "3", true),
        ("$.a.b[0].d", "4", false),
        ("$.a.b[1].d", "5", false),
        ("$.a.b[3]", "6", true),
        ("$.a.b[3]", "7", false),
        ("$.a.b[3].e", "8", true),
        ("$.a.b[3].e", "", false),
        ("$.a.b", "9", true),
        ("$.a.b", "", false),
        ("$.a.b.c", "10", true),
    ] {
        stream.push(entry(path, value, more));
    }
    stream.push(envelope(
        r#""args":{"a":{"b":{"c":"whole"}},"z":[1]},"willContinue":true"#,
    ));
    for (path, value, more) in [
        ("$.a.b.c", "11", true),
        ("$.a.b.c", "", false),
        ("$.z[3]", "12", true),
        ("$.z[3]", "", false),
        ("$.z[0].y", "13", true),
        ("$.z[0].y", "", false),
    ] {
        stream.push(entry(path, value, more));
    }
    stream.push(envelope(""));
    stream.push(
        r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#
            .into(),
    );
    let payloads: Vec<&str> = stream.iter().map(String::as_str).collect();
    for events in [false, true] {
        let fast = trace(&payloads, false, events);
        let full = trace(&payloads, true, events);
        assert_eq!(fast.0, full.0, "{events}");
        assert_eq!(fast.1, full.1, "{events}");
        assert_eq!(fast.2, full.2, "{events}");
        assert_eq!(fast.3, full.3, "{events}");
        // Decoded: the call's start, its first fragment, the whole `args` and the last.
        assert_eq!(payloads.len() - fast.4, 4, "{events}");
    }
    // The whole `args` replaces what came before it: the result after each payload.
    let results = |full: bool| {
        let mut g = Gemini::new(&Config::default());
        let mut seen = Vec::new();
        for p in &payloads {
            if full {
                g.templates = [None, None];
            }
            let outcome = g.fold(b"", p.as_bytes(), &mut Vec::new());
            seen.push(format!("{outcome:?} {}", to_json(&g.result())));
        }
        seen
    };
    assert_eq!(results(false), results(true));
    let result = trace(&payloads, false, false).0;
    assert!(
        result.contains(r#""args":{"a":{"b":{"c":"whole11"}},"z":[{"y":"13"},null,null,"12"]}"#),
        "{result}"
    );
}
