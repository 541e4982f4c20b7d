//! What the targets compare, written once: a raised error as the caller sees it, and a CRC-32
//! computed bit by bit, independent of the table-driven one the framer uses.

// Each target uses the part it needs.
#![allow(dead_code)]

use deltafold::error::{ErrorClass, StreamError};
use deltafold::json::value::Value;

/// A raised error as the caller sees it, with the snapshot it would carry as `.partial`.
#[derive(Debug, PartialEq)]
pub struct Raised {
    class: ErrorClass,
    message: String,
    byte_offset: u64,
    event_index: Option<u64>,
    partial: Value,
}

impl Raised {
    pub fn of(error: &StreamError, partial: Value) -> Raised {
        Raised {
            class: error.kind.class(),
            message: error.to_string(),
            byte_offset: error.byte_offset,
            event_index: error.event_index,
            partial,
        }
    }
}

/// CRC-32 (IEEE, reflected), one bit at a time.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
