//! Fast paths for the shapes logprobs entries are made of, used by the converter in `convert`:
//! every entry and every alternative carries a `bytes` array of small integers (its token's
//! UTF-8 bytes), which make up most of the values of a logprobs completion, and nearly every
//! entry is written compactly with its keys in `OpenAI`'s order.

use std::os::raw::c_long;

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};

use super::convert::{new_list, number, set_list_item, Builder, RawWalk};
use crate::json::number::Num;

/// Integers in a `bytes` array with at most this many digits are read here; anything longer
/// is left to the general path. Nine digits fit an `i32`, so every platform's `c_long`.
const SHORT_DIGITS: usize = 9;

/// Integers of a `bytes` array kept on the stack while its length is found, so that an array
/// this long or shorter (a token is a few bytes) is read once.
const BUFFERED: usize = 32;

/// The list of a non-empty array of non-negative integers written without whitespace
/// (`32,97]`, with `rest` just after its `[`), and the length through its `]`; `None` for
/// anything else (whitespace, a sign, a fraction, an exponent, a leading zero, a long
/// integer), which the caller then walks value by value from the same place.
pub(super) fn small_int_list<'py>(
    py: Python<'py>,
    rest: &[u8],
) -> PyResult<Option<(Bound<'py, PyList>, usize)>> {
    // One pass for the shape and the count (the list is made at its final size), keeping the
    // first integers; a longer array is read again to fill the rest.
    let mut buffered = [0i32; BUFFERED];
    let mut count = 0usize;
    let mut i = 0usize;
    loop {
        let mut value = 0i32;
        let mut digits = 0usize;
        while let Some(&d) = rest.get(i + digits) {
            if !d.is_ascii_digit() || digits == SHORT_DIGITS {
                break;
            }
            value = value * 10 + i32::from(d - b'0');
            digits += 1;
        }
        let leading_zero = digits > 1 && rest.get(i) == Some(&b'0');
        if digits == 0 || leading_zero {
            return Ok(None);
        }
        if let Some(slot) = buffered.get_mut(count) {
            *slot = value;
        }
        i += digits;
        count += 1;
        match rest.get(i) {
            Some(b',') => i += 1,
            Some(b']') => break,
            // Also a tenth digit: the integer is too long for this path.
            _ => return Ok(None),
        }
    }
    let end = i + 1;
    let list = new_list(py, count)?;
    let put = |slot: usize, value: i32| -> PyResult<()> {
        // SAFETY: the GIL is held (`py`); `PyLong_FromLong` returns a new reference, or null
        // with an exception set, which `from_owned_ptr_or_err` raises.
        let int =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromLong(c_long::from(value)))? };
        set_list_item(&list, slot, int);
        Ok(())
    };
    for (slot, &value) in buffered.iter().take(count).enumerate() {
        put(slot, value)?;
    }
    if count > BUFFERED {
        // The shape was checked above: digits separated by commas up to the `]`.
        let mut slot = 0usize;
        let mut value = 0i32;
        for &b in rest.get(..end).unwrap_or_default() {
            if b.is_ascii_digit() {
                value = value * 10 + i32::from(b - b'0');
                continue;
            }
            if slot >= BUFFERED {
                put(slot, value)?;
            }
            slot += 1;
            value = 0;
        }
    }
    Ok(Some((list, end)))
}

/// Whether `text` starts as every text [`entry`] recognises does: compared as an array, a
/// few loads rather than a call (the caller asks it of every raw value it builds).
pub(super) fn starts_like_entry(text: &str) -> bool {
    const START: &[u8; 9] = b"{\"token\":";
    let head = text.as_bytes().get(..START.len());
    head.and_then(|h| <&[u8; 9]>::try_from(h).ok()) == Some(START)
}

/// A logprobs entry written compactly with its keys in `OpenAI`'s order,
/// `{"token":S,"logprob":N,"bytes":B,"top_logprobs":[A,...]}` with each alternative `A`
/// `{"token":S,"logprob":N,"bytes":B}` and `B` an array of small integers or null, built
/// without the general walk: its keys are interned strings and the fixed text between its
/// values is compared, not parsed. `None` for any other text (other keys or order, whitespace,
/// other value types), which the caller then walks in general; the text was validated when it
/// was stored, so this only has to recognise it.
pub(super) fn entry<'py>(
    b: &mut Builder<'py, '_>,
    text: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = b.py;
    let mut w = RawWalk {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let Some(dict) = alternative(b, &mut w)? else {
        return Ok(None);
    };
    if !eat(&mut w, b",\"top_logprobs\":[") {
        return Ok(None);
    }
    let start = b.pending.len();
    if !eat(&mut w, b"]") {
        loop {
            let Some(alt) = alternative(b, &mut w)? else {
                b.pending.truncate(start);
                return Ok(None);
            };
            if !eat(&mut w, b"}") {
                b.pending.truncate(start);
                return Ok(None);
            }
            b.pending.push(alt.into_any());
            if eat(&mut w, b",") {
                continue;
            }
            if eat(&mut w, b"]") {
                break;
            }
            b.pending.truncate(start);
            return Ok(None);
        }
    }
    let items = b.pending.len().saturating_sub(start);
    let top = new_list(py, items)?;
    for (i, item) in b.pending.drain(start..).enumerate() {
        set_list_item(&top, i, item);
    }
    if !eat(&mut w, b"}") || w.pos != text.len() {
        return Ok(None);
    }
    set(&dict, intern!(py, "top_logprobs"), top.as_any())?;
    Ok(Some(dict.into_any()))
}

