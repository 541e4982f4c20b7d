//! JSON shared by every format: the positioned reader, the value tree, incremental partial
//! JSON (tool-call arguments), structural repair of malformed payloads, and the number grammar
//! they share.

pub mod number;
pub mod partial;
pub mod prefix;
pub mod reader;
pub mod repair;
pub mod value;
pub mod writer;

/// The byte a one-letter escape stands for (the letter after `\`: `"`, `\`, `/`, `b`, `f`, `n`,
/// `r`, `t`); `None` for `u`, whose four hex digits the caller reads, and for any other byte.
/// RFC 8259, section 7. One table for the reader, the partial parser and the fast paths.
#[inline]
#[must_use]
pub fn short_escape(letter: u8) -> Option<u8> {
    Some(match letter {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}
