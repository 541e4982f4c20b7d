use super::*;

fn fold(events: &[(&str, &str)]) -> Result<Bedrock, ErrorKind> {
    let mut b = Bedrock::new(&Config::default());
    for (t, p) in events {
        b.fold(t.as_bytes(), p.as_bytes(), &mut Vec::new())?;
    }
    Ok(b)
}

fn json(text: &str) -> Value {
    parse(text.as_bytes(), 128).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

#[test]
fn converse_response_from_the_events() {
    let b = fold(&[
        ("messageStart", r#"{"role":"assistant","p":"abc"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Let me "}},"p":"ab"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"think"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig"}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"text":"Hi \u00e9"}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"[1]}"}}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"t2","name":"g"}}}"#,
        ),
        (
            "messageStop",
            r#"{"stopReason":"tool_use","additionalModelResponseFields":{"x":1},"p":"x"}"#,
        ),
        (
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},"metrics":{"latencyMs":5}}"#,
        ),
        ("somethingNew", r#"{"x":1}"#),
    ])
    .unwrap();
    assert!(b.stopped);
    assert_eq!(
        b.result(),
        json(
            r#"{"output":{"message":{"role":"assistant","content":[
                {"reasoningContent":{"reasoningText":{"text":"Let me think","signature":"sig"}}},
                {"text":"Hi é"},
                {"toolUse":{"toolUseId":"t1","name":"f","input":{"a":[1]}}},
                {"toolUse":{"toolUseId":"t2","name":"g","input":{}}}]}},
              "stopReason":"tool_use",
              "usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},
              "metrics":{"latencyMs":5},
              "additionalModelResponseFields":{"x":1}}"#
        )
    );
}

#[test]
fn schema_and_limit_errors() {
    let bad = fold(&[(
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":5}}"#,
    )])
    .err();
    assert!(
        matches!(
            bad,
            Some(ErrorKind::Decode(DecodeKind::Schema {
                field: "delta.text",
                pos: 39,
                ..
            }))
        ),
        "{bad:?}"
    );
    let start = fold(&[(
        "contentBlockStart",
        r#"{"contentBlockIndex":0, "start": 5}"#,
    )])
    .err();
    assert!(
        matches!(
            start,
            Some(ErrorKind::Decode(DecodeKind::Schema {
                field: "start",
                pos: 33,
                ..
            }))
        ),
        "{start:?}"
    );
    let far = fold(&[(
        "contentBlockDelta",
        r#"{"contentBlockIndex":99999,"delta":{"text":"x"}}"#,
    )])
    .err();
    assert!(matches!(
        far,
        Some(ErrorKind::Limit {
            limit: LimitName::ChoiceIndex,
            ..
        })
    ));
    let syntax = fold(&[("contentBlockDelta", r#"{"delta":{"text":5},"#)]).err();
    assert!(
        matches!(syntax, Some(ErrorKind::Decode(DecodeKind::Syntax(_)))),
        "{syntax:?}"
    );
}

#[test]
fn recorded_streams_fold() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bedrock-recorded"
    );
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut b = Bedrock::new(&Config::default());
        for line in text.lines() {
            let Value::Object(event) = json(line) else {
                panic!()
            };
            let (t, payload) = event.iter().next().unwrap();
            let payload = crate::formats::gemini::tests::to_json(payload);
            b.fold(t.as_bytes(), payload.as_bytes(), &mut Vec::new())
                .unwrap();
        }
        assert!(b.stopped);
        count += 1;
    }
    assert_eq!(count, 6);
}

/// The fields of a `Delta`, comparable.
fn delta_fields(d: &Delta<'_>) -> String {
    format!(
        "{} {:?} {:?} {:?} {:?} {:?} {} {} {:?}",
        d.index,
        d.text,
        d.input,
        d.reasoning_text,
        d.signature,
        d.redacted,
        d.tool,
        d.reasoning,
        d.other
    )
}

