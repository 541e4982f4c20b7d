//! Reading a string delta's payload without the full decode: its header as the API lays it
//! out byte for byte, and the JSON string after it (see `Anthropic::fold_fast`). Whatever
//! this does not take goes through the full decode, which reports it.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use super::Piece;
use crate::json::partial::PLAIN_ASCII;
use crate::json::prefix::JsonPrefix;
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

/// Room for a header: [`FAST_HEAD`], nine digits of index, [`FAST_DELTA`] and the longest
/// kind's bytes up to its quote (99 bytes), rounded up to whole sixteen-byte blocks.
const HEAD_ROOM: usize = 112;

/// The shortest header: a one-digit index and the text kind (77 bytes). Four whole blocks of
/// sixteen always fit in one, so the compare takes them without a length check.
const HEAD_MIN: usize = FAST_HEAD.len() + 1 + FAST_DELTA.len() + r#"text_delta","text":""#.len();

/// The header bytes of the last string delta the fast path read, with what [`fast_head`] read
/// from them. Consecutive deltas nearly always repeat the header (same block, same kind), so
/// one compare against these bytes stands for all of its checks.
pub(super) struct LastHead {
    /// Up to and including the string's opening quote (then whatever a longer one left).
    bytes: [u8; HEAD_ROOM],
    /// How many of `bytes` are the header: from [`HEAD_MIN`] to [`HEAD_ROOM`].
    len: usize,
    /// The block index and kind; `None` before the first header is read.
    named: Option<(usize, Piece)>,
}

impl Default for LastHead {
    fn default() -> Self {
        LastHead {
            bytes: [0; HEAD_ROOM],
            len: 0,
            named: None,
        }
    }
}

impl LastHead {
    /// The index, kind and opening quote of a payload that starts with the remembered header.
    #[inline(always)]
    pub(super) fn matches(&self, data: &[u8]) -> Option<(usize, Piece, usize)> {
        let (index, piece) = self.named?;
        let len = self.len;
        let head = data.get(..len)?;
        same_bytes(head, &self.bytes).then_some((index, piece, len - 1))
    }

    pub(super) fn remember(&mut self, data: &[u8], (index, piece, quote): (usize, Piece, usize)) {
        let fits = data
            .get(..=quote)
            .filter(|head| (HEAD_MIN..=HEAD_ROOM).contains(&head.len()));
        let Some(head) = fits else {
            // A header `fast_head` read always fits; one that did not is simply not kept.
            self.named = None;
            return;
        };
        if let Some(slot) = self.bytes.get_mut(..head.len()) {
            slot.copy_from_slice(head);
        }
        self.len = head.len();
        self.named = Some((index, piece));
    }
}

/// Whether `head` (from [`HEAD_MIN`] to [`HEAD_ROOM`] bytes) equals the start of `kept`: seven
/// sixteen-byte blocks of both compared inline, at 0, 16, 32, 48, then 64, 80 and
/// `head.len() - 16`, each moved back to end by the header's end when the header is shorter;
/// together they cover every byte of it and none past it. A call to `memcmp` costs more than
/// the whole compare.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn same_bytes(head: &[u8], kept: &[u8; HEAD_ROOM]) -> bool {
    use std::arch::x86_64::{_mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8};
    let len = head.len();
    if !(HEAD_MIN..=HEAD_ROOM).contains(&len) {
        return false;
    }
    let last = len - 16;
    // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every machine
    // the crate runs on. Every block starts at most at `len - 16`, so its sixteen bytes lie
    // within `head` (`len` bytes) and within `kept` (`HEAD_ROOM` >= `len` bytes); unaligned
    // loads are allowed.
    let mask = unsafe {
        let block = |at: usize| {
            _mm_cmpeq_epi8(
                _mm_loadu_si128(head.as_ptr().add(at).cast()),
                _mm_loadu_si128(kept.as_ptr().add(at).cast()),
            )
        };
        let same = _mm_and_si128(
            _mm_and_si128(
                _mm_and_si128(block(0), block(16)),
                _mm_and_si128(block(32), block(48)),
            ),
            _mm_and_si128(
                _mm_and_si128(block(last.min(64)), block(last.min(80))),
                block(last),
            ),
        );
        _mm_movemask_epi8(same)
    };
    mask == 0xFFFF
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn same_bytes(head: &[u8], kept: &[u8; HEAD_ROOM]) -> bool {
    kept.get(..head.len()) == Some(head)
}