/// `{"token":S,"logprob":N,"bytes":B` at the walk's place (an entry or an alternative, up to
/// where they differ) as a new dict of those three keys; `None` when the text is otherwise.
fn alternative<'py>(
    b: &mut Builder<'py, '_>,
    w: &mut RawWalk<'_>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = b.py;
    if !eat(w, b"{\"token\":") || w.bytes.get(w.pos) != Some(&b'"') {
        return Ok(None);
    }
    let token = w.string()?;
    let token = b.string(&token);
    if !eat(w, b",\"logprob\":") {
        return Ok(None);
    }
    let Some(logprob) = number_at(py, w)? else {
        return Ok(None);
    };
    if !eat(w, b",\"bytes\":") {
        return Ok(None);
    }
    let bytes = if eat(w, b"null") {
        py.None().into_bound(py)
    } else if eat(w, b"[") {
        if eat(w, b"]") {
            new_list(py, 0)?.into_any()
        } else {
            let rest = w.bytes.get(w.pos..).unwrap_or_default();
            let Some((list, n)) = small_int_list(py, rest)? else {
                return Ok(None);
            };
            w.pos += n;
            list.into_any()
        }
    } else {
        return Ok(None);
    };
    let dict = PyDict::new(py);
    set(&dict, intern!(py, "token"), token.as_any())?;
    set(&dict, intern!(py, "logprob"), &logprob)?;
    set(&dict, intern!(py, "bytes"), &bytes)?;
    Ok(Some(dict))
}

/// Consumes `literal` if the text goes on with it.
#[inline]
fn eat<const N: usize>(w: &mut RawWalk<'_>, literal: &[u8; N]) -> bool {
    let next = w.bytes.get(w.pos..w.pos + N);
    // As an array, so the compare is a few loads rather than a call.
    if next.and_then(|s| <&[u8; N]>::try_from(s).ok()) == Some(literal) {
        w.pos += N;
        true
    } else {
        false
    }
}

/// `dict[key] = value`, through the C API: `key` is an exact `str` whose hash is cached.
fn set(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: the GIL is held (the objects are bound) and all three pointers are live objects;
    // `PyDict_SetItem` takes its own references to the key and the value.
    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(dict.py()));
    }
    Ok(())
}

/// The number at the walk's place, as [`number`] builds it; `None` if there is none.
fn number_at<'py>(py: Python<'py>, w: &mut RawWalk<'_>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let rest = w.bytes.get(w.pos..).unwrap_or_default();
    if let Some((value, n)) = short_decimal(rest) {
        w.pos += n;
        return Ok(Some(PyFloat::new(py, value).into_any()));
    }
    let n = Num::Start.scan(rest).0;
    let Some(text) = w.text.get(w.pos..w.pos + n).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    w.pos += n;
    number(py, text).map(Some)
}

/// Powers of ten that a double holds exactly.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A number with a fraction, no exponent and at most 15 digits at the start of `rest` (valid
/// JSON text), as the double it denotes, and its length; `None` for any other number. Its
/// digits make an integer below 2^53 and its scale a power of ten up to 10^15, both exact in a
/// double, so one division, which IEEE 754 rounds correctly, gives the correctly rounded value:
/// the double that a full decimal parse gives.
fn short_decimal(rest: &[u8]) -> Option<(f64, usize)> {
    let negative = rest.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut int_digits = None;
    loop {
        match rest.get(i) {
            Some(&d) if d.is_ascii_digit() => {
                if digits == 15 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(d - b'0');
                digits += 1;
            }
            Some(b'.') if int_digits.is_none() => int_digits = Some(digits),
            Some(b'e' | b'E') => return None,
            _ => break,
        }
        i += 1;
    }
    // An integer is an int, not a float: the general path builds it.
    let scale = POW10.get(digits - int_digits?)?;
    // A mantissa below 10^15 converts to a double exactly.
    #[allow(clippy::cast_precision_loss)]
    let value = mantissa as f64 / scale;
    Some((if negative { -value } else { value }, i))
}
