//! Reading a string delta's payload without the full decode: its header as the API lays it
//! out byte for byte, and the JSON string after it (see `Anthropic::fold_fast`). Whatever
//! this does not take goes through the full decode, which reports it.

use std::borrow::Cow;

use super::Piece;
use crate::json::reader::Reader;
use crate::json::short_escape;

/// The bytes of a string delta payload, as the API sends it, around the block index.
const FAST_HEAD: &[u8; 38] = br#"{"type":"content_block_delta","index":"#;
const FAST_DELTA: &[u8; 18] = br#","delta":{"type":""#;

/// `bytes` after `prefix`, if it starts with it. The prefix's length is a constant, so the
/// comparison compiles to a few wide loads instead of a call to `memcmp`.
#[inline(always)]
fn strip_fixed<'b, const N: usize>(bytes: &'b [u8], prefix: &[u8; N]) -> Option<&'b [u8]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    (head == prefix).then_some(rest)
}

/// Reads the header of a payload laid out exactly as `{"type":"content_block_delta","index":N,
/// "delta":{"type":"<kind>_delta","<field>":"`, no whitespace: its index, kind and the position
/// of the string's opening quote. Such a header passes every check of the full decode up to the
/// block index, and decoding it in full names the same index and kind; anything else (another
/// layout, an index that is not a plain integer) is `None` and goes through the full decode.
/// What it reads depends on the header's bytes alone, so a payload that repeats them names the
/// same three things (see [`LastHead`]).
pub(super) fn fast_head(data: &[u8], max_depth: usize) -> Option<(usize, Piece, usize)> {
    // The payload nests two objects: a lower limit is the full decode's to report.
    if max_depth < 2 {
        return None;
    }
    let rest = strip_fixed(data, FAST_HEAD)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // JSON forbids leading zeros; a long index is left to the full decode (it saturates).
    if digits == 0 || digits > 9 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    let (number, rest) = rest.split_at(digits);
    let index = number
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let rest = strip_fixed(rest, FAST_DELTA)?;
    // The first two bytes tell the kinds apart: one comparison, not one per kind. Each kind's
    // bytes run from its delta type up to the string's opening quote.
    let (rest, piece) = match rest.get(..2)? {
        b"te" => (strip_fixed(rest, br#"text_delta","text":"#)?, Piece::Text),
        b"th" => (
            strip_fixed(rest, br#"thinking_delta","thinking":"#)?,
            Piece::Thinking,
        ),
        b"in" => (
            strip_fixed(rest, br#"input_json_delta","partial_json":"#)?,
            Piece::InputJson,
        ),
        b"si" => (
            strip_fixed(rest, br#"signature_delta","signature":"#)?,
            Piece::Signature,
        ),
        _ => return None,
    };
    rest.first()
        .is_some_and(|&b| b == b'"')
        .then_some((index, piece, data.len() - rest.len()))
}

/// Where [`fast_string`] left a delta's text.
pub(super) enum Added<'d> {
    /// In the payload, or (with a `\u` escape or non-ASCII text) decoded by the reader.
    Text(Cow<'d, str>),
    /// Decoded into the scratch buffer.
    InScratch,
}

/// Reads the rest of a payload whose header [`fast_head`] took: the string that opens at
/// `quote`, then exactly `}}`. A string with an escape is decoded into `scratch`, so the usual
/// tool-input fragment costs no allocation. `None` for a bad string or anything after it,
/// which the full decode then reports.
pub(super) fn fast_string<'d>(
    data: &'d [u8],
    quote: usize,
    max_depth: usize,
    scratch: &mut String,
) -> Option<Added<'d>> {
    let (text, end) = if let Some((text, end)) = simple_string(data, quote + 1, scratch) {
        let text = text.map_or(Added::InScratch, |t| Added::Text(Cow::Borrowed(t)));
        (text, end)
    } else {
        let mut reader = Reader::new(data, max_depth);
        reader.resume_at(quote);
        let text = reader.take_string().ok()??;
        (Added::Text(text), reader.pos())
    };
    (data.get(end..)? == b"}}").then_some(text)
}

/// The header bytes of the last string delta the fast path read, with what [`fast_head`] read
/// from them. Consecutive deltas nearly always repeat the header (same block, same kind), so
/// one compare against these bytes stands for all of its checks.
#[derive(Default)]
pub(super) struct LastHead {
    /// Up to and including the string's opening quote.
    bytes: Vec<u8>,
    /// The block index and kind; `None` before the first header is read.
    named: Option<(usize, Piece)>,
}

impl LastHead {
    /// The index, kind and opening quote of a payload that starts with the remembered header.
    #[inline]
    pub(super) fn matches(&self, data: &[u8]) -> Option<(usize, Piece, usize)> {
        let (index, piece) = self.named?;
        data.starts_with(&self.bytes)
            .then(|| (index, piece, self.bytes.len() - 1))
    }

    pub(super) fn remember(&mut self, data: &[u8], (index, piece, quote): (usize, Piece, usize)) {
        self.bytes.clear();
        self.bytes
            .extend_from_slice(data.get(..=quote).unwrap_or_default());
        self.named = Some((index, piece));
    }
}

/// Longest tool-input fragment or text delta whose decoding buffer is kept for the next one.
const SCRATCH_KEEP_BYTES: usize = 4096;

/// Bytes that end a run of plain characters: the quote, the backslash, control characters and
/// every byte of non-ASCII UTF-8.
static NOT_PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    table
};

/// Where the run of plain characters (printable ASCII other than `"` and `\`) that starts at
/// `from` ends: the position of the first other byte, or `data.len()`.
#[inline(always)]
fn plain_end(data: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let mut at = from;
        while let Some(block) = data.get(at..).and_then(<[u8]>::first_chunk::<16>) {
            let stops = not_plain_mask(block);
            if stops != 0 {
                return at + stops.trailing_zeros() as usize;
            }
            at += 16;
        }
        // Fewer than sixteen bytes remain: the last sixteen of `data` hold them (a payload's
        // header is longer than that), the bytes before `at` shifted out of the mask.
        if let Some(block) = data.last_chunk::<16>() {
            let skipped = at + 16 - data.len();
            let stops = not_plain_mask(block)
                .checked_shr(skipped as u32)
                .unwrap_or(0);
            return if stops == 0 {
                data.len()
            } else {
                at + stops.trailing_zeros() as usize
            };
        }
    }
    data.get(from..)
        .and_then(|rest| rest.iter().position(|&b| NOT_PLAIN[usize::from(b)]))
        .map_or(data.len(), |run| from + run)
}

/// Bit `i` set when byte `i` of `block` is not plain. A delta's string is usually shorter than
/// sixteen bytes: one block, where a byte loop would take a branch per byte.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn not_plain_mask(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every
    // machine the crate runs on; the load reads the sixteen bytes of `block` (unaligned loads
    // are allowed) and nothing else.
    let mask = unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        // Signed: bytes from 0x80 (UTF-8) are negative, so one compare finds them and the
        // control bytes below 0x20.
        let low_or_high = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x22));
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x5C));
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low_or_high))
    };
    u32::from_ne_bytes(mask.to_ne_bytes())
}