#[test]
fn plain_delta_reads_what_the_key_by_key_scan_reads() {
    // (payload, whether the plain reader takes it)
    let cases: &[(&str, bool)] = &[
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}"#,
            true,
        ),
        (r#"{"contentBlockIndex":12,"delta":{"text":"Hi"}}"#, true),
        (
            r#"{"contentBlockIndex":3,"delta":{"text":""},"p":"a"}"#,
            true,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"a\"b\\c\n\u00e9\ud83d\ude00"},"p":"x"}"#,
            true,
        ),
        (
            "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"caf\u{e9} \u{1f600}\"},\"p\":\"x\"}",
            true,
        ),
        (
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}},"p":"ab"}"#,
            true,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"think"}},"p":"q"}"#,
            true,
        ),
        (
            r#"{"contentBlockIndex":9999999999999999999,"delta":{"text":"x"}}"#,
            true,
        ),
        (
            r#"{"contentBlockIndex":18446744073709551615,"delta":{"text":"x"}}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a\"b"}"#,
            true,
        ),
        // Padding: letters are skipped unread; anything else is read as a string.
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":""}"#,
            true,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a\u0041\n"}"#,
            true,
        ),
        (
            "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"},\"p\":\"caf\u{e9}\u{7f}\"}",
            true,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a"b"}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"\q"}"#,
            false,
        ),
        (
            "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"},\"p\":\"a\u{1f}\"}",
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"}"#,
            false,
        ),
        // Other shapes: the scan reads them.
        (
            r#"{"delta":{"text":"Hi"},"contentBlockIndex":0,"p":"abc"}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"p":"abc","delta":{"text":"Hi"}}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi","x":1},"p":"abc"}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"extra":[1],"p":"abc"}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"s"}}}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"a","x":null}}}"#,
            false,
        ),
        (r#"{"contentBlockIndex":0,"delta":{"text":null}}"#, false),
        (r#"{ "contentBlockIndex":0,"delta":{"text":"Hi"}}"#, false),
        (r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}} "#, false),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":7}"#,
            false,
        ),
        (r#"{"contentBlockIndex":1.0,"delta":{"text":"Hi"}}"#, false),
        (r#"{"contentBlockIndex":-1,"delta":{"text":"Hi"}}"#, false),
        (r#"{"contentBlockIndex":"0","delta":{"text":"Hi"}}"#, false),
        (
            r#"{"contentBlockIndex":99999999999999999999,"delta":{"text":"Hi"}}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"contentBlockIndex":1,"delta":{"text":"Hi"}}"#,
            false,
        ),
        // Bad JSON: the scan gives the error.
        (r#"{"contentBlockIndex":01,"delta":{"text":"Hi"}}"#, false),
        (r#"{"contentBlockIndex":0,"delta":{"text":"Hi}"#, false),
        (r#"{"contentBlockIndex":0,"delta":{"text":"a\qb"}}"#, false),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"\ud800"}}"#,
            false,
        ),
        (
            "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\u{1}b\"}}",
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}}"#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc""#,
            false,
        ),
        (
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc}"#,
            false,
        ),
        (r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}"#, false),
    ];
    for &(payload, plain) in cases {
        let data = payload.as_bytes();
        let fast = plain_delta(data, 128);
        assert_eq!(fast.is_some(), plain, "{payload}");
        let scanned = scan_delta(data, 128);
        if let Some(fast) = fast {
            let scanned = scanned.unwrap_or_else(|e| panic!("{payload}: {e:?}"));
            assert_eq!(delta_fields(&fast), delta_fields(&scanned), "{payload}");
        }
    }
    // Invalid UTF-8 in a string: not plain, and the scan's error.
    let mut bytes = br#"{"contentBlockIndex":0,"delta":{"text":"a"#.to_vec();
    bytes.extend_from_slice(b"\xff\"}}");
    assert!(plain_delta(&bytes, 128).is_none());
    assert!(scan_delta(&bytes, 128).is_err());
    // Invalid UTF-8 in the padding: not plain either.
    let mut bytes = br#"{"contentBlockIndex":0,"delta":{"text":"a"},"p":"a"#.to_vec();
    bytes.extend_from_slice(b"\xff\"}");
    assert!(plain_delta(&bytes, 128).is_none());
    assert!(scan_delta(&bytes, 128).is_err());
    // Below the depth the general path needs, the scan decides (here: a depth error).
    let deep = br#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"t"}}}"#;
    assert!(plain_delta(deep, 2).is_none());
    assert!(matches!(
        scan_delta(deep, 2),
        Err(ErrorKind::Limit {
            limit: LimitName::Depth,
            ..
        })
    ));
}

#[test]
fn plain_and_scanned_deltas_fold_to_the_same_events() {
    let plain = [
        r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"a\n"}},"p":"x"}"#,
        r#"{"contentBlockIndex":1,"delta":{"text":"H\u00e9"},"p":"xy"}"#,
        r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"a\":1}"}},"p":"q"}"#,
    ];
    // The same values, with whitespace that sends them down the general path.
    let spaced = plain.map(|p| p.replacen('{', "{ ", 1));
    let run = |payloads: &[&str]| {
        let config = Config {
            options: Options {
                events: true,
                ..Options::default()
            },
            ..Config::default()
        };
        let mut b = Bedrock::new(&config);
        let mut events = Vec::new();
        for p in payloads {
            b.fold(b"contentBlockDelta", p.as_bytes(), &mut events)
                .unwrap_or_else(|e| panic!("{p}: {e:?}"));
        }
        (format!("{events:?}"), format!("{:?}", b.blocks))
    };
    let spaced: Vec<&str> = spaced.iter().map(String::as_str).collect();
    assert!(plain
        .iter()
        .all(|p| plain_delta(p.as_bytes(), 128).is_some()));
    assert!(spaced
        .iter()
        .all(|p| plain_delta(p.as_bytes(), 128).is_none()));
    assert_eq!(run(&plain), run(&spaced));
}
