//! Partial JSON for tool-call arguments (`partial::PartialJson`): no panic on any bytes; any
//! split of the input into fragments gives, at every fragment boundary, the same `failed()` and
//! value as a fresh parser fed that prefix in one go, and snapshots taken along the way never
//! change afterwards; and, with serde_json as the oracle, a whole input is read with serde_json's
//! value exactly when serde_json accepts it, and fails whenever serde_json sees a syntax error.
//!
//! The oracle skips what the two count differently on purpose: nesting limits, and numbers that
//! overflow a double (serde_json rejects them; partial arguments keep the number's text).
#![no_main]

mod split;

use deltafold::json::partial::PartialJson;
use deltafold::json::value::Value;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Oracle;

const MAX_DEPTH: usize = 128;
/// Fresh one-shot parses per input, so 1-byte reads of a long input stay linear-ish.
const CHECKED_BOUNDARIES: usize = 24;

fn one_shot(bytes: &[u8], max_depth: usize) -> PartialJson {
    let mut parser = PartialJson::new(max_depth);
    parser.feed(bytes);
    parser
}

/// Our value in serde_json's terms; numbers go through serde_json's own number parser so both
/// sides read the same text the same way.
fn to_oracle(value: &Value) -> Oracle {
    match value {
        Value::Null => Oracle::Null,
        Value::Bool(b) => Oracle::Bool(*b),
        Value::Number(text) => match serde_json::from_str::<serde_json::Number>(text) {
            Ok(number) => Oracle::Number(number),
            Err(e) => panic!("number text {text:?} is not a JSON number: {e}"),
        },
        Value::String(s) => Oracle::String(s.clone()),
        // Validated JSON text kept as is (logprobs entries); the partial parser never makes
        // one, but the oracle reads it the same way if it ever does.
        Value::Raw(text) => serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("raw text {text:?} is not JSON: {e}")),
        Value::Array(items) => Oracle::Array(items.iter().map(to_oracle).collect()),
        Value::Object(map) => Oracle::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_oracle(value)))
                .collect(),
        ),
    }
}

fn check_against_serde_json(body: &[u8]) {
    // A generous limit: serde_json's own recursion limit (128) decides what is compared.
    let parser = one_shot(body, 4096);
    match serde_json::from_slice::<Oracle>(body) {
        Ok(expected) => {
            assert!(!parser.failed(), "valid JSON failed");
            let value = parser.snapshot().to_value();
            assert_eq!(value.as_ref().map(to_oracle), Some(expected));
        }
        Err(e) => {
            let message = e.to_string();
            let not_comparable = message.starts_with("recursion limit exceeded")
                || message.starts_with("number out of range");
            // An EOF error says nothing: serde_json reports a cut string as EOF before it looks
            // at invalid UTF-8 inside it, which the partial parser rejects at once.
            if e.is_syntax() && !not_comparable {
                assert!(
                    parser.failed(),
                    "serde_json: {message}; partial parser did not fail"
                );
            }
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = split::Input::parse(bytes) else {
        return;
    };
    // Mostly the real limit; sometimes a tiny one so that depth failures are split too.
    let max_depth = if input.flags & 0x80 != 0 {
        usize::from(input.flags & 0x07)
    } else {
        MAX_DEPTH
    };
    let body = input.body;
    let reads = input.reads();
    let mut rng = input.rng();
    let check_every = (reads.len() / CHECKED_BOUNDARIES).max(1) as u64;

    let mut parser = PartialJson::new(max_depth);
    let mut fed = 0;
    let mut kept = Vec::new();
    for read in &reads {
        parser.feed(read);
        fed += read.len();
        // Every snapshot is taken (that is what pins string pieces and exercises sharing);
        // only some are compared against a fresh parse.
        let snapshot = parser.snapshot();
        if rng.below(check_every) != 0 {
            continue;
        }
        let prefix = body.get(..fed).unwrap_or(body);
        let fresh = one_shot(prefix, max_depth);
        assert_eq!(
            parser.failed(),
            fresh.failed(),
            "failed() after {fed} bytes"
        );
        let expected = fresh.snapshot().to_value();
        assert_eq!(snapshot.to_value(), expected, "value after {fed} bytes");
        kept.push((snapshot, expected));
    }
    let whole = one_shot(body, max_depth);
    assert_eq!(parser.failed(), whole.failed());
    assert_eq!(parser.snapshot().to_value(), whole.snapshot().to_value());
    for (snapshot, expected) in &kept {
        assert_eq!(&snapshot.to_value(), expected, "an old snapshot changed");
    }
    // Feeding after failure changes nothing.
    if parser.failed() {
        parser.feed(body);
        assert!(parser.failed());
        assert_eq!(parser.snapshot().to_value(), None);
    }

    check_against_serde_json(body);
});
