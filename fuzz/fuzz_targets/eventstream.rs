//! AWS event-stream framing, differential: the streaming framer, fed in arbitrary reads and
//! stopped by its sink at random, gives exactly what a plain whole-input decoder written here
//! from the format description gives (messages with their headers and payloads, errors with
//! their kind and offset). Flag bit 0 rewrites the body's lengths and CRCs so they check, so
//! the fuzzer reaches headers and payloads instead of stopping at the first prelude CRC; bit 1
//! sets a small size limit.
#![no_main]

mod oracle;
mod split;

use deltafold::framing::eventstream::{FeedError, FrameError, FrameErrorKind, Framer, HeaderValue};
use libfuzzer_sys::fuzz_target;
use oracle::{crc32, seal_frame};

#[derive(Debug, PartialEq, Eq, Clone)]
enum Value {
    Bool(bool),
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Timestamp(i64),
    Uuid(Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Message {
        headers: Vec<(String, Value)>,
        payload: Vec<u8>,
        offset: u64,
    },
    /// Error kind as a short tag, offset, message index.
    Error(&'static str, u64, u64),
}

fn tag(kind: FrameErrorKind) -> &'static str {
    match kind {
        FrameErrorKind::PreludeCrc { .. } => "prelude-crc",
        FrameErrorKind::ImpossibleLength { .. } => "length",
        FrameErrorKind::TooLong { .. } => "too-long",
        FrameErrorKind::MessageCrc { .. } => "message-crc",
        FrameErrorKind::Header(_) => "header",
        FrameErrorKind::Truncated => "truncated",
    }
}

fn owned(value: HeaderValue<'_>) -> Value {
    match value {
        HeaderValue::Bool(b) => Value::Bool(b),
        HeaderValue::Byte(v) => Value::Int(v.into()),
        HeaderValue::Short(v) => Value::Int(v.into()),
        HeaderValue::Int(v) => Value::Int(v.into()),
        HeaderValue::Long(v) => Value::Int(v),
        HeaderValue::Timestamp(v) => Value::Timestamp(v),
        HeaderValue::Bytes(v) => Value::Bytes(v.to_vec()),
        HeaderValue::String(v) => Value::Text(v.to_string()),
        HeaderValue::Uuid(v) => Value::Uuid(v.to_vec()),
    }
}

// ---- the plain reference decoder: whole input, indexes and slices, no state machine ----

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn int_at(b: &[u8], at: usize, n: usize) -> i64 {
    let mut v: i64 = if b[at] & 0x80 != 0 { -1 } else { 0 };
    for i in 0..n {
        v = (v << 8) | i64::from(b[at + i]);
    }
    v
}

/// The headers of a block, or the offset in the block of the first bad one.
fn headers(block: &[u8]) -> Result<Vec<(String, Value)>, usize> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let start = at;
        let name_len = block[at] as usize;
        if at + 1 + name_len + 1 > block.len() {
            return Err(start);
        }
        let name =
            String::from_utf8(block[at + 1..at + 1 + name_len].to_vec()).map_err(|_| start)?;
        let kind = block[at + 1 + name_len];
        at += 2 + name_len;
        let need = |at: usize, n: usize| {
            if at + n > block.len() {
                Err(start)
            } else {
                Ok(())
            }
        };
        let value = match kind {
            0 => Value::Bool(true),
            1 => Value::Bool(false),
            2 | 3 | 4 | 5 | 8 => {
                let n = match kind {
                    2 => 1,
                    3 => 2,
                    4 => 4,
                    _ => 8,
                };
                need(at, n)?;
                let v = int_at(block, at, n);
                at += n;
                if kind == 8 {
                    Value::Timestamp(v)
                } else {
                    Value::Int(v)
                }
            }
            6 | 7 => {
                need(at, 2)?;
                let n = (usize::from(block[at]) << 8) | usize::from(block[at + 1]);
                at += 2;
                need(at, n)?;
                let raw = block[at..at + n].to_vec();
                at += n;
                if kind == 6 {
                    Value::Bytes(raw)
                } else {
                    Value::Text(String::from_utf8(raw).map_err(|_| start)?)
                }
            }
            9 => {
                need(at, 16)?;
                at += 16;
                Value::Uuid(block[at - 16..at].to_vec())
            }
            _ => return Err(start),
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(start);
        }
        out.push((name, value));
    }
    Ok(out)
}

