//! Structural repair: never panics; the output is at most the input plus `"`, `:null` and one
//! closer per opener; valid JSON is never "repaired"; a repair that yields valid JSON is final
//! (repairing it again changes nothing).
#![no_main]

use deltafold::json::repair::repair;
use libfuzzer_sys::fuzz_target;

fn is_valid_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

fuzz_target!(|bytes: &[u8]| {
    let Some(out) = repair(bytes) else {
        return;
    };
    assert!(!is_valid_json(bytes), "valid JSON was repaired");
    let openers = bytes.iter().filter(|&&b| b == b'{' || b == b'[').count();
    assert!(
        out.len() <= bytes.len() + openers + 6,
        "{} bytes out of {} in",
        out.len(),
        bytes.len()
    );
    if is_valid_json(&out) {
        assert_eq!(repair(&out), None, "repairing a valid repair changed it");
    }
});
