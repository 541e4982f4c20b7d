//! Fast paths for the shapes logprobs entries are made of, used by the raw-text walker in
//! `convert`: every entry and every alternative carries a `bytes` array of small integers
//! (its token's UTF-8 bytes), which make up most of the values of a logprobs completion.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Integers in a `bytes` array with at most this many digits are read here; anything longer
/// is left to the general path.
const SHORT_DIGITS: usize = 9;

/// The list of a non-empty array of non-negative integers written without whitespace
/// (`32,97]`, with `rest` just after its `[`), and the length through its `]`; `None` for
/// anything else (whitespace, a sign, a fraction, an exponent, a leading zero, a long
/// integer), which the caller then walks value by value from the same place.
pub(super) fn small_int_list<'py>(
    py: Python<'py>,
    rest: &[u8],
) -> PyResult<Option<(Bound<'py, PyList>, usize)>> {
    // First pass: the shape and the count, so the list is made at its final size.
    let mut count = 0usize;
    let mut i = 0usize;
    loop {
        let digits = rest
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let leading_zero = digits > 1 && rest.get(i) == Some(&b'0');
        if digits == 0 || digits > SHORT_DIGITS || leading_zero {
            return Ok(None);
        }
        i += digits;
        count += 1;
        match rest.get(i) {
            Some(b',') => i += 1,
            Some(b']') => break,
            _ => return Ok(None),
        }
    }
    let end = i + 1;
    let n = ffi::Py_ssize_t::try_from(count)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("list too long"))?;
    // SAFETY: the GIL is held (`py`). `PyList_New` returns a new list with `n` NULL slots, or
    // null with an exception set (raised by `from_owned_ptr_or_err`); a list with NULL slots
    // is safe to drop, and the loop below fills every slot before it is handed out.
    let list: Bound<'py, PyList> =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n))?.cast_into_unchecked() };
    let mut slot: ffi::Py_ssize_t = 0;
    let mut value: i64 = 0;
    for &b in rest.get(..end).unwrap_or_default() {
        if b.is_ascii_digit() {
            value = value * 10 + i64::from(b - b'0');
            continue;
        }
        // A `,` or the `]`: one integer ends (the first pass checked the shape).
        let int = value.into_pyobject(py)?;
        if slot < n {
            // SAFETY: the GIL is held; `slot` is below the list's length and still NULL (each
            // is filled once, in order), so PyList_SET_ITEM takes over the new reference.
            unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), slot, int.into_ptr()) };
        }
        slot += 1;
        value = 0;
    }
    Ok(Some((list, end)))
}
