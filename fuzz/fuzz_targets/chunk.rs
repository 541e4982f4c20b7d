//! Chunk decoding against serde_json as the oracle: no panic on any bytes; the scanner reports
//! a syntax error exactly when the JSON is invalid; a decoded chunk holds the same values that
//! serde_json reads; and the general tree parser (`json::parse`) builds the same tree.
//!
//! Known, deliberate agreements that make the oracle usable: both reject lone surrogate escapes
//! and floats that overflow to infinity, both keep the last of duplicate keys, both turn
//! integers beyond i64/u64 into floats. Nesting limits differ in how they count (serde_json's
//! recursion limit is 128), so inputs either side calls too deep are not compared.
#![no_main]

use deltafold::error::DecodeKind;
use deltafold::formats::chat::scan::{self as chunk, Chunk, Content, Field, Str};
use deltafold::json::reader::{self as json, JsonErrorCode};
use deltafold::json::value::{Map, Value};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Oracle;

const MAX_DEPTH: usize = 128;

fn oracle_too_deep(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("recursion limit exceeded")
}

/// Our tree in serde_json's terms. Numbers go through serde_json's own number parser, so both
/// sides read the same text the same way.
fn to_oracle(value: &Value) -> Oracle {
    match value {
        Value::Null => Oracle::Null,
        Value::Bool(b) => Oracle::Bool(*b),
        Value::Raw(text) => serde_json::from_str(text).unwrap_or(Oracle::Null),
        Value::Number(text) => match serde_json::from_str::<serde_json::Number>(text) {
            Ok(number) => Oracle::Number(number),
            Err(e) => panic!("number text {text:?} is not a JSON number: {e}"),
        },
        Value::String(s) => Oracle::String(s.clone()),
        Value::Array(items) => Oracle::Array(items.iter().map(to_oracle).collect()),
        Value::Object(map) => map_to_oracle(map),
    }
}

fn map_to_oracle(map: &Map) -> Oracle {
    Oracle::Object(
        map.iter()
            .map(|(key, item)| (key.clone(), to_oracle(item)))
            .collect(),
    )
}

fn check_string_field(name: &str, ours: &Field<Str<'_>>, oracle: Option<&Oracle>) {
    match (ours, oracle) {
        (Field::Absent, None) | (Field::Null, Some(Oracle::Null)) => {}
        (Field::Set(s), Some(Oracle::String(t))) if s.as_ref() == t.as_str() => {}
        _ => panic!("{name}: decoded {ours:?}, serde_json read {oracle:?}"),
    }
}

fn check_chunk(chunk: &Chunk<'_>, oracle: &Oracle) {
    let Oracle::Object(top) = oracle else {
        panic!("decoded a chunk from a non-object: {oracle:?}");
    };
    check_string_field("id", &chunk.id, top.get("id"));
    check_string_field("model", &chunk.model, top.get("model"));
    check_string_field(
        "system_fingerprint",
        &chunk.system_fingerprint,
        top.get("system_fingerprint"),
    );
    check_string_field("service_tier", &chunk.service_tier, top.get("service_tier"));
    match (&chunk.created, top.get("created")) {
        (Field::Absent, None) | (Field::Null, Some(Oracle::Null)) => {}
        (Field::Set(text), Some(Oracle::Number(n))) => {
            assert_eq!(
                serde_json::from_str::<serde_json::Number>(text)
                    .ok()
                    .as_ref(),
                Some(n)
            );
        }
        (ours, theirs) => panic!("created: decoded {ours:?}, serde_json read {theirs:?}"),
    }
    match (&chunk.usage, top.get("usage")) {
        (Field::Absent, None) | (Field::Null, Some(Oracle::Null)) => {}
        (Field::Set(map), Some(theirs)) => {
            assert_eq!(&map_to_oracle(map), theirs, "usage");
        }
        (ours, theirs) => panic!("usage: decoded {ours:?}, serde_json read {theirs:?}"),
    }
    let is_error_frame = top.get("error").is_some_and(|e| !e.is_null())
        || top.get("object").and_then(Oracle::as_str) == Some("error");
    assert_eq!(chunk.error.is_some(), is_error_frame, "error frame");

    let choices = match top.get("choices") {
        Some(Oracle::Array(items)) => items.as_slice(),
        _ => &[],
    };
    assert_eq!(chunk.choices.len(), choices.len(), "number of choices");
    for (ours, theirs) in chunk.choices.iter().zip(choices) {
        let index = theirs.get("index").and_then(Oracle::as_u64).unwrap_or(0);
        assert_eq!(ours.index, index, "choice index");
        check_string_field(
            "finish_reason",
            &ours.finish_reason,
            theirs.get("finish_reason"),
        );
        let delta = theirs.get("delta").filter(|d| !d.is_null());
        assert_eq!(ours.delta.is_some(), delta.is_some(), "delta presence");
        if let (Some(Content::Text(text)), Some(delta)) =
            (ours.delta.as_ref().and_then(|d| d.content.as_ref()), delta)
        {
            assert_eq!(
                delta.get("content").and_then(Oracle::as_str),
                Some(text.as_ref())
            );
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let oracle = serde_json::from_slice::<Oracle>(bytes);
    if oracle.as_ref().is_err_and(oracle_too_deep) {
        return;
    }

    match chunk::decode(bytes, MAX_DEPTH) {
        Err(DecodeKind::Syntax(e)) if e.code == JsonErrorCode::TooDeep => {}
        Err(DecodeKind::Syntax(e)) => {
            if let Ok(value) = &oracle {
                panic!("syntax error {e:?} on JSON serde_json reads as {value:?}");
            }
        }
        // A schema error may stop before the end, so it says nothing about later syntax.
        Err(DecodeKind::Schema { .. }) => {}
        // Only typed-event formats (Anthropic, ...) report an event's shape; a chunk never does.
        Err(e @ DecodeKind::Event { .. }) => {
            panic!("a chat chunk gave an event-shape error: {e:?}")
        }
        Ok(chunk) => match &oracle {
            Ok(value) => check_chunk(&chunk, value),
            Err(e) => panic!("decoded a chunk from input serde_json rejects: {e}"),
        },
    }

    match (json::parse(bytes, MAX_DEPTH), &oracle) {
        (Err(e), _) if e.code == JsonErrorCode::TooDeep => {}
        (Ok(tree), Ok(value)) => assert_eq!(&to_oracle(&tree), value),
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("json::parse gave {ours:?}, serde_json {theirs:?}"),
    }
});