/// Longest tool-input fragment or text delta whose decoding buffer is kept for the next one.
const SCRATCH_KEEP_BYTES: usize = 4096;

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
        .and_then(|rest| rest.iter().position(|&b| !PLAIN_ASCII[usize::from(b)]))
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

/// How [`append_fragment`] took a fragment's text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Appended {
    /// Plain text (printable ASCII other than `"` and `\`), not checked.
    Plain,
    /// Decoded from escapes, not checked.
    Decoded,
    /// Decoded from escapes by the tool input's prefix check, which has taken it.
    Checked,
}

/// The body of a string delta's string when its payload ends in exactly `"}}`: the payload up
/// to those last three bytes, and where the body starts in it (after the opening quote at
/// `quote`). Knowing where the string ends, the body is scanned once with no search for its
/// end.
#[inline(always)]
fn delta_body(data: &[u8], quote: usize) -> Option<(&[u8], usize)> {
    let (head, tail) = data.split_last_chunk::<3>()?;
    let from = quote + 1;
    (tail == b"\"}}" && from <= head.len()).then_some((head, from))
}

/// Room for `more` bytes after `out`'s text.
#[inline(always)]
fn make_room(out: &mut String, more: usize) {
    if out.capacity() - out.len() < more {
        out.reserve(more);
    }
}

/// The text of a string delta whose payload ends in exactly `"}}`, appended to `out`: the
/// string opens at `quote` and its body runs to those last three bytes. How the text was taken,
/// or `None` with `out` (and `check`) as they were when the body is not plain text and
/// one-letter escapes (a quote, which would end the string before the end, a backslash that
/// escapes the closing quote, a `\u` escape, UTF-8, a control byte), or the payload ends
/// otherwise: what the reader would read there, or refuse, is then its own. A body with
/// escapes is decoded by `check` as it takes it, when there is one.
#[inline(always)]
pub(super) fn append_fragment(
    data: &[u8],
    quote: usize,
    out: &mut String,
    check: Option<&mut JsonPrefix>,
) -> Option<Appended> {
    let (head, from) = delta_body(data, quote)?;
    let body = head.get(from..)?;
    let plain = plain_end(head, from) == head.len();
    make_room(out, body.len());
    // SAFETY: `as_mut_vec` lets the bytes break UTF-8, and nothing breaks it: only ASCII is
    // made part of the text (the plain bytes, and what `short_escape` gives).
    unsafe {
        let bytes = out.as_mut_vec();
        let spare = bytes.spare_capacity_mut().get_mut(..body.len())?;
        let (written, appended) = if plain {
            // SAFETY: `spare` is `body.len()` bytes of spare capacity, which `body` (borrowed
            // from the payload) does not overlap.
            std::ptr::copy_nonoverlapping(body.as_ptr(), spare.as_mut_ptr().cast(), body.len());
            (body.len(), Appended::Plain)
        } else if let Some(check) = check {
            (check.feed_escaped(body, spare)?, Appended::Checked)
        } else {
            // UTF-8 in a tool input is left to the reader.
            (
                decode_body::<false>(head, from, spare)?.0,
                Appended::Decoded,
            )
        };
        // SAFETY: the first `written` bytes of the spare capacity were written above.
        bytes.set_len(bytes.len() + written);
        Some(appended)
    }
}

