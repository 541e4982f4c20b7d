//! What the targets share, written once: a raised error and the recorded problems as the
//! caller sees them, limits small enough to reach, and event-stream frames sealed with a CRC-32
//! computed bit by bit, independent of the table-driven one the framer uses.

// Each target uses the part it needs.
#![allow(dead_code)]

use deltafold::driver::{Problem, ProblemKind};
use deltafold::error::{ErrorClass, StreamError};
use deltafold::json::value::Value;
use deltafold::limits::Limits;

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

/// A recorded problem as the caller sees it: kind, action, message, byte offset, event index.
pub type Noted = (ProblemKind, &'static str, String, u64, Option<u64>);

pub fn noted(problems: &[Problem]) -> Vec<Noted> {
    problems
        .iter()
        .map(|p| {
            (
                p.kind,
                p.action.name(),
                p.message.clone(),
                p.byte_offset,
                p.event_index,
            )
        })
        .collect()
}

/// Writes the lengths and both CRCs of the event-stream message at `body[pos..pos + total]`,
/// whose headers take `headers` bytes, so that it checks.
pub fn seal_frame(body: &mut [u8], pos: usize, total: usize, headers: usize) {
    body[pos..pos + 4].copy_from_slice(&(total as u32).to_be_bytes());
    body[pos + 4..pos + 8].copy_from_slice(&(headers as u32).to_be_bytes());
    let crc = crc32(&body[pos..pos + 8]);
    body[pos + 8..pos + 12].copy_from_slice(&crc.to_be_bytes());
    let crc = crc32(&body[pos..pos + total - 4]);
    body[pos + total - 4..pos + total].copy_from_slice(&crc.to_be_bytes());
}

/// Limits small enough that short fuzz inputs reach every one of them.
pub fn small_limits() -> Limits {
    Limits {
        max_line_bytes: 200,
        max_buffer_bytes: 600,
        max_choice_index: 3,
        max_tool_calls: 3,
        max_depth: 6,
    }
}
