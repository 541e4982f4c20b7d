//! Structural repair: each rule, and the seed's tool-call stream repaired back to its response.

use deltafold::json::repair::repair;

fn repaired(input: &str) -> Option<String> {
    repair(input.as_bytes()).map(|out| String::from_utf8(out).unwrap())
}

fn is_valid_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

#[test]
fn rule1_drops_opener_where_a_key_is_expected() {
    assert_eq!(
        repaired(r#"{"a":1,{"b":2}"#).as_deref(),
        Some(r#"{"a":1,"b":2}"#)
    );
    assert_eq!(repaired(r#"{["a"]:1}"#).as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(repaired(r#"{ {{"a":1}"#).as_deref(), Some(r#"{ "a":1}"#));
}

#[test]
fn rule1_keeps_openers_in_value_and_array_positions() {
    assert_eq!(repaired(r#"{"a":{"b":[{}]}}"#), None);
    assert_eq!(repaired(r#"[{},[],{"a":[]}]"#), None);
}

#[test]
fn rule2_drops_mismatched_or_unopened_closers() {
    assert_eq!(repaired("[1]]").as_deref(), Some("[1]"));
    assert_eq!(repaired(r#"{"a":[1}]}"#).as_deref(), Some(r#"{"a":[1]}"#));
    assert_eq!(repaired(r#"}{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(repaired(r#"{"a":1}}]"#).as_deref(), Some(r#"{"a":1}"#));
}

#[test]
fn rule3_drops_comma_before_closer_or_comma() {
    assert_eq!(repaired("[1,]").as_deref(), Some("[1]"));
    assert_eq!(repaired("[1,,2]").as_deref(), Some("[1,2]"));
    assert_eq!(repaired("[1,\n\t,2]").as_deref(), Some("[1\n\t,2]"));
    assert_eq!(repaired(r#"{"a":1 , }"#).as_deref(), Some(r#"{"a":1  }"#));
    // The closer after the comma is itself stray: both go.
    assert_eq!(repaired(r#"{"a":1,]}"#).as_deref(), Some(r#"{"a":1}"#));
}

#[test]
fn rule3_looks_ahead_in_the_input_not_the_output() {
    // The comma is followed by `{`, so it stays even though rule 1 then drops the `{`.
    assert_eq!(repaired(r#"{"a":1,{}"#).as_deref(), Some(r#"{"a":1,}"#));
}

#[test]
fn rule4_closes_an_open_string() {
    assert_eq!(repaired(r#"{"a":"x"#).as_deref(), Some(r#"{"a":"x"}"#));
    assert_eq!(repaired(r#""abc"#).as_deref(), Some(r#""abc""#));
    // An open key string becomes a key, then gets its value.
    assert_eq!(repaired(r#"{"ab"#).as_deref(), Some(r#"{"ab":null}"#));
}

#[test]
fn rule4_gives_a_member_its_missing_value() {
    assert_eq!(repaired(r#"{"a""#).as_deref(), Some(r#"{"a":null}"#));
    assert_eq!(repaired(r#"{"a":"#).as_deref(), Some(r#"{"a":null}"#));
    assert_eq!(repaired(r#"{"a" : "#).as_deref(), Some(r#"{"a" : null}"#));
    assert_eq!(
        repaired(r#"[{"a":{"b":"#).as_deref(),
        Some(r#"[{"a":{"b":null}}]"#)
    );
}

#[test]
fn rule4_drops_a_trailing_comma() {
    assert_eq!(repaired("[1,").as_deref(), Some("[1]"));
    assert_eq!(repaired(r#"{"a":1, "#).as_deref(), Some(r#"{"a":1 }"#));
    assert_eq!(repaired(r#"{"a":1},"#).as_deref(), Some(r#"{"a":1}"#));
}

#[test]
fn rule4_closes_open_containers_innermost_first() {
    assert_eq!(repaired("{").as_deref(), Some("{}"));
    assert_eq!(repaired("[[{").as_deref(), Some("[[{}]]"));
    assert_eq!(
        repaired(r#"{"a":[{"b":1"#).as_deref(),
        Some(r#"{"a":[{"b":1}]}"#)
    );
}

#[test]
fn strings_are_copied_verbatim() {
    // Structural bytes and escaped quotes inside strings are not tokens.
    let input = r#"{"a":"x}],{\"\\","b":"\u00e9{"}]"#;
    assert_eq!(
        repaired(input).as_deref(),
        Some(r#"{"a":"x}],{\"\\","b":"\u00e9{"}"#)
    );
    // A string ending in an escaped backslash is closed by the next quote.
    assert_eq!(repaired(r#"["\\"]]"#).as_deref(), Some(r#"["\\"]"#));
}

#[test]
fn scalars_are_copied_verbatim() {
    assert_eq!(
        repaired(r"[-1.5e+3,true,null,false,}").as_deref(),
        Some(r"[-1.5e+3,true,null,false]")
    );
}

#[test]
fn nothing_changed_is_none() {
    assert_eq!(repaired(""), None);
    assert_eq!(repaired("  \n"), None);
    assert_eq!(repaired(r#"{"a":[1,2,{"b":null}],"c":"}]"}"#), None);
    // Broken in ways no rule addresses: left alone, reported as not repaired.
    assert_eq!(repaired("[1 2]"), None);
    assert_eq!(repaired(r#"{"a" 1}"#), None);
}

#[test]
fn output_of_a_changed_input_may_be_empty() {
    assert_eq!(repaired("]}").as_deref(), Some(""));
}

/// The `data: ` payloads of the seed's "Tool Calling with Streaming" section, `[DONE]`
/// excluded, and the section's matching non-streaming response.
fn seed_tool_call_section() -> (Vec<String>, serde_json::Value) {
    let seed_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seed/chat-completions-stream-formats.txt"
    );
    let seed = std::fs::read_to_string(seed_path).unwrap();
    let start = seed.find("Tool Calling with Streaming").unwrap();
    let response_start = seed.find("Tool Calling Response").unwrap();
    let stream_end = seed.find("Streaming Response").unwrap();
    let payloads = seed[start..response_start]
        .lines()
        .filter_map(|line| line.find("data: ").map(|at| &line[at + "data: ".len()..]))
        .filter(|payload| payload.trim() != "[DONE]")
        .map(str::to_owned)
        .collect();
    let response_text = &seed[response_start..stream_end];
    let body_start = response_text.find('{').unwrap();
    let body_end = response_text.rfind('}').unwrap();
    let response = serde_json::from_str(&response_text[body_start..=body_end]).unwrap();
    (payloads, response)
}

/// The decoded value of the first `"arguments":"..."` string in a payload, read off the raw
/// text so it does not depend on the repair.
fn raw_arguments(payload: &str) -> String {
    let key = r#""arguments":""#;
    let start = payload.find(key).unwrap() + key.len() - 1;
    let bytes = payload.as_bytes();
    let mut end = start + 1;
    while bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    serde_json::from_str(&payload[start..=end]).unwrap()
}

#[test]
fn seed_tool_call_stream_repairs_to_the_non_streaming_function_call() {
    let (payloads, response) = seed_tool_call_section();
    assert_eq!(payloads.len(), 10);
    let mut name: Option<String> = None;
    let mut arguments = String::new();
    let mut repaired_count = 0;
    for payload in &payloads {
        let chunk: serde_json::Value = if is_valid_json(payload.as_bytes()) {
            assert_eq!(repair(payload.as_bytes()), None, "{payload}");
            serde_json::from_str(payload).unwrap()
        } else {
            let fixed = repair(payload.as_bytes()).expect(payload);
            // Each malformed seed chunk has exactly one stray byte.
            assert_eq!(fixed.len(), payload.len() - 1, "{payload}");
            let chunk: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
            assert_eq!(
                chunk["choices"][0]["delta"]["function_call"]["arguments"],
                raw_arguments(payload).as_str()
            );
            assert_eq!(
                chunk["choices"][0]["finish_reason"],
                serde_json::Value::Null
            );
            assert_eq!(chunk["usage"], serde_json::Value::Null);
            repaired_count += 1;
            chunk
        };
        let delta = &chunk["choices"][0]["delta"];
        if let Some(call) = delta.get("function_call") {
            if let Some(fragment) = call["arguments"].as_str() {
                arguments.push_str(fragment);
            }
            if name.is_none() {
                name = call["name"].as_str().map(str::to_owned);
            }
        }
    }
    assert_eq!(repaired_count, 7);
    let expected = &response["choices"][0]["message"]["function_call"];
    assert_eq!(name.as_deref(), expected["name"].as_str());
    assert_eq!(Some(arguments.as_str()), expected["arguments"].as_str());
}

/// Cut points where the prefix ends inside an escape, a UTF-8 sequence or a scalar token:
/// there the literal rules cannot produce valid JSON (`"\` + `"`, `tr`, `1.`), so the
/// truncation test only checks them for panics and length.
fn cut_is_mid_token(text: &[u8]) -> Vec<bool> {
    let mut mid = vec![false; text.len() + 1];
    let mut in_string = false;
    let mut escape_left = 0usize;
    for (at, &byte) in text.iter().enumerate() {
        let next = at + 1;
        if in_string {
            if escape_left > 0 {
                escape_left -= 1;
                if escape_left == 4 && byte != b'u' {
                    escape_left = 0;
                }
            } else if byte == b'\\' {
                escape_left = 5;
            } else if byte == b'"' {
                in_string = false;
            }
            mid[next] = escape_left > 0;
        } else if byte == b'"' {
            in_string = true;
        }
        let next_byte = text.get(next).copied();
        if next_byte.is_some_and(|b| (0x80..0xC0).contains(&b)) {
            mid[next] = true;
        }
        let scalar = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
        if !in_string && scalar(byte) && next_byte.is_some_and(scalar) {
            mid[next] = true;
        }
    }
    mid
}

#[test]
fn truncated_chunks_repair_to_valid_json_or_none() {
    let (seed_payloads, _) = seed_tool_call_section();
    let mut chunks: Vec<&str> = seed_payloads
        .iter()
        .map(String::as_str)
        .filter(|payload| is_valid_json(payload.as_bytes()))
        .collect();
    chunks.push(
        r#"{"id":"c1","created":17,"choices":[{"index":0,"delta":{"content":"é \"q\" \\ \u00e9 😀","tool_calls":[{"index":0,"function":{"arguments":"{\"x\": [1, 2.5e-3]}"}}]},"logprobs":{"content":[{"token":"a","logprob":-0.25,"bytes":[97]}]},"finish_reason":null}],"usage":{"prompt_tokens":1,"flag":true,"none":null}}"#,
    );
    chunks.push("[ { \"a\" : [ ] , \"b\" : { } } , [ [ ] ] ]");
    let mut checked = 0;
    for chunk in chunks {
        let bytes = chunk.as_bytes();
        assert!(is_valid_json(bytes), "{chunk}");
        let mid_token = cut_is_mid_token(bytes);
        for cut in 0..=bytes.len() {
            let prefix = &bytes[..cut];
            let result = repair(prefix);
            let openers = prefix.iter().filter(|&&b| b == b'{' || b == b'[').count();
            if let Some(out) = &result {
                assert!(out.len() <= prefix.len() + openers + 6);
            }
            if is_valid_json(prefix) {
                assert_eq!(result, None, "cut {cut} of {chunk}");
            }
            if mid_token[cut] {
                continue;
            }
            checked += 1;
            match result {
                None => assert!(cut == 0 || cut == bytes.len(), "cut {cut} of {chunk}"),
                Some(out) => assert!(
                    is_valid_json(&out),
                    "cut {cut} of {chunk}: {}",
                    String::from_utf8_lossy(&out)
                ),
            }
        }
    }
    assert!(checked > 1000);
}

/// A small deterministic generator (xorshift) so the property test needs no extra crate.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn arbitrary_json_like_inputs_are_bounded_and_valid_outputs_are_fixed_points() {
    const ALPHABET: &[u8] = b"{}[],:\"\\ \n1a-.e\xc3\xa9tu";
    let mut rng = Bytes(0x9E37_79B9_7F4A_7C15);
    let mut valid_outputs = 0;
    for _ in 0..20_000 {
        let len = (rng.next() % 40) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
            .collect();
        let openers = input.iter().filter(|&&b| b == b'{' || b == b'[').count();
        if let Some(out) = repair(&input) {
            assert!(out.len() <= input.len() + openers + 6, "{input:?}");
            if is_valid_json(&out) {
                valid_outputs += 1;
                assert_eq!(repair(&out), None, "{input:?}");
            }
        }
    }
    assert!(valid_outputs > 100, "{valid_outputs}");
}

#[test]
fn deep_nesting_does_not_recurse() {
    let input = "[".repeat(1_000_000);
    let out = repair(input.as_bytes()).unwrap();
    assert_eq!(out.len(), 2_000_000);
    assert!(out[1_000_000..].iter().all(|&b| b == b']'));
}
