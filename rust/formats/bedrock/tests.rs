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