/// Reads the JSON string whose text starts at `from` (just after its opening quote) when it
/// holds only printable ASCII and one-letter escapes (what text deltas and tool-input fragments
/// nearly always are): the text, borrowed when it has no escape and otherwise decoded into
/// `scratch` (`None`), and the position after its closing quote. `None` for anything else (a
/// `\u` escape, a byte of UTF-8 or a control character, an unfinished string), which the
/// reader then decodes: on what it accepts this gives exactly the reader's text.
pub(super) fn simple_string<'d>(
    data: &'d [u8],
    from: usize,
    scratch: &mut String,
) -> Option<(Option<&'d str>, usize)> {
    let end = plain_end(data, from);
    let plain = data.get(from..end)?;
    match data.get(end) {
        Some(b'"') => {
            // SAFETY: `plain_end` stopped at the first byte outside printable ASCII, so every
            // byte of `plain` is ASCII, which is valid UTF-8.
            let text = unsafe { std::str::from_utf8_unchecked(plain) };
            return Some((Some(text), end + 1));
        }
        Some(b'\\') => {}
        _ => return None,
    }
    let mut out = std::mem::take(scratch).into_bytes();
    out.clear();
    if out.capacity() > SCRATCH_KEEP_BYTES {
        out.shrink_to(SCRATCH_KEEP_BYTES);
    }
    out.reserve(data.len() - from);
    out.extend_from_slice(plain);
    let read = decode_escaped(data, end, &mut out);
    // SAFETY: `out` holds only bytes below 0x80 (plain printable ASCII and the ASCII that
    // `short_escape` gives): ASCII, which is valid UTF-8.
    *scratch = unsafe { String::from_utf8_unchecked(out) };
    read.map(|read| (None, read))
}

