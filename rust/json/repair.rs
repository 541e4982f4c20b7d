//! Structural repair of malformed payload JSON, for `on_error="repair"`.
//!
//! Works on tokens outside JSON strings; strings (escapes included) and scalars are copied
//! verbatim, and whitespace is kept. A stack of open containers records, for each object,
//! where it is in its `key : value ,` cycle. The rules:
//!
//! 1. a `{` or `[` where an object key is expected (right after `{`, or after a kept `,`
//!    inside an object) is dropped;
//! 2. a `}` or `]` that does not match the innermost open container, or that comes with no
//!    container open, is dropped;
//! 3. a `,` whose next non-whitespace byte *in the input* is `}`, `]` or `,` is dropped (the
//!    look-ahead reads the input, not the repaired output, so a comma followed by a stray
//!    `{` that rule 1 drops is kept);
//! 4. at end of input: an open string gets its closing `"`; an object member without a value
//!    gets `null` (and `:` first if that is missing too); a trailing `,` is dropped (rule 3
//!    with end of input as the follower); every open container is closed, innermost first.
//!
//! If no rule changed anything the repair fails (`None`): the caller only wants a repair when
//! there was something to repair. The result is not validated here; the caller decodes it as
//! a chunk and uses it only if that succeeds.
//!
//! Cost: one forward pass (the comma look-ahead re-reads only the whitespace after a comma),
//! no recursion, and an output at most `input length + open containers + 6` bytes long
//! (`"` plus `:null` plus one closer per open container).

use memchr::memchr2;

use crate::json::reader::is_json_whitespace;

/// Where an open object is in its `key : value ,` cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectPhase {
    /// Right after `{` or a kept `,`: a key must come next.
    ExpectKey,
    /// A key was read; `:` must come next.
    ExpectColon,
    /// After `:`; the member's value must come next.
    ExpectValue,
    /// The member's value is complete (or is the container now open inside this object).
    AfterValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Array,
    Object(ObjectPhase),
}

impl Container {
    fn closer(self) -> u8 {
        match self {
            Container::Array => b']',
            Container::Object(_) => b'}',
        }
    }
}

/// Bytes that end a scalar token (a number, a literal, or any other unquoted run).
fn ends_scalar(byte: u8) -> bool {
    is_json_whitespace(byte) || matches!(byte, b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"')
}

/// Index just past the `"` that closes the string whose body starts at `body_start`, or `None`
/// when the input ends first (including inside an escape).
fn string_end(payload: &[u8], body_start: usize) -> Option<usize> {
    let mut pos = body_start;
    loop {
        let rest = payload.get(pos..)?;
        let hit = memchr2(b'"', b'\\', rest)?;
        let at = pos + hit;
        if payload.get(at) == Some(&b'"') {
            return Some(at + 1);
        }
        // A backslash escapes exactly the next byte; `\uXXXX` digits are ordinary bytes.
        pos = at + 2;
    }
}

/// A string token was read: it is a key if its object expected one, otherwise a value.
fn string_read(stack: &mut [Container]) {
    if let Some(Container::Object(phase)) = stack.last_mut() {
        *phase = match *phase {
            ObjectPhase::ExpectKey => ObjectPhase::ExpectColon,
            _ => ObjectPhase::AfterValue,
        };
    }
}

/// A value (scalar, or a container being opened or closed) sits in the innermost container.
fn value_read(stack: &mut [Container]) {
    if let Some(Container::Object(phase)) = stack.last_mut() {
        *phase = ObjectPhase::AfterValue;
    }
}

/// Repairs `payload` by the rules in the module docs. `None` when no rule applied.
pub fn repair(payload: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(payload.len() + 8);
    let mut stack: Vec<Container> = Vec::new();
    let mut changed = false;
    let mut pos = 0usize;

    while let Some(&byte) = payload.get(pos) {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push(byte);
                pos += 1;
            }
            b'"' => {
                if let Some(end) = string_end(payload, pos + 1) {
                    out.extend_from_slice(payload.get(pos..end).unwrap_or_default());
                    pos = end;
                } else {
                    // Rule 4: the input ended inside this string.
                    out.extend_from_slice(payload.get(pos..).unwrap_or_default());
                    out.push(b'"');
                    changed = true;
                    pos = payload.len();
                }
                string_read(&mut stack);
            }
            b'{' | b'[' => {
                pos += 1;
                if stack.last() == Some(&Container::Object(ObjectPhase::ExpectKey)) {
                    // Rule 1.
                    changed = true;
                    continue;
                }
                value_read(&mut stack);
                stack.push(if byte == b'{' {
                    Container::Object(ObjectPhase::ExpectKey)
                } else {
                    Container::Array
                });
                out.push(byte);
            }
            b'}' | b']' => {
                pos += 1;
                match stack.last() {
                    Some(&open) if open.closer() == byte => {
                        stack.pop();
                        value_read(&mut stack);
                        out.push(byte);
                    }
                    // Rule 2: mismatched, or nothing open.
                    _ => changed = true,
                }
            }
            b',' => {
                pos += 1;
                let follower = payload
                    .get(pos..)
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .find(|&next| !is_json_whitespace(next));
                match follower {
                    // Rule 3, and rule 4's trailing comma (no follower).
                    None | Some(b'}' | b']' | b',') => changed = true,
                    Some(_) => {
                        if let Some(Container::Object(phase)) = stack.last_mut() {
                            *phase = ObjectPhase::ExpectKey;
                        }
                        out.push(b',');
                    }
                }
            }
            b':' => {
                pos += 1;
                if let Some(Container::Object(phase)) = stack.last_mut() {
                    *phase = ObjectPhase::ExpectValue;
                }
                out.push(b':');
            }
            _ => {
                let rest = payload.get(pos..).unwrap_or_default();
                let len = rest
                    .iter()
                    .position(|&next| ends_scalar(next))
                    .unwrap_or(rest.len());
                out.extend_from_slice(rest.get(..len).unwrap_or_default());
                pos += len;
                value_read(&mut stack);
            }
        }
    }

    // Rule 4. Only the innermost container can miss a value: every outer one holds an open
    // container as its current value.
    if let Some(Container::Object(phase)) = stack.last() {
        match phase {
            ObjectPhase::ExpectColon => {
                out.extend_from_slice(b":null");
                changed = true;
            }
            ObjectPhase::ExpectValue => {
                out.extend_from_slice(b"null");
                changed = true;
            }
            ObjectPhase::ExpectKey | ObjectPhase::AfterValue => {}
        }
    }
    while let Some(open) = stack.pop() {
        out.push(open.closer());
        changed = true;
    }

    changed.then_some(out)
}