/// The text of a text or thinking delta whose payload ends in exactly `"}}`, appended to
/// `out` (see [`append_fragment`]): plain text, one-letter escapes and UTF-8, which is checked
/// as the reader checks it. `None`, with `out` as it was, where the reader may read otherwise
/// or refuse (a `\u` escape, an unescaped quote or control byte, a backslash before the
/// closing quote, UTF-8 that is not valid, another ending).
#[inline(always)]
pub(super) fn append_text(data: &[u8], quote: usize, out: &mut String) -> Option<()> {
    let (head, from) = delta_body(data, quote)?;
    let body = head.get(from..)?;
    let plain = plain_end(head, from) == head.len();
    make_room(out, body.len());
    // SAFETY: `as_mut_vec` lets the bytes break UTF-8, and nothing breaks it: what is made part
    // of the text is the plain bytes, what `short_escape` gives (ASCII), and bytes from 0x80
    // only once `from_utf8` has found them valid.
    unsafe {
        let bytes = out.as_mut_vec();
        let spare = bytes.spare_capacity_mut().get_mut(..body.len())?;
        let written = if plain {
            // SAFETY: as in `append_fragment`.
            std::ptr::copy_nonoverlapping(body.as_ptr(), spare.as_mut_ptr().cast(), body.len());
            body.len()
        } else {
            let (written, utf8) = decode_body::<true>(head, from, spare)?;
            // SAFETY: `decode_body` wrote the first `written` bytes of `spare`.
            let added = std::slice::from_raw_parts(spare.as_ptr().cast::<u8>(), written);
            if utf8 && std::str::from_utf8(added).is_err() {
                return None;
            }
            written
        };
        // SAFETY: the first `written` bytes of the spare capacity were written above.
        bytes.set_len(bytes.len() + written);
    }
    Some(())
}

/// Decodes `body[at..]`, plain bytes and one-letter escapes, into `out` (where at most one
/// byte per byte of the body goes): how many bytes it wrote, and whether one was from 0x80.
/// Bytes from 0x80 are taken as they are when `UTF8` (for the caller to check them), else
/// they stop it as every other byte does: `None` at an unescaped quote, a control byte, or a
/// backslash with no one-letter escape after it. Escapes in a tool input (its quotes) are
/// frequent and the runs between them short, so one byte loop costs less than a copy call per
/// run.
#[inline(never)]
fn decode_body<const UTF8: bool>(
    body: &[u8],
    mut at: usize,
    out: &mut [MaybeUninit<u8>],
) -> Option<(usize, bool)> {
    let mut written = 0;
    let mut high = false;
    while let Some(&byte) = body.get(at) {
        let decoded = if PLAIN_ASCII[usize::from(byte)] {
            at += 1;
            byte
        } else if byte == b'\\' {
            at += 2;
            short_escape(*body.get(at - 1)?)?
        } else if UTF8 && byte >= 0x80 {
            high = true;
            at += 1;
            byte
        } else {
            return None;
        };
        out.get_mut(written)?.write(decoded);
        written += 1;
    }
    Some((written, high))
}