/// [`simple_string`] appending the text to `out` instead: the position after the closing
/// quote, and whether the text is plain (no escape: printable ASCII other than `"` and `\`).
/// `None` where [`simple_string`] gives `None`, with part of the text appended; the caller
/// truncates `out` back.
#[inline(always)]
pub(super) fn append_simple_string(
    data: &[u8],
    from: usize,
    out: &mut String,
) -> Option<(usize, bool)> {
    let end = plain_end(data, from);
    let plain = data.get(from..end)?;
    // SAFETY: `plain_end` stopped at the first byte outside printable ASCII, so every byte of
    // `plain` is ASCII, which is valid UTF-8.
    out.push_str(unsafe { std::str::from_utf8_unchecked(plain) });
    match data.get(end) {
        Some(b'"') => Some((end + 1, true)),
        Some(b'\\') => {
            // SAFETY: `decode_escaped` appends only bytes below 0x80, so `out` holds valid
            // UTF-8 after every byte, including when it stops halfway.
            let bytes = unsafe { out.as_mut_vec() };
            bytes.reserve(data.len() - end);
            decode_escaped(data, end, bytes).map(|read| (read, false))
        }
        _ => None,
    }
}

/// Decodes a string's plain bytes and one-letter escapes from `at` on into `out`, up to the
/// closing quote, and gives the position after it; `None` at anything else. Escapes in a tool
/// input (its quotes) are frequent and the runs between them short, so one byte loop costs
/// less than a copy call per run. Appends only ASCII.
#[inline(never)]
fn decode_escaped(data: &[u8], mut at: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        let byte = *data.get(at)?;
        if !NOT_PLAIN[usize::from(byte)] {
            out.push(byte);
            at += 1;
            continue;
        }
        match (byte, data.get(at + 1).and_then(|&e| short_escape(e))) {
            (b'"', _) => return Some(at + 1),
            (b'\\', Some(decoded)) => {
                out.push(decoded);
                at += 2;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{plain_end, NOT_PLAIN};

    /// Wherever the run starts and the first other byte sits, in a payload of any length (the
    /// sixteen-byte blocks, the last block read again, a payload shorter than one block), the
    /// run ends where a byte-by-byte scan says.
    #[test]
    fn plain_end_finds_the_first_byte_that_is_not_plain() {
        let fillers = [b'a', b' ', b'~', 0x7f];
        let stops = [b'"', b'\\', 0x00, 0x1f, 0x80, 0xc3, 0xff];
        let mut checked = 0;
        for len in 0..=48 {
            for from in 0..=len {
                for at in from..=len {
                    for (i, &stop) in stops.iter().enumerate() {
                        let mut data: Vec<u8> = (0..len).map(|j| fillers[j % 4]).collect();
                        if let Some(b) = data.get_mut(at) {
                            *b = stop;
                        }
                        // Another stop before `from` must not count.
                        if from > 0 {
                            data[from - 1] = stops[(i + 1) % stops.len()];
                        }
                        let want = data[from..]
                            .iter()
                            .position(|&b| NOT_PLAIN[usize::from(b)])
                            .map_or(len, |p| from + p);
                        assert_eq!(plain_end(&data, from), want, "{data:?} from {from}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }
}