fn reference(data: &[u8], limit: usize) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut index = 0u64;
    loop {
        let rest = &data[pos..];
        if rest.is_empty() {
            return out;
        }
        if rest.len() < 12 {
            out.push(Outcome::Error("truncated", pos as u64, index));
            return out;
        }
        let total = u32_at(rest, 0) as usize;
        let hlen = u32_at(rest, 4) as usize;
        if crc32(&rest[..8]) != u32_at(rest, 8) {
            out.push(Outcome::Error("prelude-crc", pos as u64, index));
            return out;
        }
        if total < 16 || hlen > total - 16 {
            out.push(Outcome::Error("length", pos as u64, index));
            return out;
        }
        if total > limit {
            out.push(Outcome::Error("too-long", pos as u64, index));
            if rest.len() < total {
                out.push(Outcome::Error("truncated", data.len() as u64, index));
                return out;
            }
            pos += total;
            continue;
        }
        if rest.len() < total {
            out.push(Outcome::Error("truncated", pos as u64, index));
            return out;
        }
        let message = &rest[..total];
        if crc32(&message[..total - 4]) != u32_at(message, total - 4) {
            out.push(Outcome::Error("message-crc", pos as u64, index));
        } else {
            match headers(&message[12..12 + hlen]) {
                Ok(headers) => {
                    out.push(Outcome::Message {
                        headers,
                        payload: message[12 + hlen..total - 4].to_vec(),
                        offset: pos as u64,
                    });
                    index += 1;
                }
                Err(at) => out.push(Outcome::Error("header", (pos + 12 + at) as u64, index)),
            }
        }
        pos += total;
    }
}

// ---- the streaming framer under test ----

fn streamed(reads: &[&[u8]], limit: usize, mut refuse: impl FnMut() -> bool) -> Vec<Outcome> {
    let mut framer = Framer::new(limit);
    let mut out = Vec::new();
    let error = |e: FrameError| Outcome::Error(tag(e.kind), e.byte_offset, e.message_index);
    for &read in reads {
        let mut next = read;
        loop {
            let result = framer.feed(next, |m| {
                out.push(Outcome::Message {
                    headers: m
                        .headers()
                        .map(|h| (h.name.to_string(), owned(h.value)))
                        .collect(),
                    payload: m.payload.to_vec(),
                    offset: m.offset,
                });
                if refuse() {
                    Err(())
                } else {
                    Ok(())
                }
            });
            match result {
                Ok(()) => break,
                Err(FeedError::Sink(())) => {}
                Err(FeedError::Frame(e)) => out.push(error(e)),
            }
            next = b"";
        }
        // Held: at most one message (bounded by the limit) plus a prelude.
        assert!(framer.buffered_bytes() <= limit.max(12) + read.len() + 12);
    }
    if let Some(e) = framer.finish() {
        out.push(error(e));
    }
    out
}

/// Rewrites lengths and CRCs so that every message of `body` checks.
fn fix_up(body: &mut [u8]) {
    let mut pos = 0;
    while body.len() - pos >= 16 {
        let room = body.len() - pos;
        let total = 16 + (u32_at(body, pos) as usize) % (room - 15);
        let hlen = (u32_at(body, pos + 4) as usize) % (total - 15);
        seal_frame(body, pos, total, hlen);
        pos += total;
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = split::Input::parse(bytes) else {
        return;
    };
    let mut body = input.body.to_vec();
    if input.flags & 1 != 0 {
        fix_up(&mut body);
    }
    let limit = if input.flags & 2 != 0 {
        16 + usize::from(input.flags >> 2)
    } else {
        1 << 20
    };
    let expected = reference(&body, limit);
    let whole = streamed(&[&body], limit, || false);
    assert_eq!(whole, expected);
    let fixed = split::Input::parse(bytes).map(|i| {
        (
            i.reads().iter().map(|r| r.len()).collect::<Vec<_>>(),
            i.rng(),
        )
    });
    let Some((lengths, mut rng)) = fixed else {
        return;
    };
    let mut reads = Vec::new();
    let mut at = 0;
    for len in lengths {
        reads.push(&body[at..at + len]);
        at += len;
    }
    let split = streamed(&reads, limit, || rng.below(4) == 0);
    assert_eq!(split, expected);
});