/// Decodes a string's plain bytes and one-letter escapes from `at` on into `out`, up to the
/// closing quote, and gives the position after it; `None` at anything else. Escapes in a tool
/// input (its quotes) are frequent and the runs between them short, so one byte loop costs
/// less than a copy call per run. Appends only ASCII.
#[inline(never)]
fn decode_escaped(data: &[u8], mut at: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        let byte = *data.get(at)?;
        if PLAIN_ASCII[usize::from(byte)] {
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
    use std::borrow::Cow;

    use super::{append_fragment, plain_end, same_bytes, Appended, HEAD_MIN, HEAD_ROOM};
    use crate::json::partial::PLAIN_ASCII;
    use crate::json::prefix::JsonPrefix;
    use crate::json::reader::Reader;

    /// Where a tool input's check may stand when a fragment comes: at a value's start, inside a
    /// string value, inside a number in an array, inside a key.
    const CHECK_STARTS: [&[u8]; 4] = [b"", b"{\"k\":\"", b"[1", b"{\"a"];

    /// A prefix check (depth 8) that has taken `text`.
    fn check_after(text: &[u8]) -> JsonPrefix {
        let mut check = JsonPrefix::new(8).unwrap_or_else(|| panic!("depth 8"));
        check.feed(text);
        check
    }

    /// At every header length the compare sees a change in any byte of the header, and no
    /// byte after it (the kept bytes past the header, and the payload's, differ).
    #[test]
    fn same_bytes_sees_every_byte_of_the_header_and_none_after() {
        for len in HEAD_MIN..=HEAD_ROOM {
            let mut kept = [0u8; HEAD_ROOM];
            for (i, b) in kept.iter_mut().enumerate() {
                *b = if i < len { b'a' + (i % 26) as u8 } else { b'#' };
            }
            let mut data: Vec<u8> = kept[..len].to_vec();
            data.extend_from_slice(b"different bytes after the header");
            assert!(same_bytes(&data[..len], &kept), "len {len}");
            for at in 0..len {
                let mut changed = data.clone();
                changed[at] ^= 0x20;
                assert!(!same_bytes(&changed[..len], &kept), "len {len} at {at}");
            }
        }
        assert!(!same_bytes(&[b'a'; HEAD_MIN - 1], &[b'a'; HEAD_ROOM]));
    }

    /// Whatever follows a header's opening quote, `append_fragment` takes it only where the
    /// reader reads a string there followed by exactly `}}`, and then appends the reader's text
    /// and says whether it is plain; where it refuses, `out` is as it was. Bodies short and long
    /// (past one sixteen-byte block), with escapes anywhere, a backslash before the closing
    /// quote, an unescaped quote, and the endings around `"}}`. With a prefix check it takes
    /// the same and appends the same text; the check then stands where feeding it that text
    /// leaves it (whatever it stood at before: a value's start, inside a string, inside a
    /// number), and where it refuses, the check is as it was.
    #[test]
    fn append_fragment_takes_what_the_reader_reads() {
        let header = br#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""#;
        let pieces: [&[u8]; 12] = [
            b"a",
            b"{\\\"k\\\":",
            b"\\\"",
            b"\\\\",
            b"\\n\\t\\/",
            b"\\u0041",
            b"\\x",
            b"\"",
            b"\\",
            b"\x01",
            "\u{e9}".as_bytes(),
            b"0123456789abcdefg",
        ];
        let endings: [&[u8]; 7] = [b"\"}}", b"\"}", b"\"}}}", b"\"}} ", b"}}", b"\"\"}}", b""];
        let mut taken = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for ending in endings {
                        let data = [header.as_slice(), a, b, c, ending].concat();
                        let quote = header.len() - 1;
                        let mut reader = Reader::new(&data, 8);
                        reader.resume_at(quote);
                        let read = reader.take_string().map(|t| t.map(Cow::into_owned));
                        let rest = data.get(reader.pos()..).unwrap_or_default();
                        let mut out = String::from("kept");
                        let got = append_fragment(&data, quote, &mut out, None);
                        let body =
                            String::from_utf8_lossy(&[a, b, c, ending].concat()).into_owned();
                        for before in CHECK_STARTS {
                            let mut checked_out = String::from("kept");
                            let mut check = check_after(before);
                            let how =
                                append_fragment(&data, quote, &mut checked_out, Some(&mut check));
                            assert_eq!(checked_out, out, "{body:?} after {before:?}");
                            let seen = match how {
                                Some(Appended::Checked) => [before, &out.as_bytes()[4..]].concat(),
                                None | Some(Appended::Plain) => before.to_vec(),
                                Some(Appended::Decoded) => panic!("not checked: {body:?}"),
                            };
                            assert_eq!(
                                format!("{check:?}"),
                                format!("{:?}", check_after(&seen)),
                                "{body:?} after {before:?}"
                            );
                            assert_eq!(how.is_some(), got.is_some(), "{body:?}");
                            if how == Some(Appended::Plain) {
                                assert_eq!(got, Some(Appended::Plain), "{body:?}");
                            }
                        }
                        let Some(how) = got else {
                            assert_eq!(out, "kept", "{body:?}");
                            // Refused: not a string then `}}`, or one the reader decodes
                            // itself (a \u escape, UTF-8, a control byte).
                            let general = body.contains("\\u")
                                || body.bytes().any(|b| !(0x20..0x80).contains(&b));
                            assert!(
                                general || rest != b"}}" || read.is_err(),
                                "refused what the reader takes: {body:?}"
                            );
                            continue;
                        };
                        taken += 1;
                        let Ok(Some(text)) = read else {
                            panic!("took what the reader refuses: {body:?}");
                        };
                        assert_eq!(rest, b"}}", "{body:?}");
                        assert_eq!(out, format!("kept{text}"), "{body:?}");
                        let is_plain = text.bytes().all(|b| PLAIN_ASCII[usize::from(b)])
                            && !body.contains('\\');
                        let want = if is_plain {
                            Appended::Plain
                        } else {
                            Appended::Decoded
                        };
                        assert_eq!(how, want, "{body:?}");
                    }
                }
            }
        }
        assert!(taken > 300, "{taken}");
    }

    /// As `append_fragment`, for a text delta's text, which may hold UTF-8: whatever follows
    /// the header's opening quote, `append_text` takes it only where the reader reads a string
    /// there followed by exactly `}}`, and then appends the reader's text; it leaves the reader
    /// only `\u` escapes, and where it refuses, `out` is as it was. Valid UTF-8 of every length,
    /// invalid UTF-8 (a lone lead byte, a stray continuation, a surrogate, an overlong form, a
    /// character cut by an escape), with escapes, quotes and control bytes around it.
    #[test]
    fn append_text_takes_what_the_reader_reads() {
        let header =
            br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""#;
        let pieces: [&[u8]; 14] = [
            b"a",
            "\u{e9}".as_bytes(),
            "\u{20ac}".as_bytes(),
            "\u{1f600}".as_bytes(),
            b"\xc3",
            b"\xa9",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\\n\\\"",
            b"\\u00e9",
            b"\\",
            b"\"",
            b"\x1f",
            b"0123456789abcdefg",
        ];
        let endings: [&[u8]; 4] = [b"\"}}", b"\"}", b"\"}} ", b""];
        let mut taken = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for ending in endings {
                        let data = [header.as_slice(), a, b, c, ending].concat();
                        let quote = header.len() - 1;
                        let mut reader = Reader::new(&data, 8);
                        reader.resume_at(quote);
                        let read = reader.take_string().map(|t| t.map(Cow::into_owned));
                        let rest = data.get(reader.pos()..).unwrap_or_default();
                        let mut out = String::from("kept");
                        let body = [a, b, c, ending].concat();
                        if super::append_text(&data, quote, &mut out).is_none() {
                            assert_eq!(out, "kept", "{body:?}");
                            let general = body.windows(2).any(|w| w == b"\\u");
                            assert!(
                                general || rest != b"}}" || read.is_err(),
                                "refused what the reader takes: {body:?}"
                            );
                            continue;
                        }
                        taken += 1;
                        let Ok(Some(text)) = read else {
                            panic!("took what the reader refuses: {body:?}");
                        };
                        assert_eq!(rest, b"}}", "{body:?}");
                        assert_eq!(out, format!("kept{text}"), "{body:?}");
                    }
                }
            }
        }
        assert!(taken > 250, "{taken}");
    }

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
                            .position(|&b| !PLAIN_ASCII[usize::from(b)])
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
